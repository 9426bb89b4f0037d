// bench/delivery/latency.mjs: end-to-end delivery latency, from the API's 2xx to the receiver's arrival.
//
// One process runs both ends so that both times come from one clock (performance.now()):
// - a receiver on 127.0.0.1 (port 0) that hookwire delivers to: the app's only endpoint; it records the time
//   each delivery's body has fully arrived, by `webhook-id` (the message id), and answers 200;
// - a client that POSTs ~1 KB messages to /api/v1/app/{app}/msg at RATE per second for SECONDS, paced in small
//   batches on an absolute schedule (no drift), over a keep-alive agent, and records the time of each 2xx by
//   the message id in its answer.
// Reports p50/p90/p99/p99.9/max of (arrival − 2xx); a delivery that arrives before its 2xx was read counts as 0
// (and is counted). Waits up to GRACE_SECONDS after the last send for every acknowledged message; the rest are
// reported as lost (must be 0). No npm dependencies.
//
// Environment: HW_URL (http://127.0.0.1:PORT, required), TOKEN (default "t"), APP (default "bench-latency"),
// RATE (default 1000), SECONDS (default 20), WARMUP_SECONDS (default 2, sent but not counted), BATCH (messages
// per tick, default 5), BODY_BYTES (default 1024), CONNECTIONS (client sockets, default 32),
// GRACE_SECONDS (default 10). Prints "RESULT key=value" lines on stdout, progress on stderr.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const env = (k, d) => process.env[k] ?? d;
const HW_URL = env('HW_URL');
if (!HW_URL) throw new Error('HW_URL is required');
const TOKEN = env('TOKEN', 't');
const APP = env('APP', 'bench-latency');
const RATE = Number(env('RATE', 1000));
const SECONDS = Number(env('SECONDS', 20));
const WARMUP = Number(env('WARMUP_SECONDS', 2));
const BATCH = Number(env('BATCH', 5));
const BODY_BYTES = Number(env('BODY_BYTES', 1024));
const CONNECTIONS = Number(env('CONNECTIONS', 32));
const GRACE = Number(env('GRACE_SECONDS', 10));
const log = (...a) => console.error('bench/delivery/latency:', ...a);

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const base = new URL(HW_URL);

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request(
      {
        agent, host: base.hostname, port: base.port, method, path,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString(), at: performance.now() }));
        res.on('error', reject);
      });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

// ---- receiver ----------------------------------------------------------------------------------------------
const arrivals = new Map();  // message id -> arrival time (first)
let duplicates = 0;
let deliveries = 0;
const receiver = http.createServer((req, res) => {
  const id = req.headers['webhook-id'] ?? req.headers['svix-id'];
  req.on('data', () => {});
  req.on('end', () => {
    const at = performance.now();
    deliveries++;
    if (arrivals.has(id)) duplicates++;
    else arrivals.set(id, at);
    res.writeHead(200, { 'content-length': 0 });
    res.end();
  });
});
receiver.keepAliveTimeout = 120_000;
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const receiverUrl = `http://127.0.0.1:${receiver.address().port}/hook`;

// ---- app and endpoint ----------------------------------------------------------------------------------------
{
  const app = await request('POST', '/api/v1/app', { name: APP, uid: APP });
  if (app.status !== 201 && app.status !== 409) throw new Error(`creating the app: ${app.status} ${app.body}`);
  const ep = await request('POST', `/api/v1/app/${APP}/endpoint`, { url: receiverUrl, description: 'latency' });
  if (ep.status !== 201) throw new Error(`creating the endpoint: ${ep.status} ${ep.body}`);
}

// ---- client --------------------------------------------------------------------------------------------------
const acks = new Map();  // message id -> { at, counted }
let sent = 0, non2xx = 0, errors = 0, firstError = '';
let lateTicks = 0, maxTickLateMs = 0;
const pad = 'x'.repeat(Math.max(0, BODY_BYTES - 80));
const postOne = async (n, counted) => {
  const body = `{"eventType":"bench.event","payload":{"key":"${String(n).padStart(10, '0')}","data":"${pad}"}}`;
  try {
    const r = await request('POST', `/api/v1/app/${APP}/msg`, body);
    if (r.status >= 200 && r.status < 300) acks.set(JSON.parse(r.body).id, { at: r.at, counted });
    else { non2xx++; if (!firstError) firstError = `${r.status} ${r.body.slice(0, 200)}`; }
  } catch (e) {
    errors++;
    if (!firstError) firstError = String(e);
  }
};

const total = Math.round(RATE * (WARMUP + SECONDS));
const warmupCount = Math.round(RATE * WARMUP);
const tickMs = (1000 * BATCH) / RATE;
log(`receiver on ${receiverUrl}; sending ${total} messages at ${RATE}/s (${WARMUP} s warm-up not counted), ` +
  `${BATCH} per ${tickMs.toFixed(1)} ms tick, ${CONNECTIONS} keep-alive sockets`);
const inflight = [];
const t0 = performance.now();
for (let tick = 0; sent < total; tick++) {
  const due = t0 + tick * tickMs;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  else { const late = -wait; if (late > tickMs) lateTicks++; maxTickLateMs = Math.max(maxTickLateMs, late); }
  for (let i = 0; i < BATCH && sent < total; i++, sent++) inflight.push(postOne(sent, sent >= warmupCount));
}
const sendSeconds = (performance.now() - t0) / 1000;
await Promise.all(inflight);
const acked = [...acks.entries()];
const deadline = performance.now() + GRACE * 1000;
while (performance.now() < deadline && acked.some(([id]) => !arrivals.has(id))) {
  await new Promise((r) => setTimeout(r, 50));
}

// ---- report --------------------------------------------------------------------------------------------------
const lat = [];
let early = 0, lost = 0;
for (const [id, { at, counted }] of acked) {
  const arrived = arrivals.get(id);
  if (arrived === undefined) { lost++; continue; }
  if (!counted) continue;
  let d = arrived - at;
  if (d < 0) { early++; d = 0; }
  lat.push(d);
}
lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)] : NaN);
const out = {
  rate: RATE, seconds: SECONDS, warmup_seconds: WARMUP, sent, send_seconds: sendSeconds.toFixed(3),
  achieved_rate: (sent / sendSeconds).toFixed(0), acked: acked.length, non2xx, errors, first_error: firstError,
  deliveries, duplicates, lost, measured: lat.length, arrived_before_2xx: early,
  p50_ms: pct(50).toFixed(3), p90_ms: pct(90).toFixed(3), p99_ms: pct(99).toFixed(3), p999_ms: pct(99.9).toFixed(3),
  max_ms: (lat.length ? lat[lat.length - 1] : NaN).toFixed(3),
  mean_ms: (lat.reduce((a, b) => a + b, 0) / (lat.length || 1)).toFixed(3),
  over_10ms: lat.filter((d) => d > 10).length, over_100ms: lat.filter((d) => d > 100).length,
  late_ticks: lateTicks, max_tick_late_ms: maxTickLateMs.toFixed(1),
};
for (const [k, v] of Object.entries(out)) console.log(`RESULT ${k}=${v}`);
agent.destroy();
receiver.closeAllConnections?.();
receiver.close();
