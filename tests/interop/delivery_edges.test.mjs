// Delivery through the real binary at its edges: svix-* headers, a receiver that is down for a while, TLS to a
// receiver whose CA comes from --delivery-ca-file, a receiver that trickles its answer, operational webhooks
// and the delivery metrics. Every request received is verified with an official library (standardwebhooks,
// or svix for the svix-* family).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Svix, Webhook as SvixWebhook } from 'svix';
import { Webhook } from 'standardwebhooks';
import { Hookwire } from './lib/hookwire.mjs';
import { receiver, freePort, until } from './lib/receiver.mjs';

const servers = [];
async function start(args = []) {
  const hw = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8', ...args] });
  servers.push(hw);
  return { hw, svix: new Svix(hw.token, { serverUrl: hw.url }) };
}
after(async () => {
  for (const hw of servers) {
    assert.equal(await hw.stop(), 0);
    hw.cleanup();
  }
});

// The value of one series of /metrics, or undefined.
async function metric(hw, series) {
  const { text } = await hw.api('GET', '/metrics');
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('with --signature-headers svix, deliveries carry svix-* headers that the svix library verifies', async () => {
  const { svix } = await start(['--signature-headers', 'svix']);
  const rx = await receiver();
  try {
    const app = await svix.application.create({ name: 'Svix family' });
    const ep = await svix.endpoint.create(app.id, { url: rx.url });
    const { key } = await svix.endpoint.getSecret(app.id, ep.id);
    const msg = await svix.message.create(app.id, { eventType: 'user.created', payload: { id: 'u_1' } });
    await rx.waitFor(1);
    const { headers, body } = rx.requests[0];
    assert.equal(headers['svix-id'], msg.id);
    assert.equal(headers['webhook-id'], undefined);
    new SvixWebhook(key).verify(body, headers);  // throws unless the signature verifies
    assert.deepEqual(JSON.parse(body), { id: 'u_1' });
    assert.throws(() => new SvixWebhook(key).verify(body.replace('u_1', 'u_2'), headers), /signature/i);
  } finally {
    await rx.close();
  }
});

test('a receiver that is down for a while gets every message once it is back', async () => {
  const { hw, svix } = await start(['--retry-schedule', '50ms,100ms,200ms,400ms,800ms,1s,2s,4s']);
  const port = await freePort();
  const app = await svix.application.create({ name: 'Down for a while' });
  const ep = await svix.endpoint.create(app.id, { url: `http://127.0.0.1:${port}/hook` });
  const { key } = await svix.endpoint.getSecret(app.id, ep.id);
  const sent = [];
  for (let i = 0; i < 20; i += 1)
    sent.push((await svix.message.create(app.id, { eventType: 'order.placed', payload: { i } })).id);
  // Every message has failed at least once (connection refused) before the receiver comes up.
  await until(async () => (await metric(hw, `delivery_endpoint_failures_total{endpoint="${ep.id}"}`)) >= 20,
    'a refused attempt of every message');
  const attempts = await svix.messageAttempt.listByEndpoint(app.id, ep.id, { limit: 250 });
  assert.ok(attempts.data.length >= 20 && attempts.data.every((a) => a.responseStatusCode === 0));

  const rx = await receiver({ port });
  try {
    await until(() => new Set(rx.requests.map((r) => r.headers['webhook-id'])).size === 20, 'all 20 messages');
    assert.deepEqual(new Set(rx.requests.map((r) => r.headers['webhook-id'])), new Set(sent));
    for (const r of rx.requests) new Webhook(key).verify(r.body, r.headers);
  } finally {
    await rx.close();
  }
});

test('https endpoints: a CA given with --delivery-ca-file is trusted, an unknown CA is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-tls-'));
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const makeCa = (name) => openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
  try {
    makeCa('trusted-ca');
    makeCa('unknown-ca');
    // Leaf certificates for 127.0.0.1, one from each CA.
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    for (const [ca, leaf] of [['trusted-ca', 'good'], ['unknown-ca', 'bad']]) {
      openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${leaf}.key`,
        '-out', `${leaf}.csr`, '-subj', '/CN=127.0.0.1');
      openssl('x509', '-req', '-in', `${leaf}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
        '-out', `${leaf}.pem`, '-days', '2', '-extfile', 'san.ext');
    }
    const tls = (leaf) => ({ key: readFileSync(join(dir, `${leaf}.key`)), cert: readFileSync(join(dir, `${leaf}.pem`)) });
    const good = await receiver({ tls: tls('good') });
    const bad = await receiver({ tls: tls('bad') });
    try {
      const { svix } = await start(['--delivery-ca-file', join(dir, 'trusted-ca.pem'), '--retry-schedule', '1h']);
      const app = await svix.application.create({ name: 'TLS' });
      const okEp = await svix.endpoint.create(app.id, { url: good.url });
      const badEp = await svix.endpoint.create(app.id, { url: bad.url });
      const { key } = await svix.endpoint.getSecret(app.id, okEp.id);
      await svix.message.create(app.id, { eventType: 'tls.checked', payload: { secure: true } });
      await good.waitFor(1);
      assert.deepEqual(new Webhook(key).verify(good.requests[0].body, good.requests[0].headers), { secure: true });
      const refused = await until(async () => (await svix.messageAttempt.listByEndpoint(app.id, badEp.id)).data[0],
        'the attempt to the endpoint with an unknown CA');
      assert.equal(refused.responseStatusCode, 0);
      assert.match(refused.response, /certificate|verify|handshake/i);
      assert.equal(bad.requests.length, 0, 'no request reaches a server whose certificate does not verify');
    } finally {
      await good.close();
      await bad.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a receiver that trickles its answer within the timeout is a success, its body logged', async () => {
  const { svix } = await start(['--delivery-timeout-ms', '5000']);
  const rx = await receiver({
    handler: (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const drip = setInterval(() => {
        res.write(`drop${n} `);
        n += 1;
        if (n === 5) { clearInterval(drip); res.end('done'); }
      }, 20);
    },
  });
  try {
    const app = await svix.application.create({ name: 'Trickle' });
    const ep = await svix.endpoint.create(app.id, { url: rx.url });
    const { key } = await svix.endpoint.getSecret(app.id, ep.id);
    await svix.message.create(app.id, { eventType: 'slow.answer', payload: { ok: 1 } });
    await rx.waitFor(1);
    new Webhook(key).verify(rx.requests[0].body, rx.requests[0].headers);
    const attempt = await until(async () => (await svix.messageAttempt.listByEndpoint(app.id, ep.id)).data[0],
      'the trickled attempt');
    assert.equal(attempt.responseStatusCode, 200);
    assert.equal(attempt.response, 'drop0 drop1 drop2 drop3 drop4 done');
    assert.equal(attempt.status, 0);
  } finally {
    await rx.close();
  }
});

