// The pull door's poller routes against the real binary: the official svix SDK's message.poller (poll,
// consumerPoll, consumerSeek), the polling-endpoint lease/commit routes through plain fetch (the SDK marks
// them internal), long-poll `wait` with a graceful stop, and a kill -9 in the middle of paging while four
// writers publish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Svix, ApiException } from 'svix';
import { rmSync } from 'node:fs';
import { Hookwire } from './lib/hookwire.mjs';

// Sinks are disabled endpoints (they read all the same, and get no push deliveries). Their URL is never
// contacted; a loopback URL needs the delivery allowance to be accepted (ARGS).
const SINK = { url: 'http://127.0.0.1:9/hooks', disabled: true };
const ARGS = ['--delivery-allow-cidr', '127.0.0.0/8'];

// Resolves once the server holds `n` long-poll requests (its feed_readers_waiting gauge).
async function heldReaders(hw, n) {
  for (let i = 0; i < 2000; i += 1) {
    const res = await fetch(`${hw.url}/metrics`, { headers: { authorization: `Bearer ${hw.token}` } });
    const m = (await res.text()).match(/^feed_readers_waiting (\d+)/m);
    if (m && Number(m[1]) >= n) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`the server never held ${n} readers`);
}

test('the svix SDK polls, consumer-polls and seeks; leases and commits over HTTP; wait; graceful stop', async () => {
  const hw = await Hookwire.start({ args: ARGS });
  try {
    const svix = new Svix(hw.token, { serverUrl: hw.url });
    const app = await svix.application.create({ name: 'Pull', uid: 'pull' });
    await svix.endpoint.create(app.id, { ...SINK, uid: 'orders', eventTypes: ['order.created'] });
    await svix.endpoint.create(app.id, { ...SINK, uid: 'everything' });
    const before = new Date(Date.now() - 60_000);
    const orders = [];
    for (let i = 0; i < 5; i += 1) {
      const type = i % 2 === 0 ? 'order.created' : 'user.signup';
      const m = await svix.message.create('pull', { eventType: type, payload: { i }, channels: [`ch${i}`] });
      if (type === 'order.created') orders.push(m.id);
    }

    // poll: the sink's filter, paging with the iterator, the request's own filters.
    const first = await svix.message.poller.poll('pull', 'orders', { limit: 2 });
    assert.deepEqual(first.data.map((m) => m.id), orders.slice(0, 2));
    assert.equal(first.data[0].eventType, 'order.created');
    assert.deepEqual(first.data[0].payload, { i: 0 });
    assert.deepEqual(first.data[0].channels, ['ch0']);
    assert.ok(first.data[0].timestamp instanceof Date);
    assert.match(first.iterator, /^itr_[0-9a-f]{16}$/);
    const second = await svix.message.poller.poll('pull', 'orders', { limit: 2, iterator: first.iterator });
    assert.deepEqual(second.data.map((m) => m.id), orders.slice(2));
    assert.equal(second.done, true);
    const signups = await svix.message.poller.poll('pull', 'everything', { eventType: 'user.signup' });
    assert.deepEqual(signups.data.map((m) => m.payload.i), [1, 3]);
    const ch4 = await svix.message.poller.poll('pull', 'everything', { channel: 'ch4' });
    assert.deepEqual(ch4.data.map((m) => m.payload.i), [4]);
    const since = await svix.message.poller.poll('pull', 'everything', { after: before });
    assert.equal(since.data.length, 5);
    await assert.rejects(svix.message.poller.poll('pull', 'orders', { iterator: 'itr_not-one-of-ours' }), (e) => {
      assert.ok(e instanceof ApiException);
      assert.equal(e.code, 400);
      assert.equal(e.body.code, 'invalid_iterator');
      assert.match(e.body.detail, /itr_[0-9a-f]{16}/);
      return true;
    });

    // consumerPoll keeps the place on the server; consumerSeek moves it.
    const c1 = await svix.message.poller.consumerPoll('pull', 'orders', 'c1', { limit: 2 });
    assert.deepEqual(c1.data.map((m) => m.id), orders.slice(0, 2));
    const c2 = await svix.message.poller.consumerPoll('pull', 'orders', 'c1', { limit: 2 });
    assert.deepEqual(c2.data.map((m) => m.id), orders.slice(2));
    assert.equal((await svix.message.poller.consumerPoll('pull', 'orders', 'c1')).data.length, 0);
    const seek = await svix.message.poller.consumerSeek('pull', 'orders', 'c1', { after: before });
    assert.match(seek.iterator, /^itr_[0-9a-f]{16}$/);
    const again = await svix.message.poller.consumerPoll('pull', 'orders', 'c1');
    assert.deepEqual(again.data.map((m) => m.id), orders);

    // The polling endpoint: offsets, a lease, commits.
    const base = `/api/v1/app/pull/polling-endpoint/orders/consumer/worker`;
    const leased = await hw.api('GET', `${base}?limit=2&lease_duration_ms=60000`);
    assert.equal(leased.status, 200, leased.text);
    assert.deepEqual(leased.json.data.map((m) => m.id), orders.slice(0, 2));
    const offsets = leased.json.data.map((m) => m.offset);
    assert.ok(offsets[0] < offsets[1]);
    const rest = await hw.api('GET', `${base}?lease_duration_ms=60000`);  // the lease is live: what follows
    assert.deepEqual(rest.json.data.map((m) => m.id), orders.slice(2));
    assert.equal((await hw.api('POST', `${base}/commit`, { offset: rest.json.data[0].offset })).status, 204);
    assert.equal((await hw.api('POST', `${base}/commit`, { offset: offsets[0] })).status, 204);  // no-op
    const beyond = await hw.api('POST', `${base}/commit`, { offset: rest.json.data[0].offset + 10_000 });
    assert.equal(beyond.status, 400, beyond.text);

    // wait: held until a message of the sink commits.
    const tail = await svix.message.poller.poll('pull', 'orders');
    const held = hw.api('GET', `/api/v1/app/pull/poller/orders?wait=30&iterator=${tail.iterator}`);
    await heldReaders(hw, 1);
    const late = await svix.message.create('pull', { eventType: 'order.created', payload: { late: true } });
    const answered = await held;
    assert.equal(answered.status, 200, answered.text);
    assert.deepEqual(answered.json.data.map((m) => m.id), [late.id]);

    // A graceful stop answers held requests at once with their empty page.
    const tail2 = await svix.message.poller.poll('pull', 'orders', { iterator: answered.json.iterator });
    const parked = Array.from({ length: 20 }, () =>
      hw.api('GET', `/api/v1/app/pull/poller/orders?wait=60&iterator=${tail2.iterator}`));
    await heldReaders(hw, 20);
    const stopping = Date.now();
    assert.equal(await hw.stop(), 0);
    assert.ok(Date.now() - stopping < 10_000, 'the stop did not wait out the held requests');
    for (const r of await Promise.all(parked)) {
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.data, []);
    }
  } finally {
    await hw.stop();
    hw.cleanup();
  }
});

