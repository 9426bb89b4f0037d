// Several hookwire nodes on one PostgreSQL database (issue #21): the real binary, three processes sharing a
// throwaway PostgreSQL 15 cluster (lib/pg.mjs; each test on a fresh database), real receivers on loopback.
// Asserted: at-least-once across a kill -9 of one node with its leases taken over by the survivors, and what
// must hold across nodes: idempotency keys, inbound deduplication, an endpoint's rate limit, changes to a
// source, delivery by another node, the pull feed in commit order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { Webhook as StdWebhook } from 'standardwebhooks';
import { Hookwire } from './lib/hookwire.mjs';
import { PgCluster } from './lib/pg.mjs';

// Leases last the delivery timeout + the margin (4 s here): a dead node's work is taken over that long after
// its last renewal (renewals happen once a third of the lease has passed). The timeout is 3 s, not less: the
// receivers run in this process, whose event loop lags by up to ~0.7 s on a busy 2-core machine, and a send
// that times out (its connection closed before we look at it) cannot be attributed to its node.
const TIMEOUT_MS = 3000;
const MARGIN_MS = 1000;
const LEASE_MS = TIMEOUT_MS + MARGIN_MS;
// The per-endpoint in-flight cap of one node (docs/architecture.md, dispatcher).
const MAX_IN_FLIGHT = 10;

let pg;
before(async () => { pg = await PgCluster.create(); });
after(async () => { await pg?.destroy(); });

// Starts `names.length` nodes on a fresh database of the cluster, each with its own data dir; extra flags per
// node by name. The first node migrates the schema; the others start together after it.
async function startNodes(names, { extra = {}, args = [] } = {}) {
  const url = await pg.createDatabase();
  const common = ['--store', url, '--delivery-allow-cidr', '127.0.0.0/8', '--delivery-timeout-ms', String(TIMEOUT_MS),
                  '--delivery-lease-margin-ms', String(MARGIN_MS), ...args];
  const nodes = {};
  const db = new URL(url).pathname.slice(1);
  const started = await Promise.allSettled(names.map((name) =>
    Hookwire.start({ args: [...common, ...(extra[name] ?? [])], logLevel: 'info' })));
  started.forEach((s, i) => { if (s.status === 'fulfilled') nodes[names[i]] = Object.assign(s.value, { db }); });
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await stopNodes(nodes);
    throw failed.reason;
  }
  return nodes;
}

// Stops every node still running (SIGTERM), removes the data dirs; fails if a running node did not exit 0.
async function stopNodes(nodes) {
  const bad = [];
  for (const [name, hw] of Object.entries(nodes)) {
    if (hw.proc.exitCode === null && hw.proc.signalCode === null) {
      const code = await hw.stop();
      if (code !== 0) bad.push(`node ${name} exited ${code}:\n${hw.stderr.slice(-3000)}`);
    }
    hw.cleanup();
  }
  if (bad.length) throw new Error(bad.join('\n'));
}

// Polls `probe` every 10 ms until it returns a truthy value; fails after `ms` with `what` (and `detail()`).
async function within(ms, probe, what, detail = () => '') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// The client ends of the TCP connections to 127.0.0.1:serverPort that `pids` ({name: pid}) hold, as a map of
// client port -> name (Linux: /proc/net/tcp gives each connection's socket inode, /proc/PID/fd its owner).
function connectionOwners(serverPort, pids) {
  const hex = (p) => p.toString(16).toUpperCase().padStart(4, '0');
  const byInode = new Map();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Entries of closed connections have inode 0 (TIME_WAIT; loopback reuses their ports).
    if (f.length > 9 && f[2].endsWith(`:${hex(serverPort)}`) && f[9] !== '0') {
      byInode.set(`socket:[${f[9]}]`, parseInt(f[1].split(':')[1], 16));
    }
  }
  const owners = new Map();
  for (const [name, pid] of Object.entries(pids)) {
    let fds;
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let link;
      try { link = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }  // closed meanwhile
      if (byInode.has(link)) owners.set(byInode.get(link), name);
    }
  }
  return owners;
}

