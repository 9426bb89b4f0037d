// The README's walk-through, run as written against a fresh server: every shell block marked
// `<!-- doc-test -->` (run it, wait for it to end) or `<!-- doc-test background -->` (a long-running process), in
// order, from a fresh temporary directory that stands for the repository root, and what the README says each
// one gives is checked.
//
// The commands are the README's text with these substitutions only, made textually so the README stays what a
// user copies:
//   - `scripts/run.sh ARGS` becomes `$HOOKWIRE_BIN serve --listen 127.0.0.1:PORT --data-dir DIR/hookwire-data
//     ARGS` (run.sh would apt-get and build; it ends by exec'ing `serve` with its arguments, on that data dir);
//   - `build/src/cli/hookwire` becomes $HOOKWIRE_BIN;
//   - every fixed loopback port the blocks name (8071, the server's default, and the receiver's 9000) becomes a
//     free port picked now, so parallel runs and CI never collide.
// The foreground blocks run one after another in one `bash -euo pipefail` (variables such as TOKEN carry over),
// each sourced from a file with stdin from /dev/null and followed by a sentinel line; between blocks the test
// waits for what the README implies has happened (the delivery an attempt list shows). Background blocks run as
// bash processes of their own (given the variables the foreground shell has set so far, as a second terminal
// would need them), each in its own process group, killed at the end even when the test fails. Waits are on
// events or conditions with a deadline, never on fixed sleeps (the README's own `sleep 1` runs as written).
// Nothing leaves loopback: a URL in a marked block must be loopback or under the reserved `.example` domain
// (the pull-only sink's, which is never called), and the unmarked Stripe CLI block is never run.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { Webhook } from 'standardwebhooks';
import { BIN } from './lib/hookwire.mjs';

const README = new URL('../../README.md', import.meta.url).pathname;
const DEADLINE_MS = 15000;  // any one wait; the whole walk-through takes a few seconds

// The marked blocks of a markdown text, in order: { line (1-based, of the marker), background, code }.
// Throws when a marker is malformed or is not followed by a ```sh block.
function markedBlocks(markdown) {
  const lines = markdown.split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].includes('doc-test')) continue;
    const m = lines[i].match(/^<!--\s*doc-test(\s+background)?\s*-->\s*$/);
    if (!m) throw new Error(`README.md:${i + 1}: not a doc-test marker (<!-- doc-test --> or <!-- doc-test background -->): ${lines[i]}`);
    if (lines[i + 1]?.trim() !== '```sh')
      throw new Error(`README.md:${i + 1}: a doc-test marker must be followed directly by a \`\`\`sh block, not: ${lines[i + 1]}`);
    const end = lines.findIndex((l, j) => j > i + 1 && l.trim() === '```');
    if (end < 0) throw new Error(`README.md:${i + 2}: the \`\`\`sh block never ends`);
    blocks.push({ line: i + 1, background: Boolean(m[1]), code: lines.slice(i + 2, end).join('\n') + '\n' });
    i = end;
  }
  return blocks;
}

