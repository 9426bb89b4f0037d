// The inbound gateway end to end: providers' requests signed by the official libraries (stripe,
// @octokit/webhooks-methods, standardwebhooks, svix; Shopify with node:crypto, it has no npm verifier)
// reach POST /in/{source}; bad ones are refused with the reason; good ones are kept once and forwarded to a
// real loopback receiver, re-signed with hookwire's Standard Webhooks signature.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import crypto from 'node:crypto';
import { once } from 'node:events';
import Stripe from 'stripe';
import { sign as ghSign } from '@octokit/webhooks-methods';
import { Webhook as StdWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { Hookwire } from './lib/hookwire.mjs';

const stripe = new Stripe('sk_test_interop_only_never_used_for_network');

// A receiver that records every request and lets a test wait for a count.
async function receiver() {
  const r = { requests: [], waiters: [] };
  r.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      r.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end();
      r.waiters = r.waiters.filter((w) => (w.check() ? (w.resolve(), false) : true));
    });
  });
  r.server.listen(0, '127.0.0.1');
  await once(r.server, 'listening');
  r.url = `http://127.0.0.1:${r.server.address().port}/hook`;
  r.until = (check) => (check() ? Promise.resolve() : new Promise((resolve) => r.waiters.push({ check, resolve })));
  r.waitFor = (n) => r.until(() => r.requests.length >= n);
  r.close = () => new Promise((resolve) => r.server.close(resolve));
  return r;
}

let hw;
let rx;
before(async () => {
  rx = await receiver();
  hw = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8'] });
});
after(async () => {
  assert.equal(await hw.stop(), 0);
  hw.cleanup();
  await rx.close();
});

async function createSource(body) {
  const res = await hw.api('POST', '/api/v1/source', body);
  assert.equal(res.status, 201, res.text);
  return res.json;
}

