// The application portal in real headless Chromium (issue #22): a one-time link becomes a session; endpoints
// are created, messages and attempts appear live, a failing receiver is recovered and resent to, a secret is
// rotated and both signatures verify; sessions end; one application's portal cannot reach another's, and
// capabilities hide and refuse what was not granted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { Hookwire } from './lib/hookwire.mjs';
import { receiver } from './lib/receiver.mjs';
import { launch, newPage } from './lib/browser.mjs';

const ALL = ['ViewBase', 'ViewEndpointSecret', 'ManageEndpointSecret', 'CreateAttempts', 'ManageEndpoint'];
let hw;
let browser;
before(async () => {
  hw = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8', '--retry-schedule', '50ms'] });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  assert.equal(await hw.stop(), 0);
  hw.cleanup();
});

async function app(name) {
  const res = await hw.api('POST', '/api/v1/app', { name });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

async function portalAccess(appId, capabilities = ALL, extra = {}) {
  const res = await hw.api('POST', `/api/v1/auth/app-portal-access/${appId}`, { capabilities, ...extra });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

// Opens a portal link in a fresh browser context and waits for the portal to show its first page.
async function openPortal(url, options) {
  const session = await newPage(browser, options);
  await session.page.goto(url);
  await session.page.locator('main#view, main.error-page').first().waitFor();
  return session;
}

// fetch() from inside the page: the page's own session (its cookie), with or without the CSRF header.
function fetchInPage(page, path, { method = 'GET', body, csrf = true } = {}) {
  return page.evaluate(async ({ path, method, body, csrf }) => {
    const session = await (await fetch('/ui/api/portal/session')).json();
    const headers = { 'content-type': 'application/json' };
    if (csrf) headers['X-Hookwire-Csrf'] = session.csrf;
    const res = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    return res.status;
  }, { path, method, body, csrf });
}

test('a portal link opens a session once; the same link again is refused', async () => {
  const a = await app('Once');
  const { url, token } = await portalAccess(a.id);
  assert.match(url, /\/portal#key=/);
  assert.ok(!url.includes(token), 'the link does not carry the reusable token');
  const first = await openPortal(url);
  try {
    await first.page.getByRole('heading', { name: 'Endpoints' }).waitFor();
    assert.ok(!first.page.url().includes('key='), 'the key leaves the address bar');
    // A reload keeps the session (the cookie), without the key.
    await first.page.reload();
    await first.page.getByRole('heading', { name: 'Endpoints' }).waitFor();
    assert.deepEqual(first.problems, []);
  } finally {
    await first.context.close();
  }
  const second = await openPortal(url);
  try {
    await second.page.getByRole('heading', { name: 'This link cannot be used' }).waitFor();
  } finally {
    await second.context.close();
  }
});

test('endpoint, live message and attempt, failure, recover, resend, rotation: all from the portal', async () => {
  const a = await app('Acme');
  let failing = false;
  const hook = await receiver({
    handler: (req, res) => {
      if (failing) res.writeHead(500, { 'content-type': 'text/plain' }).end('receiver is down');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true,"by":"acme-receiver"}');
    },
  });
  const { url } = await portalAccess(a.id);
  const { page, context, problems } = await openPortal(url);
  page.acceptDialogs = true;
  try {
    // Create an endpoint through the form.
    await page.getByRole('link', { name: 'Add endpoint' }).click();
    await page.getByLabel('Endpoint URL').fill(hook.url);
    await page.getByLabel('Description').fill('Acme production');
    await page.getByLabel('Custom headers').fill('X-Tenant: acme');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: 'Acme production' }).waitFor();
    const endpointId = decodeURIComponent(page.url().split('/endpoints/')[1]);
    assert.match(endpointId, /^ep_/);

    // The message log is live: a message published through the API appears without a reload.
    await page.getByRole('link', { name: 'Messages' }).click();
    await page.getByText('● Live').waitFor();
    const published = await hw.api('POST', `/api/v1/app/${a.id}/msg`, { eventType: 'invoice.paid', payload: { invoice: 'in_1' } });
    assert.equal(published.status, 202, published.text);
    const msgId = published.json.id;
    await page.getByRole('link', { name: 'invoice.paid' }).first().waitFor();
    await page.getByRole('link', { name: 'invoice.paid' }).first().click();
    await page.getByRole('heading', { name: 'invoice.paid' }).waitFor();
    assert.ok(page.url().includes(msgId));
    // Its attempt appears on the message's page (it refreshes while the delivery is in flight).
    const attempts = page.getByRole('table', { name: 'Attempts' });
    await attempts.getByText('Succeeded').waitFor();
    await attempts.getByRole('link').first().click();
    await page.getByRole('heading', { name: 'Attempt' }).waitFor();
    await page.getByText('"by": "acme-receiver"').waitFor();  // the receiver's answer, pretty
    assert.equal(hook.requests.at(-1).headers['x-tenant'], 'acme');

    // The receiver fails: the message ends failed (retries exhausted), then is recovered from the portal.
    failing = true;
    const down = await hw.api('POST', `/api/v1/app/${a.id}/msg`, { eventType: 'invoice.voided', payload: { invoice: 'in_2' } });
    await page.goto(`${hw.url}/portal#/app/${a.id}/messages/${down.json.id}`);
    await page.getByRole('table', { name: 'Endpoints' }).getByText('Failed').waitFor();
    await page.getByRole('table', { name: 'Attempts' }).getByText('500').first().waitFor();
    failing = false;
    const before = hook.requests.length;
    await page.goto(`${hw.url}/portal#/app/${a.id}/endpoints/${endpointId}/recovery`);
    await page.getByRole('button', { name: 'Recover failed messages' }).click();
    await page.getByText(/Recover failed messages: 1 message/).waitFor();
    await hook.waitFor(before + 1);
    assert.equal(JSON.parse(hook.requests.at(-1).body).invoice, 'in_2');

    // Resend one attempt's message from its page: a manual attempt is added.
    await page.goto(`${hw.url}/portal#/app/${a.id}/messages/${msgId}`);
    const table = page.getByRole('table', { name: 'Attempts' });
    await table.getByText('Succeeded').first().waitFor();
    await table.getByRole('link').first().click();
    await page.getByRole('button', { name: 'Resend' }).click();
    await page.getByText('Resent').waitFor();
    await hook.waitFor(before + 2);
    await page.goto(`${hw.url}/portal#/app/${a.id}/messages/${msgId}`);
    await page.getByRole('table', { name: 'Attempts' }).getByText('manual').waitFor();

    // Rotate the secret with a grace period: the next delivery carries both signatures, each verifies.
    await page.goto(`${hw.url}/portal#/app/${a.id}/endpoints/${endpointId}/secret`);
    await page.getByRole('button', { name: 'Reveal' }).click();
    const oldSecret = await page.locator('code.secret').textContent();
    assert.match(oldSecret, /^whsec_/);
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByText('Rotated').waitFor();
    await page.getByRole('button', { name: 'Reveal' }).click();
    await page.locator('code.secret', { hasText: /^whsec_/ }).waitFor();
    const newSecret = await page.locator('code.secret').textContent();
    assert.notEqual(newSecret, oldSecret);
    const sent = hook.requests.length;
    await hw.api('POST', `/api/v1/app/${a.id}/msg`, { eventType: 'invoice.paid', payload: { invoice: 'in_3' } });
    await hook.waitFor(sent + 1);
    const req = hook.requests.at(-1);
    assert.equal(req.headers['webhook-signature'].split(' ').length, 2);
    assert.deepEqual(new Webhook(oldSecret).verify(req.body, req.headers), { invoice: 'in_3' });
    assert.deepEqual(new Webhook(newSecret).verify(req.body, req.headers), { invoice: 'in_3' });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    await hook.close();
  }
});

