// Browser sessions of the portal and the console (issue #22) over real HTTP against the real binary: a portal
// link (the url of POST /api/v1/auth/app-portal-access) is redeemed once for a session cookie; the cookie and
// its CSRF header act on /api/v1 as the app-portal token (or, for the console, the admin token) would; logout
// and expire-all end sessions and tokens; on two nodes sharing PostgreSQL a link is still redeemed once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Hookwire } from './lib/hookwire.mjs';
import { PgCluster } from './lib/pg.mjs';

let hw;
before(async () => {
  hw = await Hookwire.start();
  for (const [name, uid] of [['A', 'pa'], ['B', 'pb']]) {
    assert.equal((await hw.api('POST', '/api/v1/app', { name, uid })).status, 201);
    const ep = await hw.api('POST', `/api/v1/app/${uid}/endpoint`, { url: 'https://sink.example/unused', uid: `${uid}-e1` });
    assert.equal(ep.status, 201, ep.text);
  }
});
after(async () => {
  if (hw) {
    await hw.stop();
    hw.cleanup();
  }
});

// A request without the admin token; `body` objects are sent as JSON.
async function send(base, method, path, { headers = {}, body } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, headers: res.headers, setCookies: res.headers.getSetCookie(), text, json };
}

// A new app-portal access of `app`: its reusable token and the one-time link in its url.
async function access(node, app, body = {}) {
  const res = await node.api('POST', `/api/v1/auth/app-portal-access/${app}`, body);
  assert.equal(res.status, 200, res.text);
  const url = new URL(res.json.url);
  assert.equal(url.pathname, '/portal');
  assert.match(url.hash, /^#key=applink_[A-Za-z0-9_-]{32}$/);
  return { token: res.json.token, link: url.hash.slice('#key='.length), url: res.json.url };
}

const login = (node, link) => send(node.url, 'POST', '/ui/api/portal/login', { body: { key: link } });

// What a browser keeps of a login: the cookie it sends back and the CSRF token the page holds.
function sessionOf(res) {
  assert.equal(res.status, 200, res.text);
  assert.equal(res.setCookies.length, 1);
  return { cookie: res.setCookies[0].split(';')[0], csrf: res.json.csrf };
}

// A request as the page makes it: the cookie, and the CSRF header unless `csrf` is given (null: none).
function as(node, s, method, path, body, { csrf } = {}) {
  const headers = { cookie: s.cookie };
  const header = csrf === undefined ? s.csrf : csrf;
  if (header !== null) headers['x-hookwire-csrf'] = header;
  return send(node.url, method, path, { headers, body });
}

async function portalSession(node, app, body = {}) {
  const { link } = await access(node, app, body);
  return sessionOf(await login(node, link));
}

const bearer = (node, token, method, path, body) =>
  send(node.url, method, path, { headers: { authorization: `Bearer ${token}` }, body });

test('a portal link is redeemed once for a session cookie; the same link twice is refused', async () => {
  const { link, token, url } = await access(hw, 'pa', { capabilities: ['ManageEndpoint'], sessionId: 'user_1' });
  assert.ok(url.startsWith(`${hw.url}/portal#key=`), url);
  assert.ok(!url.includes(token), 'the url never carries the reusable token');
  assert.equal((await bearer(hw, link, 'GET', '/api/v1/app/pa')).status, 401, 'a link is not a bearer token');

  const first = await login(hw, link);
  assert.equal(first.status, 200, first.text);
  assert.equal(first.headers.get('cache-control'), 'no-store');
  const [cookie] = first.setCookies;
  // An http public URL: SameSite=Lax, not Secure.
  assert.match(cookie, /^hookwire_portal=hwportal_[A-Za-z0-9_-]{32}; Path=\/; HttpOnly; SameSite=Lax$/);
  const app = (await hw.api('GET', '/api/v1/app/pa')).json;
  assert.deepEqual(Object.keys(first.json).sort(), ['appId', 'appName', 'appUid', 'capabilities', 'csrf', 'expiresAt']);
  assert.equal(first.json.appId, app.id);
  assert.equal(first.json.appUid, 'pa');
  assert.equal(first.json.appName, 'A');
  assert.deepEqual(first.json.capabilities, ['ViewBase', 'ManageEndpoint']);
  assert.ok(Date.parse(first.json.expiresAt) > Date.now() + 6 * 86400_000, first.json.expiresAt);

  const second = await login(hw, link);
  assert.equal(second.status, 401);
  assert.deepEqual(second.json, {
    code: 'link_invalid',
    detail: 'this portal link was already used or has expired; ask the application for a new one',
  });
  assert.equal(second.headers.get('cache-control'), 'no-store');
  assert.deepEqual(second.setCookies, []);
  for (const bad of ['applink_' + 'A'.repeat(32), 'applink_short', token, cookie.split('=')[1]]) {
    const refused = await login(hw, bad);
    assert.equal(refused.status, 401, bad);
    assert.equal(refused.json.code, 'link_invalid');
  }

  // The session info recovers the login's answer (CSRF token included) from the cookie.
  const s = sessionOf(first);
  const info = await send(hw.url, 'GET', '/ui/api/portal/session', { headers: { cookie: s.cookie } });
  assert.equal(info.status, 200, info.text);
  assert.equal(info.headers.get('cache-control'), 'no-store');
  assert.deepEqual(info.json, first.json);
  const none = await send(hw.url, 'GET', '/ui/api/portal/session');
  assert.equal(none.status, 401);
  assert.equal(none.json.code, 'session_invalid');
  assert.equal((await bearer(hw, s.cookie.split('=')[1], 'GET', '/api/v1/app/pa')).status, 401,
    'a session is not a bearer token');
});

test('with an https public URL the cookies are Secure, SameSite=None and Partitioned', async () => {
  const node = await Hookwire.start({ args: ['--public-url', 'https://hooks.example.test'] });
  try {
    assert.equal((await node.api('POST', '/api/v1/app', { name: 'S', uid: 'sec' })).status, 201);
    const { link, url } = await access(node, 'sec');
    assert.ok(url.startsWith('https://hooks.example.test/portal#key=applink_'), url);
    const res = await login(node, link);
    assert.equal(res.status, 200, res.text);
    assert.match(res.setCookies[0], /^hookwire_portal=hwportal_[A-Za-z0-9_-]{32}; Path=\/; HttpOnly; Secure; SameSite=None; Partitioned$/);
    const consoleLogin = await send(node.url, 'POST', '/ui/api/console/login', { body: { token: node.token } });
    assert.equal(consoleLogin.status, 200, consoleLogin.text);
    assert.match(consoleLogin.setCookies[0], /^hookwire_console=hwconsole_[A-Za-z0-9_-]{32}; Path=\/; HttpOnly; Secure; SameSite=None; Partitioned$/);
  } finally {
    assert.equal(await node.stop(), 0);
    node.cleanup();
  }
});

test('a portal session needs its CSRF header, stays in its application and honours its capabilities', async () => {
  const view = await portalSession(hw, 'pa');
  assert.equal((await as(hw, view, 'GET', '/api/v1/app/pa/endpoint')).status, 200);
  for (const csrf of [null, '', 'wrong', view.csrf.slice(1)]) {
    const refused = await as(hw, view, 'GET', '/api/v1/app/pa/endpoint', undefined, { csrf });
    assert.equal(refused.status, 403, `csrf ${csrf}`);
    assert.equal(refused.json.code, 'csrf_failed');
  }
  // Application B: 403, by uid or id.
  const b = (await hw.api('GET', '/api/v1/app/pb')).json;
  assert.equal((await as(hw, view, 'GET', '/api/v1/app/pb/endpoint')).status, 403);
  assert.equal((await as(hw, view, 'GET', `/api/v1/app/${b.id}/endpoint`)).status, 403);
  assert.equal((await as(hw, view, 'GET', '/api/v1/app')).status, 403);
  // ViewBase only: no endpoint creation; ManageEndpoint: created.
  const ep = { url: 'https://sink.example/unused' };
  assert.equal((await as(hw, view, 'POST', '/api/v1/app/pa/endpoint', ep)).status, 403);
  const manage = await portalSession(hw, 'pa', { capabilities: ['ManageEndpoint'] });
  const created = await as(hw, manage, 'POST', '/api/v1/app/pa/endpoint', ep);
  assert.equal(created.status, 201, created.text);
  assert.equal((await as(hw, manage, 'POST', '/api/v1/app/pb/endpoint', ep)).status, 403);
  assert.equal((await as(hw, manage, 'POST', '/api/v1/app/pa/endpoint', ep, { csrf: null })).status, 403);
  // An unknown session cookie: 401.
  const forged = { cookie: `hookwire_portal=hwportal_${'A'.repeat(32)}`, csrf: view.csrf };
  const unknown = await as(hw, forged, 'GET', '/api/v1/app/pa');
  assert.equal(unknown.status, 401);
  assert.equal(unknown.json.code, 'session_invalid');
});

test('a console session acts as the admin token', async () => {
  const wrong = await send(hw.url, 'POST', '/ui/api/console/login', { body: { token: 'not-the-admin-token' } });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.code, 'authentication_failed');
  assert.deepEqual(wrong.setCookies, []);
  assert.ok(!hw.stderr.includes('not-the-admin-token'), 'the presented token is never logged');

  const res = await send(hw.url, 'POST', '/ui/api/console/login', { body: { token: hw.token } });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.match(res.setCookies[0], /^hookwire_console=hwconsole_[A-Za-z0-9_-]{32}; Path=\/; HttpOnly; SameSite=Lax$/);
  assert.deepEqual(Object.keys(res.json).sort(), ['csrf', 'expiresAt']);
  const hours = (Date.parse(res.json.expiresAt) - Date.now()) / 3600_000;
  assert.ok(hours > 11.9 && hours <= 12, `expires in ${hours} h`);
  const s = sessionOf(res);
  const info = await send(hw.url, 'GET', '/ui/api/console/session', { headers: { cookie: s.cookie } });
  assert.equal(info.status, 200);
  assert.deepEqual(info.json, res.json);

  const apps = await as(hw, s, 'GET', '/api/v1/app');
  assert.equal(apps.status, 200, apps.text);
  assert.ok(apps.json.data.some((a) => a.uid === 'pb'));
  assert.equal((await as(hw, s, 'POST', '/api/v1/app', { name: 'C', uid: 'pc' })).status, 201);
  assert.equal((await as(hw, s, 'GET', '/api/v1/app/pb/endpoint')).status, 200);
  assert.equal((await as(hw, s, 'GET', '/api/v1/app', undefined, { csrf: null })).status, 403);
});

