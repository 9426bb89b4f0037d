// `hookwire listen` end to end: the real server, the real binary forwarding to a real local receiver that
// verifies each request with the `standardwebhooks` package. Payloads arrive byte for byte as published; the
// receiver goes down for a while (nothing is lost); the server is restarted (listen resumes, nothing committed
// is sent twice); one output line per event; the secret stays the same across runs; Ctrl-C exits 0.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Webhook } from 'standardwebhooks';
import { BIN, Hookwire } from './lib/hookwire.mjs';

const ARGS = ['--delivery', 'off', '--delivery-allow-cidr', '127.0.0.0/8'];

// A local service that verifies Standard Webhooks signatures; `down()` closes it, `up()` listens again on the
// same port. Resolves waiters on every verified request.
async function verifyingReceiver(secret) {
  const wh = new Webhook(secret);
  const r = { got: [], bad: [], waiters: [] };
  const onRequest = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        wh.verify(body, req.headers);
        r.got.push({ id: req.headers['webhook-id'], body, headers: req.headers });
        res.writeHead(204).end();
      } catch (e) {
        r.bad.push(String(e));
        res.writeHead(400).end();
      }
      r.waiters = r.waiters.filter((w) => (w.pred() ? (w.resolve(), false) : true));
    });
  };
  r.up = async (port = 0) => {
    r.server = http.createServer(onRequest);
    r.server.listen(port, '127.0.0.1');
    await once(r.server, 'listening');
    r.port = r.server.address().port;
    r.url = `http://127.0.0.1:${r.port}/hook`;
  };
  r.down = () => new Promise((resolve) => { r.server.close(resolve); r.server.closeAllConnections(); });
  r.waitFor = (pred) => (pred() ? Promise.resolve() : new Promise((resolve) => r.waiters.push({ pred, resolve })));
  await r.up();
  return r;
}

