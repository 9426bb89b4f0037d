// bench/pull/pull.mjs: the pull door's benchmark driver (see bench/pull/README.md). No npm dependencies.
//
//   node pull.mjs setup     create APPS applications `pull-<i>`, each with one pull-only sink `sink`
//   node pull.mjs lag       reads the publisher's files (PUBLISHED_GLOB prefix) and the readers' file (RECEIVED),
//                           prints the lag percentiles (the publisher is wrk with publish_timed.lua, the readers
//                           pull_client.cc)
//   node pull.mjs cost      requests, bytes and delay per delivered event for push, long-poll, SSE and polling
//
// Times are process.hrtime (CLOCK_MONOTONIC, the same clock in every process of the machine), so a publisher
// and a reader in two processes can be compared. Prints "RESULT key=value" lines on stdout, progress on stderr.
//
// Environment: HW_URL (required), TOKEN ("t"), APPS, LONG_POLL (100), SSE (1000), BODY_BYTES (1024), CONNECTIONS
// (64), PUBLISHED_GLOB, RECEIVED, COST_RATE (100), COST_SECONDS (20).
import fs from 'node:fs';
import http from 'node:http';

const env = (k, d) => process.env[k] ?? d;
const mode = process.argv[2];
const HW_URL = env('HW_URL');
if (!HW_URL && mode !== 'lag') throw new Error('HW_URL is required');
const base = HW_URL ? new URL(HW_URL) : undefined;
const TOKEN = env('TOKEN', 't');
const LONG_POLL = Number(env('LONG_POLL', 100));
const SSE = Number(env('SSE', 1000));
const APPS = Number(env('APPS', LONG_POLL + SSE));
const BODY_BYTES = Number(env('BODY_BYTES', 1024));
const CONNECTIONS = Number(env('CONNECTIONS', 64));
const log = (...a) => console.error(`bench/pull/${mode}:`, ...a);
const now = () => process.hrtime.bigint();
const result = (k, v) => console.log(`RESULT ${k}=${v}`);

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const counts = { requests: 0, bytesOut: 0, bytesIn: 0 };

// One HTTP request over the keep-alive agent; counts requests and the bytes of each side (headers included).
function request(method, path, body, { a = agent, stats = counts } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request(
      {
        agent: a, host: base.hostname, port: base.port, method, path,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          stats.requests++;
          // Bytes on the wire: the request line and headers as node wrote them, and the response head as parsed.
          stats.bytesOut += (req._header?.length ?? 0) + (data?.length ?? 0);
          stats.bytesIn += Buffer.byteLength(text) + rawHeadLength(res);
          resolve({ status: res.statusCode, body: text, at: now() });
        });
        res.on('error', reject);
      });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}
function rawHeadLength(res) {
  let n = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`.length + 2;
  for (let i = 0; i < res.rawHeaders.length; i += 2) n += res.rawHeaders[i].length + res.rawHeaders[i + 1].length + 4;
  return n;
}
async function api(method, path, body) {
  const r = await request(method, path, body);
  if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: ${r.status} ${r.body.slice(0, 300)}`);
  return r.body ? JSON.parse(r.body) : undefined;
}
const appUid = (i) => `pull-${i}`;
const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0);
const ms = (ns) => (Number(ns) / 1e6).toFixed(2);

function payload(i) {
  const head = `{"seq":${i},"data":"`;
  return `${head}${'x'.repeat(Math.max(0, BODY_BYTES - head.length - 2))}"}`;
}

// ---- setup -------------------------------------------------------------------------------------------------
async function setup() {
  const n = Number(env('APPS', APPS));
  for (let i = 0; i < n; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, n - i) }, async (_, k) => {
      const uid = appUid(i + k);
      await api('POST', '/api/v1/app', { name: uid, uid });
      await api('POST', `/api/v1/app/${uid}/endpoint`, {
        uid: 'sink', url: env('SINK_URL', 'https://pull.invalid/unused'), pullOnly: true,
      });
    }));
  }
  log(`${n} applications with a pull-only sink`);
}

// ---- SSE --------------------------------------------------------------------------------------------------
// Opens an SSE stream; resolves when it is connected (head received); calls onEvent(id, data) per event.
function sseStream(app, onEvent, stats) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: base.hostname, port: base.port, method: 'GET', path: `/api/v1/app/${app}/poller/sink/stream`,
      headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' }, agent: false,
    }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`stream ${app}: ${res.statusCode}`)); return; }
      stats.bytesIn += rawHeadLength(res);
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk) => {
        stats.bytesIn += Buffer.byteLength(chunk);
        buf += chunk;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let data = null;
          for (const line of block.split('\n')) if (line.startsWith('data:')) data = line.slice(5).trim();
          if (data) onEvent(data);
          else stats.heartbeats++;
        }
      });
      res.on('error', () => {});
      resolve(req);
    });
    req.on('error', reject);
    req.end();
    stats.requests++;
    stats.bytesOut += 200;  // the request head; counted approximately (it is sent once per stream)
  });
}

