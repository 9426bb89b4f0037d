// A throwaway PostgreSQL 15 cluster for the tests that need a real server (the JS twin of
// src/store/testing/pg_cluster.h): initdb in a temporary directory, started with pg_ctl on a free loopback port
// (as the postgres user when the tests run as root; there is no systemd), TCP on 127.0.0.1 only (no Unix
// socket), trust authentication, stopped and deleted afterwards. HOOKWIRE_PG_BIN overrides the binaries'
// directory (default /usr/lib/postgresql/15/bin); psql is taken from the same directory or the PATH.
//
//   const pg = await PgCluster.create();         // initdb + start
//   const url = await pg.createDatabase();         // a fresh database: postgres://postgres@127.0.0.1:PORT/t_N
//   await pg.stop(); await pg.start();             // fast shutdown, then back on the same port
//   await pg.destroy();                            // immediate stop, directory removed
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './receiver.mjs';

const run = promisify(execFile);
export const PG_BIN = process.env.HOOKWIRE_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const AS_ROOT = process.getuid?.() === 0;
const PSQL = existsSync(join(PG_BIN, 'psql')) ? join(PG_BIN, 'psql') : 'psql';

// Clusters still running when the process exits (a test that threw past its after hook, an interrupted run)
// are stopped immediately and removed, synchronously.
const live = new Set();
process.on('exit', () => {
  for (const c of live) c.destroySync();
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => { for (const c of live) c.destroySync(); process.exit(130); });
}

function postgresUid() {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('PostgreSQL test cluster: no postgres user (install postgresql-15)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export class PgCluster {
  // options: { settings: { name: value } (extra -c settings, e.g. shared_preload_libraries), port }
  static async create(options = {}) {
    if (!existsSync(join(PG_BIN, 'initdb'))) {
      throw new Error(`PostgreSQL test cluster: no initdb in ${PG_BIN} (install postgresql-15 or set HOOKWIRE_PG_BIN)`);
    }
    const c = new PgCluster();
    c.dir = mkdtempSync(join(tmpdir(), 'hookwire-pg-'));
    c.settings = { listen_addresses: '127.0.0.1', unix_socket_directories: '', ...(options.settings ?? {}) };
    live.add(c);
    try {
      if (AS_ROOT) {
        const { uid, gid } = postgresUid();
        chownSync(c.dir, uid, gid);
      }
      await c.pg('initdb', ['-D', c.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'],
        'initdb');
      c.port = options.port ?? (await freePort());
      await c.start();
    } catch (e) {
      c.destroySync();
      throw e;
    }
    return c;
  }

  get data() { return join(this.dir, 'data'); }
  get logFile() { return join(this.dir, 'server.log'); }
  url(db = 'postgres') { return `postgres://postgres@127.0.0.1:${this.port}/${db}`; }
  serverLog() {
    try { return readFileSync(this.logFile, 'utf8'); } catch { return '(no server log)'; }
  }

  // Runs a PostgreSQL program as the postgres user (directly when not root); fails with its output and the
  // server log.
  async pg(program, args, step, timeout = 90000) {
    const file = join(PG_BIN, program);
    const [cmd, argv] = AS_ROOT ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
    try {
      return await run(cmd, argv, { timeout, maxBuffer: 16 << 20 });
    } catch (e) {
      throw new Error(`PostgreSQL test cluster: ${step} failed in ${this.dir} (${e.code ?? e.signal ?? e.message})\n` +
                      `${e.stdout ?? ''}${e.stderr ?? ''}\n--- server log ---\n${this.serverLog().slice(-4000)}`);
    }
  }

  // Starts the server on its port and waits until it accepts connections (pg_ctl -w). Does nothing while it runs.
  async start() {
    if (this.running) return;
    const opts = [`-p ${this.port}`, ...Object.entries(this.settings).map(([k, v]) => `-c ${k}=${v}`)].join(' ');
    await this.pg('pg_ctl', ['-D', this.data, '-l', this.logFile, '-w', '-t', '60', '-o', opts, 'start'],
      `pg_ctl start on 127.0.0.1:${this.port}`);
    this.running = true;
  }

  // A fast shutdown: clients are disconnected, committed data is kept; start() brings it back on the same port.
  async stop() {
    if (!this.running) return;
    await this.pg('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', '-t', '60', 'stop'], 'pg_ctl stop');
    this.running = false;
  }

  // psql on a database of this cluster: unaligned, tuples only; the output's trimmed text.
  async psql(sql, db = 'postgres') {
    try {
      const { stdout } = await run(PSQL, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1',
        '-p', String(this.port), '-U', 'postgres', '-d', db, '-c', sql], { timeout: 60000, maxBuffer: 64 << 20 });
      return stdout.trim();
    } catch (e) {
      throw new Error(`psql on ${db} failed: ${sql}\n${e.stderr ?? e.message}`);
    }
  }

  // A fresh, empty database; its URL. Each test uses its own, so tests never see each other's rows.
  async createDatabase(name) {
    this.dbCount = (this.dbCount ?? 0) + 1;
    const db = name ?? `t_${process.pid}_${this.dbCount}`;
    await this.psql(`CREATE DATABASE ${db}`);
    return this.url(db);
  }

  // Immediate stop and the directory removed.
  async destroy() {
    if (this.running) {
      await this.pg('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', '-t', '60', 'stop'], 'pg_ctl stop -m immediate')
        .catch(() => {});
      this.running = false;
    }
    if (!process.env.KEEP) rmSync(this.dir, { recursive: true, force: true });
    else console.log('PostgreSQL cluster kept in', this.dir);
    live.delete(this);
  }

  destroySync() {
    if (!live.has(this)) return;
    live.delete(this);
    try {
      const file = join(PG_BIN, 'pg_ctl');
      const args = ['-D', this.data, '-m', 'immediate', '-w', 'stop'];
      if (existsSync(join(this.data, 'postmaster.pid'))) {
        execFileSync(AS_ROOT ? 'runuser' : file, AS_ROOT ? ['-u', 'postgres', '--', file, ...args] : args, { stdio: 'ignore' });
      }
    } catch { /* already stopped */ }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