const shq = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
// `127.0.0.1:9000`, `localhost:9000` and Python's `("127.0.0.1", 9000)`.
const PORT_RE = /(127\.0\.0\.1|localhost)(:|",\s*)(\d{2,5})\b/g;

function freePorts(n) {
  return Promise.all(Array.from({ length: n }, async () => {
    const s = net.createServer().listen(0, '127.0.0.1');
    await once(s, 'listening');
    return s;
  })).then(async (servers) => {
    const ports = servers.map((s) => s.address().port);
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    return ports;
  });
}

// Resolves when pred() holds, checked now and whenever a child process prints or exits; rejects at the deadline
// or when `failed()` returns a reason, with `what` and `context()` in the message.
function waitUntil(pred, { what, context = () => '', failed = () => null, ms = DEADLINE_MS }) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms waiting for ${what}\n${context()}`)), ms);
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      waiters.delete(check);
      err ? reject(err) : resolve();
    };
    const check = () => {
      try {
        if (pred()) return finish();
        const why = failed();
        if (why) finish(new Error(`${why} while waiting for ${what}\n${context()}`));
      } catch (e) {
        finish(e);
      }
    };
    waiters.add(check);
    check();
  });
}
const waiters = new Set();
const poke = () => { for (const w of [...waiters]) w(); };

// Every process started here, in its own process group; killed after the test whatever happens.
const procs = [];
async function stopAll() {
  for (const p of procs.reverse()) {
    if (p.exitCode === null && p.signalCode === null) {
      try { process.kill(-p.pid, 'SIGTERM'); } catch {}
      const timer = setTimeout(() => { try { process.kill(-p.pid, 'SIGKILL'); } catch {} }, 5000);
      await p.exited;
      clearTimeout(timer);
    }
    try { process.kill(-p.pid, 'SIGKILL'); } catch {}  // whatever of its group outlived it
  }
  procs.length = 0;
}
after(stopAll);

function start(args, options) {
  const p = spawn('bash', args, { ...options, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  p.out = '';
  p.err = '';
  p.stdout.setEncoding('utf8');
  p.stderr.setEncoding('utf8');
  p.stdout.on('data', (d) => { p.out += d; poke(); });
  p.stderr.on('data', (d) => { p.err += d; poke(); });
  p.exited = once(p, 'exit');
  p.on('exit', poke);
  p.stdin.on('error', () => {});
  procs.push(p);
  return p;
}
const gone = (p) => (p.exitCode !== null || p.signalCode !== null ? `exited (${p.exitCode ?? p.signalCode})` : null);
const show = (name, p) => `--- ${name} stdout:\n${p.out}--- ${name} stderr:\n${p.err}`;

// The python receiver's output, one entry per request: { path, headers (lower-case names), body }; only
// requests printed in full (body as long as its Content-Length) are returned.
function receivedRequests(out) {
  const starts = [...out.matchAll(/^POST (\S+)\n/gm)];
  const requests = [];
  for (const [i, m] of starts.entries()) {
    const chunk = out.slice(m.index + m[0].length, starts[i + 1]?.index ?? out.length);
    const split = chunk.indexOf('\n\n');
    if (split < 0) break;
    const headers = {};
    for (const line of chunk.slice(0, split).split('\n')) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const rest = Buffer.from(chunk.slice(split + 2));
    if (rest.length < length) break;
    requests.push({ path: m[1], headers, body: rest.subarray(0, length).toString() });
  }
  return requests;
}

// A receiver request verified as Standard Webhooks with `secret`; returns it.
function assertSigned(req, secret) {
  for (const h of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) assert.ok(req.headers[h], `${req.path}: no ${h} header`);
  new Webhook(secret).verify(req.body, req.headers);
  return req;
}

const jsonLines = (out) => out.trim().split('\n').map((l) => JSON.parse(l));

// What each marked block is and what the README says it gives, in README order. `match` must be found in the
// block (so a reordered or new block fails here, not obscurely later); `ready` (background) resolves once it
// is up; `before` (foreground) waits for what the block relies on; `check` asserts on the block's stdout.
const EXPECTED = [
  {
    name: 'terminal 1: the server', match: /^scripts\/run\.sh\b/m, background: true, role: 'server',
    ready: (c, p) => waitUntil(() => p.out.includes(`hookwire: listening on http://127.0.0.1:${c.port(8071)}\n`), {
      what: `the server to print "hookwire: listening on http://127.0.0.1:${c.port(8071)}"`,
      failed: () => gone(p), context: () => show('server', p),
    }),
    // "At its first start hookwire generates an admin token, prints it once and keeps it in
    // hookwire-data/admin-token."
    after: (c, p) => {
      c.token = readFileSync(join(c.dir, 'hookwire-data', 'admin-token'), 'utf8').trim();
      assert.match(c.token, /^\S{20,}$/);
      assert.equal(p.out.split(c.token).length - 1, 1, 'the admin token is printed exactly once');
      assert.ok(p.out.indexOf(c.token) < p.out.indexOf('listening on'), 'the token is printed before "listening on"');
    },
  },
  {
    name: 'terminal 2: a receiver', match: /http\.server\.HTTPServer/, background: true, role: 'receiver',
    ready: (c, p) => connectable(c.port(9000), () => gone(p), () => show('receiver', p)),
  },
  {
    name: 'health, no token', match: /\/api\/v1\/health/,
    check: (c, out) => assert.equal(out, '204\n'),  // `# 204`
  },
  {
    name: 'an application, an endpoint', match: /\/endpoint \\\n[^\n]*"url":"http:\/\/127\.0\.0\.1:9000\/acme"/,
    check: (c, out) => {
      const [app, ep] = jsonLines(out);
      assert.match(app.id, /^app_/);
      assert.equal(app.uid, 'acme');
      assert.equal(app.name, 'Acme');
      // Accepted, not the 422 it would be without --delivery-allow-cidr.
      assert.match(ep.id, /^ep_/, `the endpoint was not created: ${JSON.stringify(ep)}`);
      assert.equal(ep.url, `http://127.0.0.1:${c.port(9000)}/acme`);
    },
  },
  {
    name: 'publish', match: /\/msg \\\n/,
    check: (c, out) => {  // "The answer (202) comes once it is on disk"
      const [body, code] = out.trim().split('\n');
      assert.equal(code, '202', out);
      const msg = JSON.parse(body);
      assert.match(msg.id, /^msg_/);
      assert.equal(msg.eventId, 'evt_1');
      assert.equal(msg.eventType, 'invoice.paid');
      assert.deepEqual(msg.payload, { id: 'in_1', amount: 4200 });
      c.msgId = msg.id;
    },
  },
  {
    name: "the message's attempts", match: /\/attempt\/msg\/evt_1/,
    // "Terminal 2 prints POST /acme ... The attempt is logged": the delivery has happened and its attempt is
    // written before this block lists it (the README's `sleep 1` is for a person typing; the test waits for
    // the receiver, then for the attempt to be on record).
    before: async (c, code) => {
      const req = await receiverGot(c, '/acme');
      assertSigned(req, await endpointSecret(c, '/api/v1/app/acme/endpoint/local/secret'));
      assert.equal(req.headers['x-hookwire-event-type'], 'invoice.paid');
      assert.equal(req.body, '{"id":"in_1","amount":4200}', 'the payload as it was sent');
      const url = code.match(/http:\/\/127\.0\.0\.1:\d+\/api\/v1\/app\/\S+\/attempt\/msg\/[\w-]+/)[0];
      await pollUntil(async () => (await api(c, url)).data?.length > 0, 'the attempt to be listed');
    },
    check: (c, out) => {
      // One attempt, with "responseStatusCode":204, "status":0 and "statusText":"success".
      for (const field of ['"responseStatusCode":204', '"status":0', '"statusText":"success"']) assert.ok(out.includes(field), field);
      const { data } = JSON.parse(out);
      assert.equal(data.length, 1, out);
      assert.equal(data[0].msgId, c.msgId);
      assert.equal(data[0].url, `http://127.0.0.1:${c.port(9000)}/acme`);
      assert.equal(data[0].responseStatusCode, 204);
      assert.equal(data[0].status, 0);
      assert.equal(data[0].statusText, 'success');
    },
  },
  {
    name: 'a Stripe source', match: /\/api\/v1\/source \\/,
    check: (c, out) => {  // "The answer gives the source's appId and each destination with its own whsec_ secret"
      const src = JSON.parse(out);
      assert.equal(src.uid, 'stripe');
      assert.match(src.appId, /^app_/);
      assert.equal(src.destinations.length, 1);
      assert.equal(src.destinations[0].url, `http://127.0.0.1:${c.port(9000)}/stripe`);
      assert.match(src.destinations[0].secret, /^whsec_/);
      c.stripeDestinationSecret = src.destinations[0].secret;
    },
  },
  {
    name: 'an unsigned request', match: /\/in\/stripe -d /,
    check: (c, out) => assert.equal(out,
      '{"code":"authentication_failed","detail":"missing Stripe-Signature header","reason":"missing_header"}\n401\n'),
  },
  {
    name: 'a request signed by hookwire sign', match: /^BODY=.*\n[\s\S]*hookwire sign --scheme stripe/m,
    check: (c, out) => {  // {"id":"msg_..."} and 202
      const m = out.match(/^\{"id":"(msg_[^"]+)"\}\n202\n$/);
      assert.ok(m, out);
      c.stripeMsgId = m[1];
    },
  },
  {
    name: 'the same event again', match: /hookwire sign --scheme stripe/,
    // Sent after the first was forwarded, so "not forwarded again" can be checked at the end.
    before: async (c) => {
      const req = assertSigned(await receiverGot(c, '/stripe'), c.stripeDestinationSecret);
      assert.equal(req.body, '{"id":"evt_test_1","object":"event","type":"invoice.paid","data":{"object":{"id":"in_1"}}}');
      assert.equal(req.headers['webhook-id'], c.stripeMsgId);
    },
    check: (c, out) => assert.equal(out, `{"id":"${c.stripeMsgId}","duplicate":true}\n200\n`),
  },
  {
    name: 'a pull-only sink, the poller', match: /"pullOnly":true[\s\S]*\/poller\/nightly-sync/,
    check: (c, out) => {
      const [sink, page] = jsonLines(out);
      assert.match(sink.id, /^ep_/, JSON.stringify(sink));
      assert.equal(sink.pullOnly, true);
      // {"data":[{"id":"msg_...","eventType":"invoice.paid",...}],"iterator":"itr_...","done":true}
      assert.equal(page.data.length, 1, out);
      assert.equal(page.data[0].id, c.msgId);
      assert.equal(page.data[0].eventType, 'invoice.paid');
      assert.match(page.iterator, /^itr_/);
      assert.equal(page.done, true);
    },
  },
  {
    name: "the sink's token", match: /POLL_TOKEN=/,
    check: (c, out) => assert.match(out, /^sk_poll_\S+\n$/),
  },
  {
    name: 'hookwire listen', match: /hookwire listen /, background: true,
    // "It prints the secret, then one line per event it forwarded (time, type, id, local status, latency);
    // terminal 2 prints each as POST /listen."
    ready: async (c, p) => {
      await waitUntil(() => /^\S+Z  invoice\.paid  msg_\S+  \d+  \d+ms$/m.test(p.out), {
        what: 'hookwire listen to print a forwarded event', failed: () => gone(p), context: () => show('listen', p),
      });
      const secret = p.out.match(/\b(whsec_[A-Za-z0-9+/=]+)/)?.[1];
      assert.ok(secret, `listen printed no whsec_ secret:\n${p.out}`);
      // Kept in $XDG_CONFIG_HOME/hookwire/listen-secret (the test's XDG_CONFIG_HOME is in its temp dir).
      assert.equal(readFileSync(join(c.dir, 'config', 'hookwire', 'listen-secret'), 'utf8').trim(), secret);
      const events = p.out.split('\n').filter((l) => / msg_/.test(l));
      assert.equal(events.length, 1, p.out);
      assert.match(events[0], new RegExp(`^\\S+Z  invoice\\.paid  ${c.msgId}  204  \\d+ms$`));
      const req = assertSigned(await receiverGot(c, '/listen'), secret);
      assert.equal(req.body, '{"id":"in_1","amount":4200}');
    },
  },
  {
    name: 'a portal link', match: /app-portal-access\/acme/,
    check: async (c, out) => {
      const access = JSON.parse(out);
      const base = `http://127.0.0.1:${c.port(8071)}`;
      assert.ok(access.url.startsWith(`${base}/portal#key=applink_`), access.url);
      assert.match(access.token, /^appsk_/);
      // "the link works once and becomes a browser session"
      const login = () => fetch(`${base}/ui/api/portal/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key: access.url.split('#key=')[1] }),
      });
      const first = await login();
      assert.equal(first.status, 200);
      assert.match(first.headers.get('set-cookie'), /^hookwire_portal=.*HttpOnly/);
      assert.equal((await login()).status, 401);
    },
  },
];

// Resolves when the receiver has printed a whole request to `path`; returns the first.
async function receiverGot(c, path) {
  const find = () => receivedRequests(c.receiver.out).find((r) => r.path === path);
  await waitUntil(() => find(), {
    what: `the receiver to print POST ${path}`, failed: () => gone(c.receiver), context: () => show('receiver', c.receiver),
  });
  return find();
}

async function connectable(port, failed, context) {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    const why = failed();
    if (why || Date.now() > deadline) throw new Error(`${why ?? 'timed out'} waiting for 127.0.0.1:${port} to accept\n${context()}`);
    await new Promise((r) => setTimeout(r, 20));  // poll interval, not a wait for anything in particular
  }
}

async function pollUntil(pred, what) {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function api(c, url) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${c.token}` } });
  assert.equal(res.status, 200, `GET ${url}`);
  return res.json();
}
// Runs f; a failure names the README block and shows it as run.
async function labelled(label, code, f, more = '') {
  try {
    await f();
  } catch (err) {
    err.message = `${label}: ${err.message}\n--- block as run:\n${code}${more}`;
    throw err;
  }
}
const endpointSecret = async (c, path) => (await api(c, `http://127.0.0.1:${c.port(8071)}${path}`)).key;

