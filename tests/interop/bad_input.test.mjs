// Hostile or broken input gets a clear Svix-shaped error and changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Hookwire } from './lib/hookwire.mjs';

let hw;

before(async () => {
  hw = await Hookwire.start({ args: ['--body-limit', '65536', '--request-timeout-ms', '400', '--max-connections', '8'] });
  assert.equal((await hw.api('POST', '/api/v1/app', { name: 'Target', uid: 'target' })).status, 201);
});
after(async () => {
  assert.equal(await hw.stop(), 0);
  hw.cleanup();
});

// Sends raw bytes on a fresh connection; resolves with everything the server wrote before closing.
async function raw(bytes, { end = false } = {}) {
  const sock = net.connect(hw.port, '127.0.0.1');
  await once(sock, 'connect');
  let data = '';
  sock.on('data', (d) => { data += d; });
  sock.on('error', () => {});
  sock.write(bytes);
  if (end) sock.end();
  await once(sock, 'close');
  return data;
}

async function countMessages() {
  const res = await hw.api('GET', '/api/v1/app/target/msg?limit=250');
  assert.equal(res.status, 200);
  return res.json.data.length;
}

test('malformed JSON is a 400 naming the problem', async () => {
  const res = await hw.api('POST', '/api/v1/app/target/msg', '{"eventType": "a.b", "payload": {');
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 'bad_request');
  assert.match(res.json.detail, /not valid JSON/);
});

test('wrong types and missing fields are 422s naming the field', async () => {
  const cases = [
    ['/api/v1/app', { name: 5 }, ['body', 'name'], /string/],
    ['/api/v1/app', {}, ['body', 'name'], /required/],
    ['/api/v1/app', { name: 'x', uid: 'not a token!' }, ['body', 'uid'], /match/],
    ['/api/v1/app', [1, 2], ['body'], /object/],
    ['/api/v1/app/target/msg', { payload: {} }, ['body', 'eventType'], /required/],
    ['/api/v1/app/target/msg', { eventType: 'a.b' }, ['body', 'payload'], /required/],
    ['/api/v1/app/target/msg', { eventType: 'a.b', payload: [] }, ['body', 'payload'], /object/],
    ['/api/v1/app/target/msg', { eventType: 'a.b', payload: {}, channels: 'c' }, ['body', 'channels'], /array/],
    ['/api/v1/app/target/endpoint', { url: 'ftp://x' }, ['body', 'url'], /http/],
    ['/api/v1/app/target/endpoint', { url: 'https://x.example', secret: 'short' }, ['body', 'secret'], /whsec_/],
    ['/api/v1/app/target/endpoint', { url: 'https://x.example', headers: { 'webhook-id': 'x' } }, ['body', 'headers'],
      /cannot be overridden/],
    ['/api/v1/event-type', { name: 'a b', description: 'x' }, ['body', 'name'], /match/],
  ];
  for (const [path, body, loc, msg] of cases) {
    const res = await hw.api('POST', path, body);
    assert.equal(res.status, 422, `${path} ${JSON.stringify(body)} -> ${res.text}`);
    assert.deepEqual(res.json.detail[0].loc, loc, res.text);
    assert.match(res.json.detail[0].msg, msg, res.text);
  }
  assert.equal(await countMessages(), 0, 'nothing was created');
});

test('an endpoint on localhost is refused when it is created (no delivery allowance), naming the flag', async () => {
  const app = await hw.api('POST', '/api/v1/app', { name: 'local' });
  for (const url of ['http://localhost:9000/hook', 'http://LOCALHOST./hook', 'http://api.localhost/hook', 'http://127.0.0.1/hook']) {
    const res = await hw.api('POST', `/api/v1/app/${app.json.id}/endpoint`, { url });
    assert.equal(res.status, 422, `${url} -> ${res.text}`);
    assert.deepEqual(res.json.detail[0].loc, ['body', 'url']);
    assert.match(res.json.detail[0].msg, /loopback.*--delivery-allow-cidr/);
  }
  const listed = await hw.api('GET', `/api/v1/app/${app.json.id}/endpoint`);
  assert.deepEqual(listed.json.data, [], 'nothing was created');
});

test('bad query parameters are 422s', async () => {
  for (const q of ['limit=0', 'limit=251', 'limit=ten', 'before=yesterday', 'with_content=maybe', 'order=sideways']) {
    const res = await hw.api('GET', `/api/v1/app/target/msg?${q}`);
    assert.equal(res.status, 422, q);
    assert.equal(res.json.detail[0].loc[0], 'query', q);
  }
});