// A receiver that records each request: its endpoint (the path), its webhook-id, which node sent it (the owner
// of the connection, looked up when it is accepted), when it arrived, and whether it was answered or cut off (the
// sender died). It answers 200 after `holdMs` (a slow receiver keeps sends in flight). `snapshot()` looks up the
// owner of every connection now: call it just before killing a node, whose connections the kernel may still
// hand to us after the process is gone.
async function trackingReceiver({ holdMs = 0, pids = {} } = {}) {
  const r = { requests: [], waiters: [] };
  r.notify = () => { r.waiters = r.waiters.filter((w) => (w.check() ? (w.resolve(), false) : true)); };
  const open = new Map();  // socket -> its request not answered yet
  r.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const { socket } = req;
      const rec = {
        path: req.url, id: req.headers['webhook-id'], body: Buffer.concat(chunks).toString('utf8'), headers: req.headers,
        get node() { return socket.owner; }, at: performance.now(), answered: false, cut: false,
      };
      r.requests.push(rec);
      open.set(req.socket, rec);
      const answer = () => {
        if (req.socket.destroyed) return;
        res.writeHead(200).end();
        rec.answered = true;
        rec.answeredAt = performance.now();
        open.delete(req.socket);
      };
      if (holdMs > 0) setTimeout(answer, holdMs); else answer();
      r.notify();
    });
  });
  r.snapshot = () => {
    r.owners = connectionOwners(r.port, pids);
    for (const socket of r.sockets) socket.owner ??= r.owners.get(socket.remotePort);
  };
  r.sockets = new Set();
  r.server.on('connection', (socket) => {
    r.sockets.add(socket);
    socket.owner = connectionOwners(r.port, pids).get(socket.remotePort) ?? r.owners?.get(socket.remotePort);
    socket.on('close', () => {
      const rec = open.get(socket);
      if (rec) { rec.cut = true; open.delete(socket); r.notify(); }
      r.sockets.delete(socket);
    });
  });
  r.server.listen(0, '127.0.0.1');
  await once(r.server, 'listening');
  r.port = r.server.address().port;
  r.base = `http://127.0.0.1:${r.port}`;
  r.until = (check, ms, what) => (check() ? Promise.resolve() : new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    r.waiters.push({ check, resolve: () => { clearTimeout(timer); resolve(); } });
  }));
  r.close = () => new Promise((resolve) => { r.server.close(resolve); r.server.closeAllConnections?.(); });
  return r;
}

