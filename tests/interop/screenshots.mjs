// Makes the screenshots of the console and the portal shown in the README (docs/screenshots/*.png), with the
// browser the UI tests use. Not a test: run it by hand after changing a page, and commit the pictures.
//   cd tests/interop && node screenshots.mjs            (HOOKWIRE_BIN: the binary; default build/)
import { mkdirSync } from 'node:fs';
import Stripe from 'stripe';
import { Hookwire } from './lib/hookwire.mjs';
import { receiver } from './lib/receiver.mjs';
import { launch, newPage } from './lib/browser.mjs';

const OUT = new URL('../../docs/screenshots/', import.meta.url).pathname;
mkdirSync(OUT, { recursive: true });
const stripe = new Stripe('sk_test_screenshots_only');

const hw = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8', '--retry-schedule', '50ms'] });
let calls = 0;
const hook = await receiver({
  handler: (req, res) => {
    calls += 1;
    if (calls % 4 === 0) res.writeHead(503, { 'content-type': 'text/plain' }).end('upstream unavailable');
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  },
});
const browser = await launch();
try {
  const app = (await hw.api('POST', '/api/v1/app', { name: 'Acme Corp', uid: 'acme' })).json;
  for (const [name, description] of [['invoice.paid', 'An invoice was paid'], ['invoice.voided', 'An invoice was voided'], ['customer.created', 'A customer signed up']])
    await hw.api('POST', '/api/v1/event-type', { name, description, schemas: { 1: { type: 'object', examples: [{ id: 'in_1', amount: 1250, currency: 'eur' }] } } });
  const ep = (await hw.api('POST', `/api/v1/app/${app.id}/endpoint`, { url: hook.url, description: 'Billing service', filterTypes: ['invoice.paid', 'invoice.voided'] })).json;
  await hw.api('POST', `/api/v1/app/${app.id}/endpoint`, { url: 'https://crm.acme.example/hooks', description: 'CRM', disabled: true });
  let last;
  for (let i = 0; i < 12; i++)
    last = (await hw.api('POST', `/api/v1/app/${app.id}/msg`, { eventType: i % 3 ? 'invoice.paid' : 'invoice.voided', eventId: `evt_${1000 + i}`, payload: { id: `in_${i}`, amount: 1250 + i, currency: 'eur', customer: { id: 'cus_42', email: 'ada@acme.example' } } })).json;
  await hook.waitFor(12);
  const source = (await hw.api('POST', '/api/v1/source', { uid: 'stripe-live', verifier: 'stripe', secrets: ['whsec_configured'], description: 'Stripe (live)', pull: true })).json;
  const body = JSON.stringify({ id: 'evt_1', type: 'invoice.paid' });
  for (const secret of ['whsec_wrong', 'whsec_configured'])
    await fetch(`${hw.url}/in/stripe-live`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret }) }, body });

  const { url } = (await hw.api('POST', `/api/v1/auth/app-portal-access/${app.id}`, { capabilities: ['ViewBase', 'ViewEndpointSecret', 'ManageEndpointSecret', 'CreateAttempts', 'ManageEndpoint'] })).json;
  const portal = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  const shot = async (page, name, ready) => {
    await page.getByText(ready).first().waitFor();
    await page.screenshot({ path: `${OUT}${name}.png` });
    console.log(`docs/screenshots/${name}.png`);
  };
  await portal.page.goto(url);
  await shot(portal.page, 'portal-endpoints', 'Billing service');
  await portal.page.goto(`${hw.url}/portal#/app/${app.id}/endpoints/${ep.id}`);
  await shot(portal.page, 'portal-endpoint', 'succeeded (');
  await portal.page.goto(`${hw.url}/portal#/app/${app.id}/messages`);
  await shot(portal.page, 'portal-messages', 'evt_1011');
  await portal.page.goto(`${hw.url}/portal#/app/${app.id}/messages/${last.id}`);
  await shot(portal.page, 'portal-message', 'Attempts');
  await portal.context.close();

  const operator = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await operator.page.goto(`${hw.url}/console`);
  await operator.page.getByLabel('Admin token').fill(hw.token);
  await operator.page.keyboard.press('Enter');
  await shot(operator.page, 'console-dashboard', 'Queue depth');
  await operator.page.goto(`${hw.url}/console#/sources/${source.id}`);
  await operator.page.locator('details.request').first().click();
  await shot(operator.page, 'console-source', 'no_matching_signature');
  await operator.context.close();

  const phone = await newPage(browser, { viewport: { width: 390, height: 800 } });
  await phone.page.goto((await hw.api('POST', `/api/v1/auth/app-portal-access/${app.id}`, {})).json.url);
  await shot(phone.page, 'portal-phone', 'Billing service');
  await phone.context.close();
} finally {
  await browser.close();
  await hook.close();
  await hw.stop();
  hw.cleanup();
}
