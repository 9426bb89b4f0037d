// Descriptors: under a low open-file limit (prlimit) hookwire sizes its connection cap to the limit and says so,
// refuses the connections past it cleanly, and a delivery still gets a descriptor while clients hold every slot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Hookwire } from './lib/hookwire.mjs';
import { receiver, until } from './lib/receiver.mjs';

// Opens a connection and sends one health request. Resolves { held: true, socket } once it is answered 204 (the
// connection then stays open), or { held: false, answer } when the server closes it (answer: what it sent).
function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let settled = false;
    socket.on('connect', () => socket.write('GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('data', (d) => {
      data += d;
      if (!settled && data.startsWith('HTTP/1.1 204')) {
        settled = true;
        resolve({ held: true, socket });
      } else if (!settled && data.includes('\r\n\r\n')) {
        socket.end();
      }
    });
    socket.on('error', (e) => {
      if (!settled && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) return; // close follows
      if (!settled) { settled = true; reject(e); }
    });
    socket.on('close', () => {
      if (!settled) { settled = true; resolve({ held: false, answer: data }); }
    });
  });
}

// One request on an open socket; resolves with the raw response head and body once the body is complete.
function request(socket, text) {
  return new Promise((resolve) => {
    let data = '';
    const onData = (d) => {
      data += d;
      const end = data.indexOf('\r\n\r\n');
      const m = data.match(/content-length: (\d+)/i);
      if (end >= 0 && m && data.length >= end + 4 + Number(m[1])) {
        socket.off('data', onData);
        resolve(data);
      }
    };
    socket.on('data', onData);
    socket.write(text);
  });
}

test('under a low open-file limit the cap is lowered and logged, extra clients are refused, deliveries go on', async () => {
  const hook = await receiver();
  const hw = await Hookwire.start({
    prefix: ['prlimit', '--nofile=256:256', '--'],
    args: ['--delivery-allow-cidr', '127.0.0.1/32', '--max-connections', '10000'],
  });
  const sockets = [];
  try {
    const m = await until(() => hw.stderr.match(/connection cap 10000 lowered to (\d+): open-file limit 256/),
                          'the connection cap log line');
    const cap = Number(m[1]);
    assert.ok(cap > 0 && cap < 256 - 64, `cap ${cap}`);

    const app = await hw.api('POST', '/api/v1/app', { name: 'Fd' });
    assert.equal(app.status, 201);
    const ep = await hw.api('POST', `/api/v1/app/${app.json.id}/endpoint`, { url: hook.url });
    assert.equal(ep.status, 201);
    // The API connection node's fetch pool keeps may hold slots too: this raw one is ours, opened first.
    const api = await connect(hw.port);
    assert.ok(api.held);
    sockets.push(api.socket);

    // More clients than there are descriptors: every slot is taken, the rest are refused (503 or closed at once).
    const results = await Promise.all(Array.from({ length: 300 }, () => connect(hw.port)));
    const held = results.filter((r) => r.held);
    const refused = results.filter((r) => !r.held);
    for (const r of held) sockets.push(r.socket);
    assert.ok(held.length <= cap, `${held.length} connections held, cap ${cap}`);
    assert.ok(held.length >= cap - 10, `${held.length} connections held, cap ${cap}`);
    assert.equal(held.length + refused.length, 300);
    for (const r of refused) assert.ok(r.answer === '' || r.answer.startsWith('HTTP/1.1 503'), r.answer);
    assert.ok(refused.some((r) => r.answer.startsWith('HTTP/1.1 503')));

    // While they are held, a message is accepted and delivered: the delivery finds a descriptor.
    const body = JSON.stringify({ eventType: 'fd.test', payload: { ok: true } });
    const answer = await request(api.socket, `POST /api/v1/app/${app.json.id}/msg HTTP/1.1\r\nHost: x\r\n` +
      `Authorization: Bearer ${hw.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    assert.match(answer, /^HTTP\/1\.1 202/);
    await hook.waitFor(1);
    assert.deepEqual(JSON.parse(hook.requests[0].body), { ok: true });
    assert.doesNotMatch(hw.stderr, /Too many open files/);
  } finally {
    for (const s of sockets) s.destroy();
    assert.equal(await hw.stop(), 0);
    hw.cleanup();
    await hook.close();
  }
});

// Sends a head announcing a 1 MB body and no body; resolves with the status line once the server answers.
function headOnly(port, head) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('connect', () => socket.write(`${head}Host: x\r\nContent-Length: 1000000\r\n\r\n`));
    socket.on('data', (d) => {
      data += d;
      if (data.includes('\r\n\r\n')) { socket.destroy(); resolve(data.slice(0, data.indexOf('\r\n'))); }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(data.slice(0, data.indexOf('\r\n'))));
  });
}

test('requests without the token are answered 401 on their head, before the body they announce', { timeout: 20000 }, async () => {
  const hw = await Hookwire.start({ args: ['--request-timeout-ms', '600000', '--body-limit', '2097152'] });
  try {
    const heads = [
      'POST /api/v1/app HTTP/1.1\r\n',
      'POST /api/v1/app/app_x/msg HTTP/1.1\r\nAuthorization: Bearer wrong\r\n',
      'POST /api/v1/source HTTP/1.1\r\n',
      'GET /metrics HTTP/1.1\r\n',
    ];
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => headOnly(hw.port, heads[i % heads.length])));
    for (const a of answers) assert.equal(a, 'HTTP/1.1 401 Unauthorized');
    const notFound = await headOnly(hw.port, 'POST /api/v1/nothing-here HTTP/1.1\r\n');
    assert.equal(notFound, 'HTTP/1.1 404 Not Found');
  } finally {
    assert.equal(await hw.stop(), 0);
    hw.cleanup();
  }
});