test('three nodes, one killed with kill -9 under load: every acknowledged message delivered, its leases taken over',
  { timeout: 110000 }, async () => {
    const ENDPOINTS = 2;
    const CLIENTS = 8;
    const BEFORE_KILL = 300;
    const TOTAL = 700;
    const nodes = await startNodes(['A', 'B', 'C']);
    const pids = Object.fromEntries(Object.entries(nodes).map(([n, hw]) => [n, hw.proc.pid]));
    const rx = await trackingReceiver({ holdMs: 50, pids });
    const lagMon = monitorEventLoopDelay({ resolution: 10 });
    lagMon.enable();
    try {
      const { A } = nodes;
      assert.equal((await A.api('POST', '/api/v1/app', { name: 'Kill', uid: 'kill' })).status, 201);
      for (let e = 0; e < ENDPOINTS; e += 1) {
        const res = await A.api('POST', '/api/v1/app/kill/endpoint', { url: `${rx.base}/ep${e}` });
        assert.equal(res.status, 201, res.text);
      }
      const acked = new Map();  // message id -> node that acknowledged it
      const live = ['A', 'B', 'C'];
      let killAt;
      let killing;
      // C is killed once BEFORE_KILL messages are acknowledged and the receiver holds a request C sent: C has
      // deliveries in flight (unanswered) at that moment; publishers keep going on A and B until TOTAL.
      const maybeKill = () => {
        if (killing || acked.size < BEFORE_KILL) return;
        if (!rx.requests.some((q) => q.node === 'C' && !q.answered)) return;
        live.splice(live.indexOf('C'), 1);
        rx.snapshot();
        killAt = performance.now();
        killing = nodes.C.kill();
      };
      const client = async (c) => {
        for (let seq = 0; acked.size < TOTAL; seq += 1) {
          const name = live[(c + seq) % live.length];
          let res;
          try {
            res = await nodes[name].api('POST', '/api/v1/app/kill/msg?with_content=false',
              { eventType: 'kill.test', payload: { c, seq } });
          } catch {
            assert.equal(name, 'C', `node ${name} failed a request`);  // only C dies under a request
            continue;
          }
          assert.equal(res.status, 202, `node ${name}: ${res.text}`);
          acked.set(res.json.id, name);
          maybeKill();
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
      if (!killing) {  // publishing outran C's deliveries: wait for one of its sends, then kill
        await rx.until(() => rx.requests.some((q) => q.node === 'C' && !q.answered), 30000, 'a delivery sent by C');
        maybeKill();
      }
      await killing;

      // Every acknowledged message reaches every endpoint (C's acknowledged ones too).
      const key = (q) => `${q.path} ${q.id}`;
      const missing = () => [...acked.keys()].flatMap((id) => Array.from({ length: ENDPOINTS }, (_, e) => `/ep${e} ${id}`))
        .filter((k) => !rx.requests.some((q) => key(q) === k));
      await within(60000, () => missing().length === 0, 'every acknowledged message at every endpoint',
        () => `${missing().length} missing, e.g. ${missing().slice(0, 5).join(', ')}\n` +
              `A: ${nodes.A.stderr.slice(-2000)}\nB: ${nodes.B.stderr.slice(-2000)}`);

      // C's sends in flight at the kill: those not answered before SIGKILL went out (some reach us only after
      // it), which C can no longer have recorded. Each must be sent again by a survivor once C's lease runs out
      // (their first copies count as arrived above: wait for the second ones too).
      const inFlightAtKill = rx.requests.filter((q) => q.node === 'C' && !(q.answeredAt <= killAt));
      const takenOver = (q) => rx.requests.some((r) => key(r) === key(q) && r.node !== 'C');
      await within(LEASE_MS + 10000, () => inFlightAtKill.every(takenOver), 'the survivors to send what C had in flight',
        () => `not sent again: ${inFlightAtKill.filter((q) => !takenOver(q)).map(key).join(', ')}`);
      const byKey = new Map();
      for (const q of rx.requests) byKey.set(key(q), [...(byKey.get(key(q)) ?? []), q]);
      const repeated = [...byKey.values()].filter((qs) => qs.length > 1);
      const duplicates = repeated.reduce((n, qs) => n + qs.length - 1, 0);
      const sentByC = rx.requests.filter((q) => q.node === 'C').length;
      const unknown = rx.requests.filter((q) => q.node === undefined).length;
      const takeovers = inFlightAtKill.map((q) => byKey.get(key(q)).find((r) => r.node !== 'C'));
      const delays = takeovers.filter(Boolean).map((r) => Math.round(r.at - killAt));
      console.log(`acknowledged ${acked.size} (by C ${[...acked.values()].filter((n) => n === 'C').length}); ` +
                  `requests ${rx.requests.length} (sent by C ${sentByC}, unattributed ${unknown}); ` +
                  `C had ${inFlightAtKill.length} sends in flight at the kill; duplicates ${duplicates}; ` +
                  `redelivered ${delays.length} of those after ${Math.min(...delays)}..${Math.max(...delays)} ms; ` +
                  `event loop delay here at most ${Math.round(lagMon.max / 1e6)} ms`);
      assert.equal(unknown, 0, 'every request was attributed to the node that sent it; unattributed ones arrived at ' +
        rx.requests.filter((q) => q.node === undefined).map((q) => Math.round(q.at - killAt)).join(', ') + ' ms from the kill');
      assert.ok(sentByC > 0 && inFlightAtKill.length > 0);

      // Duplicates: only what C had sent and not recorded can be sent again, and C holds at most the in-flight
      // cap per endpoint: every repeated delivery was first sent by C and repeated by a survivor; never more
      // than the cap × endpoints; never more than twice.
      assert.ok(duplicates <= MAX_IN_FLIGHT * ENDPOINTS, `${duplicates} duplicates`);
      for (const qs of repeated) {
        assert.equal(qs.length, 2, `${key(qs[0])} delivered ${qs.length} times by ${qs.map((q) => q.node)}`);
        assert.equal(qs[0].node, 'C', `${key(qs[0])} repeated, first sent by ${qs[0].node}`);
        assert.notEqual(qs[1].node, 'C', `${key(qs[0])} sent twice by C`);
      }

      // Takeover: each send C had in flight is sent again by a survivor, only once its lease may have run out
      // (a lease is renewed once a third of it has passed, so it runs at least two thirds of LEASE_MS past
      // the kill; 100 ms of slack for the clocks of two processes), and soon after it did (within 5 s).
      for (const [i, q] of inFlightAtKill.entries()) {
        const again = takeovers[i];
        assert.ok(again, `${key(q)} (in flight at C when it died) was never sent again`);
        assert.ok(again.node === 'A' || again.node === 'B');
        assert.ok(again.at - killAt >= (2 * LEASE_MS) / 3 - 100,
          `${key(q)} sent again ${Math.round(again.at - killAt)} ms after the kill, before C's lease could expire`);
        assert.ok(again.at - killAt <= LEASE_MS + 5000, `${key(q)} taken over only ${Math.round(again.at - killAt)} ms after the kill`);
      }
    } finally {
      await rx.close();
      await stopNodes(nodes);
    }
  });

test('the same idempotency key sent to two nodes at once gives one message', { timeout: 60000 }, async () => {
  const nodes = await startNodes(['A', 'B']);
  try {
    const { A, B } = nodes;
    assert.equal((await A.api('POST', '/api/v1/app', { name: 'Idem', uid: 'idem' })).status, 201);
    // 25 keys, each sent to A and B in the same instant (the same body: a retry of one request).
    const KEYS = 25;
    const pairs = await Promise.all(Array.from({ length: KEYS }, (_, k) => {
      const body = { eventType: 'idem.test', payload: { k } };
      const headers = { 'idempotency-key': `key-${k}` };
      return Promise.all([A.api('POST', '/api/v1/app/idem/msg', body, headers),
                          B.api('POST', '/api/v1/app/idem/msg', body, headers)]);
    }));
    for (const [k, [a, b]] of pairs.entries()) {
      assert.equal(a.status, 202, `key-${k} on A: ${a.status} ${a.text}`);
      assert.equal(b.status, 202, `key-${k} on B: ${b.status} ${b.text}`);
      assert.equal(a.json.id, b.json.id, `key-${k}: two messages`);
    }
    // One message per key, whichever node lists them.
    for (const hw of [A, B]) {
      const list = await hw.api('GET', '/api/v1/app/idem/msg?limit=250');
      assert.equal(list.status, 200);
      assert.equal(list.json.data.length, KEYS);
      assert.deepEqual(new Set(list.json.data.map((m) => m.id)), new Set(pairs.map(([a]) => a.json.id)));
    }
  } finally {
    await stopNodes(nodes);
  }
});

// A Standard Webhooks request from a provider, signed with `key`.
function stdRequest(key, id, payload) {
  const body = JSON.stringify(payload);
  const now = new Date();
  return {
    body,
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(now / 1000)),
               'webhook-signature': new StdWebhook(key).sign(id, now, body) },
  };
}
async function postIn(hw, source, { headers, body }) {
  const res = await fetch(`${hw.url}/in/${source}`, { method: 'POST', headers, body });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}

