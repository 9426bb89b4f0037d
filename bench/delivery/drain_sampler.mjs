// Follows the throughput drain of bench/delivery with as little CPU as possible: one process, one keep-alive
// connection per server, no process started per sample. The sampling must not compete with what it
// measures (a curl per sample, and a hookwire /metrics scrape per sample — which counts the queue in the
// store — took ~15 % of one of the two cores).
//
// Every SAMPLE_MS it reads the sink's request count (nginx stub_status: cheap for both sides) and writes
// "unix-seconds sink-requests-since-start" to OUT. Once the sink has received TOTAL requests it scrapes
// hookwire's /metrics every SAMPLE_MS until TOTAL deliveries are recorded as delivered, then writes
// "done unix-seconds delivered retry exhausted status-requests-made" and the last scrape to OUT.metrics. Gives up (exit 1) when
// nothing moves for 30 s. Environment: SINK_STATUS_URL, METRICS_URL, TOKEN, TOTAL, SINK0 (the sink's count
// before the drain), SAMPLE_MS, OUT.
import http from 'node:http';
import fs from 'node:fs';

const env = process.env;
const total = Number(env.TOTAL);
const sink0 = Number(env.SINK0);
const period = Number(env.SAMPLE_MS || 200);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const out = fs.openSync(env.OUT, 'w');

function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
    }).on('error', reject);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Date.now() / 1000;
function metric(text, name) {
  for (const line of text.split('\n')) if (line.startsWith(name + ' ')) return Number(line.slice(name.length + 1));
  return 0;
}

let last = -1;
let movedAt = Date.now();
function progress(value) {
  if (value !== last) {
    last = value;
    movedAt = Date.now();
  } else if (Date.now() - movedAt > 30000) {
    console.error(`drain_sampler: no progress for 30 s at ${value}/${total}`);
    process.exit(1);
  }
}

// The sink's count (minus the status requests this process made itself: each is counted by nginx).
let statusRequests = 0;
for (;;) {
  const t = now();
  const status = await get(env.SINK_STATUS_URL);
  statusRequests += 1;
  const received = Number(status.split('\n')[2].trim().split(/\s+/)[2]) - sink0 - statusRequests;
  fs.writeSync(out, `${t.toFixed(6)} ${received}\n`);
  if (received >= total) break;
  progress(received);
  await sleep(period);
}
for (;;) {
  const t = now();
  const text = await get(env.METRICS_URL, { authorization: `Bearer ${env.TOKEN}` });
  const delivered = metric(text, 'delivery_attempts_total{outcome="delivered"}');
  if (delivered >= total) {
    const retry = metric(text, 'delivery_attempts_total{outcome="retry"}');
    const exhausted = metric(text, 'delivery_attempts_total{outcome="exhausted"}');
    fs.writeSync(out, `done ${t.toFixed(6)} ${delivered} ${retry} ${exhausted} ${statusRequests}\n`);
    fs.writeFileSync(`${env.OUT}.metrics`, text);
    break;
  }
  progress(delivered);
  await sleep(period);
}
fs.closeSync(out);
agent.destroy();