async function post(source, headers, body, server = hw) {
  const res = await fetch(`${server.url}/in/${source}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, text };
}

async function messages(appId) {
  const res = await hw.api('GET', `/api/v1/app/${appId}/msg?limit=250`);
  assert.equal(res.status, 200, res.text);
  return res.json.data;
}

const forwardedBodies = (marker) => rx.requests.filter((r) => r.body.includes(marker));

test('GitHub: octokit-signed requests are kept, forwarded re-signed, and refused when tampered', async () => {
  const secret = 'gh-secret-1';
  const src = await createSource({ uid: 'github', verifier: 'github', secrets: [secret], destinations: [rx.url] });
  assert.equal(src.destinations.length, 1);
  assert.match(src.destinations[0].secret, /^whsec_/);
  const body = JSON.stringify({ action: 'opened', marker: 'gh-1', number: 1.50 });
  const headers = { 'x-github-event': 'issues', 'x-github-delivery': 'd-1', 'x-hub-signature-256': await ghSign(secret, body) };

  const res = await post('github', headers, body);
  assert.equal(res.status, 202, res.text);
  await rx.until(() => forwardedBodies('gh-1').length === 1);
  const fwd = forwardedBodies('gh-1')[0];
  assert.equal(fwd.body, body, 'forwarded byte for byte');
  assert.equal(fwd.headers['x-hookwire-event-type'], 'issues', 'the provider\'s event type travels along');
  // The internal service verifies one scheme only: hookwire's, with the destination's secret.
  assert.deepEqual(new StdWebhook(src.destinations[0].secret).verify(fwd.body, fwd.headers), JSON.parse(body));
  assert.equal(fwd.headers['webhook-id'], res.json.id);
  const [msg] = await messages(src.appId);
  assert.equal(msg.eventType, 'issues', 'the event type comes from X-GitHub-Event');

  // Replayed delivery: 200, same message, not forwarded again.
  const replay = await post('github', headers, body);
  assert.equal(replay.status, 200);
  assert.equal(replay.json.id, res.json.id);
  assert.equal(replay.json.duplicate, true);
  assert.equal((await messages(src.appId)).length, 1);

  const tampered = await post('github', headers, body.replace('opened', 'closed'));
  assert.equal(tampered.status, 401);
  assert.equal(tampered.json.reason, 'no_matching_signature');
  const wrong = await post('github', { ...headers, 'x-hub-signature-256': await ghSign('another', body) }, body);
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.reason, 'no_matching_signature');
  const unsigned = await post('github', { 'x-github-event': 'issues', 'x-github-delivery': 'd-2' }, body);
  assert.equal(unsigned.status, 401);
  assert.equal(unsigned.json.reason, 'missing_header');
  assert.match(unsigned.json.detail, /X-Hub-Signature-256/i);

  // GitHub's ping is answered and not kept.
  const zen = JSON.stringify({ zen: 'Design for failure.', hook_id: 1 });
  const ping = await post('github', { 'x-github-event': 'ping', 'x-github-delivery': 'p-1', 'x-hub-signature-256': await ghSign(secret, zen) }, zen);
  assert.equal(ping.status, 200, ping.text);
  assert.equal((await messages(src.appId)).length, 1);
});

test('GitHub: a form-encoded delivery (content type application/x-www-form-urlencoded) keeps and forwards its JSON', async () => {
  const secret = 'gh-secret-form';
  const src = await createSource({ uid: 'github-form', verifier: 'github', secrets: [secret], destinations: [rx.url] });
  const json = JSON.stringify({ action: 'created', marker: 'gh-form-1', comment: { body: 'a + b & c = d?' } });
  // What GitHub sends: payload=<the JSON, form-encoded>, signed over those form bytes.
  const form = new URLSearchParams({ payload: json }).toString();
  const headers = {
    'content-type': 'application/x-www-form-urlencoded', 'x-github-event': 'issue_comment',
    'x-github-delivery': 'f-1', 'x-hub-signature-256': await ghSign(secret, form),
  };
  const res = await post('github-form', headers, form);
  assert.equal(res.status, 202, res.text);
  await rx.until(() => forwardedBodies('gh-form-1').length === 1);
  const fwd = forwardedBodies('gh-form-1')[0];
  assert.equal(fwd.body, json, 'the JSON inside the form is what is kept and forwarded');
  assert.deepEqual(new StdWebhook(src.destinations[0].secret).verify(fwd.body, fwd.headers), JSON.parse(json));

  // Signed over the JSON instead of the form bytes: refused.
  const wrong = await post('github-form', { ...headers, 'x-github-delivery': 'f-2', 'x-hub-signature-256': await ghSign(secret, json) }, form);
  assert.equal(wrong.status, 401);
  const noPayload = 'other=1';
  const missing = await post('github-form', { ...headers, 'x-github-delivery': 'f-3', 'x-hub-signature-256': await ghSign(secret, noPayload) }, noPayload);
  assert.equal(missing.status, 400);
  assert.equal(missing.json.reason, 'not_json');
});

test('generic HMAC: a form post is verified on its bytes and kept and forwarded as a JSON object of its fields', async () => {
  const secret = 'form-secret';
  const src = await createSource({
    uid: 'form-hmac', verifier: 'generic-hmac', secrets: [secret], destinations: [rx.url],
    hmac: { signatureHeader: 'X-Signature', template: '{body}', encoding: 'base64' },
    dedupKey: 'json:MessageSid', eventType: 'json:MessageStatus',
  });
  const fields = new URLSearchParams([['MessageSid', 'SM-form-1'], ['MessageStatus', 'delivered'],
    ['Body', 'a + b & c = d?'], ['Tag', 'x'], ['Tag', 'y']]);
  const form = fields.toString();
  const signature = crypto.createHmac('sha256', secret).update(form).digest('base64');
  const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-signature': signature };
  const res = await post('form-hmac', headers, form);
  assert.equal(res.status, 202, res.text);
  const expected = { MessageSid: 'SM-form-1', MessageStatus: 'delivered', Body: 'a + b & c = d?', Tag: ['x', 'y'] };
  await rx.until(() => forwardedBodies('SM-form-1').length === 1);
  const fwd = forwardedBodies('SM-form-1')[0];
  assert.deepEqual(new StdWebhook(src.destinations[0].secret).verify(fwd.body, fwd.headers), expected);
  const [msg] = (await messages(src.appId)).filter((m) => m.payload.MessageSid === 'SM-form-1');
  assert.equal(msg.eventType, 'delivered');

  // The same form again is a duplicate (its MessageSid); a tampered one is refused.
  assert.equal((await post('form-hmac', headers, form)).status, 200);
  const tampered = await post('form-hmac', headers, form.replace('delivered', 'failed'));
  assert.equal(tampered.status, 401);
  assert.equal(tampered.json.reason, 'no_matching_signature');
});

test('Stripe: test headers from the stripe library; stale and replayed events refused or deduplicated', async () => {
  const secret = 'whsec_stripe_test_secret';
  const src = await createSource({ uid: 'stripe', verifier: 'stripe', secrets: [secret], pull: true });
  assert.equal(src.destinations.length, 0);
  const event = (id) => JSON.stringify({ id, object: 'event', type: 'invoice.paid', data: { object: { amount: 1250 } } });
  const body = event('evt_1');
  const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret });
  const ok = await post('stripe', { 'stripe-signature': header }, body);
  assert.equal(ok.status, 202, ok.text);
  // The same event id again, freshly signed: a duplicate (the dedup key is the event's `id`).
  const again = await post('stripe', { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret }) }, body);
  assert.equal(again.status, 200);
  assert.equal(again.json.id, ok.json.id);

  const staleBody = event('evt_2');
  const stale = await post('stripe', {
    'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: staleBody, secret, timestamp: Math.floor(Date.now() / 1000) - 600 }),
  }, staleBody);
  assert.equal(stale.status, 401);
  assert.equal(stale.json.reason, 'timestamp_too_old');
  const wrong = await post('stripe', { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: staleBody, secret: 'whsec_other' }) }, staleBody);
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.reason, 'no_matching_signature');

  const msgs = await messages(src.appId);
  assert.equal(msgs.length, 1, 'pull-only: kept in the log for the pull feed');
  assert.equal(msgs[0].eventType, 'invoice.paid');
  assert.deepEqual(msgs[0].payload, JSON.parse(body));
});

test('Standard Webhooks and svix: both secrets accepted during a rotation, the old one refused after it', async () => {
  const oldKey = 'whsec_' + crypto.randomBytes(32).toString('base64');
  const newKey = 'whsec_' + crypto.randomBytes(32).toString('base64');
  const src = await createSource({ uid: 'std', verifier: 'standard-webhooks', secrets: [oldKey, newKey], destinations: [rx.url] });
  const send = (key, id, marker, when = new Date()) => {
    const body = JSON.stringify({ type: 'user.created', marker });
    const sig = new StdWebhook(key).sign(id, when, body);
    return post('std', { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(when / 1000)), 'webhook-signature': sig }, body);
  };
  assert.equal((await send(oldKey, 'msg_a', 'std-a')).status, 202);
  assert.equal((await send(newKey, 'msg_b', 'std-b')).status, 202);
  const stale = await send(newKey, 'msg_c', 'std-c', new Date(Date.now() - 10 * 60 * 1000));
  assert.equal(stale.status, 401);
  assert.equal(stale.json.reason, 'timestamp_too_old');
  assert.match(stale.json.detail, /timestamp/i);
  const future = await send(newKey, 'msg_d', 'std-d', new Date(Date.now() + 10 * 60 * 1000));
  assert.equal(future.json.reason, 'timestamp_too_new');
  await rx.until(() => forwardedBodies('std-a').length === 1 && forwardedBodies('std-b').length === 1);
  assert.deepEqual((await messages(src.appId)).map((m) => m.eventType), ['user.created', 'user.created']);

  // The rotation is over: PUT keeps only the new secret; the destination and its secret survive the PUT.
  const put = await hw.api('PUT', '/api/v1/source/std', { verifier: 'standard-webhooks', secrets: [newKey], destinations: [rx.url] });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.uid, 'std', 'a PUT without uid keeps it');
  assert.equal(put.json.revision, 2);
  assert.equal(put.json.destinations[0].secret, src.destinations[0].secret);
  assert.equal((await send(oldKey, 'msg_e', 'std-e')).status, 401);
  assert.equal((await send(newKey, 'msg_f', 'std-f')).status, 202);

  // A svix source: the svix library's svix-* headers, deduplicated on svix-id.
  const svixKey = 'whsec_' + crypto.randomBytes(24).toString('base64');
  await createSource({ uid: 'svix', verifier: 'svix', secrets: [svixKey], pull: true });
  const body = JSON.stringify({ type: 'invoice.created', marker: 'svix-1' });
  const now = new Date();
  const h = { 'svix-id': 'msg_svix_1', 'svix-timestamp': String(Math.floor(now / 1000)), 'svix-signature': new SvixWebhook(svixKey).sign('msg_svix_1', now, body) };
  assert.equal((await post('svix', h, body)).status, 202);
  assert.equal((await post('svix', h, body)).status, 200);
});

test('Shopify: HMAC over the raw body, the topic as event type', async () => {
  const secret = 'shpss_test';
  const src = await createSource({ uid: 'shop', verifier: 'shopify', secrets: [secret], pull: true });
  const body = JSON.stringify({ id: 820982911946154500, note: 'é' });
  const hmac = crypto.createHmac('sha256', secret).update(body, 'utf8').digest('base64');
  const res = await post('shop', { 'x-shopify-hmac-sha256': hmac, 'x-shopify-topic': 'orders/create', 'x-shopify-webhook-id': 'w-1' }, body);
  assert.equal(res.status, 202, res.text);
  assert.equal((await messages(src.appId))[0].eventType, 'orders/create');
  const bad = await post('shop', { 'x-shopify-hmac-sha256': hmac, 'x-shopify-topic': 'orders/create' }, body + ' ');
  assert.equal(bad.status, 401);
});

test('unknown source 404, address not allowed 403 (X-Forwarded-For only from trusted proxies), too large 413', async () => {
  const token = { 'x-webhook-token': 'tok' };
  const missing = await post('no-such-source', token, '{}');
  assert.equal(missing.status, 404);

  await createSource({ uid: 'office', verifier: 'static-token', secrets: ['tok'], pull: true, allowedCidrs: ['192.0.2.0/24'] });
  const direct = await post('office', token, '{}');
  assert.equal(direct.status, 403);
  assert.match(direct.json.detail, /127\.0\.0\.1/);
  // Not a trusted proxy: its X-Forwarded-For is ignored.
  assert.equal((await post('office', { ...token, 'x-forwarded-for': '192.0.2.5' }, '{}')).status, 403);

  await createSource({ uid: 'proxied', verifier: 'static-token', secrets: ['tok'], pull: true, allowedCidrs: ['192.0.2.0/24'], trustedProxies: ['127.0.0.1'] });
  assert.equal((await post('proxied', { ...token, 'x-forwarded-for': '192.0.2.5' }, '{}')).status, 202);
  assert.equal((await post('proxied', { ...token, 'x-forwarded-for': '198.51.100.1' }, '{}')).status, 403);

  await createSource({ uid: 'small', verifier: 'static-token', secrets: ['tok'], pull: true, bodyLimit: 64 });
  const big = await post('small', token, JSON.stringify({ pad: 'x'.repeat(100) }));
  assert.equal(big.status, 413);
  assert.equal(big.json.reason, 'too_large');
  assert.equal((await post('small', { 'x-webhook-token': 'nope' }, '{}')).status, 401);
  const notJson = await post('small', token, 'a=b');
  assert.equal(notJson.status, 400);

  // "none" must be chosen explicitly; a body limit over the server's is refused with the reason.
  const noVerifier = await hw.api('POST', '/api/v1/source', { uid: 'x', pull: true });
  assert.equal(noVerifier.status, 422);
  assert.deepEqual(noVerifier.json.detail[0].loc, ['body', 'verifier']);
  const tooBig = await hw.api('POST', '/api/v1/source', { uid: 'y', verifier: 'none', pull: true, bodyLimit: 1 << 30 });
  assert.equal(tooBig.status, 422);
  assert.match(tooBig.json.detail[0].msg, /--body-limit/);

  const metrics = (await hw.api('GET', '/metrics')).text;
  assert.match(metrics, /inbound_rejected_total\{source="office",reason="address_not_allowed"\} 2/);
  assert.match(metrics, /inbound_rejected_total\{source="small",reason="too_large"\} 1/);
  assert.match(metrics, /inbound_rejected_total\{source="",reason="unknown_source"\} 1/);
});

// Sends a request head (and `after` — e.g. a first chunk — but never the whole body it announces); resolves
// with the response's status line once the server answers.
function headOnly(head, after = '') {
  return new Promise((resolve, reject) => {
    const socket = net.connect(hw.port, '127.0.0.1');
    let data = '';
    socket.on('connect', () => socket.write(`${head}Host: x\r\n\r\n${after}`));
    socket.on('data', (d) => {
      data += d;
      if (data.includes('\r\n\r\n')) { socket.destroy(); resolve(data.slice(0, data.indexOf('\r\n'))); }
    });
    socket.on('error', (e) => { if (e.code !== 'ECONNRESET') reject(e); });
    socket.on('close', () => resolve(data.slice(0, data.indexOf('\r\n'))));
  });
}

test('on the head, before the body it announces: 404 for an unknown source, 413 over its bodyLimit', { timeout: 20000 }, async () => {
  const big = 'Content-Type: application/json\r\nContent-Length: 1000000\r\n';
  // A name never seen (the gateway reads the store while the body waits), then again (cached as absent).
  assert.equal(await headOnly(`POST /in/early-nobody HTTP/1.1\r\n${big}`), 'HTTP/1.1 404 Not Found');
  assert.equal(await headOnly(`POST /in/early-nobody HTTP/1.1\r\n${big}`), 'HTTP/1.1 404 Not Found');
  assert.equal(await headOnly(`POST /in/not%20a%20name HTTP/1.1\r\n${big}`), 'HTTP/1.1 404 Not Found');

  // Created after a 404 for its name: found at once.
  await createSource({ uid: 'early-nobody', verifier: 'static-token', secrets: ['tok'], pull: true, bodyLimit: 1000 });
  assert.equal((await post('early-nobody', { 'x-webhook-token': 'tok' }, '{"early":1}')).status, 202);

  // Over the source's bodyLimit, declared: 413, the body never read, cached or not.
  await createSource({ uid: 'early-small', verifier: 'static-token', secrets: ['tok'], pull: true, bodyLimit: 1000 });
  for (const source of ['early-small', 'early-small', 'early-nobody'])
    assert.equal(await headOnly(`POST /in/${source} HTTP/1.1\r\nX-Webhook-Token: tok\r\n${big}`), 'HTTP/1.1 413 Payload Too Large');
  // Chunked: cut at the source's limit as it streams (a first chunk over it, and no end).
  const chunked = 'POST /in/early-small HTTP/1.1\r\nX-Webhook-Token: tok\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n';
  assert.equal(await headOnly(chunked, `7d0\r\n${' '.repeat(2000)}\r\n`), 'HTTP/1.1 413 Payload Too Large');
  const metrics = (await hw.api('GET', '/metrics')).text;
  assert.match(metrics, /inbound_rejected_total\{source="early-small",reason="too_large"\} [23]/);
});

// A request written byte for byte (header lines may repeat, as a proxy adding its own line makes them).
async function rawPost(source, headerLines, body, server = hw) {
  const sock = net.connect(server.port, '127.0.0.1');
  await once(sock, 'connect');
  const head = [`POST /in/${source} HTTP/1.1`, `Host: 127.0.0.1:${server.port}`, 'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', ...headerLines, '', ''].join('\r\n');
  sock.end(head + body);
  const chunks = [];
  sock.on('data', (c) => chunks.push(c));
  await once(sock, 'close');
  const text = Buffer.concat(chunks).toString('utf8');
  return { status: Number(text.split(' ')[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

// Waits (on the process's output, bounded) until its stderr matches `re`.
async function logged(server, re) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`not logged: ${re}\n${server.stderr}`)), 10_000); });
  try {
    while (!re.test(server.stderr)) await Promise.race([once(server.proc.stderr, 'data'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('X-Forwarded-For over several lines: every line is read, from the right through the trusted proxies', async () => {
  await createSource({ uid: 'xff', verifier: 'static-token', secrets: ['tok'], pull: true, allowedCidrs: ['192.0.2.0/24'], trustedProxies: ['127.0.0.1'] });
  // The client sends its own line claiming an allowed address; the trusted proxy (the peer, 127.0.0.1) adds
  // a line with the address it saw (HAProxy's `option forwardfor`). The proxy's line is the one to believe.
  const spoofed = await rawPost('xff', ['X-Forwarded-For: 192.0.2.5', 'x-webhook-token: tok', 'X-Forwarded-For: 198.51.100.1'], '{}');
  assert.equal(spoofed.status, 403, spoofed.body);
  assert.match(spoofed.body, /198\.51\.100\.1/);
  const real = await rawPost('xff', ['X-Forwarded-For: 198.51.100.1', 'x-webhook-token: tok', 'X-Forwarded-For: 192.0.2.5'], '{}');
  assert.equal(real.status, 202, real.body);
  const malformed = await rawPost('xff', ['X-Forwarded-For: 192.0.2.5', 'X-Forwarded-For: not-an-address', 'x-webhook-token: tok'], '{}');
  assert.equal(malformed.status, 400, malformed.body);
  assert.match(malformed.body, /bad_forwarded_for/);
});

test('an event type with CR/LF taken from the body is refused; nothing injected ever reaches the destination', async () => {
  const own = await receiver();
  try {
    const src = await createSource({ uid: 'inject', verifier: 'none', eventType: 'json:type', dedupKey: 'json:id', destinations: [own.url] });
    const evil = JSON.stringify({ type: 'evil\r\nX-Injected: yes\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: internal', id: 'i1' });
    const refused = await post('inject', {}, evil);
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json.reason, 'invalid_event_type');
    assert.equal((await messages(src.appId)).length, 0, 'nothing stored');
    await logged(hw, /inbound request refused.*source=inject.*reason=invalid_event_type/);
    assert.doesNotMatch(hw.stderr, /X-Injected|smuggled/, 'the payload is never logged');

    const fine = await post('inject', {}, JSON.stringify({ type: 'invoice.paid', id: 'i2' }));
    assert.equal(fine.status, 202, fine.text);
    await own.waitFor(1);
    assert.equal(own.requests.length, 1);
    assert.equal(own.requests[0].headers['x-hookwire-event-type'], 'invoice.paid');
    assert.equal(own.requests[0].headers['x-injected'], undefined);
    const metrics = (await hw.api('GET', '/metrics')).text;
    assert.match(metrics, /inbound_rejected_total\{source="inject",reason="invalid_event_type"\} 1/);
  } finally {
    await own.close();
  }
  assert.equal(own.requests.length, 1, 'the destination saw exactly one request');
});

test('a duplicate storm: the same event sent 100 times concurrently is forwarded exactly once', async () => {
  const key = 'whsec_' + crypto.randomBytes(32).toString('base64');
  const src = await createSource({ uid: 'storm', verifier: 'standard-webhooks', secrets: [key], destinations: [rx.url] });
  const body = JSON.stringify({ type: 'storm.hit', marker: 'storm-1' });
  const now = new Date();
  const headers = { 'webhook-id': 'msg_storm', 'webhook-timestamp': String(Math.floor(now / 1000)), 'webhook-signature': new StdWebhook(key).sign('msg_storm', now, body) };
  const results = await Promise.all(Array.from({ length: 100 }, () => post('storm', headers, body)));
  const statuses = results.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 202).length, 1, JSON.stringify(statuses));
  assert.equal(statuses.filter((s) => s === 200).length, 99);
  assert.equal(new Set(results.map((r) => r.json.id)).size, 1, 'every answer names the one message');

  // One message in the log, hence one delivery. A sentinel sent after the storm arrives after the storm's
  // forward was recorded, and the receiver has seen the storm exactly once.
  assert.equal((await messages(src.appId)).length, 1);
  await rx.until(() => forwardedBodies('storm-1').length >= 1);
  const sentinel = JSON.stringify({ type: 'storm.after', marker: 'storm-sentinel' });
  const later = new Date();
  assert.equal((await post('storm', { 'webhook-id': 'msg_after', 'webhook-timestamp': String(Math.floor(later / 1000)), 'webhook-signature': new StdWebhook(key).sign('msg_after', later, sentinel) }, sentinel)).status, 202);
  await rx.until(() => forwardedBodies('storm-sentinel').length === 1);
  assert.equal(forwardedBodies('storm-1').length, 1);
  // A forward is counted once its attempt is recorded, just after the receiver answered: ask until it is.
  let metrics;
  for (let i = 0; i < 500; i += 1) {
    metrics = (await hw.api('GET', '/metrics')).text;
    if (/inbound_forwarded_total\{source="storm"\} 2/.test(metrics)) break;
  }
  assert.match(metrics, /inbound_duplicates_total\{source="storm"\} 99/);
  assert.match(metrics, /inbound_accepted_total\{source="storm"\} 2/);
  assert.match(metrics, /inbound_forwarded_total\{source="storm"\} 2/);
});

test('sources declared in the config file are created at start and updated by uid at the next start', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-inbound-config-'));
  const conf = join(dir, 'hookwire.toml');
  const write = (secrets) => writeFileSync(conf, [
    'body-limit = 65536',
    '[source.gh]', 'verifier = "github"', `secrets = [${secrets.map((s) => `"${s}"`).join(', ')}]`,
    `destinations = ["${rx.url}"]`, 'dedup_ttl_seconds = 600',
    '[source.partner]', 'verifier = "generic-hmac"', 'secrets = ["p1"]', 'pull = true',
    '[source.partner.hmac]', 'signature_header = "X-Partner-Signature"', 'encoding = "base64"', 'template = "{body}"',
    '',
  ].join('\n'));
  write(['one']);
  let server = await Hookwire.start({ dataDir: join(dir, 'data'), args: ['--config', conf, '--delivery-allow-cidr', '127.0.0.0/8'] });
  try {
    const first = (await server.api('GET', '/api/v1/source/gh')).json;
    assert.equal(first.dedupTtlSeconds, 600);
    assert.equal(first.bodyLimit, 65536, 'a source inherits the server limit');
    const body = JSON.stringify({ marker: 'config-1' });
    const sig = (s, b) => ({ 'x-github-event': 'push', 'x-github-delivery': `d-${s}`, 'x-hub-signature-256': crypto.createHmac('sha256', s).update(b).digest('hex').replace(/^/, 'sha256=') });
    assert.equal((await post('gh', sig('one', body), body, server)).status, 202);
    const partnerBody = '{"ok":true}';
    const partnerSig = crypto.createHmac('sha256', 'p1').update(partnerBody).digest('base64');
    assert.equal((await post('partner', { 'x-partner-signature': partnerSig }, partnerBody, server)).status, 202);
    assert.equal(await server.stop(), 0);

    write(['two']);
    server = await Hookwire.start({ dataDir: join(dir, 'data'), args: ['--config', conf, '--delivery-allow-cidr', '127.0.0.0/8'] });
    const second = (await server.api('GET', '/api/v1/source/gh')).json;
    assert.equal(second.id, first.id);
    assert.equal(second.destinations[0].secret, first.destinations[0].secret, 'the destination keeps its secret');
    assert.equal((await post('gh', sig('one', body + ' '), body + ' ', server)).status, 401);
    assert.equal((await post('gh', sig('two', body + ' '), body + ' ', server)).status, 202);
    assert.equal(await server.stop(), 0);

    writeFileSync(conf, '[source.bad]\nverifier = "github"\nsecrets = ["x"]\npull = true\ncolour = "red"\n');
    await assert.rejects(Hookwire.start({ dataDir: join(dir, 'data'), args: ['--config', conf] }), /source\.bad\] colour: unknown key/);
    // Text that is not UTF-8 is refused where it is (TOML must be UTF-8), not misread.
    writeFileSync(conf, Buffer.concat([Buffer.from('[source.bad]\nverifier = "github"\npull = true\nsecrets = ["caf'),
                                       Buffer.from([0xc3, 0x28]), Buffer.from('"]\n')]));
    await assert.rejects(Hookwire.start({ dataDir: join(dir, 'data'), args: ['--config', conf] }), /hookwire\.toml:4:\d+: not valid TOML: .*utf-8/);
    // A destination the SSRF guard always refuses is refused at start, naming the flag that allows it.
    writeFileSync(conf, '[source.bad]\nverifier = "none"\ndestinations = ["http://10.0.0.1/in"]\n');
    await assert.rejects(Hookwire.start({ dataDir: join(dir, 'data'), args: ['--config', conf] }), /destinations.*10\.0\.0\.1.*--delivery-allow-cidr/);
  } finally {
    if (server.proc.exitCode === null) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the config file is the truth for the sources it declares: unchanged ones keep their revision, removed ones go, the API may not change them, destination keys are chosen in it', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-inbound-truth-'));
  const conf = join(dir, 'hookwire.toml');
  const key1 = `whsec_${crypto.randomBytes(32).toString('base64')}`;
  const key2 = `whsec_${crypto.randomBytes(32).toString('base64')}`;
  const write = (key, withPull) => writeFileSync(conf, [
    '[source.declared]', 'verifier = "none"', `destinations = [{ url = "${rx.url}", secret = "\${DEST_KEY}" }]`,
    ...(withPull ? ['[source.pulled]', 'verifier = "none"', 'pull = true'] : []), '',
  ].join('\n'));
  const start = (key, args = ['--config', conf]) => Hookwire.start({
    dataDir: join(dir, 'data'), args: [...args, '--delivery-allow-cidr', '127.0.0.0/8'], env: { DEST_KEY: key },
  });
  write(key1, true);
  let server = await start(key1);
  try {
    const first = (await server.api('GET', '/api/v1/source/declared')).json;
    assert.equal(first.declaredInConfig, true);
    assert.equal(first.revision, 1);
    assert.equal(first.destinations[0].secret, key1, 'the key chosen in the file');
    const pulled = (await server.api('GET', '/api/v1/source/pulled')).json;
    const made = await server.api('POST', '/api/v1/source', { uid: 'api-made', verifier: 'none', pull: true });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.json.declaredInConfig, false);
    // The API reads a declared source but does not change it.
    for (const [method, body] of [['PUT', { verifier: 'none', pull: true }], ['DELETE', undefined]]) {
      const res = await server.api(method, '/api/v1/source/declared', body);
      assert.equal(res.status, 409, `${method} ${res.text}`);
      assert.match(res.text, /declared in the config file: change it there/);
    }
    // Forwarded, signed with the chosen key.
    const seen = rx.requests.length;
    const body = JSON.stringify({ n: 1 });
    assert.equal((await post('declared', {}, body, server)).status, 202);
    await rx.waitFor(seen + 1);
    const got = rx.requests[seen];
    new StdWebhook(key1).verify(got.body, got.headers);  // throws if the signature is not key1's
    assert.equal(await server.stop(), 0);

    // The same file: nothing changes, not even the revision.
    server = await start(key1);
    assert.equal((await server.api('GET', '/api/v1/source/declared')).json.revision, 1);
    assert.equal(await server.stop(), 0);

    // `pulled` removed from the file and the key changed: pulled is deleted with its application, declared
    // is replaced (revision 2, the new key in force), the API's source is left alone.
    write(key2, false);
    server = await start(key2);
    const second = (await server.api('GET', '/api/v1/source/declared')).json;
    assert.equal(second.revision, 2);
    assert.equal(second.destinations[0].secret, key2);
    assert.equal((await server.api('GET', '/api/v1/source/pulled')).status, 404);
    assert.equal((await server.api('GET', `/api/v1/app/${pulled.appId}`)).status, 404);
    assert.equal((await server.api('GET', '/api/v1/source/api-made')).status, 200);
    assert.match(server.stderr, /warn .*config file: source pulled is no longer declared: deleted with its application/);
    assert.equal(await server.stop(), 0);

    // Started without a config file: the declared sources stay as they were.
    server = await start(key2, []);
    assert.equal((await server.api('GET', '/api/v1/source/declared')).json.revision, 2);
    assert.equal(await server.stop(), 0);
  } finally {
    if (server.proc.exitCode === null) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the server serves the OpenAPI document of the source extension', async () => {
  const res = await fetch(`${hw.url}/api/v1/openapi.json`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\/json/);
  const doc = await res.json();
  assert.equal(doc.openapi, '3.1.0');
  assert.ok(doc.paths['/api/v1/source'].post);
  assert.ok(doc.paths['/in/{source}'].post);
  assert.match(doc.info.description, /Svix/);
});

test("a source's application is marked as the source's and is deleted only with its source (409 alone)", async () => {
  const src = await createSource({ uid: 'owned', verifier: 'none', pull: true });
  const app = await hw.api('GET', `/api/v1/app/${src.appId}`);
  assert.equal(app.json.metadata.hookwireSource, src.id);
  // An update that replaces the metadata keeps the mark.
  for (const method of ['PUT', 'PATCH']) {
    const res = await hw.api(method, `/api/v1/app/${src.appId}`, { name: 'renamed', metadata: { team: 'billing' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.metadata, { team: 'billing', hookwireSource: src.id }, method);
  }
  const refused = await hw.api('DELETE', `/api/v1/app/${src.appId}`);
  assert.equal(refused.status, 409, refused.text);
  assert.match(refused.text, /belongs to inbound source owned: delete the source \(DELETE \/api\/v1\/source\/owned\)/);
  assert.equal((await hw.api('GET', '/api/v1/source/owned')).status, 200, 'nothing changed');
  assert.equal((await hw.api('DELETE', '/api/v1/source/owned')).status, 204);
  assert.equal((await hw.api('GET', `/api/v1/app/${src.appId}`)).status, 404, 'gone with its source');
});

test("a Stripe handler that verifies with stripe.webhooks.constructEvent works unchanged behind a source: the provider's headers are forwarded with the byte-identical body", async () => {
  const secret = 'whsec_stripe_handler_secret';
  // The existing handler, as it runs behind Stripe today: it knows Stripe's secret only.
  const verified = [];
  const handler = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        const event = stripe.webhooks.constructEvent(Buffer.concat(chunks), req.headers['stripe-signature'], secret);
        verified.push({ event, headers: req.headers });
        res.writeHead(200).end();
      } catch (e) {
        res.writeHead(400).end(String(e.message));
      }
    });
  });
  handler.listen(0, '127.0.0.1');
  await once(handler, 'listening');
  try {
    const url = `http://127.0.0.1:${handler.address().port}/stripe-webhook`;
    const src = await createSource({ uid: 'stripe-behind', verifier: 'stripe', secrets: [secret], destinations: [url] });
    const body = JSON.stringify({ id: 'evt_behind_1', object: 'event', type: 'invoice.paid', data: { object: { id: 'in_1' } } });
    const sent = await post('stripe-behind', { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret }) }, body);
    assert.equal(sent.status, 202, sent.text);
    const attempt = async () => {
      for (;;) {
        const res = await hw.api('GET', `/api/v1/app/${src.appId}/attempt/msg/${sent.json.id}`);
        if (res.json?.data?.length) return res.json.data[0];
        await new Promise((r) => setImmediate(r));
      }
    };
    const first = await attempt();
    assert.equal(first.responseStatusCode, 200, first.response);
    assert.equal(verified.length, 1);
    assert.equal(verified[0].event.id, 'evt_behind_1');
    // hookwire's own signature is there too, for a service that verifies hookwire instead.
    new StdWebhook(src.destinations[0].secret).verify(body, verified[0].headers);
    assert.equal(verified[0].headers['x-hookwire-event-type'], 'invoice.paid');
  } finally {
    await new Promise((r) => handler.close(r));
  }
});

test('JSON sent with a form content type (as `curl -d` sends it) is refused with a detail that says what to fix', async () => {
  await createSource({ uid: 'curl-d', verifier: 'none', pull: true });
  const res = await fetch(`${hw.url}/in/curl-d`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '{"a":1}',
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.reason, 'not_json');
  assert.match(body.detail, /the body is JSON but its Content-Type is application\/x-www-form-urlencoded .*send it with Content-Type: application\/json/);
  const ok = await post('curl-d', {}, '{"a":1}');
  assert.equal(ok.status, 202, 'the same body as application/json is taken');
});