test('an inbound duplicate storm of 100 requests over three nodes is forwarded exactly once', { timeout: 60000 }, async () => {
  const nodes = await startNodes(['A', 'B', 'C']);
  const rx = await trackingReceiver();
  try {
    const all = Object.values(nodes);
    const key = 'whsec_' + crypto.randomBytes(32).toString('base64');
    const src = await nodes.A.api('POST', '/api/v1/source',
      { uid: 'storm', verifier: 'standard-webhooks', secrets: [key], destinations: [`${rx.base}/storm`] });
    assert.equal(src.status, 201, src.text);
    // The provider retries one event (webhook-id evt-storm) 100 times at once, spread over the nodes.
    const event = stdRequest(key, 'evt-storm', { type: 'storm', n: 1 });
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => postIn(all[i % 3], 'storm', event)));
    const fresh = answers.filter((a) => a.status === 202);
    const dups = answers.filter((a) => a.status === 200);
    assert.equal(fresh.length, 1, `accepted as new ${fresh.length} times: ${JSON.stringify(answers.map((a) => a.status))}`);
    assert.equal(dups.length, 99);
    for (const a of dups) {
      assert.equal(a.json.duplicate, true);
      assert.equal(a.json.id, fresh[0].json.id);
    }
    // A second event afterwards: once it is forwarded, anything forwarded for the first would have been too
    // (one dispatcher queue, oldest first); the log holds one message per event.
    assert.equal((await postIn(nodes.B, 'storm', stdRequest(key, 'evt-after', { type: 'after' }))).status, 202);
    await rx.until(() => rx.requests.some((q) => q.body.includes('"after"')), 30000, 'the second event');
    const stormForwards = rx.requests.filter((q) => q.body.includes('"storm"'));
    assert.equal(stormForwards.length, 1, `the storm's event was forwarded ${stormForwards.length} times`);
    assert.equal(stormForwards[0].id, fresh[0].json.id);
    const msgs = await nodes.C.api('GET', `/api/v1/app/${src.json.appId}/msg?limit=250`);
    assert.equal(msgs.json.data.length, 2);
    const attempts = await nodes.C.api('GET', `/api/v1/app/${src.json.appId}/attempt/msg/${fresh[0].json.id}`);
    assert.equal(attempts.status, 200, attempts.text);
    assert.equal(attempts.json.data.length, 1);
  } finally {
    await rx.close();
    await stopNodes(nodes);
  }
});

