// Persist before 2xx, across a crash: under inbound load (GitHub-signed POSTs to /in/{source}), kill -9 the
// server, restart it on the same data directory, and every request that got a 2xx reaches the destination.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { sign as ghSign } from '@octokit/webhooks-methods';
import { Hookwire } from './lib/hookwire.mjs';

const CLIENTS = 16;
const TARGET_ACKS = 1000;
const MAX_IN_FLIGHT = 10;  // the destination's in-flight cap: only an interrupted send can be repeated
const SECRET = 'crash-secret';

test('every inbound request answered 2xx is forwarded after kill -9 and restart', async () => {
  const seen = new Map();  // delivery id (from the body) -> times forwarded
  let waiter = null;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const { delivery } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      seen.set(delivery, (seen.get(delivery) ?? 0) + 1);
      res.writeHead(200).end();
      if (waiter && waiter.check()) waiter.resolve();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${server.address().port}/hook`;
  const args = ['--delivery-allow-cidr', '127.0.0.0/8'];

  const hw = await Hookwire.start({ args });
  let restarted;
  try {
    const created = await hw.api('POST', '/api/v1/source', { uid: 'gh', verifier: 'github', secrets: [SECRET], destinations: [url] });
    assert.equal(created.status, 201, created.text);

    const acked = new Set();
    let stop = false;
    let killed;
    const client = async (c) => {
      for (let seq = 0; !stop; seq += 1) {
        const delivery = `c${c}-${seq}`;
        const body = JSON.stringify({ delivery, action: 'opened', pad: 'x'.repeat(200) });
        let res;
        try {
          res = await fetch(`${hw.url}/in/gh`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-github-event': 'issues', 'x-github-delivery': delivery,
                       'x-hub-signature-256': await ghSign(SECRET, body) },
            body,
          });
          await res.arrayBuffer();
        } catch {
          return;  // the server died under this request
        }
        if (res.status !== 202) return;
        acked.add(delivery);
        if (acked.size >= TARGET_ACKS && !stop) {
          stop = true;
          killed = hw.kill();  // forwards are being sent at this moment
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    await killed;
    const forwardedBeforeKill = seen.size;

    restarted = await Hookwire.start({ dataDir: hw.dataDir, args });
    const allSeen = () => [...acked].every((id) => seen.has(id));
    if (!allSeen()) {
      await new Promise((resolve, reject) => {
        waiter = { check: allSeen, resolve };
        setTimeout(() => reject(new Error(
          `${[...acked].filter((id) => !seen.has(id)).length} acknowledged requests never arrived`)), 60000).unref();
      });
    }
    const duplicates = [...seen.values()].reduce((n, times) => n + times - 1, 0);
    console.log(`acknowledged ${acked.size}, forwarded before the kill ${forwardedBeforeKill}, ` +
                `duplicates after restart ${duplicates}`);
    assert.ok(acked.size >= TARGET_ACKS);
    assert.ok(duplicates <= MAX_IN_FLIGHT, `${duplicates} duplicates`);
  } finally {
    if (restarted) assert.equal(await restarted.stop(), 0);
    if (hw.proc.exitCode === null && hw.proc.signalCode === null) await hw.kill();
    if (!process.env.KEEP) hw.cleanup(); else console.log('data dir', hw.dataDir);
    server.close();
  }
});
