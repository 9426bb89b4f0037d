// Interop: hookwire's signing (through the `hookwire sign|verify|secret` CLI) against the official libraries,
// in both directions: standardwebhooks, svix's Webhook, stripe.webhooks, @octokit/webhooks-methods, and
// node:crypto for what no official npm library covers (v1a Ed25519; non-UTF-8 bodies, which every one of those
// libraries decodes as UTF-8 before signing).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { Webhook as StdWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import Stripe from 'stripe';
import { sign as ghSign, verify as ghVerify } from '@octokit/webhooks-methods';

const BIN = process.env.HOOKWIRE_BIN;
assert.ok(BIN, 'HOOKWIRE_BIN must point at the hookwire binary');
const stripe = new Stripe('sk_test_interop_only_never_used_for_network');

// ---- the CLI ---------------------------------------------------------------------------------------------

function hw(args, body = Buffer.alloc(0)) {
  const r = spawnSync(BIN, args, { input: body, maxBuffer: 16 << 20 });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout.toString(), err: r.stderr.toString() };
}

function secretArgs(secrets) {
  return [].concat(...[secrets].flat().map((s) => ['--secret', s]));
}

// Returns the headers hookwire prints, as an object with lowercase names.
function hwSign(scheme, secrets, body, { id, ts, extra = [] } = {}) {
  const args = ['sign', '--scheme', scheme, ...secretArgs(secrets), ...extra];
  if (id !== undefined) args.push('--id', id);
  if (ts !== undefined) args.push('--timestamp', String(ts));
  const r = hw(args, body);
  assert.equal(r.code, 0, `sign failed: ${r.err}`);
  const headers = {};
  for (const line of r.out.split('\n').filter(Boolean)) {
    const i = line.indexOf(': ');
    headers[line.slice(0, i)] = line.slice(i + 2);
  }
  return headers;
}

function hwVerify(scheme, secrets, headers, body, now, extra = []) {
  const args = ['verify', '--scheme', scheme, ...secretArgs(secrets), '--now', String(now), ...extra];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  return hw(args, body);
}

function assertAccepted(r) {
  assert.equal(r.code, 0, `hookwire rejected: ${r.out}${r.err}`);
  assert.match(r.out, /^ok:/);
}
function assertRejected(r, reason) {
  assert.equal(r.code, 1, `hookwire did not reject: ${r.out}${r.err}`);
  if (reason) assert.match(r.out, new RegExp(`^invalid: ${reason}:`));
}

// ---- bodies ------------------------------------------------------------------------------------------------

// Deterministic PRNG so a failure reproduces.
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(0x5eed);
function randomUnicode(n) {
  let s = '';
  for (let i = 0; i < n; i++) {
    const r = rand();
    let cp;
    if (r < 0.6) cp = 0x20 + Math.floor(rand() * 0x5f);
    else if (r < 0.8) cp = 0xa0 + Math.floor(rand() * 0x700);
    else if (r < 0.95) cp = 0x3040 + Math.floor(rand() * 0x6000);
    else cp = 0x1f300 + Math.floor(rand() * 0x300);  // emoji, outside the BMP
    s += String.fromCodePoint(cp);
  }
  return s;
}
function randomBytes(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}
const isUtf8 = (b) => Buffer.from(b.toString('utf8'), 'utf8').equals(b);

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const mib = Buffer.alloc(1 << 20, 'a');  // 1 MiB of printable ASCII with some variation
for (let i = 0; i < mib.length; i += 997) mib[i] = 0x41 + (i % 26);

// UTF-8 bodies every library can take (as strings); binary bodies only hookwire and node:crypto can.
const textBodies = [
  ['empty', Buffer.alloc(0)],
  ['json', Buffer.from('{"type":"invoice.paid","data":{"id":"in_1","amount":2000}}')],
  ['unicode', Buffer.from('{"name":"Zoë 🦄 日本語 Ωmega","note":"\\u0000 tab\tnewline\n"}')],
  ['1 MiB', mib],
  ...Array.from({ length: 8 }, (_, i) => [`random unicode #${i}`, Buffer.from(randomUnicode(1 + Math.floor(rand() * 3000)))]),
];
const binaryBodies = [
  ['all 256 byte values', allBytes],
  ...Array.from({ length: 6 }, (_, i) => [`random bytes #${i}`, randomBytes(1 + Math.floor(rand() * 4096))]),
];
for (const [name, b] of binaryBodies) assert.ok(!isUtf8(b), `${name} should not be valid UTF-8`);