// An endpoint's rate limit across nodes, as docs/operations.md documents the approximation: the limit is
// divided between the nodes that have work for the endpoint (they announce it to each other), each node's
// bucket filling at its share and bursting by max(1, limit / live nodes), so over any window the endpoint is
// sent at most the limit plus the buckets' bursts (the test allows +20 % and 0.1 s for its own timing), and
// with a backlog waiting at least 80 % of the limit. The test waits until every node has counted the others
// (each node's mark in hookwire_nodes is written by the statement that counts the live nodes: once every node
// marked again after all three were there, each knows of three), then checks every window [t_i, t_j] of the
// sends:
//   j - i + 1 <= rate × (1 + 20 %) × (t_j - t_i + 0.1 s) + the buckets' bursts (3 × max(1, rate / 3))
// and, past the first second (the buckets' bursts), a drain of at least 80 % of the rate. A send's time is its
// attempt's start (created_at, when the answer came, less its duration; the nodes share this machine's
// clock), not when this process read the request: on a busy machine this process was seen to read the first
// request 0.5 s after it was sent, and 19 at once after a 1 s stall (on a worker thread of its own too), while
// the sends were within the bound. The arrivals are reported beside them. Every delivery must arrive, once
// (none left leased and unsent). 10/s is the issue's case; 30/s with a larger backlog fills each node's line
// and gives more back to the store.
const RATE_OVER = 0.2;
const RATE_SLACK_S = 0.1;
const RATE_UNDER = 0.2;
for (const [RATE, N] of [[10, 60], [30, 150]]) {
  test(`a rate limit of ${RATE}/s on an endpoint holds within the documented tolerance with three nodes sending`,
    { timeout: 60000 }, async () => {
      const nodes = await startNodes(['A', 'B', 'C']);
      const pids = Object.fromEntries(Object.entries(nodes).map(([n, hw]) => [n, hw.proc.pid]));
      const rx = await trackingReceiver({ pids });
      try {
        const all = Object.values(nodes);
        const db = nodes.A.db;
        let allThere;
        await within(15000, async () => {
          const [count, newest, oldest] = (await pg.psql('SELECT count(*), (extract(epoch FROM max(seen_at)) * 1e6)::bigint, ' +
            '(extract(epoch FROM min(seen_at)) * 1e6)::bigint FROM hookwire_nodes', db)).split('|').map(Number);
          if (count === 3 && allThere === undefined) allThere = newest;
          return count === 3 && oldest > allThere;
        }, 'every node to count the three');

        assert.equal((await nodes.A.api('POST', '/api/v1/app', { name: 'Rate', uid: 'rate' })).status, 201);
        const ep = await nodes.A.api('POST', '/api/v1/app/rate/endpoint', { url: `${rx.base}/rate`, rateLimit: RATE });
        assert.equal(ep.status, 201, ep.text);
        assert.equal(ep.json.rateLimit, RATE);
        // A backlog of N messages published over the three nodes; every node's dispatcher competes for it.
        await Promise.all(Array.from({ length: N }, async (_, i) => {
          const res = await all[i % 3].api('POST', '/api/v1/app/rate/msg', { eventType: 'rate.test', payload: { i } });
          assert.equal(res.status, 202, res.text);
        }));
        // The drain takes N / RATE seconds (6 s, 5 s); 30 s is far past it. On a timeout, each node's queue
        // gauges say where the rest are (sending: leased by a node).
        await rx.until(() => rx.requests.length >= N, 30000, `${N} deliveries`).catch(async (e) => {
          const gauges = await Promise.all(all.map(async (hw) => (await hw.api('GET', '/metrics')).text.split('\n')
            .filter((l) => /^delivery_(queue_depth|in_flight|deferred_total)/.test(l)).join(', ')));
          const times = rx.requests.map((q) => q.at - rx.requests[0].at);
          throw new Error(`${e.message}: ${rx.requests.length} arrived, the last ${Math.round(times.at(-1))} ms after ` +
                          `the first; ${gauges.map((g, i) => `node ${'ABC'[i]}: ${g}`).join('; ')}`);
        });
        assert.equal(rx.requests.length, N, 'each message delivered once');
        const sent = (await pg.psql('SELECT created_at - response_duration_ms FROM attempts ORDER BY 1', db))
          .split('\n').map(Number);
        assert.equal(sent.length, N, 'one attempt per message');
        const arrived = rx.requests.map((q) => q.at).sort((x, y) => x - y);
        // The worst window of times `at` (sorted, ms): the most of them over what the documented bound allows;
        // and the steady part, from the first a second in (past the buckets' bursts) to the last.
        const judge = (at) => {
          let worst = { over: -Infinity };
          for (let i = 0; i < at.length; i += 1) {
            for (let j = i; j < at.length; j += 1) {
              const w = (at[j] - at[i]) / 1000;
              const over = (j - i + 1) - (RATE * (1 + RATE_OVER) * (w + RATE_SLACK_S) + 3 * Math.max(1, RATE / 3));
              if (over > worst.over) worst = { over, count: j - i + 1, w, from: at[i] - at[0] };
            }
          }
          const steady = at.filter((t) => t - at[0] >= 1000);
          const steadyS = (steady.at(-1) - steady[0]) / 1000;
          return { worst, steady, steadyS, steadyRate: (steady.length - 1) / steadyS,
            firstSecond: at.filter((t) => t - at[0] < 1000).length, totalS: (at.at(-1) - at[0]) / 1000 };
        };
        const describe = (j) => `${j.firstSecond} in the first second, then ${j.steadyRate.toFixed(1)}/s over ` +
          `${j.steadyS.toFixed(2)} s (${(N / j.totalS).toFixed(1)}/s over all ${j.totalS.toFixed(2)} s); worst window ` +
          `${j.worst.count} in ${j.worst.w.toFixed(3)} s from +${Math.round(j.worst.from)} ms (bound ` +
          `${(j.worst.count - j.worst.over).toFixed(1)})`;
        const bySends = judge(sent);
        const byArrivals = judge(arrived);
        const bySender = Object.fromEntries(Object.keys(nodes).map((n) => [n, rx.requests.filter((q) => q.node === n).length]));
        console.log(`rate limit ${RATE}/s, 3 nodes, ${N} deliveries sent by ${JSON.stringify(bySender)}: sent ` +
                    `${describe(bySends)}; arrived ${describe(byArrivals)}`);
        const { worst } = bySends;
        assert.ok(worst.over <= 0, `${worst.count} deliveries sent within ${worst.w.toFixed(3)} s (from ` +
                  `+${Math.round(worst.from)} ms): over ${RATE}/s × (1 + ${RATE_OVER}) × the window + the three buckets' bursts`);
        assert.ok(bySends.steadyRate >= RATE * (1 - RATE_UNDER),
          `${bySends.steady.length} deliveries sent in ${bySends.steadyS.toFixed(2)} s past the first second, with a ` +
          `backlog waiting: ${bySends.steadyRate.toFixed(1)}/s, under ${RATE}/s × (1 − ${RATE_UNDER})`);
      } finally {
        await rx.close();
        await stopNodes(nodes);
      }
    });
}