test('a revoked session and a logged-out one are sent to the error page', async () => {
  const a = await app('Revoked');
  const revoked = await openPortal((await portalAccess(a.id)).url);
  try {
    await revoked.page.getByRole('heading', { name: 'Endpoints' }).waitFor();
    const res = await hw.api('POST', `/api/v1/auth/app/${a.id}/expire-all`, { expiry: 0 });
    assert.equal(res.status, 204, res.text);
    await revoked.page.getByRole('link', { name: 'Messages' }).click();
    await revoked.page.getByRole('heading', { name: 'Your session has ended' }).waitFor();
    await revoked.page.reload();
    await revoked.page.getByRole('heading', { name: 'Your session has ended' }).waitFor();
  } finally {
    await revoked.context.close();
  }
  const out = await openPortal((await portalAccess(a.id)).url);
  try {
    await out.page.getByRole('button', { name: 'Log out' }).click();
    await out.page.getByRole('heading', { name: 'You are logged out' }).waitFor();
    await out.page.reload();
    await out.page.getByRole('heading', { name: 'Your session has ended' }).waitFor();
  } finally {
    await out.context.close();
  }
});

test('the portal of one application cannot read or change another, through the UI or the API', async () => {
  const a = await app('Tenant A');
  const b = await app('Tenant B');
  const epB = await hw.api('POST', `/api/v1/app/${b.id}/endpoint`, { url: 'https://b.example.com/hook', description: 'B secret place' });
  assert.equal(epB.status, 201, epB.text);
  const access = await portalAccess(a.id);
  const { page, context } = await openPortal(access.url);
  try {
    await page.goto(`${hw.url}/portal#/app/${b.id}/endpoints/${epB.json.id}`);
    await page.getByText('This portal shows only its own application.').waitFor();
    assert.equal(await page.getByText('B secret place').count(), 0);
    // Its session, through the API: refused for B, allowed for A; never without the CSRF header.
    assert.equal(await fetchInPage(page, `/api/v1/app/${b.id}/endpoint`), 403);
    assert.equal(await fetchInPage(page, `/api/v1/app/${b.id}/endpoint`, { method: 'POST', body: { url: 'https://x.example.com' } }), 403);
    assert.equal(await fetchInPage(page, `/api/v1/app/${a.id}/endpoint`), 200);
    assert.equal(await fetchInPage(page, `/api/v1/app/${a.id}/endpoint`, { csrf: false }), 403);
    assert.equal(await fetchInPage(page, '/api/v1/app'), 403);
  } finally {
    await context.close();
  }
  // Its token, through the API.
  const asA = (method, path, body) => fetch(hw.url + path, {
    method, headers: { authorization: `Bearer ${access.token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.equal((await asA('GET', `/api/v1/app/${b.id}/endpoint`)).status, 403);
  assert.equal((await asA('DELETE', `/api/v1/app/${b.id}/endpoint/${epB.json.id}`)).status, 403);
  assert.equal((await asA('GET', `/api/v1/app/${a.id}/endpoint`)).status, 200);
});

test('capabilities: a read-only portal shows no control it may not use, and the API refuses it', async () => {
  const a = await app('Read only');
  const ep = await hw.api('POST', `/api/v1/app/${a.id}/endpoint`, { url: 'https://ro.example.com/hook', description: 'Read-only view' });
  const { page, context, problems } = await openPortal((await portalAccess(a.id, ['ViewBase'])).url);
  try {
    await page.getByRole('link', { name: 'ro.example.com' }).first().waitFor().catch(() => {});
    await page.getByText('https://ro.example.com/hook').waitFor();
    assert.equal(await page.getByRole('link', { name: 'Add endpoint' }).count(), 0);
    await page.goto(`${hw.url}/portal#/app/${a.id}/endpoints/${ep.json.id}`);
    await page.getByRole('heading', { name: 'Read-only view' }).waitFor();
    for (const name of ['Edit', 'Secret', 'Testing', 'Recovery'])
      assert.equal(await page.getByRole('link', { name, exact: true }).count(), 0, name);
    for (const name of ['Disable', 'Delete'])
      assert.equal(await page.getByRole('button', { name }).count(), 0, name);
    await page.goto(`${hw.url}/portal#/app/${a.id}/endpoints/new`);
    await page.getByText('You may not change endpoints.').waitFor();
    assert.equal(await fetchInPage(page, `/api/v1/app/${a.id}/endpoint`, { method: 'POST', body: { url: 'https://x.example.com' } }), 403);
    assert.equal(await fetchInPage(page, `/api/v1/app/${a.id}/endpoint/${ep.json.id}/secret`), 403);
    assert.equal(await fetchInPage(page, `/api/v1/app/${a.id}/endpoint/${ep.json.id}/recover`, { method: 'POST', body: { since: new Date(0).toISOString() } }), 403);
    assert.deepEqual(problems.filter((p) => !p.includes('403')), []);
  } finally {
    await context.close();
  }
});

test('white-label parameters, a deep link, a phone-width screen', async () => {
  const a = await app('Branded');
  const ep = await hw.api('POST', `/api/v1/app/${a.id}/endpoint`, { url: 'https://brand.example.com/hook', description: 'Deep target' });
  const { url } = await portalAccess(a.id);
  const branded = url.replace('/portal#', `/portal?darkMode=true&primaryColorDark=%2300aa55&hideNavigation=true&next=%2Fendpoints%2F${ep.json.id}#`);
  const { page, context } = await openPortal(branded, { viewport: { width: 390, height: 844 } });
  try {
    await page.getByRole('heading', { name: 'Deep target' }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.classList.contains('dark')), true);
    assert.equal(await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--primary').trim()), '#00aa55');
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).isVisible(), false);
    // Nothing wider than the screen.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
  } finally {
    await context.close();
  }
});