const nowSec = () => Math.floor(Date.now() / 1000);
const tamper = (b) => (b.length === 0 ? Buffer.from(' ') : Buffer.concat([b.subarray(0, b.length - 1), Buffer.from([b[b.length - 1] ^ 1])]));

// ---- Standard Webhooks v1 -----------------------------------------------------------------------------------

describe('standard webhooks v1', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

  test('PROTOCOLS.md vector through the CLI and standardwebhooks agree', () => {
    const body = Buffer.from('{"test": 2432232314}');
    const h = hwSign('standard', secret, body, { id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', ts: 1614265330 });
    assert.equal(h['webhook-signature'], 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    const lib = new StdWebhook(secret).sign('msg_p5jXN8AQM9LWM0D4loKWxJek', new Date(1614265330 * 1000), body.toString());
    assert.equal(lib, h['webhook-signature']);
    assertAccepted(hwVerify('standard', secret, h, body, 1614265330));
    assertRejected(hwVerify('standard', secret, { ...h, 'webhook-signature': 'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=' }, body, 1614265330), 'no_matching_signature');
  });

  for (const [name, body] of textBodies) {
    test(`hookwire signs, standardwebhooks and svix verify: ${name}`, () => {
      const secret = hw(['secret', 'new']).out.trim();
      const ts = nowSec();
      const id = `msg_${crypto.randomBytes(8).toString('hex')}`;
      const h = hwSign('standard', secret, body, { id, ts });
      const payload = body.toString('utf8');
      new StdWebhook(secret).verify(payload, h, { jsonParse: false });
      new SvixWebhook(secret).verify(payload, h);
      const hs = hwSign('svix', secret, body, { id, ts });
      assert.deepEqual(Object.keys(hs).sort(), ['svix-id', 'svix-signature', 'svix-timestamp']);
      new SvixWebhook(secret).verify(payload, hs);

      // Tampered body, timestamp, secret: rejected by the libraries too.
      assert.throws(() => new StdWebhook(secret).verify(tamper(body).toString('utf8'), h, { jsonParse: false }), /No matching signature/);
      assert.throws(() => new SvixWebhook(secret).verify(payload, { ...hs, 'svix-timestamp': String(ts - 1) }), /No matching signature/);
      assert.throws(() => new StdWebhook(hw(['secret', 'new']).out.trim()).verify(payload, h, { jsonParse: false }), /No matching signature/);
    });

    test(`standardwebhooks and svix sign, hookwire verifies: ${name}`, () => {
      const secret = hw(['secret', 'new']).out.trim();
      const ts = nowSec();
      const id = `msg_${crypto.randomBytes(8).toString('hex')}`;
      const payload = body.toString('utf8');
      const sig = new StdWebhook(secret).sign(id, new Date(ts * 1000), payload);
      const h = { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': sig };
      assertAccepted(hwVerify('standard', secret, h, body, ts));
      const svixSig = new SvixWebhook(secret).sign(id, new Date(ts * 1000), payload);
      assertAccepted(hwVerify('standard', secret, { 'svix-id': id, 'svix-timestamp': String(ts), 'svix-signature': svixSig }, body, ts));

      assertRejected(hwVerify('standard', secret, h, tamper(body), ts), 'no_matching_signature');
      assertRejected(hwVerify('standard', secret, { ...h, 'webhook-timestamp': String(ts + 1) }, body, ts), 'no_matching_signature');
      assertRejected(hwVerify('standard', hw(['secret', 'new']).out.trim(), h, body, ts), 'no_matching_signature');
    });
  }

  test('timestamp window: both sides reject a stale or future timestamp', () => {
    const secret = hw(['secret', 'new']).out.trim();
    const body = Buffer.from('{"ok":true}');
    const now = nowSec();
    for (const [ts, reason, libMsg] of [[now - 400, 'timestamp_too_old', /too old/], [now + 400, 'timestamp_too_new', /too new/]]) {
      const h = hwSign('standard', secret, body, { id: 'msg_1', ts });
      assert.throws(() => new StdWebhook(secret).verify(body.toString(), h), libMsg);
      assertRejected(hwVerify('standard', secret, h, body, now), reason);
    }
    const edge = hwSign('standard', secret, body, { id: 'msg_1', ts: now - 290 });
    new StdWebhook(secret).verify(body.toString(), edge);
    assertAccepted(hwVerify('standard', secret, edge, body, now));
    assertRejected(hwVerify('standard', secret, edge, body, now, ['--tolerance', '60']), 'timestamp_too_old');
  });

  test('rotation: one header with several v1 entries, each library secret accepts it', () => {
    const [a, b] = [hw(['secret', 'new']).out.trim(), hw(['secret', 'new']).out.trim()];
    const ts = nowSec();
    const body = Buffer.from('{"rotating":true}');
    const h = hwSign('standard', [a, b], body, { id: 'msg_rot', ts });
    assert.equal(h['webhook-signature'].split(' ').length, 2);
    new StdWebhook(a).verify(body.toString(), h);
    new StdWebhook(b).verify(body.toString(), h);
    // Unknown versions are ignored by both sides.
    const withV2 = { ...h, 'webhook-signature': `v2,abc ${h['webhook-signature']}` };
    new StdWebhook(a).verify(body.toString(), withV2);
    assertAccepted(hwVerify('standard', b, withV2, body, ts));
    assertRejected(hwVerify('standard', b, { ...h, 'webhook-signature': 'v2,abc' }, body, ts), 'no_matching_signature');
  });

  test('binary bodies: hookwire signs the raw bytes (checked with node:crypto)', () => {
    for (const [name, body] of binaryBodies) {
      const secret = hw(['secret', 'new']).out.trim();
      const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
      const ts = nowSec();
      const h = hwSign('standard', secret, body, { id: 'msg_bin', ts });
      const expected = crypto.createHmac('sha256', key).update(Buffer.concat([Buffer.from(`msg_bin.${ts}.`), body])).digest('base64');
      assert.equal(h['webhook-signature'], `v1,${expected}`, name);
      assertAccepted(hwVerify('standard', secret, h, body, ts));
      assertRejected(hwVerify('standard', secret, h, tamper(body), ts), 'no_matching_signature');
      // The JS library re-decodes a Buffer as UTF-8 before signing, so it cannot verify non-UTF-8 bodies.
      assert.throws(() => new StdWebhook(secret).verify(body, h, { jsonParse: false }), /No matching signature/);
    }
  });

  test('CLI reports why: missing and malformed headers, bad secrets', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = Buffer.from('x');
    const h = hwSign('standard', secret, body, { id: 'msg_1', ts: 1700000000 });
    assertRejected(hwVerify('standard', secret, { 'webhook-id': 'msg_1', 'webhook-signature': h['webhook-signature'] }, body, 1700000000), 'missing_header');
    assertRejected(hwVerify('standard', secret, { ...h, 'webhook-timestamp': 'yesterday' }, body, 1700000000), 'malformed_header');
    // A body larger than a pipe holds: the CLI reads it all before it refuses the secret, so the caller gets
    // the reason and exit code 2, not a broken pipe.
    const bad = hwVerify('standard', 'whsec_short', h, Buffer.alloc(1 << 20, 'x'), 1700000000);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /secret #1/);
  });
});

// ---- Standard Webhooks v1a (Ed25519): no official npm library implements it; node:crypto is the reference ----

describe('standard webhooks v1a', () => {
  const b64url = (b) => b.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const keys = (whsk) => {
    const raw = Buffer.from(whsk.slice('whsk_'.length), 'base64');
    const jwk = { kty: 'OKP', crv: 'Ed25519', d: b64url(raw.subarray(0, 32)), x: b64url(raw.subarray(32)) };
    return { priv: crypto.createPrivateKey({ key: jwk, format: 'jwk' }), pub: crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' }) };
  };

  test('PROTOCOLS.md vector', () => {
    const whsk = 'whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==';
    const body = Buffer.from('{"test": 2432232314}');
    const h = hwSign('standard', whsk, body, { id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', ts: 1614265330 });
    const expected = 'v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==';
    assert.equal(h['webhook-signature'], expected);
    const node = crypto.sign(null, Buffer.from(`msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.${body}`), keys(whsk).priv).toString('base64');
    assert.equal(`v1a,${node}`, expected);
    assertAccepted(hwVerify('standard', 'whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=', h, body, 1614265330));
  });

  for (const [name, body] of [...textBodies.slice(0, 4), binaryBodies[0]]) {
    test(`both directions with node:crypto Ed25519: ${name}`, () => {
      const [whsk, whpk] = hw(['secret', 'new', '--asymmetric']).out.trim().split('\n');
      const { priv, pub } = keys(whsk);
      assert.equal(whpk, `whpk_${pub.export({ format: 'jwk' }).x.replace(/-/g, '+').replace(/_/g, '/')}=`);
      const ts = nowSec();
      const content = (b, t = ts) => Buffer.concat([Buffer.from(`msg_ed.${t}.`), b]);
      const h = hwSign('standard', whsk, body, { id: 'msg_ed', ts });
      const sig = Buffer.from(h['webhook-signature'].slice('v1a,'.length), 'base64');
      assert.ok(crypto.verify(null, content(body), pub, sig));
      assert.ok(!crypto.verify(null, content(tamper(body)), pub, sig));
      assert.ok(!crypto.verify(null, content(body, ts + 1), pub, sig));

      const nodeSig = `v1a,${crypto.sign(null, content(body), priv).toString('base64')}`;
      const nh = { 'webhook-id': 'msg_ed', 'webhook-timestamp': String(ts), 'webhook-signature': nodeSig };
      assertAccepted(hwVerify('standard', whpk, nh, body, ts));
      assertRejected(hwVerify('standard', whpk, nh, tamper(body), ts), 'no_matching_signature');
      assertRejected(hwVerify('standard', whpk, { ...nh, 'webhook-timestamp': String(ts - 1) }, body, ts), 'no_matching_signature');
      const other = hw(['secret', 'new', '--asymmetric']).out.trim().split('\n')[1];
      assertRejected(hwVerify('standard', other, nh, body, ts), 'no_matching_signature');
    });
  }
});

// ---- Stripe ----------------------------------------------------------------------------------------------

describe('stripe', () => {
  const secret = 'whsec_interop_' + crypto.randomBytes(12).toString('hex');
  const event = (i) => Buffer.from(JSON.stringify({ id: `evt_${i}`, object: 'event', type: 'invoice.paid', data: { object: { note: randomUnicode(20) } } }));

  // Stripe refuses an empty payload outright ("No webhook payload was provided"), so no empty body here.
  for (const [name, body] of [['event json', event(1)], ...textBodies.slice(1)]) {
    test(`hookwire signs, stripe verifies: ${name}`, () => {
      const ts = nowSec();
      const h = hwSign('stripe', secret, body, { ts });
      const header = h['stripe-signature'];
      assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
      if (name === 'event json') assert.equal(stripe.webhooks.constructEvent(body.toString(), header, secret, 300, undefined, ts * 1000).id, 'evt_1');
      assert.ok(stripe.webhooks.signature.verifyHeader(body.toString(), header, secret, 300, undefined, ts * 1000));
      assert.throws(() => stripe.webhooks.signature.verifyHeader(tamper(body).toString(), header, secret, 300, undefined, ts * 1000), /No signatures found matching/);
      assert.throws(() => stripe.webhooks.signature.verifyHeader(body.toString(), header.replace(`t=${ts}`, `t=${ts - 1}`), secret, 300, undefined, ts * 1000), /No signatures found matching/);
      assert.throws(() => stripe.webhooks.signature.verifyHeader(body.toString(), header, secret + 'x', 300, undefined, ts * 1000), /No signatures found matching/);
    });

    test(`stripe generates, hookwire verifies: ${name}`, () => {
      const ts = nowSec();
      const header = stripe.webhooks.generateTestHeaderString({ payload: body.toString(), secret, timestamp: ts });
      assertAccepted(hwVerify('stripe', secret, { 'Stripe-Signature': header }, body, ts));
      assertRejected(hwVerify('stripe', secret, { 'Stripe-Signature': header }, tamper(body), ts), 'no_matching_signature');
      assertRejected(hwVerify('stripe', secret, { 'Stripe-Signature': header.replace(`t=${ts}`, `t=${ts - 1}`) }, body, ts), 'no_matching_signature');
      assertRejected(hwVerify('stripe', secret + 'x', { 'Stripe-Signature': header }, body, ts), 'no_matching_signature');
    });
  }

  test('several v1 (rotation), v0 ignored, the secret is not base64-decoded, stale timestamps rejected', () => {
    const body = event(2);
    const ts = nowSec();
    const other = 'whsec_' + crypto.randomBytes(24).toString('base64');
    const h = hwSign('stripe', [other, secret], body, { ts })['stripe-signature'];
    assert.equal(h.split(',v1=').length, 3);
    assert.equal(stripe.webhooks.constructEvent(body, h, secret, 300, undefined, ts * 1000).id, 'evt_2');
    assert.equal(stripe.webhooks.constructEvent(body, h, other, 300, undefined, ts * 1000).id, 'evt_2');
    const withV0 = `${stripe.webhooks.generateTestHeaderString({ payload: body.toString(), secret, timestamp: ts })},v0=deadbeef`;
    assertAccepted(hwVerify('stripe', secret, { 'stripe-signature': withV0 }, body, ts));
    // Decoding the base64 part of the secret (the classic mistake) must not verify.
    const decodedKeyHeader = `t=${ts},v1=${crypto.createHmac('sha256', Buffer.from(other.slice(6), 'base64')).update(`${ts}.${body}`).digest('hex')}`;
    assertRejected(hwVerify('stripe', other, { 'stripe-signature': decodedKeyHeader }, body, ts), 'no_matching_signature');
    const old = stripe.webhooks.generateTestHeaderString({ payload: body.toString(), secret, timestamp: ts - 301 });
    assert.throws(() => stripe.webhooks.constructEvent(body, old, secret, 300, undefined, ts * 1000), /tolerance/);
    assertRejected(hwVerify('stripe', secret, { 'stripe-signature': old }, body, ts), 'timestamp_too_old');
    assertRejected(hwVerify('stripe', secret, { 'stripe-signature': 'v1=abc' }, body, ts), 'malformed_header');
  });
});

// ---- GitHub ----------------------------------------------------------------------------------------------

describe('github', () => {
  test('PROTOCOLS.md vector', async () => {
    const body = Buffer.from('Hello, World!');
    const h = hwSign('github', "It's a Secret to Everybody", body);
    assert.equal(h['x-hub-signature-256'], 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17');
    assert.equal(await ghSign("It's a Secret to Everybody", body.toString()), h['x-hub-signature-256']);
    assert.ok(await ghVerify("It's a Secret to Everybody", body.toString(), h['x-hub-signature-256']));
  });

  // @octokit/webhooks-methods refuses an empty payload ("secret & payload required"), so no empty body here.
  for (const [name, body] of textBodies.slice(1)) {
    test(`both directions with @octokit/webhooks-methods: ${name}`, async () => {
      const secret = crypto.randomBytes(20).toString('hex');
      const payload = body.toString('utf8');
      const h = hwSign('github', secret, body);
      assert.ok(await ghVerify(secret, payload, h['x-hub-signature-256']));
      assert.ok(!(await ghVerify(secret, tamper(body).toString('utf8'), h['x-hub-signature-256'])));
      assert.ok(!(await ghVerify(secret + 'x', payload, h['x-hub-signature-256'])));
      assert.equal(h['x-hub-signature'], `sha1=${crypto.createHmac('sha1', secret).update(body).digest('hex')}`);

      const sig = await ghSign(secret, payload);
      assertAccepted(hwVerify('github', secret, { 'X-Hub-Signature-256': sig }, body, 0));
      assertRejected(hwVerify('github', secret, { 'X-Hub-Signature-256': sig }, tamper(body), 0), 'no_matching_signature');
      assertRejected(hwVerify('github', secret + 'x', { 'X-Hub-Signature-256': sig }, body, 0), 'no_matching_signature');
      assertRejected(hwVerify('github', secret, { 'X-Hub-Signature-256': sig.slice(7) }, body, 0), 'malformed_header');
    });
  }

  test('legacy sha1 and binary bodies', () => {
    const secret = 'gh-secret';
    for (const [, body] of binaryBodies.slice(0, 3)) {
      const sha1 = `sha1=${crypto.createHmac('sha1', secret).update(body).digest('hex')}`;
      assertAccepted(hwVerify('github', secret, { 'X-Hub-Signature': sha1 }, body, 0));
      assertRejected(hwVerify('github', secret, { 'X-Hub-Signature': sha1 }, body, 0, ['--no-sha1']), 'missing_header');
      const sha256 = `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
      assertAccepted(hwVerify('github', secret, { 'X-Hub-Signature-256': sha256 }, body, 0));
      assert.equal(hwSign('github', secret, body)['x-hub-signature-256'], sha256);
    }
  });
});

// ---- Shopify, generic HMAC, static token (no official npm verifiers: node:crypto is the reference) -------

describe('shopify, generic, token', () => {
  test('shopify base64 HMAC of the raw body', () => {
    const secret = 'shpss_' + crypto.randomBytes(16).toString('hex');
    for (const [, body] of [...textBodies.slice(0, 4), ...binaryBodies.slice(0, 2)]) {
      const expected = crypto.createHmac('sha256', secret).update(body).digest('base64');
      assert.equal(hwSign('shopify', secret, body)['x-shopify-hmac-sha256'], expected);
      assertAccepted(hwVerify('shopify', secret, { 'X-Shopify-Hmac-Sha256': expected }, body, 0));
      assertRejected(hwVerify('shopify', secret, { 'X-Shopify-Hmac-Sha256': expected }, tamper(body), 0), 'no_matching_signature');
    }
  });

  test('generic: seeds example, prefixes, base64 secrets, sha512, templates', () => {
    const body = Buffer.from('{"event":"ping"}');
    const ts = nowSec();
    const h = hwSign('generic', 's3cret', body, { ts });
    assert.equal(h['x-webhook-signature'], crypto.createHmac('sha256', 's3cret').update(`${ts}.${body}`).digest('hex'));
    assert.equal(h['x-webhook-timestamp'], String(ts));
    assertAccepted(hwVerify('generic', 's3cret', h, body, ts));
    assertRejected(hwVerify('generic', 's3cret', h, body, ts + 301), 'timestamp_too_old');

    const key = crypto.randomBytes(32);
    const extra = ['--signature-header', 'X-Sig', '--id-header', 'X-Id', '--prefix', 'v1=', '--template', '{id}:{timestamp}:{body}',
      '--encoding', 'base64', '--secret-encoding', 'base64', '--digest', 'sha512'];
    const g = hwSign('generic', key.toString('base64'), body, { ts, id: 'evt_9', extra });
    assert.equal(g['x-sig'], `v1=${crypto.createHmac('sha512', key).update(`evt_9:${ts}:${body}`).digest('base64')}`);
    assertAccepted(hwVerify('generic', key.toString('base64'), g, body, ts, extra));
    assertRejected(hwVerify('generic', key.toString('base64'), { ...g, 'x-id': 'evt_8' }, body, ts, extra), 'no_matching_signature');
  });

  test('static token', () => {
    assert.deepEqual(hwSign('token', 'tok_1', Buffer.alloc(0)), { 'x-webhook-token': 'tok_1' });
    assertAccepted(hwVerify('token', ['tok_0', 'tok_1'], { 'X-Webhook-Token': 'tok_1' }, Buffer.alloc(0), 0));
    assertRejected(hwVerify('token', 'tok_1', { 'X-Webhook-Token': 'tok_2' }, Buffer.alloc(0), 0), 'no_matching_signature');
  });
});

test('the CLI takes the verifier names of inbound sources (standard-webhooks, generic-hmac, static-token), the older spellings too', () => {
  const body = Buffer.from('{"a":1}');
  for (const [name, alias] of [['standard-webhooks', 'standard'], ['generic-hmac', 'generic'], ['static-token', 'token']]) {
    const opts = { id: 'msg_names', ts: 1700000000 };
    const secret = name === 'standard-webhooks' ? 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' : 'a-secret';
    assert.deepEqual(hwSign(name, secret, body, opts), hwSign(alias, secret, body, opts), name);
  }
  const unknown = hw(['sign', '--scheme', 'nope', '--secret', 'x']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /use standard-webhooks, svix, stripe, github, shopify, generic-hmac or static-token/);
});
