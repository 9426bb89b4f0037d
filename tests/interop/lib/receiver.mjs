// A webhook receiver for tests: an HTTP(S) server on 127.0.0.1 that records every request and answers from a
// queue of statuses (then `fallback`), or through `handler(req, res, body)` when given.
import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';

// options: { statuses: [..], fallback: 200, port: 0, tls: { key, cert }, handler }
export async function receiver({ statuses = [], fallback = 200, port = 0, tls, handler } = {}) {
  const r = { requests: [], statuses: [...statuses], waiters: [] };
  const onRequest = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      r.requests.push({ headers: req.headers, body, url: req.url });
      if (handler) {
        handler(req, res, body);
      } else {
        const status = r.statuses.length ? r.statuses.shift() : fallback;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(`answer ${status}`);
      }
      r.waiters = r.waiters.filter((w) => (r.requests.length >= w.n ? (w.resolve(), false) : true));
    });
  };
  r.server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, onRequest) : http.createServer(onRequest);
  r.server.listen(port, '127.0.0.1');
  await once(r.server, 'listening');
  r.port = r.server.address().port;
  r.url = `${tls ? 'https' : 'http'}://127.0.0.1:${r.port}/hook`;
  // Resolves once `n` requests have arrived in all.
  r.waitFor = (n) => (r.requests.length >= n ? Promise.resolve() : new Promise((resolve) => r.waiters.push({ n, resolve })));
  r.close = () => new Promise((resolve) => { r.server.close(resolve); r.server.closeAllConnections?.(); });
  return r;
}

// A loopback port that nothing listens on (yet): bound, then released.
export async function freePort() {
  const s = http.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

// Polls `probe` (an async function returning a truthy value when done) until it succeeds, yielding to the
// event loop between tries: for state the server exposes only through its API. Fails after `tries`.
export async function until(probe, what, tries = 5000) {
  for (let i = 0; i < tries; i += 1) {
    const v = await probe();
    if (v) return v;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}
