// At-least-once across a kill -9, shared by the crash tests: a receiver on loopback counts what arrives (by an
// id the test extracts), CLIENTS loops send until TARGET_ACKS requests were acknowledged, the server is killed
// at that moment (sends are in flight), restarted on the same data directory, and the run waits for every
// acknowledged id to arrive. The test asserts on the returned counts.
import http from 'node:http';
import { once } from 'node:events';
import { Hookwire } from './hookwire.mjs';

// options:
//   setup(hw, url)        prepares the server (e.g. creates an app and endpoint at the receiver's url)
//   send(hw, client, seq) sends one request; resolves with the acknowledged id, or null to stop this client
//   idOf(headers, body)   the id of a request the receiver got
//   clients, targetAcks   load shape
// Returns { acked, seen (id -> times received), deliveredBeforeKill, duplicates }.
export async function crashUnderLoad({ setup, send, idOf, clients = 16, targetAcks = 1000 }) {
  const seen = new Map();
  let waiter = null;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const id = idOf(req.headers, Buffer.concat(chunks).toString('utf8'));
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
    await setup(hw, url);
    const acked = new Set();
    let stop = false;
    let killed;
    const client = async (c) => {
      for (let seq = 0; !stop; seq += 1) {
        let id;
        try {
          id = await send(hw, c, seq);
        } catch {
          return;  // the server died under this request
        }
        if (id === null) return;
        acked.add(id);
        if (acked.size >= targetAcks && !stop) {
          stop = true;
          killed = hw.kill();  // deliveries are being sent at this moment
        }
      }
    };
    await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
    await killed;
    const deliveredBeforeKill = seen.size;

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
    return { acked, seen, deliveredBeforeKill, duplicates };
  } finally {
    if (restarted && (await restarted.stop()) !== 0) throw new Error('the restarted server did not exit 0');
    if (hw.proc.exitCode === null && hw.proc.signalCode === null) await hw.kill();
    if (!process.env.KEEP) hw.cleanup(); else console.log('data dir', hw.dataDir);
    server.close();
  }
}