test('logout ends an app-portal token, or a session and its cookie', async () => {
  const { token } = await access(hw, 'pa');
  assert.equal((await bearer(hw, token, 'POST', '/api/v1/auth/logout')).status, 204);
  assert.equal((await bearer(hw, token, 'GET', '/api/v1/app/pa')).status, 401);
  assert.equal((await bearer(hw, hw.token, 'POST', '/api/v1/auth/logout')).status, 403, 'not the admin token');

  const s = await portalSession(hw, 'pa');
  assert.equal((await as(hw, s, 'POST', '/api/v1/auth/logout', undefined, { csrf: null })).status, 403);
  const out = await as(hw, s, 'POST', '/api/v1/auth/logout');
  assert.equal(out.status, 204, out.text);
  assert.deepEqual(out.setCookies, ['hookwire_portal=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax']);
  assert.equal((await as(hw, s, 'GET', '/api/v1/app/pa')).status, 401);
  assert.equal((await send(hw.url, 'GET', '/ui/api/portal/session', { headers: { cookie: s.cookie } })).status, 401);
});

test('expire-all ends the portal tokens and sessions of an application, or of the sessionIds given', async () => {
  const t1 = await access(hw, 'pb', { sessionId: 'alice' });
  const t2 = await access(hw, 'pb', { sessionId: 'bob' });
  const s1 = sessionOf(await login(hw, (await access(hw, 'pb', { sessionId: 'alice' })).link));
  const s2 = sessionOf(await login(hw, (await access(hw, 'pb', { sessionId: 'bob' })).link));
  const onA = await portalSession(hw, 'pa', { sessionId: 'alice' });
  const read = async (who) => (who.token ? bearer(hw, who.token, 'GET', '/api/v1/app/pb')
    : as(hw, who, 'GET', '/api/v1/app/pb')).then((r) => r.status);

  const some = await hw.api('POST', '/api/v1/auth/app/pb/expire-all', { sessionIds: ['alice'] });
  assert.equal(some.status, 204, some.text);
  assert.equal(await read(t1), 401);
  assert.equal(await read(s1), 401);
  assert.equal(await read(t2), 200);
  assert.equal(await read(s2), 200);
  assert.equal(await login(hw, t1.link).then((r) => r.status), 401, 'its link too');
  assert.equal((await as(hw, onA, 'GET', '/api/v1/app/pa')).status, 200, 'another application');

  assert.equal((await hw.api('POST', '/api/v1/auth/app/pb/expire-all', { sessionIds: ['x y'] })).status, 422);
  assert.equal((await bearer(hw, t2.token, 'POST', '/api/v1/auth/app/pb/expire-all', {})).status, 403);
  const all = await hw.api('POST', '/api/v1/auth/app/pb/expire-all', {});
  assert.equal(all.status, 204, all.text);
  assert.equal(await read(t2), 401);
  assert.equal(await read(s2), 401);
  assert.equal(await login(hw, t2.link).then((r) => r.status), 401);
  assert.equal((await as(hw, onA, 'GET', '/api/v1/app/pa')).status, 200);
});

