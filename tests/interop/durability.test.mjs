// Acknowledged means durable: kill -9 the server right after the last 2xx, restart it on the same data
// directory, and every acknowledged message is there, whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hookwire } from './lib/hookwire.mjs';

const CLIENTS = 32;
const TARGET_ACKS = 3000;

function payloadFor(client, seq) {
  return { client, seq, pad: `${client}-${seq}-`.repeat(20), nested: { list: [client, seq], ok: true } };
}

test('every acknowledged message survives kill -9, none half-written', async () => {
  const hw = await Hookwire.start();
  const dataDir = hw.dataDir;
  let restarted;
  try {
    assert.equal((await hw.api('POST', '/api/v1/app', { name: 'Durable', uid: 'durable' })).status, 201);

    const acked = new Map();  // msg id -> payload
    let stop = false;
    let killed;
    const client = async (c) => {
      for (let seq = 0; !stop; seq += 1) {
        const payload = payloadFor(c, seq);
        let res;
        try {
          res = await hw.api('POST', '/api/v1/app/durable/msg?with_content=false',
            { eventType: 'durable.test', eventId: `c${c}-s${seq}`, payload },
            { 'idempotency-key': `c${c}-s${seq}` });
        } catch {
          return;  // the connection died with the server
        }
        if (res.status !== 202) {
          assert.ok(stop, `unexpected ${res.status} before the kill: ${res.text}`);
          return;
        }
        acked.set(res.json.id, payload);
        if (acked.size >= TARGET_ACKS && !stop) {
          stop = true;
          killed = hw.kill();  // right after this 2xx, with the other clients' requests still in flight
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    await killed;
    assert.ok(acked.size >= TARGET_ACKS);

    restarted = await Hookwire.start({ dataDir });
    const stored = new Map();
    let iterator;
    for (let pages = 0; pages < 1000; pages += 1) {
      const q = iterator ? `&iterator=${iterator}` : '';
      const page = await restarted.api('GET', `/api/v1/app/durable/msg?limit=250${q}`);
      assert.equal(page.status, 200, page.text);
      for (const m of page.json.data) stored.set(m.id, m);
      if (page.json.done) break;
      iterator = page.json.iterator;
    }
    for (const [id, payload] of acked) {
      const m = stored.get(id);
      assert.ok(m, `acknowledged message ${id} is missing after the crash`);
      assert.deepEqual(m.payload, payload, `message ${id} is not whole`);
      assert.equal(m.eventId, `c${payload.client}-s${payload.seq}`);
    }
    // Messages stored but never acknowledged were in flight at the kill; each must still be whole.
    for (const m of stored.values()) {
      assert.deepEqual(m.payload, payloadFor(m.payload.client, m.payload.seq));
    }
    assert.ok(stored.size - acked.size <= CLIENTS, `${stored.size - acked.size} unacknowledged extras`);

    // Replaying an acknowledged request with its idempotency key returns the original message: keys survived too.
    const [someId, somePayload] = acked.entries().next().value;
    const replay = await restarted.api('POST', '/api/v1/app/durable/msg?with_content=false',
      { eventType: 'durable.test', eventId: `c${somePayload.client}-s${somePayload.seq}`, payload: somePayload },
      { 'idempotency-key': `c${somePayload.client}-s${somePayload.seq}` });
    assert.equal(replay.status, 202);
    assert.equal(replay.json.id, someId);
  } finally {
    if (restarted) assert.equal(await restarted.stop(), 0);
    if (hw.proc.exitCode === null && hw.proc.signalCode === null) await hw.kill();
    hw.cleanup();
  }
});
