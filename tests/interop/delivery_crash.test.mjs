// At-least-once across a crash: under sustained load, kill -9 the server, restart it on the same data
// directory, and every acknowledged message reaches the endpoint; duplicates are counted and bounded by what
// could have been in flight at the kill.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { Hookwire } from './lib/hookwire.mjs';

const CLIENTS = 16;
const TARGET_ACKS = 1500;
// One endpoint, whose in-flight cap is 10 by default: a kill can interrupt at most 10 sends, and only an
// interrupted send can be repeated (its attempt was never recorded).
const MAX_IN_FLIGHT = 10;

test('every acknowledged message is delivered after kill -9 and restart', async () => {
  const seen = new Map();  // webhook-id -> times received
  let waiter = null;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const id = req.headers['webhook-id'];
      seen.set(id, (seen.get(id) ?? 0) + 1);
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
    assert.equal((await hw.api('POST', '/api/v1/app', { name: 'Crash', uid: 'crash' })).status, 201);
    assert.equal((await hw.api('POST', '/api/v1/app/crash/endpoint', { url })).status, 201);

    const acked = new Set();
    let stop = false;
    let killed;
    const client = async (c) => {
      for (let seq = 0; !stop; seq += 1) {
        let res;
        try {
          res = await hw.api('POST', '/api/v1/app/crash/msg?with_content=false',
            { eventType: 'crash.test', payload: { c, seq } });
        } catch {
          return;  // the server died under this request
        }
        if (res.status !== 202) return;
        acked.add(res.json.id);
        if (acked.size >= TARGET_ACKS && !stop) {
          stop = true;
          killed = hw.kill();  // deliveries are being sent at this moment
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    await killed;
    const deliveredBeforeKill = seen.size;

    restarted = await Hookwire.start({ dataDir: hw.dataDir, args });
    const allSeen = () => [...acked].every((id) => seen.has(id));
    if (!allSeen()) {
      await new Promise((resolve, reject) => {
        waiter = { check: allSeen, resolve };
        setTimeout(() => reject(new Error(
          `${[...acked].filter((id) => !seen.has(id)).length} acknowledged messages never arrived`)), 60000).unref();
      });
    }
    const duplicates = [...seen.values()].reduce((n, times) => n + times - 1, 0);
    console.log(`acknowledged ${acked.size}, delivered before the kill ${deliveredBeforeKill}, ` +
                `duplicates after restart ${duplicates}`);
    assert.ok(duplicates <= MAX_IN_FLIGHT, `${duplicates} duplicates`);
    for (const times of seen.values()) assert.ok(times <= 2, 'a message was delivered more than twice');
  } finally {
    if (restarted) assert.equal(await restarted.stop(), 0);
    if (hw.proc.exitCode === null && hw.proc.signalCode === null) await hw.kill();
    if (!process.env.KEEP) hw.cleanup(); else console.log('data dir', hw.dataDir);
    server.close();
  }
});
