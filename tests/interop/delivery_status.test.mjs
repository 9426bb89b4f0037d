// Delivery status through the official svix SDK: the endpoints of a message and the messages of an endpoint
// with Svix's statuses, endpoint stats, attempt filters, resends logged as manual, hookwire's dead-letter
// listing; and endpoints with whsk_ keys, signed v1a (verified with node:crypto Ed25519 against whpk_).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { once } from 'node:events';
import { Svix } from 'svix';
import { Webhook } from 'standardwebhooks';
import { Hookwire } from './lib/hookwire.mjs';

// A receiver that records requests and answers from a queue of statuses (then `fallback`). With `hold`, it
// answers nothing until release() (so a delivery stays in flight as long as the test needs).
async function receiver({ statuses = [], fallback = 200, hold = false } = {}) {
  const r = { requests: [], statuses: [...statuses], fallback, waiters: [], held: [], hold };
  r.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      r.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = r.statuses.length ? r.statuses.shift() : r.fallback;
      const answer = () => res.writeHead(status, { 'content-type': 'text/plain' }).end(`answer ${status}`);
      if (r.hold) r.held.push(answer); else answer();
      r.waiters = r.waiters.filter((w) => (r.requests.length >= w.n ? (w.resolve(), false) : true));
    });
  });
  r.server.listen(0, '127.0.0.1');
  await once(r.server, 'listening');
  r.url = `http://127.0.0.1:${r.server.address().port}/hook`;
  r.waitFor = (n) => (r.requests.length >= n ? Promise.resolve() : new Promise((resolve) => r.waiters.push({ n, resolve })));
  r.release = () => { r.hold = false; for (const a of r.held.splice(0)) a(); };
  r.close = () => { r.release(); r.server.closeAllConnections(); return new Promise((resolve) => r.server.close(resolve)); };
  return r;
}

// Polls `fn` (an SDK or API read) until `done(value)`; the attempt is recorded right after the receiver answers.
async function until(fn, done, tries = 3000) {
  let value;
  for (let i = 0; i < tries; i += 1) {
    value = await fn();
    if (done(value)) return value;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`condition not reached; last value: ${JSON.stringify(value)}`);
}

// An Ed25519 key pair as Standard Webhooks spells it: whsk_ (seed || public key) and whpk_ (public key).
function ed25519Keys() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d, 'base64url');
  const pub = Buffer.from(jwk.x, 'base64url');
  return {
    whsk: `whsk_${Buffer.concat([seed, pub]).toString('base64')}`,
    whpk: `whpk_${pub.toString('base64')}`,
    publicKey,
  };
}

// The v1a signatures of a request that verify against `whpk` (node:crypto; no npm library has v1a).
function v1aVerified(req, whpk) {
  const key = crypto.createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(whpk.slice('whpk_'.length), 'base64').toString('base64url') },
    format: 'jwk',
  });
  const content = Buffer.from(`${req.headers['webhook-id']}.${req.headers['webhook-timestamp']}.${req.body}`);
  return req.headers['webhook-signature'].split(' ').filter((s) => s.startsWith('v1a,'))
    .filter((s) => crypto.verify(null, content, key, Buffer.from(s.slice(4), 'base64'))).length;
}

let hw;
let svix;
before(async () => {
  // One retry an hour later: a failed first attempt stays "sending" for the whole test.
  hw = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8', '--retry-schedule', '1h'] });
  svix = new Svix(hw.token, { serverUrl: hw.url });
});
after(async () => {
  assert.equal(await hw.stop(), 0);
  hw.cleanup();
});

