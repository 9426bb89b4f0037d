// The request log of inbound sources over real HTTP (issue #22: the console's "rejected requests and why" and
// the request inspector): GET /api/v1/source/{source}/request[/{id}], with `after` + `wait` for live views; on
// SQLite, and on two nodes sharing a throwaway PostgreSQL cluster (lib/pg.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import { Hookwire } from './lib/hookwire.mjs';
import { PgCluster } from './lib/pg.mjs';

const stripe = new Stripe('sk_test_interop_only_never_used_for_network');

let hw;
before(async () => {
  hw = await Hookwire.start();
});
after(async () => {
  assert.equal(await hw.stop(), 0);
  hw.cleanup();
});

async function createSource(body, server = hw) {
  const res = await server.api('POST', '/api/v1/source', body);
  assert.equal(res.status, 201, res.text);
  return res.json;
}

async function post(source, headers, body, server = hw) {
  const res = await fetch(`${server.url}/in/${source}?via=test`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

// Records are written in the background (the answer does not wait for them): wait for them through the live
// route itself, never by sleeping.
async function requestsOf(source, count, query = '', server = hw) {
  for (;;) {
    const res = await server.api('GET', `/api/v1/source/${source}/request?limit=250${query}`);
    assert.equal(res.status, 200, res.text);
    if (res.json.data.length >= count) return res.json;
    const newest = res.json.data[0]?.id;
    const held = await server.api('GET', `/api/v1/source/${source}/request?wait=5${newest ? `&after=${newest}` : ''}${query}`);
    assert.equal(held.status, 200, held.text);
  }
}

test('a Stripe source posted with a wrong secret shows the rejected request and why', async () => {
  await createSource({ pull: true, uid: 'stripe', verifier: 'stripe', secrets: ['whsec_right'] });
  const body = JSON.stringify({ id: 'evt_1', type: 'charge.succeeded' });
  const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_wrong' });
  assert.equal((await post('stripe', { 'stripe-signature': header, authorization: 'Bearer not-for-the-log' }, body)).status, 401);
  const good = stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_right' });
  assert.equal((await post('stripe', { 'stripe-signature': good }, body)).status, 202);
  const stale = stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_right', timestamp: Math.floor(Date.now() / 1000) - 3600 });
  assert.equal((await post('stripe', { 'stripe-signature': stale }, body)).status, 401);

  const list = await requestsOf('stripe', 2);
  assert.equal(list.data.length, 2, 'the accepted request of a verified source is not kept');
  const [tooOld, wrong] = list.data;  // newest first
  assert.equal(tooOld.code, 'timestamp_too_old');
  assert.equal(wrong.status, 401);
  assert.equal(wrong.outcome, 'rejected');
  assert.equal(wrong.code, 'no_matching_signature');
  assert.match(wrong.reason, /Stripe-Signature/);
  assert.equal(wrong.method, 'POST');
  assert.equal(wrong.path, '/in/stripe?via=test');
  assert.equal(wrong.clientAddress, '127.0.0.1');
  assert.equal(wrong.body, body);
  assert.equal(wrong.bodyEncoding, 'utf8');
  assert.equal(wrong.bodyTruncated, false);
  assert.equal(wrong.messageId, null);
  assert.equal(wrong.headers['stripe-signature'], header);
  assert.equal(wrong.headers.authorization, '[redacted]', 'Authorization is redacted');
  assert.ok(!JSON.stringify(list).includes('not-for-the-log'));
  assert.match(wrong.id, /^sreq_/);
  assert.match(wrong.receivedAt, /^\d{4}-\d\d-\d\dT/);
  const src = (await hw.api('GET', '/api/v1/source/stripe')).json;
  assert.equal(wrong.sourceId, src.id);

  const one = await hw.api('GET', `/api/v1/source/${src.id}/request/${wrong.id}`);
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(one.json, wrong);
  assert.equal((await hw.api('GET', `/api/v1/source/stripe/request/sreq_2Ls7YsVdqXkx0M3Ez4lb3AbCdEf`)).status, 404);
  assert.equal((await hw.api('GET', '/api/v1/source/nope/request')).status, 404);
  assert.equal((await fetch(`${hw.url}/api/v1/source/stripe/request`)).status, 401, 'admin only');
});

test('a request from an address that is not allowed is kept with the address', async () => {
  await createSource({ pull: true, uid: 'office', verifier: 'none', allowedCidrs: ['192.0.2.0/24'], trustedProxies: ['127.0.0.1'] });
  assert.equal((await post('office', { 'x-forwarded-for': '203.0.113.9' }, '{}')).status, 403);
  const [r] = (await requestsOf('office', 1)).data;
  assert.equal(r.status, 403);
  assert.equal(r.code, 'address_not_allowed');
  assert.match(r.reason, /address 203\.0\.113\.9 is not allowed/);
  assert.equal(r.clientAddress, '203.0.113.9');
});

test('the request inspector: every request of a `none` source, live with after + wait, paged', async () => {
  const src = await createSource({ pull: true, uid: 'inspector', verifier: 'none', dedupKey: 'header:x-id' });
  // Held until a request arrives: the empty source has nothing to be after yet, so the first wait is on the list.
  const heldEmpty = hw.api('GET', '/api/v1/source/inspector/request?wait=20');
  const body = JSON.stringify({ hello: 'world', html: '<script>alert(1)</script>' });
  const first = await post('inspector', { 'x-id': 'one', 'x-custom': 'yes', cookie: 'session=secret' }, body);
  assert.equal(first.status, 202);
  const empty = await heldEmpty;
  assert.equal(empty.status, 200, empty.text);
  assert.equal(empty.json.data.length, 1);
  const accepted = empty.json.data[0];
  assert.equal(accepted.outcome, 'accepted');
  assert.equal(accepted.status, 202);
  assert.equal(accepted.code, null);
  assert.equal(accepted.reason, null);
  assert.equal(accepted.messageId, first.json.id);
  assert.equal(accepted.body, body);
  assert.equal(accepted.headers['x-custom'], 'yes');
  assert.equal(accepted.headers['x-id'], 'one');
  assert.equal(accepted.headers.cookie, '[redacted]');
  assert.equal(accepted.sourceId, src.id);

  // after + wait: the request posted while it waits is returned.
  const started = Date.now();
  const held = hw.api('GET', `/api/v1/source/inspector/request?after=${accepted.id}&wait=20`);
  assert.equal((await post('inspector', { 'x-id': 'one' }, body)).status, 200, 'a duplicate');
  const live = await held;
  assert.equal(live.status, 200, live.text);
  assert.ok(Date.now() - started < 15000, 'answered when the request arrived, not at the timeout');
  assert.equal(live.json.data.length, 1);
  assert.equal(live.json.data[0].outcome, 'duplicate');
  assert.equal(live.json.data[0].messageId, first.json.id);
  assert.equal(live.json.iterator, live.json.data[0].id);
  // Nothing newer: the answer says so at once with wait=0, and hands `after` back to continue from.
  const none = await hw.api('GET', `/api/v1/source/inspector/request?after=${live.json.iterator}`);
  assert.deepEqual([none.json.data.length, none.json.iterator], [0, live.json.iterator]);

  // A body that is not UTF-8 comes back in base64; one that is not JSON is refused and kept.
  const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
  assert.equal((await post('inspector', { 'content-type': 'application/octet-stream' }, bytes)).status, 400);
  const [binary] = (await requestsOf('inspector', 3)).data;
  assert.equal(binary.bodyEncoding, 'base64');
  assert.deepEqual(Buffer.from(binary.body, 'base64'), bytes);
  assert.equal(binary.outcome, 'rejected');
  assert.equal(binary.code, 'not_json');

  // Paging, newest first: three records, two pages of two then one; prevIterator goes back; filters.
  for (let i = 0; i < 2; i++) assert.equal((await post('inspector', { 'x-id': `p${i}` }, `{"n":${i}}`)).status, 202);
  const all = (await requestsOf('inspector', 5)).data;
  assert.equal(all.length, 5);
  const page1 = (await hw.api('GET', '/api/v1/source/inspector/request?limit=2')).json;
  assert.deepEqual(page1.data.map((r) => r.id), all.slice(0, 2).map((r) => r.id));
  assert.equal(page1.done, false);
  const page2 = (await hw.api('GET', `/api/v1/source/inspector/request?limit=2&iterator=${page1.iterator}`)).json;
  assert.deepEqual(page2.data.map((r) => r.id), all.slice(2, 4).map((r) => r.id));
  const page3 = (await hw.api('GET', `/api/v1/source/inspector/request?limit=2&iterator=${page2.iterator}`)).json;
  assert.deepEqual(page3.data.map((r) => r.id), [all[4].id]);
  assert.equal(page3.done, true);
  const back = (await hw.api('GET', `/api/v1/source/inspector/request?limit=2&iterator=${encodeURIComponent(page2.prevIterator)}`)).json;
  assert.deepEqual(back.data.map((r) => r.id), page1.data.map((r) => r.id));
  const rejected = (await hw.api('GET', '/api/v1/source/inspector/request?outcome=rejected')).json;
  assert.deepEqual(rejected.data.map((r) => r.id), [binary.id]);
  const newer = (await hw.api('GET', `/api/v1/source/inspector/request?after=${accepted.id}`)).json;
  assert.deepEqual(newer.data.map((r) => r.id), all.slice(0, 4).map((r) => r.id).reverse(), 'after: oldest first');

  for (const bad of ['limit=0', 'limit=251', 'outcome=maybe', 'wait=31', 'after=msg_1', `after=${accepted.id}&iterator=${accepted.id}`]) {
    const res = await hw.api('GET', `/api/v1/source/inspector/request?${bad}`);
    assert.equal(res.status, 422, `${bad}: ${res.text}`);
  }

  // Deleted with the source.
  assert.equal((await hw.api('DELETE', `/api/v1/source/${src.id}`)).status, 204);
  assert.equal((await hw.api('GET', `/api/v1/source/${src.id}/request`)).status, 404);
});

test('on PostgreSQL shared by two nodes, a request refused by node A is listed by node B', { timeout: 120000 }, async () => {
  const pg = await PgCluster.create();
  const nodes = [];
  try {
    const url = await pg.createDatabase();
    nodes.push(await Hookwire.start({ args: ['--store', url] }));
    nodes.push(await Hookwire.start({ args: ['--store', url] }));
    const [a, b] = nodes;
    await createSource({ pull: true, uid: 'shared', verifier: 'stripe', secrets: ['whsec_right'] }, a);
    const body = JSON.stringify({ id: 'evt_shared' });
    // B holds a live view while A refuses a request: B finds A's record when its wait ends (another node's
    // records wake nobody here; docs/api.md).
    const held = b.api('GET', '/api/v1/source/shared/request?wait=2');
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_wrong' });
    assert.equal((await post('shared', { 'stripe-signature': header }, body, a)).status, 401);
    const seen = await held;
    assert.equal(seen.status, 200, seen.text);
    const [r] = (await requestsOf('shared', 1, '', b)).data;
    assert.equal(r.code, 'no_matching_signature');
    assert.equal(r.body, body);
    const one = await b.api('GET', `/api/v1/source/shared/request/${r.id}`);
    assert.deepEqual(one.json, r);
  } finally {
    for (const node of nodes) {
      assert.equal(await node.stop(), 0);
      node.cleanup();
    }
    await pg.destroy();
  }
});