test('missing or wrong token: 401 on every route but health', async () => {
  for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic abc' }]) {
    const res = await fetch(`${hw.url}/api/v1/app`, { headers });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).code, 'authentication_failed');
  }
  const post = await fetch(`${hw.url}/api/v1/app/target/msg`, {
    method: 'POST', body: JSON.stringify({ eventType: 'a.b', payload: {} }),
  });
  assert.equal(post.status, 401);
  assert.equal((await fetch(`${hw.url}/api/v1/health`)).status, 204);
  assert.equal(await countMessages(), 0);
});

test('unknown ids are 404s; junk paths 404; wrong methods 405', async () => {
  for (const path of ['/api/v1/app/nope', '/api/v1/app/nope/msg', '/api/v1/app/target/msg/msg_nope',
    '/api/v1/app/target/endpoint/ep_nope', '/api/v1/event-type/nope', '/api/v1/app/target/attempt/msg/nope']) {
    const res = await hw.api('GET', path);
    assert.equal(res.status, 404, path);
    assert.equal(res.json.code, 'not_found', path);
  }
  // The root is the console's door (a redirect), not an unknown path.
  const root = await fetch(`${hw.url}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/console');
  for (const path of ['/api', '/api/v2/app', '/ui/nope.js', '/api/v1/app/target/msg/x/y/z', '/%00%ff', '/api/v1/app/../../etc']) {
    const res = await hw.api('GET', path);
    assert.equal(res.status, 404, path);
  }
  const res = await hw.api('DELETE', '/api/v1/app/target/msg');
  assert.equal(res.status, 405);
  assert.match(res.headers.get('allow'), /GET/);
});

test('bodies over the limit: 413 from Content-Length, before the body is sent', async () => {
  const head = 'POST /api/v1/app/target/msg HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' + hw.token +
    '\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n';
  const answer = await raw(head);  // no body at all: the server must answer from the header alone
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /payload_too_large/);
});

test('bodies over the limit: 413 for a chunked body that grows past it', async () => {
  const chunk = 'x'.repeat(16384);
  let req = 'POST /api/v1/app/target/msg HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' + hw.token +
    '\r\nTransfer-Encoding: chunked\r\n\r\n';
  for (let i = 0; i < 8; i += 1) req += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
  req += '0\r\n\r\n';
  const answer = await raw(req);
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.equal(await countMessages(), 0);
});

test('oversized headers: 431', async () => {
  const answer = await raw(`GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Junk: ${'a'.repeat(100000)}\r\n\r\n`);
  assert.match(answer, /^HTTP\/1\.1 431 /);
});

test('garbage instead of HTTP: 400 and the connection is closed', async () => {
  const answer = await raw('\x16\x03\x01\x02\x00 this is not http\r\n\r\n');
  assert.match(answer, /^HTTP\/1\.1 400 /);
});

test('a slow client trickling its request is cut off at the request timeout', async () => {
  const sock = net.connect(hw.port, '127.0.0.1');
  await once(sock, 'connect');
  let data = '';
  sock.on('data', (d) => { data += d; });
  sock.write('POST /api/v1/app/target/msg HTTP/1.1\r\nHost: x\r\n');  // and never finishes
  const started = Date.now();
  await once(sock, 'close');  // the server closes it: no timer on our side
  assert.ok(Date.now() - started < 10000, 'closed by the server');
  assert.ok(data === '' || /^HTTP\/1\.1 408 /.test(data), data);
});

test('connections over the cap are answered 503 and closed', async () => {
  const held = [];
  for (let i = 0; i < 8; i += 1) {
    const s = net.connect(hw.port, '127.0.0.1');
    await once(s, 'connect');
    s.on('error', () => {});
    held.push(s);
  }
  try {
    const answer = await raw('GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 503 /);
  } finally {
    for (const s of held) s.destroy();
  }
});

test('an idempotency key reused with a different body is a 422, the original stays', async () => {
  const headers = { 'idempotency-key': 'key-42' };
  const first = await hw.api('POST', '/api/v1/app/target/msg', { eventType: 'a.b', payload: { n: 1 } }, headers);
  assert.equal(first.status, 202);
  const replay = await hw.api('POST', '/api/v1/app/target/msg', { eventType: 'a.b', payload: { n: 1 } }, headers);
  assert.equal(replay.status, 202);
  assert.equal(replay.json.id, first.json.id);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  const other = await hw.api('POST', '/api/v1/app/target/msg', { eventType: 'a.b', payload: { n: 2 } }, headers);
  assert.equal(other.status, 422);
  assert.deepEqual(other.json.detail[0].loc, ['header', 'idempotency-key']);
  assert.equal(await countMessages(), 1);
});