test('a message\'s endpoints and an endpoint\'s messages carry Svix\'s delivery statuses; stats count them', async () => {
  const ok = await receiver();
  const bad = await receiver({ fallback: 500 });
  const gone = await receiver({ fallback: 410 });
  const slow = await receiver({ hold: true });
  try {
    const app = await svix.application.create({ name: 'Statuses' });
    const epOk = await svix.endpoint.create(app.id, { url: ok.url });
    const epBad = await svix.endpoint.create(app.id, { url: bad.url });
    const epGone = await svix.endpoint.create(app.id, { url: gone.url });
    const epSlow = await svix.endpoint.create(app.id, { url: slow.url, channels: ['slow'] });
    const m1 = await svix.message.create(app.id, { eventType: 'order.paid', payload: { n: 1 }, channels: ['slow'] });
    await Promise.all([ok.waitFor(1), bad.waitFor(1), gone.waitFor(1), slow.waitFor(1)]);

    // Wait until the three answered attempts are recorded (the slow one is still in flight).
    await until(() => svix.messageAttempt.listByMsg(app.id, m1.id), (l) => l.data.length === 3);
    const dests = await svix.messageAttempt.listAttemptedDestinations(app.id, m1.id);
    const byId = Object.fromEntries(dests.data.map((d) => [d.id, d]));
    assert.equal(dests.data.length, 4);
    assert.equal(byId[epOk.id].status, 0);
    assert.equal(byId[epOk.id].statusText, 'success');
    assert.equal(byId[epOk.id].nextAttempt, null);
    assert.equal(byId[epOk.id].url, ok.url);
    assert.equal(byId[epBad.id].status, 3, 'failed once, retrying: Svix says sending');
    assert.equal(byId[epBad.id].statusText, 'sending');
    assert.ok(byId[epBad.id].nextAttempt > new Date(Date.now() + 30 * 60 * 1000), 'retry about an hour later');
    assert.equal(byId[epGone.id].status, 2, '410 Gone: failed at once (and the endpoint disabled)');
    assert.equal(byId[epSlow.id].status, 1, 'first attempt in flight: still pending');
    assert.equal(byId[epSlow.id].statusText, 'pending');

    // The other way round: an endpoint's messages, with the SDK's filters.
    const m2 = await svix.message.create(app.id, { eventType: 'order.refunded', payload: { n: 2 } });
    await bad.waitFor(2);
    await until(() => svix.messageAttempt.listByEndpoint(app.id, epBad.id), (l) => l.data.length === 2);
    const badMsgs = await svix.messageAttempt.listAttemptedMessages(app.id, epBad.id, { withContent: true });
    assert.deepEqual(badMsgs.data.map((m) => m.id), [m2.id, m1.id], 'newest first');
    assert.deepEqual(badMsgs.data.map((m) => m.statusText), ['sending', 'sending']);
    assert.deepEqual(badMsgs.data[1].payload, { n: 1 });
    assert.equal(badMsgs.data[1].eventType, 'order.paid');
    assert.ok(badMsgs.data[0].nextAttempt instanceof Date);
    const paged = await svix.messageAttempt.listAttemptedMessages(app.id, epBad.id, { limit: 1 });
    assert.deepEqual(paged.data.map((m) => m.id), [m2.id]);
    assert.equal(paged.done, false);
    const rest = await svix.messageAttempt.listAttemptedMessages(app.id, epBad.id, { limit: 1, iterator: paged.iterator });
    assert.deepEqual(rest.data.map((m) => m.id), [m1.id]);
    assert.deepEqual((await svix.messageAttempt.listAttemptedMessages(app.id, epBad.id, { status: 0 })).data, []);
    assert.equal((await svix.messageAttempt.listAttemptedMessages(app.id, epBad.id, { channel: 'slow' })).data.length, 1);
    // The SDK asks with_content=false unless told otherwise; Svix's default (parameter absent) is true.
    assert.deepEqual((await svix.messageAttempt.listAttemptedMessages(app.id, epBad.id)).data.map((m) => m.payload), [{}, {}]);
    const content = await hw.api('GET', `/api/v1/app/${app.id}/endpoint/${epBad.id}/msg?event_types=order.paid`);
    assert.equal(content.status, 200);
    assert.deepEqual(content.json.data.map((m) => [m.id, m.payload]), [[m1.id, { n: 1 }]]);
    const slowMsgs = await svix.messageAttempt.listAttemptedMessages(app.id, epSlow.id, { status: 1 });
    assert.deepEqual(slowMsgs.data.map((m) => m.id), [m1.id]);

    // Stats: one delivery per (message, endpoint).
    assert.deepEqual(await svix.endpoint.getStats(app.id, epBad.id), { success: 0, pending: 0, sending: 2, fail: 0, canceled: 0 });
    await until(() => svix.endpoint.getStats(app.id, epOk.id), (st) => st.success === 2);  // m2 may still be on its way
    assert.deepEqual(await svix.endpoint.getStats(app.id, epOk.id), { success: 2, pending: 0, sending: 0, fail: 0, canceled: 0 });
    assert.deepEqual(await svix.endpoint.getStats(app.id, epGone.id), { success: 0, pending: 0, sending: 0, fail: 1, canceled: 0 });
    assert.equal((await svix.endpoint.getStats(app.id, epSlow.id)).pending, 1);
    const future = await svix.endpoint.getStats(app.id, epOk.id, { since: new Date(Date.now() + 60000) });
    assert.equal(future.success, 0);
    const bounded = await svix.endpoint.getStats(app.id, epOk.id, { since: new Date(Date.now() - 60000), until: new Date(Date.now() + 60000) });
    assert.equal(bounded.success, 2);
    const badSince = await hw.api('GET', `/api/v1/app/${app.id}/endpoint/${epOk.id}/stats?since=yesterday`);
    assert.equal(badSince.status, 422);
    assert.deepEqual(badSince.json.detail[0].loc, ['query', 'since']);
    const badStatus = await hw.api('GET', `/api/v1/app/${app.id}/endpoint/${epOk.id}/msg?status=7`);
    assert.equal(badStatus.status, 422);
    assert.deepEqual(badStatus.json.detail[0].loc, ['query', 'status']);
    const unknown = await hw.api('GET', `/api/v1/app/${app.id}/msg/msg_nope/endpoint`);
    assert.equal(unknown.status, 404);

    slow.release();
    await until(() => svix.endpoint.getStats(app.id, epSlow.id), (s) => s.success === 1);
  } finally {
    await Promise.all([ok.close(), bad.close(), gone.close(), slow.close()]);
  }
});

