// Follows a drain for bench/postgres: every SAMPLE_MS it reads the sink's request count (nginx stub_status,
// over one keep-alive connection: cheap for both sides) and writes "unix-seconds requests-since-start" to OUT,
// until TOTAL requests arrived; then "done unix-seconds count status-requests-made". Gives up (exit 1) when
// nothing moves for 30 s. Environment: SINK_STATUS_URL, TOTAL, SINK0 (the sink's count before the drain),
// SAMPLE_MS (default 100), OUT.
import http from 'node:http';
import fs from 'node:fs';

const env = process.env;
const total = Number(env.TOTAL);
const sink0 = Number(env.SINK0);
const period = Number(env.SAMPLE_MS || 100);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const out = fs.openSync(env.OUT, 'w');

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
    }).on('error', reject);
  });
}

let statusRequests = 0;
let last = -1;
let movedAt = Date.now();
for (;;) {
  const t = Date.now() / 1000;
  const status = await get(env.SINK_STATUS_URL);
  statusRequests += 1;
  // stub_status counts its own requests too: ours are taken off.
  const received = Number(status.split('\n')[2].trim().split(/\s+/)[2]) - sink0 - statusRequests;
  fs.writeSync(out, `${t.toFixed(6)} ${received}\n`);
  if (received >= total) {
    fs.writeSync(out, `done ${t.toFixed(6)} ${received} ${statusRequests}\n`);
    process.exit(0);
  }
  if (received !== last) {
    last = received;
    movedAt = Date.now();
  } else if (Date.now() - movedAt > 30000) {
    console.error(`drain.mjs: no progress for 30 s at ${received}/${total}`);
    fs.writeSync(out, `done ${t.toFixed(6)} ${received} ${statusRequests}\n`);
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, period));
}
