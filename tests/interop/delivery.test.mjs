// Delivery end to end: messages published through the official svix SDK reach real receivers on loopback,
// signed so that the official `standardwebhooks` library accepts them; attempts are listed by the SDK.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Svix, ApiException } from 'svix';
import { Webhook } from 'standardwebhooks';
import { Hookwire } from './lib/hookwire.mjs';
import { receiver, until } from './lib/receiver.mjs';

let hw;
let svix;
before(async () => {
  hw = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8', '--retry-schedule', '1s,1s'] });
  svix = new Svix(hw.token, { serverUrl: hw.url });
});
after(async () => {
  assert.equal(await hw.stop(), 0);
  hw.cleanup();
});

test('a message reaches every matching endpoint, signed, and standardwebhooks verifies it', async () => {
  const paid = await receiver();
  const other = await receiver();
  try {
    const app = await svix.application.create({ name: 'Deliveries' });
    const ep = await svix.endpoint.create(app.id, { url: paid.url, eventTypes: ['invoice.paid'] });
    await svix.endpoint.create(app.id, { url: other.url, eventTypes: ['invoice.voided'] });
    await svix.endpoint.setHeaders(app.id, ep.id, { headers: { 'X-Tenant': 'acme' } });
    const { key } = await svix.endpoint.getSecret(app.id, ep.id);

    const msg = await svix.message.create(app.id, { eventType: 'invoice.paid', payload: { id: 'in_1', amount: 1250 } });
    await paid.waitFor(1);
    const req = paid.requests[0];
    assert.equal(req.headers['webhook-id'], msg.id);
    assert.equal(req.headers['x-tenant'], 'acme');
    assert.match(req.headers['user-agent'], /^hookwire\//);
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['x-hookwire-event-type'], 'invoice.paid');
    const verified = new Webhook(key).verify(req.body, req.headers);
    assert.deepEqual(verified, { id: 'in_1', amount: 1250 });
    assert.equal(other.requests.length, 0, 'the other endpoint filters this event type out');

    // The attempt is logged and listed through the SDK (it is recorded right after the 2xx).
    let attempts;
    for (let i = 0; i < 200; i += 1) {
      attempts = await svix.messageAttempt.listByMsg(app.id, msg.id);
      if (attempts.data.length) break;
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(attempts.data.length, 1);
    assert.equal(attempts.data[0].responseStatusCode, 200);
    assert.equal(attempts.data[0].endpointId, ep.id);
  } finally {
    await paid.close();
    await other.close();
  }
});

test('an attempt shows the request headers it was sent with: the signature as received, secrets redacted', async () => {
  let raw;  // the header fields as the receiver got them, in order
  const rx = await receiver({ handler: (req, res) => { raw = req.rawHeaders; res.writeHead(200).end('ok'); } });
  try {
    const app = await svix.application.create({ name: 'Attempt headers' });
    const ep = await svix.endpoint.create(app.id, {
      url: rx.url,
      headers: { 'X-Tenant': 'acme', Authorization: 'Bearer receiver-token-123' },
    });
    const msg = await svix.message.create(app.id, { eventType: 'invoice.paid', payload: { id: 'in_2' } });
    await rx.waitFor(1);
    const got = rx.requests[0].headers;
    assert.equal(got.authorization, 'Bearer receiver-token-123', 'the receiver gets the secret itself');

    const listed = await until(async () => {
      const r = await hw.api('GET', `/api/v1/app/${app.id}/attempt/msg/${msg.id}`);
      return r.json.data.length ? r : null;
    }, 'the attempt to be recorded');
    const attemptId = listed.json.data[0].id;
    const one = await hw.api('GET', `/api/v1/app/${app.id}/msg/${msg.id}/attempt/${attemptId}`);
    assert.equal(one.status, 200, one.text);
    const sent = one.json.requestHeaders;
    assert.equal(sent['webhook-signature'], got['webhook-signature']);
    assert.equal(sent['webhook-id'], msg.id);
    assert.equal(sent['webhook-timestamp'], got['webhook-timestamp']);
    assert.equal(sent['x-hookwire-event-type'], 'invoice.paid');
    assert.equal(sent['X-Tenant'], 'acme');
    assert.equal(sent['User-Agent'], got['user-agent']);
    assert.equal(sent['Content-Type'], 'application/json');
    assert.equal(sent.Authorization, '[redacted]');
    assert.ok(!one.text.includes('receiver-token-123'), 'the secret is nowhere in the answer');
    // In the order the receiver got them, every field but Host and Content-Length.
    const names = [];
    for (let i = 0; i < raw.length; i += 2) if (!/^(host|content-length)$/i.test(raw[i])) names.push(raw[i]);
    assert.deepEqual(Object.keys(sent), names);
    // The listings leave them out (docs/api.md): the single attempt has them.
    assert.ok(!('requestHeaders' in listed.json.data[0]));
    const byEndpoint = await hw.api('GET', `/api/v1/app/${app.id}/attempt/endpoint/${ep.id}`);
    assert.equal(byEndpoint.json.data[0].id, attemptId);
    assert.ok(!('requestHeaders' in byEndpoint.json.data[0]));

    // Expunging the attempt's content clears them with the response body.
    const del = await hw.api('DELETE', `/api/v1/app/${app.id}/msg/${msg.id}/attempt/${attemptId}/content`);
    assert.equal(del.status, 204, del.text);
    const after = await hw.api('GET', `/api/v1/app/${app.id}/msg/${msg.id}/attempt/${attemptId}`);
    assert.equal(after.json.requestHeaders, null);
    assert.equal(after.json.response, '');
  } finally {
    await rx.close();
  }
});

test('a failing receiver gets the message again on the retry schedule', async () => {
  const flaky = await receiver({ statuses: [500], fallback: 200 });
  try {
    const app = await svix.application.create({ name: 'Retries' });
    const ep = await svix.endpoint.create(app.id, { url: flaky.url });
    const { key } = await svix.endpoint.getSecret(app.id, ep.id);
    const msg = await svix.message.create(app.id, { eventType: 'invoice.paid', payload: { n: 1 } });
    await flaky.waitFor(2);  // 500 first, then (after the 1 s retry) 200
    assert.equal(flaky.requests[0].headers['webhook-id'], msg.id);
    assert.equal(flaky.requests[1].headers['webhook-id'], msg.id);
    for (const r of flaky.requests) new Webhook(key).verify(r.body, r.headers);
  } finally {
    await flaky.close();
  }
});

test('the SSRF guard refuses private addresses that are not explicitly allowed, when the endpoint is configured', async () => {
  const app = await svix.application.create({ name: 'Guarded' });
  // [::1] is loopback but outside the allowlisted 127.0.0.0/8: refused at once (a literal address needs no
  // DNS), naming the flag that would allow it. So are other spellings of refused addresses.
  for (const url of ['http://[::1]:9/hook', 'http://10.0.0.1/hook', 'http://169.254.169.254/latest', 'http://0x0a000001/'] ) {
    const res = await hw.api('POST', `/api/v1/app/${app.id}/endpoint`, { url });
    assert.equal(res.status, 422, `${url} -> ${res.text}`);
    assert.deepEqual(res.json.detail[0].loc, ['body', 'url']);
    assert.match(res.json.detail[0].msg, /not allowed.*--delivery-allow-cidr/);
  }
  // The allowlisted range is fine; changing it to a refused address by PUT or PATCH is refused too.
  const ep = await svix.endpoint.create(app.id, { url: 'http://127.0.0.1:9/hook' });
  for (const method of ['PUT', 'PATCH']) {
    const res = await hw.api(method, `/api/v1/app/${app.id}/endpoint/${ep.id}`, { url: 'http://[fd00::1]/hook' });
    assert.equal(res.status, 422, `${method} -> ${res.text}`);
    assert.match(res.json.detail[0].msg, /--delivery-allow-cidr/);
  }
  assert.equal((await svix.endpoint.get(app.id, ep.id)).url, 'http://127.0.0.1:9/hook', 'nothing changed');
  // A source's destinations likewise.
  const src = await hw.api('POST', '/api/v1/source', { uid: 'guarded', verifier: 'none', destinations: ['http://192.168.1.1/in'] });
  assert.equal(src.status, 422, src.text);
  assert.deepEqual(src.json.detail[0].loc, ['body', 'destinations']);
  assert.match(src.json.detail[0].msg, /192\.168\.1\.1.*--delivery-allow-cidr/);
  assert.equal((await hw.api('GET', '/api/v1/source/guarded')).status, 404);
  assert.equal((await svix.endpoint.list(app.id)).data.length, 1);
});

test('endpoint custom headers holding a control character are refused (RFC 9110 field values)', async () => {
  const app = await svix.application.create({ name: 'Headers' });
  for (const value of ['a\u0001b', 'a\rb', 'a\u007fb']) {
    const res = await hw.api('POST', `/api/v1/app/${app.id}/endpoint`, { url: 'http://127.0.0.1:9/h', headers: { 'x-custom': value } });
    assert.equal(res.status, 422, `${JSON.stringify(value)} -> ${res.text}`);
    assert.deepEqual(res.json.detail[0].loc, ['body', 'headers']);
  }
  const ep = await svix.endpoint.create(app.id, { url: 'http://127.0.0.1:9/h' });
  for (const method of ['PUT', 'PATCH']) {
    const res = await hw.api(method, `/api/v1/app/${app.id}/endpoint/${ep.id}/headers`, { headers: { 'x-custom': 'bell\u0007' } });
    assert.equal(res.status, 422, `${method} -> ${res.text}`);
  }
  const fine = await hw.api('PUT', `/api/v1/app/${app.id}/endpoint/${ep.id}/headers`, { headers: { 'x-custom': 'tab\tok' } });
  assert.equal(fine.status, 204, fine.text);
});

test('a dead letter comes back with the SDK\'s endpoint.recover, and messageAttempt.resend sends again', async () => {
  const rx = await receiver({ statuses: [500, 500, 500], fallback: 200 });
  try {
    const app = await svix.application.create({ name: 'Recovery' });
    const ep = await svix.endpoint.create(app.id, { url: rx.url });
    const msg = await svix.message.create(app.id, { eventType: 'invoice.paid', payload: { n: 7 } });
    // Schedule 1s,1s: three attempts, all 500, then the delivery is a dead letter.
    await rx.waitFor(3);
    let attempts;
    for (let i = 0; i < 2000; i += 1) {
      attempts = await svix.messageAttempt.listByEndpoint(app.id, ep.id);
      if (attempts.data.length === 3) break;
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(attempts.data.length, 3);
    assert.ok(attempts.data.every((a) => a.responseStatusCode === 500));

    const recovered = await svix.endpoint.recover(app.id, ep.id, { since: new Date(Date.now() - 60000) });
    assert.equal(recovered.task, 'endpoint.recover');
    await rx.waitFor(4);
    assert.equal(rx.requests[3].headers['webhook-id'], msg.id);
    for (let i = 0; i < 2000; i += 1) {
      attempts = await svix.messageAttempt.listByEndpoint(app.id, ep.id);
      if (attempts.data.length === 4) break;
      await new Promise((r) => setImmediate(r));
    }
    // Newest first: the recovered attempt is logged as manual, the three before as scheduled.
    assert.deepEqual(attempts.data.map((a) => a.triggerType), [1, 0, 0, 0]);

    await svix.messageAttempt.resend(app.id, msg.id, ep.id);
    await rx.waitFor(5);
    assert.equal(rx.requests[4].headers['webhook-id'], msg.id);

    await assert.rejects(svix.messageAttempt.resend(app.id, 'msg_nope', ep.id), (e) => e.code === 404);
  } finally {
    await rx.close();
  }
});

test('a disabled endpoint is sent nothing more: its retry fails unsent, resend, recover and sendExample are refused', async () => {
  const rx = await receiver({ statuses: [500], fallback: 200 });
  try {
    const app = await svix.application.create({ name: 'Disabled' });
    const ep = await svix.endpoint.create(app.id, { url: rx.url });
    const msg = await svix.message.create(app.id, { eventType: 'invoice.paid', payload: { n: 9 } });
    await rx.waitFor(1);  // answered 500: the retry is due a second later
    await svix.endpoint.patch(app.id, ep.id, { disabled: true });
    // Svix: "If an endpoint is removed or disabled delivery attempts to the endpoint will be disabled as well."
    // When the retry falls due it is marked failed without being sent.
    let dest;
    for (const deadline = Date.now() + 15000; Date.now() < deadline;) {
      [dest] = (await svix.messageAttempt.listAttemptedDestinations(app.id, msg.id)).data;
      if (dest.status === 2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(dest.status, 2, 'the retry to the disabled endpoint failed');
    assert.equal(rx.requests.length, 1);

    const conflict = (e) => e instanceof ApiException && e.code === 409 && /disabled/.test(JSON.stringify(e.body));
    await assert.rejects(svix.messageAttempt.resend(app.id, msg.id, ep.id), conflict);
    await assert.rejects(svix.endpoint.recover(app.id, ep.id, { since: new Date(Date.now() - 60000) }), conflict);
    await assert.rejects(svix.endpoint.sendExample(app.id, ep.id, { eventType: 'svix.ping' }), conflict);
    assert.equal(rx.requests.length, 1);

    // Enabled again, recover sends the failed delivery.
    await svix.endpoint.patch(app.id, ep.id, { disabled: false });
    await svix.endpoint.recover(app.id, ep.id, { since: new Date(Date.now() - 60000) });
    await rx.waitFor(2);
    assert.equal(rx.requests[1].headers['webhook-id'], msg.id);
    assert.deepEqual(JSON.parse(rx.requests[1].body), { n: 9 });
  } finally {
    await rx.close();
  }
});

test('endpoint.sendExample sends the event type\'s example to that endpoint only, whatever its filters', async () => {
  const target = await receiver();
  const bystander = await receiver();
  try {
    const app = await svix.application.create({ name: 'Examples' });
    await svix.eventType.create({
      name: 'order.shipped',
      description: 'An order left the warehouse',
      schemas: { 1: { type: 'object', examples: [{ order: 'ord_1', carrier: 'ups' }, { order: 'ord_2' }] } },
    });
    await svix.eventType.create({ name: 'order.lost', description: 'No schema, so no example' });
    // The target's filter does not name order.shipped, and the bystander takes everything: a sent example
    // still goes to the target only.
    const ep = await svix.endpoint.create(app.id, { url: target.url, eventTypes: ['order.cancelled'] });
    await svix.endpoint.create(app.id, { url: bystander.url });
    const { key } = await svix.endpoint.getSecret(app.id, ep.id);

    const msg = await svix.endpoint.sendExample(app.id, ep.id, { eventType: 'order.shipped' });
    assert.match(msg.id, /^msg_/);
    assert.equal(msg.eventType, 'order.shipped');
    assert.deepEqual(msg.payload, { order: 'ord_1', carrier: 'ups' });
    await target.waitFor(1);
    assert.equal(target.requests[0].headers['webhook-id'], msg.id);
    assert.deepEqual(new Webhook(key).verify(target.requests[0].body, target.requests[0].headers),
      { order: 'ord_1', carrier: 'ups' });

    const second = await svix.endpoint.sendExample(app.id, ep.id, { eventType: 'order.shipped', exampleIndex: 1 });
    assert.deepEqual(second.payload, { order: 'ord_2' });
    const ping = await svix.endpoint.sendExample(app.id, ep.id, { eventType: 'svix.ping' });
    assert.deepEqual(ping.payload, { success: true });
    await target.waitFor(3);
    assert.deepEqual(target.requests.map((r) => JSON.parse(r.body)),
      [{ order: 'ord_1', carrier: 'ups' }, { order: 'ord_2' }, { success: true }]);
    // Nothing was fanned out: the message's only delivery is to the target (its attempt is logged after the 2xx).
    let attempts;
    for (let i = 0; i < 2000; i += 1) {
      attempts = await svix.messageAttempt.listByMsg(app.id, msg.id);
      if (attempts.data.length) break;
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(attempts.data.map((a) => [a.endpointId, a.responseStatusCode]), [[ep.id, 200]]);
    assert.equal(bystander.requests.length, 0);

    const refused = async (body, code) => assert.rejects(svix.endpoint.sendExample(app.id, ep.id, body),
      (e) => e instanceof ApiException && e.code === code);
    await refused({ eventType: 'order.shipped', exampleIndex: 2 }, 422);
    await refused({ eventType: 'order.lost' }, 422);
    await refused({ eventType: 'order.unknown' }, 404);
    await assert.rejects(svix.endpoint.sendExample(app.id, 'ep_nope', { eventType: 'svix.ping' }),
      (e) => e instanceof ApiException && e.code === 404);
  } finally {
    await target.close();
    await bystander.close();
  }
});