test('attempt listings take Svix\'s filters', async () => {
  const ok = await receiver();
  const bad = await receiver({ fallback: 503 });
  try {
    const app = await svix.application.create({ name: 'Attempt filters' });
    const epOk = await svix.endpoint.create(app.id, { url: ok.url });
    const epBad = await svix.endpoint.create(app.id, { url: bad.url, uid: 'the-bad-one' });
    const msg = await svix.message.create(app.id, { eventType: 'order.paid', payload: { n: 1 }, channels: ['eu'] });
    const other = await svix.message.create(app.id, { eventType: 'order.voided', payload: { n: 2 } });
    await until(() => svix.messageAttempt.listByEndpoint(app.id, epBad.id), (l) => l.data.length === 2);
    await until(() => svix.messageAttempt.listByEndpoint(app.id, epOk.id), (l) => l.data.length === 2);

    const byMsg = (options) => svix.messageAttempt.listByMsg(app.id, msg.id, options);
    assert.equal((await byMsg()).data.length, 2);
    assert.deepEqual((await byMsg({ status: 0 })).data.map((a) => a.endpointId), [epOk.id]);
    assert.deepEqual((await byMsg({ status: 2 })).data.map((a) => a.endpointId), [epBad.id]);
    assert.deepEqual((await byMsg({ statusCodeClass: 500 })).data.map((a) => a.responseStatusCode), [503]);
    assert.deepEqual((await byMsg({ statusCodeClass: 200 })).data.map((a) => a.responseStatusCode), [200]);
    assert.deepEqual((await byMsg({ statusCodeClass: 400 })).data, []);
    assert.deepEqual((await byMsg({ endpointId: 'the-bad-one' })).data.map((a) => a.endpointId), [epBad.id]);
    assert.deepEqual((await byMsg({ endpointId: epOk.id })).data.map((a) => a.endpointId), [epOk.id]);
    assert.equal((await byMsg({ after: new Date(Date.now() + 60000) })).data.length, 0);
    assert.equal((await byMsg({ before: new Date(Date.now() + 60000) })).data.length, 2);
    // Attempts carry no message content: with_content (which the SDK sends as false) keeps the response.
    assert.equal((await byMsg({ status: 2 })).data[0].response, 'answer 503');
    assert.equal((await byMsg({ status: 2, withContent: true })).data[0].response, 'answer 503');

    const byEp = (options) => svix.messageAttempt.listByEndpoint(app.id, epBad.id, options);
    assert.deepEqual((await byEp({ eventTypes: ['order.voided'] })).data.map((a) => a.msgId), [other.id]);
    assert.deepEqual((await byEp({ channel: 'eu' })).data.map((a) => a.msgId), [msg.id]);
    assert.deepEqual((await byEp({ status: 0 })).data, []);

    const bad422 = await hw.api('GET', `/api/v1/app/${app.id}/attempt/endpoint/${epBad.id}?status_code_class=250`);
    assert.equal(bad422.status, 422);
    assert.deepEqual(bad422.json.detail[0].loc, ['query', 'status_code_class']);
  } finally {
    await Promise.all([ok.close(), bad.close()]);
  }
});