test('the README walk-through runs as written and gives what the README says', { timeout: 60000 }, async () => {
  const blocks = markedBlocks(readFileSync(README, 'utf8'));
  assert.ok(blocks.length > 0, 'README.md has no <!-- doc-test --> blocks');
  assert.equal(blocks.length, EXPECTED.length,
    `README.md has ${blocks.length} doc-test blocks, this test knows ${EXPECTED.length}: update EXPECTED`);
  for (const [i, b] of blocks.entries()) {
    const e = EXPECTED[i];
    assert.ok(e.match.test(b.code) && b.background === Boolean(e.background),
      `README.md:${b.line}: expected the ${e.background ? 'background ' : ''}block "${e.name}" (${e.match}), got:\n${b.code}`);
    for (const [, host] of b.code.matchAll(/[a-z]+:\/\/([^/:'"\s]+)/g))
      assert.ok(['127.0.0.1', 'localhost'].includes(host) || host.endsWith('.example'),
        `README.md:${b.line}: ${host} is not loopback: the doc test never leaves this machine`);
    assert.doesNotMatch(b.code.replaceAll('build/src/cli/hookwire', ''), /(^|[\s|;&(])hookwire\s/m,
      `README.md:${b.line}: runs \`hookwire\` in a way this test does not substitute`);
  }

  const readmePorts = [...new Set([8071, ...blocks.flatMap((b) => [...b.code.matchAll(PORT_RE)].map((m) => Number(m[3])))])];
  const picked = await freePorts(readmePorts.length);
  const portMap = new Map(readmePorts.map((p, i) => [p, picked[i]]));
  const dir = mkdtempSync(join(tmpdir(), 'hookwire-readme-'));
  mkdirSync(join(dir, 'config'));
  const c = { dir, port: (p) => portMap.get(p) };
  // One pass, so no substitution's result is substituted again.
  const SUBSTITUTED = new RegExp(`\\bscripts/run\\.sh\\b|\\bbuild/src/cli/hookwire\\b|${PORT_RE.source}`, 'g');
  const substitute = (code) => code.replace(SUBSTITUTED, (all, host, sep, port) => {
    if (all === 'scripts/run.sh')
      return `${shq(BIN)} serve --listen 127.0.0.1:${c.port(8071)} --data-dir ${shq(join(dir, 'hookwire-data'))}`;
    if (all === 'build/src/cli/hookwire') return shq(BIN);
    return `${host}${sep}${c.port(Number(port))}`;
  });

  // The shells' environment: no HOOKWIRE_* settings from the test's own, no proxies (curl would send loopback
  // requests through one), no BASH_ENV; listen's secret goes under the temp dir.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
    !k.startsWith('HOOKWIRE_') && !/^(https?_proxy|all_proxy|no_proxy|BASH_ENV)$/i.test(k)));
  env.XDG_CONFIG_HOME = join(dir, 'config');
  env.no_proxy = env.NO_PROXY = '*';

  const shell = start(['--noprofile', '--norc', '-euo', 'pipefail'], { cwd: dir, env });
  let run = 0;
  // Runs `code` in the persistent shell; resolves with its stdout.
  const inShell = async (code, label) => {
    const n = ++run;
    const file = join(dir, `.block-${n}.sh`);
    writeFileSync(file, code);
    const from = shell.out.length;
    const sentinel = `__DONE_${n}__ 0\n`;
    shell.stdin.write(`source ${shq(file)} </dev/null\necho "__DONE_${n}__ $?"\n`);
    await waitUntil(() => shell.out.indexOf(sentinel, from) >= 0, {
      what: `${label} to finish`, failed: () => gone(shell) && `the shell ${gone(shell)} (a command failed under set -e)`,
      context: () => `--- block:\n${code}--- its stdout:\n${shell.out.slice(from)}\n--- shell stderr:\n${shell.err}`,
    });
    return shell.out.slice(from, shell.out.indexOf(sentinel, from));
  };

  try {
    const assigned = new Set();
    for (const [i, b] of blocks.entries()) {
      const e = EXPECTED[i];
      const code = substitute(b.code);
      const label = `README.md:${b.line} (${e.name})`;
      if (b.background) {
        // A second terminal, given the variables set so far (as a user would have them there).
        const vars = assigned.size ? await inShell(`declare -p ${[...assigned].join(' ')}\n`, 'declare -p') : '';
        const p = start(['--noprofile', '--norc', '-euo', 'pipefail', '-c', vars + code], { cwd: dir, env });
        p.stdin.end();
        if (e.role) c[e.role] = p;
        await labelled(label, code, async () => {
          await e.ready(c, p);
          e.after?.(c, p);
        });
        continue;
      }
      for (const [, name] of b.code.matchAll(/^\s*([A-Za-z_]\w*)=/gm)) assigned.add(name);
      await labelled(label, code, () => e.before?.(c, code));
      const out = await inShell(code, label);
      await labelled(label, code, () => e.check(c, out), `--- its stdout:\n${out}`);
    }
    // "Sent again ... is not forwarded again": the duplicate made no message, so there is nothing to wait for;
    // a second POST /stripe by now (a second later, after listen's request) would show it was forwarded.
    assert.equal(receivedRequests(c.receiver.out).filter((r) => r.path === '/stripe').length, 1, show('receiver', c.receiver));
    assert.equal(receivedRequests(c.receiver.out).filter((r) => r.path === '/acme').length, 1);
    shell.stdin.end();
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});