// B would hear of A's change by NOTIFY only after A answered; what makes B's very next request follow it is
// B's check of the source's revision on every request (a shared store). The nodes run without NOTIFY here, so
// that nothing else could.
test('a source changed through node A is used by node B on its next request', { timeout: 60000 }, async () => {
  const nodes = await startNodes(['A', 'B'], { args: ['--store-notify', 'off'] });
  const rx = await trackingReceiver();
  try {
    const { A, B } = nodes;
    const k1 = 'whsec_' + crypto.randomBytes(32).toString('base64');
    const k2 = 'whsec_' + crypto.randomBytes(32).toString('base64');
    // Unknown to B at first (404), then created through A: B's next request finds it.
    const before = await postIn(B, 'rot', stdRequest(k1, 'e0', { n: 0 }));
    assert.equal(before.status, 404, before.text);
    const created = await A.api('POST', '/api/v1/source',
      { uid: 'rot', verifier: 'standard-webhooks', secrets: [k1], destinations: [`${rx.base}/first`] });
    assert.equal(created.status, 201, created.text);
    // B serves the source once (whatever it keeps in memory is now warm).
    const warm = await postIn(B, 'rot', stdRequest(k1, 'e1', { n: 1 }));
    assert.equal(warm.status, 202, warm.text);

    // Through A: the secret rotated to k2 and the destination moved. B's very next requests must follow; each
    // expectation is checked, then all reported together.
    const put = await A.api('PUT', '/api/v1/source/rot',
      { verifier: 'standard-webhooks', secrets: [k2], destinations: [`${rx.base}/second`] });
    assert.equal(put.status, 200, put.text);
    const wrong = [];
    const old = await postIn(B, 'rot', stdRequest(k1, 'e2', { n: 2 }));
    if (old.status !== 401) wrong.push(`B accepted the secret A rotated away: ${old.status} ${old.text}`);
    const rotated = await postIn(B, 'rot', stdRequest(k2, 'e3', { n: 3 }));
    if (rotated.status !== 202) {
      wrong.push(`B refused the new secret: ${rotated.status} ${rotated.text}`);
    } else {
      await rx.until(() => rx.requests.some((q) => q.id === rotated.json.id), 30000, 'the event signed with the new secret');
      const paths = rx.requests.filter((q) => q.id === rotated.json.id).map((q) => q.path);
      if (paths.join() !== '/second') wrong.push(`B's next event went to ${paths.join(', ')}, not to the destination set through A`);
    }

    // Deleted through A: B no longer takes its requests.
    assert.equal((await A.api('DELETE', '/api/v1/source/rot')).status, 204);
    const gone = await postIn(B, 'rot', stdRequest(k2, 'e4', { n: 4 }));
    if (gone.status !== 404) wrong.push(`B still served the source A deleted: ${gone.status} ${gone.text}`);
    assert.deepEqual(wrong, []);
  } finally {
    await rx.close();
    await stopNodes(nodes);
  }
});