// ---- lag ---------------------------------------------------------------------------------------------------
// PUBLISHED_GLOB: the prefix of the publisher's files (publish_timed.lua: "<id> <2xx ns> <sent ns>" lines);
// RECEIVED: the readers' file (pull_client: "<id> <arrival ns> <sent ns>" lines; the first arrival counts).
function lag() {
  const prefix = env('PUBLISHED_GLOB');
  const dir = prefix.slice(0, prefix.lastIndexOf('/'));
  const base = prefix.slice(prefix.lastIndexOf('/') + 1);
  const published = new Map();
  for (const f of fs.readdirSync(dir).filter((n) => n.startsWith(base))) {
    for (const line of fs.readFileSync(`${dir}/${f}`, 'utf8').split('\n')) {
      const [id, acked, sent] = line.split(' ');
      if (id) published.set(id, [BigInt(sent), BigInt(acked)]);
    }
  }
  const arrivals = new Map();
  for (const line of fs.readFileSync(env('RECEIVED'), 'utf8').split('\n')) {
    const [id, at] = line.split(' ');
    if (id && !arrivals.has(id)) arrivals.set(id, BigInt(at));
  }
  const fromAck = [];
  const fromSend = [];
  let early = 0;
  let missing = 0;
  for (const [id, [sent, acked]] of published) {
    const at = arrivals.get(id);
    if (at === undefined) { missing++; continue; }
    const a = at - acked;
    if (a < 0n) early++;
    fromAck.push(a < 0n ? 0n : a);
    fromSend.push(at - sent);
  }
  const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
  fromAck.sort(cmp);
  fromSend.sort(cmp);
  result('received', fromAck.length);
  result('missing', missing);
  result('arrived_before_ack', early);
  for (const p of [50, 90, 99, 99.9]) {
    result(`ack_to_reader_p${p}_ms`, ms(pct(fromAck, p)));
    result(`send_to_reader_p${p}_ms`, ms(pct(fromSend, p)));
  }
  result('ack_to_reader_max_ms', ms(fromAck.at(-1) ?? 0n));
  result('send_to_reader_max_ms', ms(fromSend.at(-1) ?? 0n));
}

