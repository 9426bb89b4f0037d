// `hookwire serve` as an operator meets it: settings from flags, environment and a config file; the admin token
// generated once and kept; JSON logs; /metrics; SIGTERM exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { BIN, Hookwire } from './lib/hookwire.mjs';

// Starts the binary with exactly these args/env (no admin token unless given); resolves when it listens.
async function serve(args, env = {}) {
  const proc = spawn(BIN, ['serve', ...args], {
    env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  proc.stderr.on('data', (d) => { out.stderr += d; });
  const exited = once(proc, 'exit');
  const url = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out.stdout += d;
      const m = out.stdout.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
    });
    proc.on('exit', (code) => reject(new Error(`exited ${code}: ${out.stderr}`)));
  });
  return {
    url, out, proc,
    async stop() { proc.kill('SIGTERM'); const [code] = await exited; return code; },
  };
}

test('without a token one is generated, printed once, kept in the data directory and reused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-serve-'));
  try {
    const first = await serve(['--listen', '127.0.0.1:0', '--data-dir', dir]);
    const m = first.out.stdout.match(/generated an admin token.*\n\s+(\S+)/);
    assert.ok(m, first.out.stdout);
    const token = m[1];
    assert.equal(readFileSync(join(dir, 'admin-token'), 'utf8').trim(), token);
    assert.equal(statSync(join(dir, 'admin-token')).mode & 0o777, 0o600);
    const ok = await fetch(`${first.url}/api/v1/app`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    assert.equal(await first.stop(), 0);

    const second = await serve(['--listen', '127.0.0.1:0', '--data-dir', dir]);
    assert.doesNotMatch(second.out.stdout, /generated/, 'shown only the first time');
    const again = await fetch(`${second.url}/api/v1/app`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(again.status, 200);
    assert.equal(await second.stop(), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('settings come from a config file and the environment; flags win over both', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-serve-'));
  try {
    const conf = join(dir, 'hookwire.toml');
    writeFileSync(conf, `listen = "127.0.0.1:1"\ndata-dir = "${join(dir, 'from-config')}"\nadmin-token = "from-config"\n` +
      `body-limit = 2048\nlog-format = "json"\n`);
    const s = await serve(['--config', conf, '--listen', '127.0.0.1:0'], { HOOKWIRE_ADMIN_TOKEN: 'from-env' });
    // Environment beats the config file; the flag --listen beat the file's port 1.
    const res = await fetch(`${s.url}/api/v1/app`, { headers: { authorization: 'Bearer from-env' } });
    assert.equal(res.status, 200);
    assert.equal(statSync(join(dir, 'from-config', 'hookwire.db')).isFile(), true);
    const big = await fetch(`${s.url}/api/v1/app`, {
      method: 'POST', headers: { authorization: 'Bearer from-env' },
      body: JSON.stringify({ name: 'x'.repeat(4096) }),
    });
    assert.equal(big.status, 413, 'body-limit from the config file');
    assert.equal(await s.stop(), 0);
    const lines = s.out.stderr.trim().split('\n');
    assert.ok(lines.length >= 2);
    for (const line of lines) {
      const rec = JSON.parse(line);  // every log line is one JSON object
      assert.ok(rec.time && rec.level && typeof rec.msg === 'string', line);
    }
    assert.ok(lines.some((l) => JSON.parse(l).msg.includes('stopped cleanly')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad settings end start-up with a clear message', async () => {
  const run = (args) => new Promise((resolve) => {
    const p = spawn(BIN, ['serve', ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.stdout.on('data', (d) => { err += d; });
    p.on('exit', (code) => resolve({ code, err }));
  });
  const badDurability = await run(['--durability', 'sometimes', '--admin-token', 'x']);
  assert.notEqual(badDurability.code, 0);
  assert.match(badDurability.err, /durability/);
  const badListen = await run(['--listen', 'nonsense', '--admin-token', 'x']);
  assert.notEqual(badListen.code, 0);
  assert.match(badListen.err, /--listen must be host:port/);
});

test('a data directory in use by a running hookwire is refused, and free again once it stops', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-serve-'));
  try {
    const first = await serve(['--listen', '127.0.0.1:0', '--data-dir', dir, '--admin-token', 't']);
    const second = await serve(['--listen', '127.0.0.1:0', '--data-dir', dir, '--admin-token', 't'])
      .then(() => assert.fail('a second hookwire started on the same data directory'), (e) => e);
    assert.match(second.message, /in use by another hookwire process/);
    assert.match(second.message, /exited [1-9]/);
    // The first one is untouched by the attempt.
    assert.equal((await fetch(`${first.url}/api/v1/health`)).status, 204);
    assert.equal(await first.stop(), 0);
    const third = await serve(['--listen', '127.0.0.1:0', '--data-dir', dir, '--admin-token', 't']);
    assert.equal(await third.stop(), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('/metrics exposes requests by route and status, latency, and the store batches', async () => {
  const hw = await Hookwire.start({ env: { HOOKWIRE_METRICS_TOKEN: 'prometheus-scrape-token' } });
  try {
    await hw.api('POST', '/api/v1/app', { name: 'M', uid: 'm' });
    for (let i = 0; i < 5; i += 1) await hw.api('POST', '/api/v1/app/m/msg', { eventType: 'a.b', payload: { i } });
    await hw.api('GET', '/api/v1/app/nope');
    const scrape = await fetch(`${hw.url}/metrics`, { headers: { authorization: 'Bearer prometheus-scrape-token' } });
    assert.equal(scrape.status, 200);
    const text = await scrape.text();
    assert.match(text, /http_requests_total\{[^}]*route="\/api\/v1\/app\/\{app_id\}\/msg"[^}]*status="202"[^}]*\} 5\n/);
    assert.match(text, /http_requests_total\{[^}]*route="\/api\/v1\/app\/\{app_id\}"[^}]*status="404"[^}]*\} 1\n/);
    assert.match(text, /# TYPE http_request_duration_seconds histogram/);
    assert.match(text, /store_batch_size_count \d+/);
    assert.match(text, /store_commit_seconds_bucket\{le="\+Inf"\} \d+/);
  } finally {
    assert.equal(await hw.stop(), 0);
    hw.cleanup();
  }
});

test('/metrics needs the metrics token or the admin token, and the metrics token opens nothing else', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-serve-'));
  const tokenFile = join(dir, 'metrics-token');
  writeFileSync(tokenFile, 'scrape-token-from-a-file\n');
  const scrape = (url, token) =>
    fetch(`${url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {}).then((r) => r.status);
  try {
    const withFile = await serve(['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'a'), '--admin-token', 'admin-token',
                                  '--metrics-token-file', tokenFile]);
    assert.equal(await scrape(withFile.url), 401);
    assert.equal(await scrape(withFile.url, 'wrong'), 401);
    assert.equal(await scrape(withFile.url, 'scrape-token-from-a-file'), 200);
    assert.equal(await scrape(withFile.url, 'admin-token'), 200);
    const app = await fetch(`${withFile.url}/api/v1/app`, { headers: { authorization: 'Bearer scrape-token-from-a-file' } });
    assert.equal(app.status, 401, 'the metrics token is not an admin token');
    assert.equal(await withFile.stop(), 0);

    // The config file key is the flag's name.
    const config = join(dir, 'hookwire.toml');
    writeFileSync(config, 'metrics-token = "scrape-token-from-config"\n');
    const fromConfig = await serve(['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'c'), '--admin-token', 'admin-token',
                                    '--config', config]);
    assert.equal(await scrape(fromConfig.url, 'scrape-token-from-config'), 200);
    assert.equal(await fromConfig.stop(), 0);

    // Without a metrics token only the admin token reads /metrics.
    const without = await serve(['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'b'), '--admin-token', 'admin-token']);
    assert.equal(await scrape(without.url), 401);
    assert.equal(await scrape(without.url, 'admin-token'), 200);
    assert.equal(await without.stop(), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