test('operational webhooks: exhaustion and a 410 are reported, signed, to --operational-webhook-url', async () => {
  const ops = await receiver();
  const failing = await receiver({ fallback: 500 });
  const gone = await receiver({ fallback: 410 });
  try {
    const { hw, svix } = await start(['--operational-webhook-url', ops.url, '--retry-schedule', '50ms']);
    // The operational endpoint is an ordinary endpoint of application hookwire-operational: its key is read
    // through the Svix API.
    const { key } = await svix.endpoint.getSecret('hookwire-operational', 'operational');
    const app = await svix.application.create({ name: 'Ops', uid: 'tenant-ops' });
    const epFailing = await svix.endpoint.create(app.id, { url: failing.url, eventTypes: ['a.b'] });
    const epGone = await svix.endpoint.create(app.id, { url: gone.url, eventTypes: ['c.d'] });
    const m1 = await svix.message.create(app.id, { eventType: 'a.b', payload: {}, eventId: 'evt-ops-1' });
    await svix.message.create(app.id, { eventType: 'c.d', payload: {} });
    await ops.waitFor(2);
    const events = ops.requests.map((r) => new Webhook(key).verify(r.body, r.headers));
    const byType = Object.fromEntries(events.map((e) => [e.type, e.data]));
    assert.deepEqual(Object.keys(byType).sort(), ['endpoint.disabled', 'message.attempt.exhausted']);
    assert.equal(byType['message.attempt.exhausted'].msgId, m1.id);
    assert.equal(byType['message.attempt.exhausted'].msgEventId, 'evt-ops-1');
    assert.equal(byType['message.attempt.exhausted'].endpointId, epFailing.id);
    assert.equal(byType['message.attempt.exhausted'].appUid, 'tenant-ops');
    assert.equal(byType['message.attempt.exhausted'].lastAttempt.responseStatusCode, 500);
    assert.equal(byType['endpoint.disabled'].endpointId, epGone.id);
    assert.equal((await svix.endpoint.get(app.id, epGone.id)).disabled, true);

    // Metrics: outcomes, failures per endpoint, and an empty queue once everything settled.
    await until(async () => (await metric(hw, 'delivery_queue_depth{state="pending"}')) === 0, 'an empty queue');
    assert.equal(await metric(hw, `delivery_endpoint_failures_total{endpoint="${epFailing.id}"}`), 2);
    assert.equal(await metric(hw, `delivery_endpoint_failures_total{endpoint="${epGone.id}"}`), 1);
    assert.equal(await metric(hw, 'delivery_attempts_total{outcome="exhausted"}'), 1);
    assert.equal(await metric(hw, 'delivery_attempts_total{outcome="disabled"}'), 1);
    assert.equal(await metric(hw, 'delivery_lag_seconds'), 0);
    assert.equal(ops.requests.length, 2, 'one event each, no more');
  } finally {
    await ops.close();
    await failing.close();
    await gone.close();
  }
});

