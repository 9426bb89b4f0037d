// HTTPS on hookwire's listeners (--tls-cert/--tls-key, --public-tls-cert/--public-tls-key): self-signed
// certificates made with openssl, clients that trust them (and one that does not), plain HTTP sent to the
// HTTPS port, a stream over TLS, SIGHUP reloading the files (a broken file keeps the old certificate), and
// start-up refusing files that do not load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, Hookwire } from './lib/hookwire.mjs';
import { receiver, until } from './lib/receiver.mjs';

// A self-signed certificate for 127.0.0.1 named `cn`: { cert, key } paths in `dir`.
function selfSigned(dir, cn) {
  const cert = join(dir, `${cn}.pem`);
  const key = join(dir, `${cn}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1'],
  { stdio: 'pipe' });
  return { cert, key };
}

// One HTTPS request: { status, body, headers, cn (the server certificate's CN), socket }.
function request(url, { ca, agent, method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, agent, headers }, (res) => {
      const { socket } = res;
      const cn = socket.getPeerCertificate().subject?.CN;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: text, headers: res.headers, socket, cn }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Starts hookwire with TLS on its API listener; its url is https://.
async function startTls(dir, tlsFiles, extra = []) {
  const hw = await Hookwire.start({ args: ['--tls-cert', tlsFiles.cert, '--tls-key', tlsFiles.key, ...extra], logLevel: 'info' });
  hw.ca = readFileSync(tlsFiles.cert);
  return hw;
}

test('--tls-cert: the API listener speaks HTTPS to a client that trusts the certificate; others are refused and logged; plain HTTP gets a 400 that says so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-tls-'));
  const files = selfSigned(dir, 'first');
  const hw = await startTls(dir, files);
  try {
    assert.match(hw.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const agent = new https.Agent({ keepAlive: true, ca: hw.ca });
    const health = await request(`${hw.url}/api/v1/health`, { agent });
    assert.equal(health.status, 204);
    assert.equal(health.cn, 'first');
    // The admin API over the same kept-alive connection: a POST with a body, then a GET.
    const auth = { authorization: `Bearer ${hw.token}` };
    const made = await request(`${hw.url}/api/v1/app`, { agent, method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'tls', uid: 'app-tls' }) });
    assert.equal(made.status, 201, made.body);
    const listed = await request(`${hw.url}/api/v1/app/app-tls`, { agent, headers: auth });
    assert.equal(listed.status, 200);
    assert.equal(JSON.parse(listed.body).uid, 'app-tls');
    assert.equal(listed.socket, health.socket, 'one connection, kept alive');
    // A 401 over TLS still answers its body and keeps the framing.
    const refused = await request(`${hw.url}/api/v1/app`, { agent, headers: { authorization: 'Bearer wrong' } });
    assert.equal(refused.status, 401);
    agent.destroy();

    // A client that does not trust the certificate: refused by the client; the server counts and logs it.
    await assert.rejects(request(`${hw.url}/api/v1/health`), (e) => e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT');
    await until(() => /TLS handshake with 127\.0\.0\.1 failed/.test(hw.stderr), 'the failed handshake logged');
    const metrics = await request(`${hw.url}/metrics`, { ca: hw.ca, headers: auth });
    assert.match(metrics.body, /^http_tls_handshake_failures_total [1-9]/m);

    // Plain HTTP to the HTTPS port: a plain-text 400 naming the mistake.
    const plain = await fetch(`http://127.0.0.1:${hw.port}/api/v1/health`);
    assert.equal(plain.status, 400);
    assert.deepEqual(await plain.json(), { code: 'https_required', detail: 'this listener speaks HTTPS only: use an https:// URL' });
  } finally {
    assert.equal(await hw.stop(), 0);
    hw.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a server-sent event stream over TLS: events arrive; a client that leaves frees its stream; a stop ends the stream with its close event', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-tls-'));
  const files = selfSigned(dir, 'stream');
  const hw = await startTls(dir, files, ['--delivery', 'off']);
  const auth = { authorization: `Bearer ${hw.token}` };
  const api = (method, path, body) => request(`${hw.url}${path}`, { ca: hw.ca, method, headers: { ...auth, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  const streamsOpen = async () => Number((await api('GET', '/metrics')).body.match(/^http_streams_open (\d+)/m)[1]);
  const open = () => {
    const s = { text: '', ended: false, errored: null };
    s.req = https.get(`${hw.url}/api/v1/app/app-s/poller/pull/stream`, { ca: hw.ca, headers: { ...auth, accept: 'text/event-stream' } }, (res) => {
      s.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (d) => { s.text += d; });
      res.on('end', () => { s.ended = true; });
      res.on('error', (e) => { s.errored = e; });
    });
    s.req.on('error', (e) => { s.errored = e; });
    return s;
  };
  try {
    assert.equal((await api('POST', '/api/v1/app', { name: 's', uid: 'app-s' })).status, 201);
    assert.equal((await api('POST', '/api/v1/app/app-s/endpoint', { url: 'https://example.com/x', uid: 'pull' })).status, 201);
    const leaving = open();
    const staying = open();
    assert.equal((await api('POST', '/api/v1/app/app-s/msg', { eventType: 'tls.stream', payload: { n: 1 } })).status, 202);
    await until(() => leaving.text.includes('tls.stream') && staying.text.includes('tls.stream'), 'the event on both streams');
    assert.equal(staying.status, 200);
    assert.equal(await streamsOpen(), 2);
    leaving.req.destroy();
    await until(async () => (await streamsOpen()) === 1, 'the server notices the client that left');
    const stopped = hw.stop();
    await until(() => staying.ended || staying.errored, 'the stream ends on stop');
    assert.equal(staying.errored, null);
    assert.match(staying.text, /event: close/);
    assert.equal(await stopped, 0);
  } finally {
    await hw.stop();
    hw.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGHUP reloads the certificate for new connections (open ones keep theirs); files that do not load keep the current one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-tls-'));
  const first = selfSigned(dir, 'first');
  const second = selfSigned(dir, 'second');
  const live = { cert: join(dir, 'live.pem'), key: join(dir, 'live.key') };
  copyFileSync(first.cert, live.cert);
  copyFileSync(first.key, live.key);
  const hw = await startTls(dir, live);
  const both = Buffer.concat([readFileSync(first.cert), readFileSync(second.cert)]);
  try {
    const kept = new https.Agent({ keepAlive: true, maxSockets: 1, ca: both });
    const before = await request(`${hw.url}/api/v1/health`, { agent: kept });
    assert.equal(before.cn, 'first');

    copyFileSync(second.cert, live.cert);
    copyFileSync(second.key, live.key);
    hw.proc.kill('SIGHUP');
    await until(() => /certificate reloaded from .*live\.pem: subject CN=second/.test(hw.stderr), 'the reload logged');
    const fresh = await request(`${hw.url}/api/v1/health`, { ca: both });
    assert.equal(fresh.cn, 'second');
    const reused = await request(`${hw.url}/api/v1/health`, { agent: kept });
    assert.equal(reused.socket, before.socket);
    assert.equal(reused.status, 204, 'the open connection goes on with the first certificate');
    kept.destroy();

    // A key that does not match the certificate: logged, the second certificate stays.
    copyFileSync(first.key, live.key);
    hw.proc.kill('SIGHUP');
    await until(() => /keeps its current certificate: --tls-key: the key in .*live\.key does not match/.test(hw.stderr), 'the failed reload logged');
    assert.equal((await request(`${hw.url}/api/v1/health`, { ca: both })).cn, 'second');
  } finally {
    assert.equal(await hw.stop(), 0);
    hw.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--public-tls-cert: the public listener speaks HTTPS (POST /in/{source} works, the admin API is 404 there) while --listen stays plain', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-tls-'));
  const files = selfSigned(dir, 'public');
  const hw = await Hookwire.start({ args: ['--public-listen', '127.0.0.1:0', '--public-tls-cert', files.cert, '--public-tls-key', files.key] });
  try {
    const m = hw.stdout.match(/public listener .* on (https:\/\/127\.0\.0\.1:\d+)/);
    assert.ok(m, hw.stdout);
    const pub = m[1];
    const ca = readFileSync(files.cert);
    assert.equal((await hw.api('POST', '/api/v1/source', { uid: 'open', verifier: 'none', pull: true })).status, 201);
    const posted = await request(`${pub}/in/open`, { ca, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    assert.equal(posted.status, 202, posted.body);
    assert.equal(posted.cn, 'public');
    assert.equal((await request(`${pub}/api/v1/app`, { ca, headers: { authorization: `Bearer ${hw.token}` } })).status, 404);
    assert.equal((await hw.api('GET', '/api/v1/app')).status, 200, 'the API listener is plain HTTP');
  } finally {
    assert.equal(await hw.stop(), 0);
    hw.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the command line reaches an HTTPS server: messages and send with --ca-file (without it: a clear refusal), listen streaming over TLS', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-tls-'));
  const files = selfSigned(dir, 'cli');
  const hw = await startTls(dir, files, ['--delivery', 'off']);
  const rx = await receiver();
  let listen;
  try {
    const env = { PATH: process.env.PATH, HOOKWIRE_TOKEN: hw.token, HOOKWIRE_SERVER: hw.url };
    const cli = (args, extraEnv = {}) => spawnSync(BIN, args, { env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 30000 });
    const untrusted = cli(['messages', '--app', 'app-c']);
    assert.equal(untrusted.status, 1);
    assert.match(untrusted.stderr, /cannot reach the server at https:\/\/127\.0\.0\.1:\d+: its certificate is not trusted \(self-signed certificate\); give the CA with --ca-file/);
    const created = await request(`${hw.url}/api/v1/app`, { ca: hw.ca, method: 'POST', headers: { authorization: `Bearer ${hw.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'c', uid: 'app-c' }) });
    assert.equal(created.status, 201);
    assert.equal((await request(`${hw.url}/api/v1/app/app-c/endpoint`, { ca: hw.ca, method: 'POST', headers: { authorization: `Bearer ${hw.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ url: 'https://example.com/x', uid: 'pull' }) })).status, 201);
    const sent = cli(['send', '--app', 'app-c', '--type', 'cli.tls', '--payload', '{"over":"tls"}', '--ca-file', files.cert]);
    assert.equal(sent.status, 0, sent.stderr);
    const listed = cli(['messages', '--app', 'app-c'], { HOOKWIRE_CA_FILE: files.cert });
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /cli\.tls/);

    listen = spawn(BIN, ['listen', '--server', hw.url, '--ca-file', files.cert, '--token', hw.token, '--app', 'app-c',
      '--forward-to', rx.url, '--secret-file', join(dir, 'listen-secret')], { stdio: ['ignore', 'pipe', 'pipe'] });
    await rx.waitFor(1);
    assert.equal(rx.requests[0].body, '{"over":"tls"}');
  } finally {
    listen?.kill('SIGKILL');
    await rx.close();
    assert.equal(await hw.stop(), 0);
    hw.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TLS files that do not load are refused at start and by --check-config, naming the flag', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-tls-'));
  try {
    const a = selfSigned(dir, 'a');
    const b = selfSigned(dir, 'b');
    writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
    const cases = [
      [['--tls-cert', a.cert], /--tls-cert and --tls-key go together/],
      [['--tls-cert', join(dir, 'missing.pem'), '--tls-key', a.key], /--tls-cert: cannot read .*missing\.pem: No such file or directory/],
      [['--tls-cert', join(dir, 'garbage.pem'), '--tls-key', a.key], /--tls-cert: .*garbage\.pem is not a PEM certificate chain/],
      [['--tls-cert', a.cert, '--tls-key', b.key], /--tls-key: the key in .*b\.key does not match the certificate in .*a\.pem/],
      [['--public-tls-cert', a.cert, '--public-tls-key', a.key], /--public-tls-cert needs --public-listen/],
    ];
    for (const [args, expected] of cases) {
      const env = { PATH: process.env.PATH, HOOKWIRE_ADMIN_TOKEN: 'tls-check-admin-token' };
      const started = spawnSync(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), ...args], { env, encoding: 'utf8', timeout: 20000 });
      assert.equal(started.status, 1, `${args.join(' ')}: ${started.stderr}`);
      assert.match(started.stderr, expected);
      const checked = spawnSync(BIN, ['serve', '--check-config', ...args], { env, encoding: 'utf8', timeout: 20000 });
      assert.equal(checked.status, 1, `--check-config ${args.join(' ')}: ${checked.stdout}`);
      assert.match(checked.stderr, expected);
    }
    const ok = spawnSync(BIN, ['serve', '--check-config', '--tls-cert', a.cert, '--tls-key', a.key], { encoding: 'utf8', timeout: 20000 });
    assert.equal(ok.status, 0, ok.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
