// The publish side of the pull door against the real binary: thin webhooks reach a real receiver, verified with
// `standardwebhooks`, and the message is fetched at the URL they carry; pull-only endpoints get nothing pushed;
// an inbound source with "pull": true gets its `pull` sink; --public-url is checked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Svix } from 'svix';
import { Webhook } from 'standardwebhooks';
import { sign as ghSign } from '@octokit/webhooks-methods';
import { Hookwire, BIN } from './lib/hookwire.mjs';
import { receiver } from './lib/receiver.mjs';

let hw;
let svix;
before(async () => {
  hw = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8'] });
  svix = new Svix(hw.token, { serverUrl: hw.url });
});
after(async () => {
  assert.equal(await hw.stop(), 0);
  hw.cleanup();
});

test('a thin endpoint is sent {id, type, timestamp, url}, signed; the url fetches the message', async () => {
  const rx = await receiver();
  try {
    const app = await svix.application.create({ name: 'Thin' });
    // The svix SDK drops fields it does not know: the extension is set with plain HTTP.
    const ep = await hw.api('POST', `/api/v1/app/${app.id}/endpoint`, { url: rx.url, thin: true });
    assert.equal(ep.status, 201, ep.text);
    assert.equal(ep.json.thin, true);
    assert.equal(ep.json.pullOnly, false);
    const { key } = await svix.endpoint.getSecret(app.id, ep.json.id);
    // The SDK still reads the endpoint (unknown fields ignored).
    assert.equal((await svix.endpoint.get(app.id, ep.json.id)).url, rx.url);

    const payload = { id: 'in_1', amount: 1250, secret: 'not in the thin body' };
    const msg = await hw.api('POST', `/api/v1/app/${app.id}/msg`, { eventType: 'invoice.paid', payload });
    assert.equal(msg.status, 202, msg.text);
    await rx.waitFor(1);
    const req = rx.requests[0];
    const url = `${hw.url}/api/v1/app/${app.id}/msg/${msg.json.id}`;  // default --public-url: the listen address
    assert.equal(req.body, JSON.stringify({ id: msg.json.id, type: 'invoice.paid', timestamp: msg.json.timestamp, url }));
    assert.equal(req.headers['webhook-id'], msg.json.id);
    assert.deepEqual(new Webhook(key).verify(req.body, req.headers), JSON.parse(req.body));

    const fetched = await fetch(JSON.parse(req.body).url, { headers: { authorization: `Bearer ${hw.token}` } });
    assert.equal(fetched.status, 200);
    const full = await fetched.json();
    assert.equal(full.id, msg.json.id);
    assert.deepEqual(full.payload, payload);
    const anonymous = await fetch(JSON.parse(req.body).url);
    assert.equal(anonymous.status, 401, 'the url is no capability: fetching it takes a token');
  } finally {
    await rx.close();
  }
});

test('a pull-only endpoint gets no delivery and is never sent to', async () => {
  const sinkRx = await receiver();
  const pushRx = await receiver();
  try {
    const app = await svix.application.create({ name: 'Sinks' });
    const sink = await hw.api('POST', `/api/v1/app/${app.id}/endpoint`, { url: sinkRx.url, uid: 'sink', pullOnly: true });
    assert.equal(sink.status, 201, sink.text);
    assert.equal(sink.json.pullOnly, true);
    const push = await svix.endpoint.create(app.id, { url: pushRx.url });
    const msg = await svix.message.create(app.id, { eventType: 'a.b', payload: { n: 1 } });
    await pushRx.waitFor(1);
    // Deliveries are created with the message, in one transaction: the sink has none.
    const dests = await svix.messageAttempt.listAttemptedDestinations(app.id, msg.id);
    assert.deepEqual(dests.data.map((d) => d.id), [push.id]);
    const resend = await hw.api('POST', `/api/v1/app/${app.id}/msg/${msg.id}/endpoint/sink/resend`);
    assert.equal(resend.status, 409, resend.text);
    const bad = await hw.api('PATCH', `/api/v1/app/${app.id}/endpoint/sink`, { pullOnly: 'yes' });
    assert.equal(bad.status, 422, bad.text);
    assert.equal(sinkRx.requests.length, 0);
  } finally {
    await sinkRx.close();
    await pushRx.close();
  }
});

test('an inbound source with "pull": true has a pull-only `pull` sink, kept in step with the setting', async () => {
  const secret = 'gh-pull-secret';
  const created = await hw.api('POST', '/api/v1/source', { uid: 'gh-pull', verifier: 'github', secrets: [secret], pull: true });
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(created.json.destinations, [], 'the sink is not a destination');
  const appId = created.json.appId;
  const sink = await hw.api('GET', `/api/v1/app/${appId}/endpoint/pull`);
  assert.equal(sink.status, 200, sink.text);
  assert.equal(sink.json.pullOnly, true);

  const body = JSON.stringify({ action: 'opened', n: 1 });
  const res = await fetch(`${hw.url}/in/gh-pull`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-github-event': 'issues', 'x-github-delivery': 'pd-1',
               'x-hub-signature-256': await ghSign(secret, body) },
    body,
  });
  assert.equal(res.status, 202, await res.text());
  const listed = await hw.api('GET', `/api/v1/app/${appId}/msg`);
  assert.equal(listed.json.data.length, 1);
  assert.equal(listed.json.data[0].eventType, 'issues');

  const off = await hw.api('PUT', `/api/v1/source/gh-pull`, { uid: 'gh-pull', verifier: 'github', secrets: [secret],
                                                              destinations: ['http://127.0.0.1:9/d'] });
  assert.equal(off.status, 200, off.text);
  assert.equal((await hw.api('GET', `/api/v1/app/${appId}/endpoint/pull`)).status, 404);
  const on = await hw.api('PUT', `/api/v1/source/gh-pull`, { uid: 'gh-pull', verifier: 'github', secrets: [secret], pull: true });
  assert.equal(on.status, 200, on.text);
  assert.equal((await hw.api('GET', `/api/v1/app/${appId}/endpoint/pull`)).json.pullOnly, true);
});

test('--public-url (or HOOKWIRE_PUBLIC_URL) is the base of thin URLs; a bad one stops the start', async () => {
  const rx = await receiver();
  const other = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8'],
                                       env: { HOOKWIRE_PUBLIC_URL: 'https://hooks.example.test/base/' } });
  try {
    const app = await other.api('POST', '/api/v1/app', { name: 'Public' });
    await other.api('POST', `/api/v1/app/${app.json.id}/endpoint`, { url: rx.url, thin: true });
    const msg = await other.api('POST', `/api/v1/app/${app.json.id}/msg`, { eventType: 'a.b', payload: {} });
    await rx.waitFor(1);
    assert.equal(JSON.parse(rx.requests[0].body).url,
                 `https://hooks.example.test/base/api/v1/app/${app.json.id}/msg/${msg.json.id}`);
  } finally {
    assert.equal(await other.stop(), 0);
    other.cleanup();
    await rx.close();
  }
  for (const bad of ['ftp://example.com', 'https://example.com/?q=1', 'https://example.com/#f', '/relative',
                     'https://user:pw@example.com']) {
    const p = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', '/nonexistent/never-made', '--public-url', bad],
                    { env: { ...process.env, HOOKWIRE_ADMIN_TOKEN: 'x'.repeat(32) }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    const [code] = await once(p, 'exit');
    assert.equal(code, 2, `${bad}: ${err}`);
    assert.match(err, /--public-url/);
  }
});