test('a resend is logged as a manual attempt and replaces the delivery\'s status', async () => {
  const rx = await receiver({ statuses: [500], fallback: 200 });
  try {
    const app = await svix.application.create({ name: 'Resend' });
    const ep = await svix.endpoint.create(app.id, { url: rx.url });
    const msg = await svix.message.create(app.id, { eventType: 'order.paid', payload: { n: 1 } });
    await until(() => svix.messageAttempt.listByMsg(app.id, msg.id), (l) => l.data.length === 1);
    assert.equal((await svix.endpoint.getStats(app.id, ep.id)).sending, 1);

    await svix.messageAttempt.resend(app.id, msg.id, ep.id);
    const attempts = await until(() => svix.messageAttempt.listByMsg(app.id, msg.id), (l) => l.data.length === 2);
    assert.deepEqual(attempts.data.map((a) => [a.responseStatusCode, a.triggerType]), [[200, 1], [500, 0]],
      'newest first: the resend is manual, the first attempt scheduled');
    const dests = await svix.messageAttempt.listAttemptedDestinations(app.id, msg.id);
    assert.deepEqual(dests.data.map((d) => [d.id, d.statusText]), [[ep.id, 'success']]);
    assert.deepEqual(await svix.endpoint.getStats(app.id, ep.id), { success: 1, pending: 0, sending: 0, fail: 0, canceled: 0 });
  } finally {
    await rx.close();
  }
});

test('dead letters: per endpoint with status=2, per application on /dead-letter (hookwire)', async () => {
  // A separate server whose retry schedule runs out after one 1 s retry.
  const short = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8', '--retry-schedule', '1s'] });
  const client = new Svix(short.token, { serverUrl: short.url });
  const failing = await receiver({ fallback: 500 });
  const fine = await receiver();
  try {
    const app = await client.application.create({ name: 'Dead letters' });
    const ep = await client.endpoint.create(app.id, { url: failing.url });
    await client.endpoint.create(app.id, { url: fine.url });
    const msg = await client.message.create(app.id, { eventType: 'order.paid', payload: { n: 9 } });
    await failing.waitFor(2);
    const dead = await until(() => short.api('GET', `/api/v1/app/${app.id}/dead-letter`), (r) => r.json.data.length === 1);
    assert.equal(dead.status, 200);
    const [letter] = dead.json.data;
    assert.equal(letter.id, msg.id);
    assert.equal(letter.endpointId, ep.id);
    assert.equal(letter.status, 2);
    assert.equal(letter.statusText, 'fail');
    assert.equal(letter.attempts, 2);
    assert.deepEqual(letter.payload, { n: 9 });
    assert.match(letter.deliveryId, /^dlv_/);
    assert.equal(dead.json.done, true);
    const perEndpoint = await client.messageAttempt.listAttemptedMessages(app.id, ep.id, { status: 2 });
    assert.deepEqual(perEndpoint.data.map((m) => m.id), [msg.id]);
    const filtered = await short.api('GET', `/api/v1/app/${app.id}/dead-letter?event_types=other.type`);
    assert.deepEqual(filtered.json.data, []);
    const noStatus = await short.api('GET', `/api/v1/app/${app.id}/dead-letter?status=2`);
    assert.equal(noStatus.status, 422);

    // Recovered, it is no longer a dead letter.
    failing.fallback = 200;
    await client.endpoint.recover(app.id, ep.id, { since: new Date(Date.now() - 60000) });
    await until(() => short.api('GET', `/api/v1/app/${app.id}/dead-letter`), (r) => r.json.data.length === 0);
  } finally {
    await Promise.all([failing.close(), fine.close()]);
    assert.equal(await short.stop(), 0);
    short.cleanup();
  }
});