// Every listen process started here. A test that times out never reaches its `finally`: its child would keep
// this file's process (and so the whole run) alive, so whatever is left is killed after the last test.
const children = new Set();
after(() => {
  for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

// `hookwire listen` as a child process; waits on its output.
function startListen(args) {
  const l = { out: '', err: '', waiters: [] };
  l.proc = spawn(BIN, ['listen', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(l.proc);
  const check = () => { l.waiters = l.waiters.filter((w) => (w.pred() ? (w.resolve(), false) : true)); };
  l.proc.stdout.on('data', (d) => { l.out += d; check(); });
  l.proc.stderr.on('data', (d) => { l.err += d; check(); });
  l.exited = once(l.proc, 'exit');
  l.waitFor = (pred) => (pred() ? Promise.resolve() : new Promise((resolve) => l.waiters.push({ pred, resolve })));
  l.eventLines = () => l.out.split('\n').filter((line) => / msg_/.test(line));
  return l;
}

test('hookwire listen forwards signed, byte-identical, survives a receiver outage and a server restart', { timeout: 120000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-listen-'));
  const secretFile = join(dir, 'conf', 'listen-secret');
  const first = await Hookwire.start({ args: ARGS });
  let hw = first;
  let listen;
  try {
    assert.equal((await hw.api('POST', '/api/v1/app', { name: 'l', uid: 'app-l' })).status, 201);
    assert.equal((await hw.api('POST', '/api/v1/app/app-l/endpoint', { url: 'http://127.0.0.1:9/x', uid: 'pull' })).status, 201);

    // The secret: made once (0600), the same on every run.
    const secret = execFileSync(BIN, ['listen', '--print-secret', '--secret-file', secretFile]).toString().trim();
    assert.match(secret, /^whsec_/);
    assert.equal(statSync(secretFile).mode & 0o777, 0o600);
    assert.equal(execFileSync(BIN, ['listen', '--print-secret', '--secret-file', secretFile]).toString().trim(), secret);

    const receiver = await verifyingReceiver(secret);
    // Payloads with their own spacing, key order, escapes and big numbers: they must arrive exactly so.
    const payloads = [
      '{"b": 1,   "a" : [1, 2 ,3]}',
      '{"unicode":"\\u00e9t\\u00e9 ✓","n":12345678901234567890}',
      '{\n  "pretty": true,\n  "nested": {"x": null}\n}',
    ];
    const publish = async (eventType, payload) => {
      const res = await hw.api('POST', '/api/v1/app/app-l/msg', `{"eventType":"${eventType}","payload":${payload}}`);
      assert.equal(res.status, 202, res.text);
      return res.json.id;
    };
    const ids = [];
    for (const p of payloads) ids.push(await publish('order.paid', p));

    const args = ['--server', hw.url, '--token', hw.token, '--app', 'app-l', '--forward-to', receiver.url,
                  '--secret-file', secretFile, '--consumer', 'laptop'];
    listen = startListen(args);
    await listen.waitFor(() => listen.out.includes(secret));  // printed at start
    await receiver.waitFor(() => receiver.got.length >= 3);
    assert.deepEqual(receiver.got.map((g) => g.id), ids);
    assert.deepEqual(receiver.got.map((g) => g.body), payloads);  // byte for byte
    assert.deepEqual(receiver.bad, []);
    await listen.waitFor(() => listen.eventLines().length >= 3);
    for (const [i, line] of listen.eventLines().entries())
      assert.match(line, new RegExp(`^\\S+Z  order\\.paid  ${ids[i]}  204  \\d+ms$`));

    // The receiver goes down: listen retries (lines say so) and loses nothing once it is back.
    const port = receiver.port;
    await receiver.down();
    ids.push(await publish('order.shipped', '{"k":4}'));
    ids.push(await publish('order.shipped', '{"k":5}'));
    await listen.waitFor(() => /retry in \d+ms/.test(listen.out));
    await receiver.up(port);
    await receiver.waitFor(() => receiver.got.length >= 5);
    await listen.waitFor(() => listen.eventLines().filter((l) => / 204 /.test(l)).length >= 5);

    // The server restarts on the same port: listen reconnects and resumes after its last commit.
    assert.equal(await hw.stop(), 0);
    await listen.waitFor(() => /the server closed the stream \(shutdown\)/.test(listen.err));
    hw = await Hookwire.start({ dataDir: first.dataDir, listen: `127.0.0.1:${first.port}`, args: ARGS });
    ids.push(await publish('order.refunded', '{"k":6}'));
    ids.push(await publish('order.refunded', '{"k":7}'));
    await receiver.waitFor(() => receiver.got.length >= 7);
    await listen.waitFor(() => listen.eventLines().filter((l) => / 204 /.test(l)).length >= 7);  // committed
    // listen restarts too: nothing committed comes again; new messages do.
    listen.proc.kill('SIGINT');
    const [code] = await listen.exited;
    assert.equal(code, 0);
    listen = startListen(args);
    ids.push(await publish('order.closed', '{"k":8}'));
    await receiver.waitFor(() => receiver.got.length >= 8);
    await listen.waitFor(() => listen.eventLines().length >= 1);
    assert.match(listen.eventLines()[0], new RegExp(`  order\\.closed  ${ids[7]}  204  `));
    listen.proc.kill('SIGTERM');
    assert.equal((await listen.exited)[0], 0);

    assert.deepEqual(receiver.got.map((g) => g.id), ids, 'every message once, in order');
    assert.deepEqual(receiver.bad, []);
    await receiver.down();
  } finally {
    if (listen && listen.proc.exitCode === null && listen.proc.signalCode === null) listen.proc.kill('SIGKILL');
    if (hw.proc.exitCode === null && hw.proc.signalCode === null) await hw.kill();
    first.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hookwire listen --source --pass-headers: a GitHub handler verifies the provider\'s own signature', { timeout: 60000 }, async () => {
  const { sign, verify } = await import('@octokit/webhooks-methods');
  const SECRET = "It's a Secret to Everybody";
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-listen-src-'));
  const hw = await Hookwire.start({ args: ARGS });
  let listen;
  try {
    const created = await hw.api('POST', '/api/v1/source', { uid: 'gh', verifier: 'github', secrets: [SECRET], pull: true });
    assert.equal(created.status, 201, created.text);
    const got = [];
    let wake = () => {};
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const ok = await verify(SECRET, body, req.headers['x-hub-signature-256'] ?? '');
        got.push({ body, ok, event: req.headers['x-github-event'], delivery: req.headers['x-github-delivery'],
                   webhookId: req.headers['webhook-id'] });
        res.writeHead(ok ? 200 : 401).end();
        wake();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const body = '{"action":"opened",  "number": 7}';
    const inbound = await fetch(`${hw.url}/in/gh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'issues', 'x-github-delivery': 'd-1',
                 'x-hub-signature-256': await sign(SECRET, body) },
      body,
    });
    assert.equal(inbound.status, 202, await inbound.text());
    const arrived = new Promise((resolve) => { wake = resolve; });
    listen = startListen(['--server', hw.url, '--token', hw.token, '--source', 'gh', '--pass-headers',
                          '--forward-to', `http://127.0.0.1:${server.address().port}/github`,
                          '--secret-file', join(dir, 'secret')]);
    await arrived;
    assert.equal(got.length, 1);
    assert.deepEqual({ ...got[0] }, { body, ok: true, event: 'issues', delivery: 'd-1', webhookId: undefined });
    await listen.waitFor(() => listen.eventLines().length >= 1);
    assert.match(listen.eventLines()[0], /^\S+Z  \S+  msg_\S+  200  \d+ms$/);
    assert.match(listen.out, /passing the provider's own headers/);
    assert.doesNotMatch(listen.out, /signing with/, 'nothing is signed with hookwire\'s secret');
    listen.proc.kill('SIGINT');
    assert.equal((await listen.exited)[0], 0);
    await new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); });
  } finally {
    if (listen && listen.proc.exitCode === null && listen.proc.signalCode === null) listen.proc.kill('SIGKILL');
    assert.equal(await hw.stop(), 0);
    hw.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