test('the portal may be framed by the configured origins only', async () => {
  // Two pages that frame a portal link: one from an origin hookwire is told about, one from another.
  const framing = { allowed: '', other: '' };
  const page = (which) => (req, res) =>
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>${which}</title><iframe id="portal" title="Webhooks" src="${framing[which]}" width="1000" height="700"></iframe>`);
  const allowed = await receiver({ handler: page('allowed') });
  const other = await receiver({ handler: page('other') });
  const framed = await Hookwire.start({ args: ['--portal-frame-ancestor', `http://127.0.0.1:${allowed.port}`] });
  try {
    const a = (await framed.api('POST', '/api/v1/app', { name: 'Framed' })).json;
    const link = async () => (await framed.api('POST', `/api/v1/auth/app-portal-access/${a.id}`, { capabilities: ALL })).json.url;
    framing.allowed = await link();
    framing.other = await link();
    const policy = (await fetch(`${framed.url}/portal`)).headers.get('content-security-policy');
    assert.match(policy, new RegExp(`frame-ancestors 'self' http://127\\.0\\.0\\.1:${allowed.port}$`));

    const ok = await newPage(browser);
    try {
      await ok.page.goto(`http://127.0.0.1:${allowed.port}/`);
      await ok.page.frameLocator('#portal').getByRole('heading', { name: 'Endpoints' }).waitFor();
    } finally {
      await ok.context.close();
    }
    const refused = await newPage(browser);
    try {
      const blocked = refused.page.waitForEvent('console', (m) => /frame-ancestors/.test(m.text()));
      await refused.page.goto(`http://127.0.0.1:${other.port}/`);
      await blocked;
      const frame = refused.page.frames().find((f) => f !== refused.page.mainFrame());
      assert.equal(await frame.locator('main#view').count(), 0, 'nothing of the portal is shown');
    } finally {
      await refused.context.close();
    }
  } finally {
    await framed.stop();
    framed.cleanup();
    await allowed.close();
    await other.close();
  }
});
