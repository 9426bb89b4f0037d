// Runs the real hookwire binary for a test: `hookwire serve` on 127.0.0.1 port 0 with a fresh data directory.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';

export const BIN = process.env.HOOKWIRE_BIN ?? new URL('../../../build/src/cli/hookwire', import.meta.url).pathname;

export class Hookwire {
  // options: { dataDir, token, listen: 'host:port' (default 127.0.0.1:0; a restart on the same port passes the
  // first run's), logLevel (default warn), args: [...extra flags], env: {...}, prefix: [command that runs the binary, e.g. 'prlimit',
  // '--nofile=256:256', '--'] }
  static async start(options = {}) {
    const hw = new Hookwire();
    hw.dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'hookwire-test-'));
    hw.ownsDataDir = !options.dataDir;
    hw.token = options.token ?? 'test-admin-token';
    const args = ['serve', '--listen', options.listen ?? '127.0.0.1:0', '--data-dir', hw.dataDir, '--log-level', options.logLevel ?? 'warn',
                  ...(options.args ?? [])];
    const prefix = options.prefix ?? [];
    hw.proc = spawn(prefix.length ? prefix[0] : BIN, prefix.length ? [...prefix.slice(1), BIN, ...args] : args, {
      env: { ...process.env, HOOKWIRE_ADMIN_TOKEN: hw.token, ...(options.env ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    hw.stdout = '';
    hw.stderr = '';
    hw.proc.stderr.on('data', (d) => { hw.stderr += d; });
    hw.exited = once(hw.proc, 'exit');
    const url = await new Promise((resolve, reject) => {
      hw.proc.stdout.on('data', (d) => {
        hw.stdout += d;
        const m = hw.stdout.match(/listening on (https?:\/\/127\.0\.0\.1:\d+)/);
        if (m) resolve(m[1]);
      });
      hw.proc.on('exit', (code) => reject(new Error(`hookwire exited (${code}) before listening:\n${hw.stderr}`)));
    });
    hw.url = url;
    hw.port = Number(new URL(url).port);
    return hw;
  }

  // fetch() against the server with the admin token; `body` objects are sent as JSON.
  async api(method, path, body, headers = {}) {
    const init = { method, headers: { authorization: `Bearer ${this.token}`, ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      init.headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(this.url + path, init);
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
  }

  // Graceful stop (SIGTERM); resolves with the exit code.
  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    const [code] = await this.exited;
    return code;
  }

  // Crash: SIGKILL, no chance to flush anything.
  async kill() {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  cleanup() {
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
