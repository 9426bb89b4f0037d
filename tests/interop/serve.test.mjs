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

// Runs `hookwire serve --check-config` with these args/env; resolves with its exit code and output.
async function checkConfig(args, env = {}) {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(BIN, ['serve', '--check-config', ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the config file is TOML: each kind of error is refused with file:line:column and the key; --check-config exits 0 or 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-config-'));
  try {
    const conf = join(dir, 'hookwire.toml');
    const refused = async (text, pattern, env = {}) => {
      writeFileSync(conf, text);
      const r = await checkConfig(['--config', conf], env);
      assert.equal(r.code, 1, `${text}\n${r.stderr}`);
      assert.match(r.stderr, pattern, text);
      // A start with the same file is refused too, before it opens anything.
      const { spawnSync } = await import('node:child_process');
      const start = spawnSync(BIN, ['serve', '--config', conf, '--data-dir', join(dir, 'never')],
        { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
      assert.equal(start.status, 2, start.stderr);
      assert.match(start.stderr, pattern);
      assert.throws(() => statSync(join(dir, 'never')), 'nothing was created');
    };
    const at = (line, rest) => new RegExp(`hookwire\\.toml:${line}:\\d+: ${rest}`);
    // Malformed TOML, each class: an unterminated string, a missing value, a redefined key, a bad table
    // header, text that is not UTF-8.
    await refused('listen = "127.0.0.1:0"\nbody-limit = "2048\n', at(2, 'not valid TOML'));
    await refused('body-limit =\n', at(1, 'not valid TOML: .*expected'));
    await refused('body-limit = 2048\nbody-limit = 4096\n', at(2, 'not valid TOML: .*redefine'));
    await refused('[source.gh\nverifier = "github"\n', at(1, 'not valid TOML'));
    await refused(Buffer.concat([Buffer.from('admin-token = "caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"\n')]),
      at(1, 'not valid TOML: .*utf-8'));
    // Valid TOML that hookwire refuses: an unknown key, a value of the wrong kind, one CLI11 refuses, an
    // array for a single value, an unknown table, the same key in both case styles, an unset variable.
    await refused('# comment\nbody-limt = 2048\n', at(2, 'body-limt: unknown setting'));
    await refused('body-limit = "lots"\n', at(1, 'body-limit: Value lots'));
    await refused('log-level = "loud"\n', at(1, 'log-level: loud not in'));
    await refused('listen = ["127.0.0.1:1", "127.0.0.1:2"]\n', at(1, 'listen: takes one value, not an array'));
    await refused('delivery-https-only = "yes"\n', at(1, 'delivery-https-only: must be true or false'));
    await refused('[server]\nlisten = "127.0.0.1:0"\n', at(1, '\\[server\\]: unknown table'));
    await refused('body-limit = 2048\nbody_limit = 4096\n', /hookwire\.toml:\d+:\d+: body_limit: set twice/);
    await refused('admin-token = "${HOOKWIRE_TEST_UNSET}"\n', at(1, 'admin-token: \\$\\{HOOKWIRE_TEST_UNSET\\}: the environment variable HOOKWIRE_TEST_UNSET is not set'));
    await refused('[source.gh]\nverifier = "github"\nsecrets = ["x"]\ncolour = "red"\n', at(4, '\\[source\\.gh\\] colour: unknown key'));
    await refused('[source.gh]\nverifier = "githb"\nsecrets = ["x"]\n', at(2, '\\[source\\.gh\\] verifier: must be one of'));
    await refused('[source.gh]\nverifier = "none"\ndestinations = ["http://10.0.0.1/in"]\n', at(3, '\\[source\\.gh\\] destinations: .*10\\.0\\.0\\.1.*--delivery-allow-cidr'));
    await refused('[source.p]\nverifier = "generic-hmac"\nsecrets = ["x"]\n[source.p.hmac]\nsignature_header = "X-Sig"\nencoding = "base65"\n',
      at(6, '\\[source\\.p\\] hmac\\.encoding: must be hex or base64'));
    const missing = await checkConfig(['--config', join(dir, 'absent.toml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /absent\.toml: cannot read the config file/);

    // A valid file: snake_case or kebab-case keys, arrays for repeatable settings, true for a flag, and
    // ${NAME} from the environment ($${ for a literal).
    writeFileSync(conf, [
      'listen = "127.0.0.1:0"', `data_dir = "${join(dir, 'data')}"`, 'admin-token = "${HOOKWIRE_TEST_ADMIN}"',
      'delivery-allow-cidr = ["127.0.0.0/8", "10.1.0.0/16"]', 'delivery_https_only = false',
      'delivery = "off"  # nothing is sent: the destination below is not on loopback',
      '[source.gh]', 'verifier = "github"', 'secrets = ["${HOOKWIRE_TEST_GH}", "literal-$${x}"]',
      'destinations = ["http://10.1.2.3/in"]', '',
    ].join('\n'));
    const env = { HOOKWIRE_TEST_ADMIN: 'admin-from-env', HOOKWIRE_TEST_GH: 'gh-secret' };
    const ok = await checkConfig(['--config', conf], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /configuration is valid .*1 source/);
    assert.throws(() => statSync(join(dir, 'data')), '--check-config opens no data directory');
    const s = await serve(['--config', conf], env);
    try {
      const auth = { authorization: 'Bearer admin-from-env' };
      const src = await (await fetch(`${s.url}/api/v1/source/gh`, { headers: auth })).json();
      assert.equal(src.destinations[0].url, 'http://10.1.2.3/in', 'allowed by the second CIDR of the array');
      // Both secrets verify: the one from the environment and the literal one.
      const { createHmac } = await import('node:crypto');
      for (const secret of ['gh-secret', 'literal-${x}', 'wrong']) {
        const body = JSON.stringify({ secret });
        const res = await fetch(`${s.url}/in/gh`, {
          method: 'POST', body, headers: {
            'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': `d-${secret}`,
            'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
          },
        });
        assert.equal(res.status, secret === 'wrong' ? 401 : 202, secret);
      }
    } finally {
      assert.equal(await s.stop(), 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hookwire --version, hookwire help [command], and log levels printed as --log-level spells them', async () => {
  const { spawnSync } = await import('node:child_process');
  const { mkdirSync } = await import('node:fs');
  const run = (...args) => spawnSync(BIN, args, { env: { PATH: process.env.PATH }, encoding: 'utf8' });
  const version = run('--version');
  assert.equal(version.status, 0);
  assert.match(version.stdout, /^hookwire \d+\.\d+\.\d+\n$/);
  const help = run('help');
  assert.equal(help.status, 0);
  for (const command of ['serve', 'listen', 'sign', 'verify', 'secret', 'help']) assert.match(help.stdout, new RegExp(`^\\s+${command}\\s`, 'm'));
  const serveHelp = run('help', 'serve');
  assert.equal(serveHelp.status, 0);
  assert.match(serveHelp.stdout, /Usage: hookwire serve/);
  assert.match(serveHelp.stdout, /--check-config/);
  const unknown = run('help', 'nope');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /no command "nope"/);

  // A warn-level line (an install left readable by others is corrected), in text and in JSON.
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-levels-'));
  try {
    for (const format of ['text', 'json']) {
      const data = join(dir, format);
      mkdirSync(data, { mode: 0o755 });
      const { chmodSync } = await import('node:fs');
      chmodSync(data, 0o755);
      const s = await serve(['--listen', '127.0.0.1:0', '--data-dir', data, '--admin-token', 'admin-token-levels',
                             '--log-format', format, '--log-level', 'warn']);
      assert.equal(await s.stop(), 0);
      const line = s.out.stderr.split('\n').find((l) => l.includes('was 0755'));
      assert.ok(line, s.out.stderr);
      if (format === 'text') assert.match(line, /^\S+ warn  data directory/);
      else assert.equal(JSON.parse(line).level, 'warn');
      assert.doesNotMatch(s.out.stderr, /warning|"info"|\binfo\b/, 'nothing below warn, and no other spelling');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--public-listen: a second listener serves only POST /in/{source} and health; the management API is not reachable there (404)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-public-'));
  try {
    const s = await serve(['--listen', '127.0.0.1:0', '--public-listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'),
                           '--admin-token', 'admin-token-public-test']);
    try {
      const m = s.out.stdout.match(/public listener .* on (http:\/\/127\.0\.0\.1:\d+)/);
      assert.ok(m, s.out.stdout);
      const pub = m[1];
      assert.notEqual(pub, s.url);
      const auth = { authorization: 'Bearer admin-token-public-test' };
      const made = await fetch(`${s.url}/api/v1/source`, {
        method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ uid: 'open', verifier: 'none', pull: true }),
      });
      assert.equal(made.status, 201);
      // The management API, /metrics and the OpenAPI document: only on the private listener.
      for (const [method, path] of [['GET', '/api/v1/app'], ['POST', '/api/v1/app'], ['GET', '/metrics'],
                                    ['GET', '/api/v1/source/open'], ['GET', '/api/v1/openapi.json']]) {
        const res = await fetch(`${pub}${path}`, { method, headers: auth, body: method === 'POST' ? '{"name":"x"}' : undefined });
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.equal((await fetch(`${s.url}${path}`, { method: 'GET', headers: auth })).status, 200, `${path} on the private listener`);
      }
      // What faces the internet: the sources' door and the health probe.
      assert.equal((await fetch(`${pub}/api/v1/health`)).status, 204);
      const posted = await fetch(`${pub}/in/open`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
      assert.equal(posted.status, 202, await posted.text());
      assert.equal((await fetch(`${pub}/in/unknown`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 404);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