test('an endpoint with a whsk_ key is signed v1a; its secret shows the whpk_ key; rotation signs with both', async () => {
  const rx = await receiver();
  const rx2 = await receiver();
  try {
    const app = await svix.application.create({ name: 'Asymmetric' });
    const keys = ed25519Keys();
    const ep = await svix.endpoint.create(app.id, { url: rx.url, secret: keys.whsk });
    const secret = await hw.api('GET', `/api/v1/app/${app.id}/endpoint/${ep.id}/secret`);
    assert.deepEqual(secret.json, { key: keys.whsk, publicKey: keys.whpk });
    assert.equal((await svix.endpoint.getSecret(app.id, ep.id)).key, keys.whsk);

    await svix.message.create(app.id, { eventType: 'order.paid', payload: { n: 1 } });
    await rx.waitFor(1);
    assert.match(rx.requests[0].headers['webhook-signature'], /^v1a,[A-Za-z0-9+/]+=*$/);
    assert.equal(v1aVerified(rx.requests[0], keys.whpk), 1);
    assert.equal(v1aVerified(rx.requests[0], ed25519Keys().whpk), 0, 'another public key does not verify');

    // whsec_ -> whsk_: during the grace period every request carries both signatures.
    const ep2 = await svix.endpoint.create(app.id, { url: rx2.url });
    const { key: oldKey } = await svix.endpoint.getSecret(app.id, ep2.id);
    const next = ed25519Keys();
    await svix.endpoint.rotateSecret(app.id, ep2.id, { key: next.whsk });
    assert.equal((await hw.api('GET', `/api/v1/app/${app.id}/endpoint/${ep2.id}/secret`)).json.publicKey, next.whpk);
    await svix.message.create(app.id, { eventType: 'rotated', payload: { n: 2 } });
    await rx2.waitFor(1);
    const req = rx2.requests[0];
    const sigs = req.headers['webhook-signature'].split(' ');
    assert.deepEqual(sigs.map((s) => s.split(',')[0]).sort(), ['v1', 'v1a']);
    assert.equal(v1aVerified(req, next.whpk), 1);
    assert.deepEqual(new Webhook(oldKey).verify(req.body, req.headers), { n: 2 }, 'the old whsec_ key still verifies');

    // Malformed whsk_ keys are 422s naming the field.
    const mismatched = `whsk_${Buffer.concat([crypto.randomBytes(32), crypto.randomBytes(32)]).toString('base64')}`;
    const short = `whsk_${crypto.randomBytes(40).toString('base64')}`;
    for (const bad of [mismatched, short, 'whsk_not*base64']) {
      const created = await hw.api('POST', `/api/v1/app/${app.id}/endpoint`, { url: rx.url, secret: bad });
      assert.equal(created.status, 422, created.text);
      assert.deepEqual(created.json.detail[0].loc, ['body', 'secret']);
      assert.ok(!created.text.includes(bad.slice(5)), 'the key is not echoed');
      const rotated = await hw.api('POST', `/api/v1/app/${app.id}/endpoint/${ep.id}/secret/rotate`, { key: bad });
      assert.equal(rotated.status, 422, rotated.text);
      assert.deepEqual(rotated.json.detail[0].loc, ['body', 'key']);
    }
    assert.equal((await svix.endpoint.getSecret(app.id, ep.id)).key, keys.whsk, 'unchanged by the refused rotations');
  } finally {
    await Promise.all([rx.close(), rx2.close()]);
  }
});