test('paging with limit=7 while four writers publish, across a kill -9 and restart: each message once, in order', async () => {
  let hw = await Hookwire.start({ args: ARGS });
  const dataDir = hw.dataDir;
  let restarted;  // resolves with the restarted server
  let setRestarted;
  restarted = new Promise((r) => { setRestarted = r; });
  const server = { current: hw, down: false };
  try {
    assert.equal((await hw.api('POST', '/api/v1/app', { name: 'Crash', uid: 'crash' })).status, 201);
    assert.equal((await hw.api('POST', '/api/v1/app/crash/endpoint', { ...SINK, uid: 'sink' })).status, 201);

    const WRITERS = 4;
    const BEFORE_KILL = 400;
    const TOTAL = 800;
    const acked = new Map();  // id -> [writer, seq]
    let killed;
    // A request to whichever server is up; waits out the crash.
    const call = async (method, path, body) => {
      for (;;) {
        const hwNow = server.down ? await restarted : server.current;
        try {
          return await hwNow.api(method, path, body);
        } catch {
          if (hwNow === server.current && !server.down) throw new Error('request failed with the server up');
        }
      }
    };
    const read = [];  // what the reader got, in order
    let readAtKill;
    const writer = async (w) => {
      for (let seq = 0; acked.size < TOTAL; seq += 1) {
        const res = await call('POST', '/api/v1/app/crash/msg',
          { eventType: 'crash.test', eventId: `w${w}-${seq}`, payload: { w, seq } });
        if (res.status === 409) continue;  // its first attempt was durable before the kill, unacknowledged
        assert.equal(res.status, 202, res.text);
        acked.set(res.json.id, [w, seq]);
        if (acked.size >= BEFORE_KILL && !killed) {
          readAtKill = read.length;
          server.down = true;
          killed = hw.kill().then(async () => {
            hw = await Hookwire.start({ dataDir, args: ARGS });
            server.current = hw;
            server.down = false;
            setRestarted(hw);
          });
        }
      }
    };
    let iterator;
    let writersDone = false;
    const reader = async () => {
      for (;;) {
        const last = writersDone;
        const q = iterator ? `&iterator=${iterator}` : '';
        const page = await call('GET', `/api/v1/app/crash/poller/sink?limit=7${q}`);
        assert.equal(page.status, 200, page.text);
        assert.ok(page.json.data.length <= 7);
        for (const m of page.json.data) read.push(m);
        iterator = page.json.iterator;
        if (last && page.json.done) return;
      }
    };
    const reading = reader();
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
    await killed;
    writersDone = true;
    await reading;

    assert.ok(readAtKill > 0 && readAtKill < read.length, `the reader read ${readAtKill} of ${read.length} before the kill`);
    // Every acknowledged message exactly once; nothing read twice; each writer's messages in its order
    // (a writer publishes one after another, so commit order is its order).
    const ids = read.map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, 'a message was read twice');
    const readIds = new Set(ids);
    for (const id of acked.keys()) assert.ok(readIds.has(id), `acknowledged ${id} was never read`);
    const next = new Map();
    for (const m of read) {
      const { w, seq } = m.payload;
      assert.ok(seq >= (next.get(w) ?? 0), `writer ${w}: ${seq} read after ${next.get(w) - 1}`);
      next.set(w, seq + 1);
    }
    // The whole log read afresh after the restart is exactly what the reader saw, in the same order, and
    // the polling endpoint's offsets increase along it.
    const fresh = [];
    let it;
    for (;;) {
      const page = await hw.api('GET', `/api/v1/app/crash/poller/sink?limit=250${it ? `&iterator=${it}` : ''}`);
      fresh.push(...page.json.data.map((m) => m.id));
      it = page.json.iterator;
      if (page.json.done) break;
    }
    assert.deepEqual(fresh, ids);
    const offsets = [];
    for (;;) {
      const page = await hw.api('GET', '/api/v1/app/crash/polling-endpoint/sink/consumer/all?limit=250');
      if (page.json.data.length === 0) break;
      offsets.push(...page.json.data.map((m) => [m.id, m.offset]));
    }
    assert.deepEqual(offsets.map(([id]) => id), ids);
    for (let i = 1; i < offsets.length; i += 1) assert.ok(offsets[i][1] > offsets[i - 1][1]);
  } finally {
    await hw.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