test('a message published on a node that does not deliver is delivered by another node', { timeout: 60000 }, async () => {
  const nodes = await startNodes(['A', 'B'], { extra: { A: ['--delivery', 'off'] } });
  const pids = Object.fromEntries(Object.entries(nodes).map(([n, hw]) => [n, hw.proc.pid]));
  const rx = await trackingReceiver({ pids });
  try {
    const { A } = nodes;
    assert.equal((await A.api('POST', '/api/v1/app', { name: 'Off', uid: 'off' })).status, 201);
    assert.equal((await A.api('POST', '/api/v1/app/off/endpoint', { url: `${rx.base}/off` })).status, 201);
    const ids = [];
    for (let i = 0; i < 20; i += 1) {
      const res = await A.api('POST', '/api/v1/app/off/msg', { eventType: 'off.test', payload: { i } });
      assert.equal(res.status, 202, res.text);
      ids.push(res.json.id);
    }
    await rx.until(() => ids.every((id) => rx.requests.some((q) => q.id === id)), 30000, 'every message delivered');
    assert.deepEqual([...new Set(rx.requests.map((q) => q.node))], ['B'], 'B delivered them all');
    assert.equal(rx.requests.length, ids.length);
  } finally {
    await rx.close();
    await stopNodes(nodes);
  }
});

