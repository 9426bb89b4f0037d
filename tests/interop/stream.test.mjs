// GET /api/v1/app/{app}/poller/{sink}/stream through node's own HTTP client: four concurrent writers publish
// while one reader follows the stream; it disconnects mid-stream and resumes with Last-Event-ID, and the
// server is killed (-9) and restarted on the same data directory and port in the middle: every acknowledged
// message arrives exactly once, in commit order (offsets strictly increasing), and a stop ends the stream with
// `event: close`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hookwire } from './lib/hookwire.mjs';
import { openStream } from './lib/sse.mjs';

// No push deliveries: the sink is only read.
const ARGS = ['--delivery', 'off', '--delivery-allow-cidr', '127.0.0.0/8'];
const messages = (s) => s.events.filter((e) => e.event === 'message').map((e) => ({ ...e, msg: JSON.parse(e.data) }));

test('SSE: concurrent writers, a disconnect and a kill -9 in the middle, Last-Event-ID resume: every message once, in order', { timeout: 120000 }, async () => {
  const first = await Hookwire.start({ args: ARGS });
  let hw = first;
  const port = hw.port;
  try {
    assert.equal((await hw.api('POST', '/api/v1/app', { name: 's', uid: 'app-s' })).status, 201);
    assert.equal((await hw.api('POST', '/api/v1/app/app-s/endpoint', { url: 'http://127.0.0.1:9/x', uid: 'pull' })).status, 201);
    const path = '/api/v1/app/app-s/poller/pull/stream';

    const acked = new Set();
    const publish = async (writer, n) => {
      for (let i = 0; i < n; i += 1) {
        let res;
        try {
          res = await hw.api('POST', '/api/v1/app/app-s/msg', { eventType: 'load.tick', payload: { writer, i } });
        } catch {
          return;  // the server was killed under this request
        }
        if (res.status === 202) acked.add(res.json.id);
      }
    };
    const seen = [];
    const take = (s) => { for (const e of messages(s)) seen.push(e); };

    // Phase 1: four writers, a reader that drops its connection after 30 events.
    let s = openStream(hw, path);
    const writers = [0, 1, 2, 3].map((w) => publish(w, 40));
    await s.waitFor(() => messages(s).length >= 30, 'first 30 events');
    s.close();
    take(s);
    let last = seen[seen.length - 1].id;
    await Promise.all(writers);

    // Resume with Last-Event-ID, then kill the server while more is being published and read.
    s = openStream(hw, path, { lastEventId: last });
    await s.waitFor(() => s.status === 200, 'resumed stream');
    assert.equal(s.headers['content-type'], 'text/event-stream');
    const more = [0, 1, 2, 3].map((w) => publish(w + 4, 25));
    // The backlog, then 20 of the new writers' messages: the kill lands while they publish and stream.
    await s.waitFor(() => messages(s).filter((e) => e.msg.payload.writer >= 4).length >= 20, 'live events');
    await hw.kill();
    await Promise.all(more);
    await s.waitFor(() => s.ended, 'the stream ends with the server');
    take(s);
    last = seen[seen.length - 1].id;

    hw = await Hookwire.start({ dataDir: hw.dataDir, listen: `127.0.0.1:${port}`, args: ARGS });
    s = openStream(hw, path, { lastEventId: last });
    await Promise.all([4, 5].map((w) => publish(w + 4, 10)));
    await s.waitFor(() => [...acked].every((id) => seen.some((e) => e.msg.id === id) ||
                                             messages(s).some((e) => e.msg.id === id)), 'every acknowledged message');

    // A stop ends the stream with `event: close`.
    const stopped = hw.stop();
    await s.waitFor(() => s.ended, 'the stream ends at the stop');
    assert.equal(await stopped, 0);
    assert.equal(s.events[s.events.length - 1].event, 'close');
    take(s);

    const ids = seen.map((e) => e.msg.id);
    assert.equal(new Set(ids).size, ids.length, 'no message twice');
    for (const id of acked) assert.ok(ids.includes(id), `acknowledged ${id} arrived`);
    const offsets = seen.map((e) => e.msg.offset);
    for (let i = 1; i < offsets.length; i += 1) assert.ok(offsets[i] > offsets[i - 1], 'commit order');
    for (const e of seen) assert.match(e.id, /^itr_[0-9a-f]{16}$/);
    console.log(`${acked.size} acknowledged, ${ids.length} streamed once each across a disconnect and a kill -9`);
  } finally {
    if (hw.proc.exitCode === null && hw.proc.signalCode === null) await hw.kill();
    first.cleanup();
  }
});

test('SSE: a garbage Last-Event-ID is 400 invalid_iterator', { timeout: 30000 }, async () => {
  const hw = await Hookwire.start({ args: ARGS });
  try {
    assert.equal((await hw.api('POST', '/api/v1/app', { name: 's', uid: 'app-s' })).status, 201);
    assert.equal((await hw.api('POST', '/api/v1/app/app-s/endpoint', { url: 'http://127.0.0.1:9/x', uid: 'pull' })).status, 201);
    const res = await hw.api('GET', '/api/v1/app/app-s/poller/pull/stream', undefined, { 'last-event-id': 'itr_nope' });
    assert.equal(res.status, 400);
    assert.equal(res.json.code, 'invalid_iterator');
  } finally {
    assert.equal(await hw.stop(), 0);
    hw.cleanup();
  }
});
