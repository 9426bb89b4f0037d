// The console's and the portal's read routes (issue #22) over real HTTP against the binary: the server's
// figures over time, an endpoint's health, the message log's filters (status, event types, lookup by eventId)
// and the application-wide live stream, with app-portal tokens admitted to their own application only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hookwire } from './lib/hookwire.mjs';
import { openStream } from './lib/sse.mjs';

// No push deliveries: every message keeps a pending delivery to each endpoint.
const ARGS = ['--delivery', 'off', '--delivery-allow-cidr', '127.0.0.0/8'];

async function portalToken(hw, app) {
  const res = await hw.api('POST', `/api/v1/auth/app-portal-access/${app}`, {});
  assert.equal(res.status, 200, res.text);
  return res.json.token;
}

async function as(hw, token, path) {
  const res = await fetch(hw.url + path, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, text };
}

test('console data: server stats, endpoint health, message filters and the application stream', { timeout: 60000 }, async () => {
  const hw = await Hookwire.start({ args: ARGS });
  try {
    for (const uid of ['app-a', 'app-b'])
      assert.equal((await hw.api('POST', '/api/v1/app', { name: uid, uid })).status, 201);
    const ep = await hw.api('POST', '/api/v1/app/app-a/endpoint', { url: 'http://127.0.0.1:9/x', uid: 'ep-a' });
    assert.equal(ep.status, 201, ep.text);
    const tokenA = await portalToken(hw, 'app-a');
    const tokenB = await portalToken(hw, 'app-b');

    // Server figures: the recorder samples at start; admin only.
    const stats = await hw.api('GET', '/api/v1/server/stats?window=600');
    assert.equal(stats.status, 200, stats.text);
    assert.equal(stats.json.intervalSeconds, 10);
    assert.match(stats.json.nodeId, new RegExp(`:${hw.port}$`));
    assert.ok(stats.json.samples.length >= 1);
    const s0 = stats.json.samples[0];
    for (const k of ['queueDepth', 'lagSeconds', 'delivered', 'failed', 'messagesCreated', 'inboundAccepted', 'inboundRejected'])
      assert.equal(typeof s0[k], 'number', k);
    assert.ok(!Number.isNaN(Date.parse(s0.at)));
    assert.equal((await hw.api('GET', '/api/v1/server/stats?window=5')).status, 422);
    assert.equal((await as(hw, tokenA, '/api/v1/server/stats')).status, 403);

    // The application stream, open before anything is published, filtered to b.happened.
    const stream = openStream(hw, '/api/v1/app/app-a/stream?event_types=b.happened', { token: tokenA });
    await stream.opened;
    assert.equal(stream.status, 200);
    const foreign = openStream(hw, '/api/v1/app/app-a/stream', { token: tokenB });
    await foreign.opened;
    assert.equal(foreign.status, 403);
    foreign.close();

    const a = await hw.api('POST', '/api/v1/app/app-a/msg', { eventType: 'a.happened', eventId: 'evt-a', payload: { n: 1 } });
    const b = await hw.api('POST', '/api/v1/app/app-a/msg', { eventType: 'b.happened', eventId: 'evt-b', payload: { n: 2 } });
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    await stream.waitFor(() => stream.events.length >= 1);
    assert.equal(stream.events[0].event, 'message');
    const got = JSON.parse(stream.events[0].data);
    assert.equal(got.id, b.json.id);  // a.happened was filtered out
    assert.equal(got.eventType, 'b.happened');
    assert.match(stream.events[0].id, /^itr_/);
    stream.close();

    // The message log: by eventId or id, by event type, by delivery status (all pending: delivery is off).
    assert.equal((await hw.api('GET', '/api/v1/app/app-a/msg/evt-a')).json.id, a.json.id);
    assert.equal((await as(hw, tokenA, `/api/v1/app/app-a/msg/${b.json.id}`)).json.eventId, 'evt-b');
    const ids = (res) => res.json.data.map((m) => m.id);
    assert.deepEqual(ids(await hw.api('GET', '/api/v1/app/app-a/msg?limit=50')), [b.json.id, a.json.id]);
    assert.deepEqual(ids(await hw.api('GET', '/api/v1/app/app-a/msg?event_types=a.happened')), [a.json.id]);
    assert.deepEqual(ids(await hw.api('GET', '/api/v1/app/app-a/msg?status=1')), [b.json.id, a.json.id]);
    assert.deepEqual(ids(await as(hw, tokenA, '/api/v1/app/app-a/msg?status=1&event_types=b.happened')), [b.json.id]);
    const failed = await hw.api('GET', '/api/v1/app/app-a/msg?status=2');
    assert.deepEqual(failed.json.data, []);
    assert.equal(failed.json.done, true);
    assert.equal((await hw.api('GET', '/api/v1/app/app-a/msg?status=4')).status, 422);
    assert.equal((await as(hw, tokenB, '/api/v1/app/app-a/msg?status=1')).status, 403);

    // Endpoint health: no attempt yet; the portal of the application may read it, another's may not.
    const health = await as(hw, tokenA, '/api/v1/app/app-a/endpoint/ep-a/health?period=day');
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json.buckets.length, 24);
    assert.ok(health.json.buckets.every((x) => x.success === 0 && x.failure === 0));
    assert.deepEqual(health.json.lastFailures, []);
    assert.equal(health.json.disabled, false);
    assert.equal(health.json.disabledReason, null);
    assert.equal(health.json.failingSince, null);
    const week = await hw.api('GET', '/api/v1/app/app-a/endpoint/ep-a/health?period=week');
    assert.equal(week.json.buckets.length, 28);
    assert.equal((await as(hw, tokenB, '/api/v1/app/app-a/endpoint/ep-a/health')).status, 403);
    assert.equal((await hw.api('PATCH', '/api/v1/app/app-a/endpoint/ep-a', { disabled: true })).status, 200);
    const disabled = await hw.api('GET', '/api/v1/app/app-a/endpoint/ep-a/health');
    assert.equal(disabled.json.disabled, true);
    assert.equal(disabled.json.disabledReason, 'disabled through the API');
    assert.ok(!Number.isNaN(Date.parse(disabled.json.disabledAt)));
  } finally {
    await hw.stop();
    hw.cleanup();
  }
});