test('on two nodes sharing PostgreSQL a link redeemed on one is refused on the other', { timeout: 120000 }, async () => {
  const pg = await PgCluster.create();
  const nodes = [];
  try {
    const url = await pg.createDatabase();
    nodes.push(await Hookwire.start({ args: ['--store', url] }));  // migrates the schema
    nodes.push(await Hookwire.start({ args: ['--store', url] }));
    const [A, B] = nodes;
    assert.equal((await A.api('POST', '/api/v1/app', { name: 'M', uid: 'multi' })).status, 201);
    const first = await access(A, 'multi');
    const second = await access(B, 'multi');

    const onA = await login(A, first.link);
    assert.equal(onA.status, 200, onA.text);
    const again = await login(B, first.link);
    assert.equal(again.status, 401, again.text);
    assert.equal(again.json.code, 'link_invalid');
    // A link made on B, redeemed on A, then refused on both; the same link sent to both at once: one session.
    assert.equal((await login(A, second.link)).status, 200);
    assert.equal((await login(B, second.link)).status, 401);
    assert.equal((await login(A, second.link)).status, 401);
    const raced = await access(A, 'multi');
    const both = await Promise.all([login(A, raced.link), login(B, raced.link)]);
    assert.deepEqual(both.map((r) => r.status).sort(), [200, 401]);

    // A session made on A works on B at once, and a token made on B on A: a node asks the store about a
    // credential it has not heard of yet.
    const s = sessionOf(onA);
    assert.equal((await as(B, s, 'GET', '/api/v1/app/multi')).status, 200);
    const info = await send(B.url, 'GET', '/ui/api/portal/session', { headers: { cookie: s.cookie } });
    assert.equal(info.status, 200, info.text);
    assert.equal((await bearer(A, (await access(B, 'multi')).token, 'GET', '/api/v1/app/multi')).status, 200);
    const consoleOnA = sessionOf(await send(A.url, 'POST', '/ui/api/console/login', { body: { token: A.token } }));
    assert.equal((await as(B, consoleOnA, 'GET', '/api/v1/app')).status, 200);
    // Logged out on B: refused on A once A hears of it (the change reaches every node).
    assert.equal((await as(B, s, 'POST', '/api/v1/auth/logout')).status, 204);
    const deadline = Date.now() + 10000;
    let status;
    while ((status = (await as(A, s, 'GET', '/api/v1/app/multi')).status) !== 401 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(status, 401);
  } finally {
    for (const node of nodes) {
      assert.equal(await node.stop(), 0, node.stderr.slice(-2000));
      node.cleanup();
    }
    await pg.destroy();
  }
});
