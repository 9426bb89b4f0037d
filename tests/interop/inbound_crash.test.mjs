// Persist before 2xx, across a crash: under inbound load (GitHub-signed POSTs to /in/{source}), kill -9 the
// server, restart it on the same data directory, and every request that got a 2xx reaches the destination.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sign as ghSign } from '@octokit/webhooks-methods';
import { crashUnderLoad } from './lib/crash.mjs';

const TARGET_ACKS = 1000;
const MAX_IN_FLIGHT = 10;  // the destination's in-flight cap: only an interrupted send can be repeated
const SECRET = 'crash-secret';

test('every inbound request answered 2xx is forwarded after kill -9 and restart', async () => {
  const { acked, deliveredBeforeKill, duplicates } = await crashUnderLoad({
    targetAcks: TARGET_ACKS,
    setup: async (hw, url) => {
      const created = await hw.api('POST', '/api/v1/source',
        { uid: 'gh', verifier: 'github', secrets: [SECRET], destinations: [url] });
      assert.equal(created.status, 201, created.text);
    },
    send: async (hw, c, seq) => {
      const delivery = `c${c}-${seq}`;
      const body = JSON.stringify({ delivery, action: 'opened', pad: 'x'.repeat(200) });
      const res = await fetch(`${hw.url}/in/gh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'issues', 'x-github-delivery': delivery,
                   'x-hub-signature-256': await ghSign(SECRET, body) },
        body,
      });
      await res.arrayBuffer();
      return res.status === 202 ? delivery : null;
    },
    idOf: (headers, body) => JSON.parse(body).delivery,  // the forward's body is the provider's, byte for byte
  });
  console.log(`acknowledged ${acked.size}, forwarded before the kill ${deliveredBeforeKill}, ` +
              `duplicates after restart ${duplicates}`);
  assert.ok(acked.size >= TARGET_ACKS);
  assert.ok(duplicates <= MAX_IN_FLIGHT, `${duplicates} duplicates`);
});
