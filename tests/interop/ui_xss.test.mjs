// Hostile values in every place the UI shows data (issue #22, "safe by construction"): payloads, headers,
// endpoint descriptions and metadata, receivers' response bodies, application names, event type examples,
// inbound requests. In real Chromium, each page must show them as text and run nothing: no script sets the
// marker, no element they describe exists, and the Content-Security-Policy never had to refuse anything (so the
// pages did not even try).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Hookwire } from './lib/hookwire.mjs';
import { receiver } from './lib/receiver.mjs';
import { launch, newPage } from './lib/browser.mjs';

const CORPUS = [
  '<script>window.__pwned=1</script>',
  '<img src=x onerror="window.__pwned=2">',
  '"><svg onload="window.__pwned=3"></svg>',
  "'><iframe srcdoc=\"<script>parent.__pwned=4</script>\"></iframe>",
  'javascript:window.__pwned=5',
  '<a href="javascript:window.__pwned=6">click</a>',
];
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

// Nothing ran, nothing was made of the corpus, nothing was refused by the policy; `shown` is on the page.
async function assertInert(page, problems, shown, where) {
  await page.getByText(shown, { exact: false }).first().waitFor();
  const state = await page.evaluate(() => ({
    pwned: window.__pwned ?? null,
    elements: document.querySelectorAll('img[src="x"], svg[onload], iframe, a[href^="javascript"], script:not([src])').length,
    csp: window.__cspViolations ?? [],
  }));
  assert.deepEqual(state, { pwned: null, elements: 0, csp: [] }, where);
  assert.deepEqual(problems, [], where);
}

test('the portal renders a hostile payload, description, metadata, header and response body as text', async () => {
  const app = (await hw.api('POST', '/api/v1/app', { name: CORPUS[1] })).json;
  const hook = await receiver({
    handler: (req, res) => res.writeHead(500, { 'content-type': 'text/html' }).end(`${CORPUS[0]}${CORPUS[1]}${CORPUS[3]}`),
  });
  try {
    const ep = await hw.api('POST', `/api/v1/app/${app.id}/endpoint`, {
      url: hook.url, description: CORPUS[1], metadata: { note: CORPUS[0] },
    });
    assert.equal(ep.status, 201, ep.text);
    const headers = await hw.api('PUT', `/api/v1/app/${app.id}/endpoint/${ep.json.id}/headers`, { headers: { 'X-Note': CORPUS[2] } });
    assert.equal(headers.status, 204, headers.text);
    const msg = await hw.api('POST', `/api/v1/app/${app.id}/msg`, {
      eventType: 'evil.event', payload: Object.fromEntries(CORPUS.map((c, i) => [`field${i}`, c])),
    });
    assert.equal(msg.status, 202, msg.text);
    await hook.waitFor(1);
    const { url } = (await hw.api('POST', `/api/v1/auth/app-portal-access/${app.id}`, { capabilities: ALL })).json;
    const { page, context, problems } = await newPage(browser);
    try {
      await page.goto(url);
      await assertInert(page, problems, CORPUS[1], 'endpoint list');
      await page.goto(`${hw.url}/portal#/app/${app.id}/endpoints/${ep.json.id}`);
      await assertInert(page, problems, CORPUS[0], 'endpoint page (metadata)');
      await page.goto(`${hw.url}/portal#/app/${app.id}/endpoints/${ep.json.id}/edit`);
      await page.getByLabel('Custom headers').waitFor();
      assert.equal(await page.getByLabel('Custom headers').inputValue(), `X-Note: ${CORPUS[2]}`);
      await assertInert(page, problems, 'Edit endpoint', 'edit form');
      await page.goto(`${hw.url}/portal#/app/${app.id}/messages/${msg.json.id}`);
      await assertInert(page, problems, CORPUS[0], 'message payload (pretty)');
      await page.getByRole('button', { name: 'Raw' }).click();
      await assertInert(page, problems, 'field5', 'message payload (raw)');
      const attempts = page.getByRole('table', { name: 'Attempts' });
      await attempts.getByRole('link').first().click();
      await page.getByRole('heading', { name: 'Attempt' }).waitFor();
      await assertInert(page, problems, CORPUS[3], 'attempt response body');
    } finally {
      await context.close();
    }
  } finally {
    await hook.close();
  }
});

test('the console renders hostile application names, event type examples and inbound requests as text', async () => {
  const app = (await hw.api('POST', '/api/v1/app', { name: CORPUS[0], uid: 'hostile-app' })).json;
  const et = await hw.api('POST', '/api/v1/event-type', {
    name: 'hostile.example', description: CORPUS[1],
    schemas: { 1: { type: 'object', title: CORPUS[2], examples: [{ html: CORPUS[0] }] } },
  });
  assert.equal(et.status, 201, et.text);
  const src = await hw.api('POST', '/api/v1/source', { uid: 'hostile-source', verifier: 'none', description: CORPUS[4], pull: true });
  assert.equal(src.status, 201, src.text);
  const posted = await fetch(`${hw.url}/in/hostile-source`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-evil': CORPUS[1] }, body: JSON.stringify({ evil: CORPUS[0] }),
  });
  assert.equal(posted.status, 202);
  const { page, context, problems } = await newPage(browser);
  try {
    await page.goto(`${hw.url}/console`);
    await page.getByLabel('Admin token').fill(hw.token);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    problems.length = 0;  // the 401 of the session probe before the login
    await page.goto(`${hw.url}/console#/apps`);
    await assertInert(page, problems, CORPUS[0], 'applications');
    await page.goto(`${hw.url}/console#/app/${app.id}/event-types`);
    await page.getByText('hostile.example').click();
    await assertInert(page, problems, CORPUS[0], 'event type example');
    await page.goto(`${hw.url}/console#/sources`);
    await assertInert(page, problems, CORPUS[4], 'sources');
    await page.goto(`${hw.url}/console#/sources/${src.json.id}`);
    const card = page.locator('details.request').first();
    await card.waitFor();
    await card.click();
    await assertInert(page, problems, `x-evil: ${CORPUS[1]}`, 'inspected request');
  } finally {
    await context.close();
  }
});