// ---- cost --------------------------------------------------------------------------------------------------
// Each pull mode reads its own application for COST_SECONDS while COST_RATE messages/s are published to every
// one of them (so each mode sees the same events); push is the sink of an application whose endpoint is
// RECEIVER (this process), which counts the requests and bytes it receives.
async function cost() {
  const rate = Number(env('COST_RATE', 100));
  const seconds = Number(env('COST_SECONDS', 20));
  const apps = { push: 'cost-push', longpoll: 'cost-longpoll', sse: 'cost-sse', poll1: 'cost-poll1' };
  const sent = new Map();  // app -> Map(id -> ack ns)
  const got = { push: new Map(), longpoll: new Map(), sse: new Map(), poll1: new Map() };
  const wire = {};
  for (const k of Object.keys(got)) wire[k] = { requests: 0, bytes: 0, emptyPolls: 0 };

  // The push receiver: counts every request and its bytes (head + body) as the pull modes count theirs.
  const receiver = http.createServer((req, res) => {
    let n = req.method.length + req.url.length + 12;
    for (let i = 0; i < req.rawHeaders.length; i += 2) n += req.rawHeaders[i].length + req.rawHeaders[i + 1].length + 4;
    req.on('data', (c) => { n += c.length; });
    req.on('end', () => {
      got.push.set(req.headers['webhook-id'], now());
      res.end();
      wire.push.requests++;
      wire.push.bytes += n + 40;  // + the 200 answer's head
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const recvUrl = `http://127.0.0.1:${receiver.address().port}/hook`;
  for (const [mode, uid] of Object.entries(apps)) {
    await api('POST', '/api/v1/app', { name: uid, uid });
    await api('POST', `/api/v1/app/${uid}/endpoint`, mode === 'push'
      ? { uid: 'sink', url: recvUrl } : { uid: 'sink', url: 'https://pull.invalid/unused', pullOnly: true });
    sent.set(uid, new Map());
  }
  const publishAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let stop = false;
  const lpStats = { requests: 0, bytesIn: 0, bytesOut: 0 };
  const p1Stats = { requests: 0, bytesIn: 0, bytesOut: 0 };
  const lp = (async () => {
    let iterator;
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    while (!stop) {
      const q = new URLSearchParams({ limit: '250', wait: '60' });
      if (iterator) q.set('iterator', iterator);
      const r = await request('GET', `/api/v1/app/${apps.longpoll}/poller/sink?${q}`, undefined, { a, stats: lpStats });
      const page = JSON.parse(r.body);
      for (const m of page.data) got.longpoll.set(m.id, r.at);
      if (!page.data.length) wire.longpoll.emptyPolls++;
      iterator = page.iterator;
    }
  })();
  const sseStats = { requests: 0, bytesIn: 0, bytesOut: 0, heartbeats: 0 };
  const stream = await sseStream(apps.sse, (data) => got.sse.set(JSON.parse(data).id, now()), sseStats);
  let poll1Iterator = '';
  const p1 = (async () => {
    let iterator;
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const start = now();
    for (let tick = 1; !stop; tick++) {
      const q = new URLSearchParams({ limit: '250' });
      if (iterator) q.set('iterator', iterator);
      const r = await request('GET', `/api/v1/app/${apps.poll1}/poller/sink?${q}`, undefined, { a, stats: p1Stats });
      const page = JSON.parse(r.body);
      for (const m of page.data) got.poll1.set(m.id, r.at);
      if (!page.data.length) wire.poll1.emptyPolls++;
      iterator = page.iterator;
      poll1Iterator = iterator;
      const due = start + BigInt(tick) * 1000000000n;
      const t = now();
      if (t < due) await new Promise((res) => setTimeout(res, Number((due - t) / 1000000n)));
    }
  })();
  // Publish to every app at `rate` for `seconds`.
  const total = rate * seconds;
  const start = now();
  const inflight = [];
  for (let seq = 0; seq < total; seq++) {
    const due = start + BigInt(Math.floor((seq / rate) * 1e9));
    const t = now();
    if (t < due) await new Promise((r) => setTimeout(r, Number((due - t) / 1000000n)));
    // Publishing goes through its own agent so its requests are not counted as any reader's.
    for (const uid of Object.values(apps)) {
      inflight.push(request('POST', `/api/v1/app/${uid}/msg`, `{"eventType":"bench.pull","payload":${payload(seq)}}`,
        { a: publishAgent }).then((r) => { sent.get(uid).set(JSON.parse(r.body).id, r.at); }));
    }
  }
  await Promise.all(inflight);
  // Wait (bounded) for every mode to have every message.
  const deadline = now() + 15000000000n;
  while (now() < deadline && Object.entries(apps).some(([mode, uid]) => got[mode].size < sent.get(uid).size)) {
    await new Promise((r) => setTimeout(r, 50));
  }
  stop = true;
  stream.destroy();
  for (const [mode, st] of [['longpoll', lpStats], ['poll1', p1Stats]]) {
    wire[mode].requests = st.requests;
    wire[mode].bytes = st.bytesIn + st.bytesOut;
  }
  wire.sse.requests = sseStats.requests;
  wire.sse.bytes = sseStats.bytesIn + sseStats.bytesOut;
  wire.sse.heartbeats = sseStats.heartbeats;
  receiver.close();
  for (const [mode, uid] of Object.entries(apps)) {
    const delays = [];
    for (const [id, ack] of sent.get(uid)) {
      const at = got[mode].get(id);
      if (at !== undefined) delays.push(at > ack ? at - ack : 0n);
    }
    delays.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    const events = sent.get(uid).size;
    result(`${mode}_events`, events);
    result(`${mode}_received`, got[mode].size);
    result(`${mode}_requests`, wire[mode].requests);
    result(`${mode}_bytes`, wire[mode].bytes);
    result(`${mode}_empty_polls`, wire[mode].emptyPolls ?? 0);
    result(`${mode}_requests_per_event`, (wire[mode].requests / events).toFixed(3));
    result(`${mode}_bytes_per_event`, (wire[mode].bytes / events).toFixed(0));
    result(`${mode}_delay_p50_ms`, ms(pct(delays, 50)));
    result(`${mode}_delay_p99_ms`, ms(pct(delays, 99)));
  }
  // What one empty poll costs (request + empty page), measured on its own, for the 1 event/minute figures.
  const one = { requests: 0, bytesIn: 0, bytesOut: 0 };
  await request('GET', `/api/v1/app/${apps.poll1}/poller/sink?limit=250&iterator=${encodeURIComponent(poll1Iterator)}`,
    undefined, { stats: one });
  result('empty_poll_bytes', one.bytesIn + one.bytesOut);
  result('sse_heartbeats', wire.sse.heartbeats);
  void lp; void p1;  // the long-poll is still held: exiting ends it
  process.exit();
}

const modes = { setup, lag, cost };
if (!modes[mode]) throw new Error(`usage: node pull.mjs ${Object.keys(modes).join('|')}`);
await modes[mode]();