test('--delivery off stores deliveries without sending them; the next run that delivers sends them', async () => {
  const rx = await receiver();
  const dataDir = mkdtempSync(join(tmpdir(), 'hookwire-api-only-'));
  try {
    const args = ['--delivery-allow-cidr', '127.0.0.0/8'];
    const apiOnly = await Hookwire.start({ dataDir, args: [...args, '--delivery', 'off'] });
    const svix = new Svix(apiOnly.token, { serverUrl: apiOnly.url });
    const app = await svix.application.create({ name: 'API only' });
    await svix.endpoint.create(app.id, { url: rx.url });
    const msg = await svix.message.create(app.id, { eventType: 'stored.only', payload: { n: 1 } });
    assert.equal(await metric(apiOnly, 'delivery_queue_depth{state="pending"}'), 1);
    assert.equal(await apiOnly.stop(), 0);
    assert.equal(rx.requests.length, 0, 'nothing was sent while delivery was off');

    const delivering = await Hookwire.start({ dataDir, args });
    try {
      await rx.waitFor(1);
      assert.equal(rx.requests[0].headers['webhook-id'], msg.id);
    } finally {
      assert.equal(await delivering.stop(), 0);
    }
  } finally {
    await rx.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('429 with Retry-After and a timeout are logged and retried no sooner than 60 s later', async () => {
  const { svix } = await start(['--delivery-timeout-ms', '300', '--retry-schedule', '1s']);
  const throttled = await receiver({
    handler: (req, res) => res.writeHead(429, { 'retry-after': '1' }).end('slow down'),
  });
  const silent = await receiver({ handler: () => {} });  // reads the request, never answers
  try {
    const app = await svix.application.create({ name: 'Throttle and timeout' });
    const ep429 = await svix.endpoint.create(app.id, { url: throttled.url, eventTypes: ['a.throttled'] });
    const epSilent = await svix.endpoint.create(app.id, { url: silent.url, eventTypes: ['a.timeout'] });
    const keys = {
      [ep429.id]: (await svix.endpoint.getSecret(app.id, ep429.id)).key,
      [epSilent.id]: (await svix.endpoint.getSecret(app.id, epSilent.id)).key,
    };
    const m429 = await svix.message.create(app.id, { eventType: 'a.throttled', payload: { n: 429 } });
    const mSilent = await svix.message.create(app.id, { eventType: 'a.timeout', payload: { n: 0 } });
    await throttled.waitFor(1);
    await silent.waitFor(1);
    new Webhook(keys[ep429.id]).verify(throttled.requests[0].body, throttled.requests[0].headers);
    new Webhook(keys[epSilent.id]).verify(silent.requests[0].body, silent.requests[0].headers);

    for (const [msg, ep, code] of [[m429, ep429, 429], [mSilent, epSilent, 0]]) {
      const attempt = await until(async () => (await svix.messageAttempt.listByMsg(app.id, msg.id)).data[0],
        `the attempt answered ${code}`);
      assert.equal(attempt.responseStatusCode, code);
      const [dest] = (await svix.messageAttempt.listAttemptedDestinations(app.id, msg.id)).data;
      assert.equal(dest.id, ep.id);
      // The schedule says 1 s (and Retry-After 1 s), but throttling and timeouts wait at least 60 s.
      assert.ok(dest.nextAttempt >= new Date(Date.parse(attempt.timestamp) + 59_000),
        `next attempt ${dest.nextAttempt.toISOString()} after ${attempt.timestamp}`);
    }
    assert.match((await svix.messageAttempt.listByMsg(app.id, mSilent.id)).data[0].response, /time/i);
  } finally {
    await throttled.close();
    await silent.close();
  }
});

test('--retry-overload-floor-seconds sets the least wait after 429/503 (0: the schedule alone)', async () => {
  // With the default floor (60 s) the second attempt would come a minute later; with 0, on the 50 ms schedule.
  const { svix } = await start(['--retry-schedule', '50ms,50ms', '--retry-overload-floor-seconds', '0']);
  const rx = await receiver({ statuses: [429, 503], fallback: 200 });
  try {
    const app = await svix.application.create({ name: 'Overloaded' });
    await svix.endpoint.create(app.id, { url: rx.url });
    const msg = await svix.message.create(app.id, { eventType: 'user.created', payload: { id: 'u_1' } });
    await rx.waitFor(3);
    assert.deepEqual(rx.requests.map((r) => r.headers['webhook-id']), [msg.id, msg.id, msg.id]);
  } finally {
    await rx.close();
  }
});

test('an endpoint may choose its signature headers (signatureHeaders: svix or webhook), whatever the server default', async () => {
  const { hw, svix } = await start();  // the server's default: webhook-* headers
  const rx = await receiver();
  try {
    const app = await svix.application.create({ name: 'Per-endpoint headers' });
    const made = await hw.api('POST', `/api/v1/app/${app.id}/endpoint`, { url: rx.url, signatureHeaders: 'svix' });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.json.signatureHeaders, 'svix');
    const { key } = await svix.endpoint.getSecret(app.id, made.json.id);
    await svix.message.create(app.id, { eventType: 'user.created', payload: { n: 1 } });
    await rx.waitFor(1);
    assert.ok(rx.requests[0].headers['svix-signature'] && !rx.requests[0].headers['webhook-signature']);
    new SvixWebhook(key).verify(rx.requests[0].body, rx.requests[0].headers);
    // Back to the server's default by PATCH with null; a bad value is a 422 naming the field.
    const bad = await hw.api('PATCH', `/api/v1/app/${app.id}/endpoint/${made.json.id}`, { signatureHeaders: 'both' });
    assert.equal(bad.status, 422, bad.text);
    assert.deepEqual(bad.json.detail[0].loc, ['body', 'signatureHeaders']);
    const reset = await hw.api('PATCH', `/api/v1/app/${app.id}/endpoint/${made.json.id}`, { signatureHeaders: null });
    assert.equal(reset.json.signatureHeaders, null);
    await svix.message.create(app.id, { eventType: 'user.created', payload: { n: 2 } });
    await rx.waitFor(2);
    assert.ok(rx.requests[1].headers['webhook-signature'] && !rx.requests[1].headers['svix-signature']);
    new Webhook(key).verify(rx.requests[1].body, rx.requests[1].headers);
  } finally {
    await rx.close();
  }
});
