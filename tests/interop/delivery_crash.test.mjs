// At-least-once across a crash: under sustained load, kill -9 the server, restart it on the same data
// directory, and every acknowledged message reaches the endpoint; duplicates are counted and bounded by what
// could have been in flight at the kill.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crashUnderLoad } from './lib/crash.mjs';

// One endpoint, whose in-flight cap is 10 by default: a kill can interrupt at most 10 sends, and only an
// interrupted send can be repeated (its attempt was never recorded).
const MAX_IN_FLIGHT = 10;

test('every acknowledged message is delivered after kill -9 and restart', async () => {
  const { acked, seen, deliveredBeforeKill, duplicates } = await crashUnderLoad({
    targetAcks: 1500,
    setup: async (hw, url) => {
      assert.equal((await hw.api('POST', '/api/v1/app', { name: 'Crash', uid: 'crash' })).status, 201);
      assert.equal((await hw.api('POST', '/api/v1/app/crash/endpoint', { url })).status, 201);
    },
    send: async (hw, c, seq) => {
      const res = await hw.api('POST', '/api/v1/app/crash/msg?with_content=false',
        { eventType: 'crash.test', payload: { c, seq } });
      return res.status === 202 ? res.json.id : null;
    },
    idOf: (headers) => headers['webhook-id'],
  });
  console.log(`acknowledged ${acked.size}, delivered before the kill ${deliveredBeforeKill}, ` +
              `duplicates after restart ${duplicates}`);
  assert.ok(acked.size >= 1500);
  assert.ok(duplicates <= MAX_IN_FLIGHT, `${duplicates} duplicates`);
  for (const times of seen.values()) assert.ok(times <= 2, 'a message was delivered more than twice');
});