test('the pull feed on node B sees what nodes A and C publish, each once, in commit order', { timeout: 60000 }, async () => {
  const nodes = await startNodes(['A', 'B', 'C']);
  try {
    const { A, B, C } = nodes;
    assert.equal((await A.api('POST', '/api/v1/app', { name: 'Feed', uid: 'feed' })).status, 201);
    // A sink: a disabled endpoint is read all the same and gets no push deliveries.
    const sink = await A.api('POST', '/api/v1/app/feed/endpoint', { url: 'http://127.0.0.1:9/x', uid: 'sink', disabled: true });
    assert.equal(sink.status, 201, sink.text);

    // A long poll held on B is answered by a message published on A (B learns of A's commit), well before
    // its wait runs out.
    const t0 = Date.now();
    const held = B.api('GET', '/api/v1/app/feed/poller/sink?limit=10&wait=20');
    await within(10000, async () => {
      const m = (await (await fetch(`${B.url}/metrics`, { headers: { authorization: `Bearer ${B.token}` } })).text())
        .match(/^feed_readers_waiting (\d+)/m);
      return m && Number(m[1]) >= 1;
    }, 'B to hold the long poll');
    const first = await A.api('POST', '/api/v1/app/feed/msg', { eventType: 'feed.test', payload: { w: 'first', seq: 0 } });
    assert.equal(first.status, 202);
    const page = await held;
    assert.equal(page.status, 200, page.text);
    assert.deepEqual(page.json.data.map((m) => m.id), [first.json.id]);
    assert.ok(Date.now() - t0 < 10000, `the held poll was answered after ${Date.now() - t0} ms`);
    let iterator = page.json.iterator;

    // Writers on A and C publish one after another while B pages through the feed.
    const PER_WRITER = 150;
    const acked = new Set();
    const writer = async (hw, w) => {
      for (let seq = 0; seq < PER_WRITER; seq += 1) {
        const res = await hw.api('POST', '/api/v1/app/feed/msg', { eventType: 'feed.test', payload: { w, seq } });
        assert.equal(res.status, 202, res.text);
        acked.add(res.json.id);
      }
    };
    // B's reader follows the iterator (long-polling a second when it is at B's head) until it has read every
    // acknowledged message: B learns of the other nodes' commits a little later (NOTIFY, or its poll), so the
    // last ones may take a moment; a message skipped by the iterator would never come (the deadline fails it).
    const read = [];
    let writersDone;
    const reader = async () => {
      for (;;) {
        const res = await B.api('GET', `/api/v1/app/feed/poller/sink?limit=7&wait=1&iterator=${iterator}`);
        assert.equal(res.status, 200, res.text);
        read.push(...res.json.data);
        iterator = res.json.iterator;
        if (writersDone && read.length >= acked.size) return;
        if (writersDone && performance.now() - writersDone > 10000) {
          const ids = new Set(read.map((m) => m.id));
          assert.fail(`B's feed never gave ${[...acked].filter((id) => !ids.has(id)).join(', ')} (10 s after the last ack)`);
        }
      }
    };
    const reading = reader();
    await Promise.all([writer(A, 'A'), writer(C, 'C')]);
    writersDone = performance.now();
    await reading;
    console.log(`B read the last of ${acked.size} messages ${Math.round(performance.now() - writersDone)} ms after the last ack`);

    // Each acknowledged message read once; each writer's messages in the order it published them.
    const ids = read.map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, 'a message was read twice');
    for (const id of acked) assert.ok(ids.includes(id), `${id} acknowledged, never read on B`);
    assert.equal(ids.length, acked.size);
    for (const w of ['A', 'C']) {
      assert.deepEqual(read.filter((m) => m.payload.w === w).map((m) => m.payload.seq),
        Array.from({ length: PER_WRITER }, (_, i) => i), `writer ${w}'s order`);
    }
    // The whole log read afresh on C is the same sequence.
    const fresh = [];
    let it;
    for (;;) {
      const p = await C.api('GET', `/api/v1/app/feed/poller/sink?limit=250${it ? `&iterator=${it}` : ''}`);
      fresh.push(...p.json.data.map((m) => m.id));
      it = p.json.iterator;
      if (p.json.done) break;
    }
    assert.deepEqual(fresh, [first.json.id, ...ids]);
  } finally {
    await stopNodes(nodes);
  }
});

// Scoped tokens are derived from a key the nodes share through the database: a sink's poller token shown by
// one node is the same on another, and reads the sink there.
test('a poller token shown by node A is the same on node B and reads the sink there', { timeout: 60000 }, async () => {
  const nodes = await startNodes(['A', 'B']);
  try {
    const { A, B } = nodes;
    assert.equal((await A.api('POST', '/api/v1/app', { name: 'Tok', uid: 'tok' })).status, 201);
    const sink = await A.api('POST', '/api/v1/app/tok/endpoint', { url: 'https://sink.example/unused', uid: 'sink', pullOnly: true });
    assert.equal(sink.status, 201, sink.text);
    const onA = await A.api('GET', '/api/v1/auth/app/tok/poller/sink/token');
    assert.equal(onA.status, 200, onA.text);
    const onB = await B.api('GET', '/api/v1/auth/app/tok/poller/sink/token');
    assert.equal(onB.status, 200, onB.text);
    assert.match(onA.json.token, /^sk_poll_/);
    assert.equal(onB.json.token, onA.json.token, 'both nodes derive the same token');
    const read = await fetch(`${B.url}/api/v1/app/tok/poller/sink`, { headers: { authorization: `Bearer ${onA.json.token}` } });
    assert.equal(read.status, 200, await read.text());
  } finally {
    await stopNodes(nodes);
  }
});
