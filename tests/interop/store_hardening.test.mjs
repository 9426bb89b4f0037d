// Issue #18, the store's part, through the real binary: payloads under escaped keys, modes of the data
// directory and its files (fresh and corrected), and files that are not a hookwire database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, statSync, chmodSync, readdirSync, rmSync } from 'node:fs';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hookwire, BIN } from './lib/hookwire.mjs';

const mode = (path) => statSync(path).mode & 0o777;

// The files of a data directory that hold secrets, with their modes (lock and -wal/-shm when present).
function modes(dir) {
  const out = { dir: mode(dir) };
  for (const name of readdirSync(dir)) out[name] = mode(join(dir, name));
  return out;
}

// Runs `hookwire serve` on `dataDir` expecting it to refuse to start; resolves with { code, stderr }.
async function refusesToStart(dataDir) {
  const proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn'], {
    env: { ...process.env, HOOKWIRE_ADMIN_TOKEN: 't' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => {
    stdout += d;
    if (/listening on/.test(stdout)) proc.kill('SIGTERM');  // it started: stop it, the assertion below fails
  });
  proc.stderr.on('data', (d) => { stderr += d; });
  const [code] = await once(proc, 'exit');
  assert.doesNotMatch(stdout, /listening on/);
  return { code, stderr };
}

test('a payload under an escaped key is stored and read back as sent', async () => {
  const hw = await Hookwire.start();
  try {
    assert.equal((await hw.api('POST', '/api/v1/app', { name: 'A', uid: 'a' })).status, 201);
    const res = await hw.api('POST', '/api/v1/app/a/msg', '{"eventType":"a.b","pay\\u006coad":{"x": 1.50}}');
    assert.equal(res.status, 202, res.text);
    assert.equal(res.json.payload.x, 1.5);
    const got = await hw.api('GET', `/api/v1/app/a/msg/${res.json.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.json.payload, { x: 1.5 });
    const dup = await hw.api('POST', '/api/v1/app/a/msg', '{"eventType":"a.b","payload":"s","pay\\u006coad":{}}');
    assert.equal(dup.status, 202, dup.text);
    assert.deepEqual((await hw.api('GET', `/api/v1/app/a/msg/${dup.json.id}`)).json.payload, {});
  } finally {
    assert.equal(await hw.stop(), 0);
    hw.cleanup();
  }
});

test('a fresh data directory is 0700 and its files 0600, the generated admin token included', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'hookwire-modes-'));
  const dataDir = join(parent, 'data');
  const hw = await Hookwire.start({ dataDir, env: { HOOKWIRE_ADMIN_TOKEN: '' } });
  try {
    assert.match(hw.stdout, /generated an admin token/);
    const token = hw.stdout.match(/\n {2}(hwk_\w+)\n/)[1];
    hw.token = token;
    assert.equal((await hw.api('POST', '/api/v1/app', { name: 'A', uid: 'a' })).status, 201);
    const m = modes(dataDir);
    assert.equal(m.dir, 0o700, JSON.stringify(m));
    for (const name of ['hookwire.db', 'hookwire.db-wal', 'hookwire.db-shm', 'admin-token', 'lock'])
      assert.equal(m[name], 0o600, `${name}: ${JSON.stringify(m)}`);
  } finally {
    assert.equal(await hw.stop(), 0);
    rmSync(parent, { recursive: true, force: true });
  }
});

test('an existing 0755/0644 install is corrected at start, and the log says what was corrected', async () => {
  const first = await Hookwire.start({ env: { HOOKWIRE_ADMIN_TOKEN: '' } });
  const dataDir = first.dataDir;
  try {
    assert.equal(await first.stop(), 0);
    // What an older build left: a world-readable directory and files (-wal and -shm made by hand if the
    // clean stop removed them).
    chmodSync(dataDir, 0o755);
    for (const name of ['hookwire.db', 'hookwire.db-wal', 'hookwire.db-shm', 'admin-token']) {
      const path = join(dataDir, name);
      try { statSync(path); } catch { writeFileSync(path, ''); }
      chmodSync(path, 0o644);
    }
    const hw = await Hookwire.start({ dataDir, env: { HOOKWIRE_ADMIN_TOKEN: '' } });
    try {
      const m = modes(dataDir);
      assert.equal(m.dir, 0o700, JSON.stringify(m));
      for (const name of ['hookwire.db', 'admin-token']) assert.equal(m[name], 0o600, `${name}: ${JSON.stringify(m)}`);
      for (const name of ['hookwire.db-wal', 'hookwire.db-shm'])
        if (m[name] !== undefined) assert.equal(m[name], 0o600, `${name}: ${JSON.stringify(m)}`);
      assert.match(hw.stderr, /data directory .* was 0755, now 0700/);
      assert.match(hw.stderr, /hookwire\.db was 0644, now 0600/);
      assert.match(hw.stderr, /admin-token was 0644, now 0600/);
    } finally {
      assert.equal(await hw.stop(), 0);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a database file that is not a hookwire database stops the start with a clear message', async () => {
  const cases = {
    'an empty file': Buffer.alloc(0),
    'not SQLite': Buffer.from('this is not a database at all, just some text that is long enough\n'.repeat(200)),
    'a corrupt header': Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(8192, 0xff)]),
  };
  for (const [what, bytes] of Object.entries(cases)) {
    const dataDir = mkdtempSync(join(tmpdir(), 'hookwire-notdb-'));
    try {
      writeFileSync(join(dataDir, 'hookwire.db'), bytes);
      const { code, stderr } = await refusesToStart(dataDir);
      assert.notEqual(code, 0, what);
      assert.match(stderr, /hookwire\.db/, `${what}: ${stderr}`);
      assert.match(stderr, /not a hookwire database/, `${what}: ${stderr}`);
      assert.match(stderr, /restore it from a backup|move it away/, `${what}: ${stderr}`);
      assert.equal(statSync(join(dataDir, 'hookwire.db')).size, bytes.length, `${what}: the file was changed`);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  // A SQLite database of another program is not a hookwire database either (made with the sqlite3 shell).
  const dataDir = mkdtempSync(join(tmpdir(), 'hookwire-notdb-'));
  try {
    execFileSync('sqlite3', [join(dataDir, 'hookwire.db'), 'CREATE TABLE other (x); PRAGMA user_version = 3;']);
    const { code, stderr } = await refusesToStart(dataDir);
    assert.notEqual(code, 0);
    assert.match(stderr, /not a hookwire database/, stderr);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
