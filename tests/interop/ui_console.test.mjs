// The operator's console in real headless Chromium (issue #22): logging in with the admin token (by
// keyboard), the dashboard's charts, applications and their search, a Stripe source with a wrong secret whose
// refused request shows its reason, and the request inspector showing a request as it arrives.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import { Hookwire } from './lib/hookwire.mjs';
import { launch, newPage } from './lib/browser.mjs';

const stripe = new Stripe('sk_test_interop_only_never_used_for_network');
let hw;
let browser;
before(async () => {
  hw = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8'] });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  assert.equal(await hw.stop(), 0);
  hw.cleanup();
});

// A logged-in console page.
async function consolePage(options) {
  const session = await newPage(browser, options);
  await session.page.goto(`${hw.url}/console`);
  await session.page.getByLabel('Admin token').fill(hw.token);
  await session.page.keyboard.press('Enter');
  await session.page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  session.problems.length = 0;  // the 401 of the session probe before the login
  return session;
}

test('the console asks for the admin token, refuses another, and is usable by keyboard', async () => {
  const { page, context, problems } = await newPage(browser);
  try {
    await page.goto(`${hw.url}/console`);
    // The token field has the focus: type and press Enter.
    await page.keyboard.type('not-the-token');
    await page.keyboard.press('Enter');
    await page.getByText('That is not the admin token.').waitFor();
    await page.getByLabel('Admin token').fill(hw.token);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    // The session is a cookie the page cannot read; the token is nowhere in the page or its storage.
    assert.equal(await page.evaluate(() => document.cookie), '');
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
    assert.ok(!stored.includes(hw.token));
    // Every chart of the server's figures is drawn, each with a text alternative.
    for (const name of ['Queue depth', 'Lag', 'Delivered per 10 s', 'Failed per 10 s'])
      await page.getByRole('heading', { name }).waitFor();
    assert.ok(await page.getByRole('img').count() >= 4);
    // Navigation by keyboard: Tab reaches the Applications link, Enter follows it.
    for (let i = 0; i < 10 && !(await page.evaluate(() => document.activeElement?.textContent === 'Applications')); i++)
      await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Applications' }).waitFor();
    // The console may not be framed.
    const res = await fetch(`${hw.url}/console`);
    assert.match(res.headers.get('content-security-policy'), /frame-ancestors 'none'/);
    assert.deepEqual(problems.filter((p) => !p.includes('401')), []);
  } finally {
    await context.close();
  }
});

test('applications are listed a page at a time and found by id or uid', async () => {
  for (let i = 0; i < 30; i++) await hw.api('POST', '/api/v1/app', { name: `Customer ${i}`, uid: `customer-${i}` });
  const { page, context } = await consolePage();
  try {
    await page.getByRole('link', { name: 'Applications' }).click();
    const table = page.getByRole('table', { name: 'Applications' });
    await table.getByRole('row').nth(25).waitFor();
    assert.equal(await table.getByRole('row').count(), 26, 'a page of 25 and the header');
    // The second page shows what the API's second page holds.
    const first = await hw.api('GET', '/api/v1/app?limit=25');
    const second = await hw.api('GET', `/api/v1/app?limit=25&iterator=${encodeURIComponent(first.json.iterator)}`);
    await page.getByRole('button', { name: 'Older →' }).click();
    await table.getByText(second.json.data[0].name, { exact: true }).waitFor();
    assert.equal(await table.getByText(first.json.data[0].name, { exact: true }).count(), 0);
    await page.getByLabel('Find an application').fill('customer-7');
    await page.getByRole('button', { name: 'Find' }).click();
    await page.locator('.nav-app', { hasText: 'Customer 7' }).waitFor();
    await page.getByRole('heading', { name: 'Endpoints' }).waitFor();
  } finally {
    await context.close();
  }
});

test('a Stripe source with a wrong secret shows the refused request and why', async () => {
  const created = await hw.api('POST', '/api/v1/source', { uid: 'stripe-live', verifier: 'stripe', secrets: ['whsec_the_configured_one'], pull: true });
  assert.equal(created.status, 201, created.text);
  const body = JSON.stringify({ id: 'evt_1', type: 'invoice.paid', data: { object: { id: 'in_1' } } });
  const refused = await fetch(`${hw.url}/in/stripe-live`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_what_stripe_uses' }) },
    body,
  });
  assert.equal(refused.status, 401);
  const { page, context } = await consolePage();
  try {
    await page.getByRole('link', { name: 'Sources' }).click();
    await page.getByRole('link', { name: 'stripe-live' }).click();
    await page.getByRole('heading', { name: 'Refused requests' }).waitFor();
    const card = page.locator('details.request').first();
    await card.getByText('401 rejected').waitFor();
    await card.getByText(/no_matching_signature/).waitFor();
    // Fix it from the console: the right secret, then a request passes.
    await page.getByText('Edit or rotate secrets').click();
    await page.getByLabel('New secrets').fill('whsec_what_stripe_uses');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(`Saved: revision ${created.json.revision + 1}.`).waitFor();
    const ok = await fetch(`${hw.url}/in/stripe-live`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_what_stripe_uses' }) },
      body,
    });
    assert.equal(ok.status, 202);
  } finally {
    await context.close();
  }
});

test('the request inspector shows a request posted to it while it is open', async () => {
  const created = await hw.api('POST', '/api/v1/source', { uid: 'inspect-me', verifier: 'none', pull: true });
  assert.equal(created.status, 201, created.text);
  const { page, context, problems } = await consolePage();
  try {
    await page.goto(`${hw.url}/console#/sources/${created.json.id}`);
    await page.getByRole('heading', { name: 'Requests (inspector)' }).waitFor();
    await page.getByText('● Live').waitFor();
    const res = await fetch(`${hw.url}/in/inspect-me?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-probe': 'hello-inspector', authorization: 'Bearer do-not-show' },
      body: JSON.stringify({ order: 42 }),
    });
    assert.equal(res.status, 202);
    const card = page.locator('details.request').first();
    await card.getByText('202 accepted').waitFor();
    await card.click();
    await card.getByText('x-probe: hello-inspector').waitFor();
    await card.getByText('"order": 42').waitFor();
    assert.equal(await page.getByText('do-not-show').count(), 0, 'Authorization is redacted');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
