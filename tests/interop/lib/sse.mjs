// One server-sent-events connection for tests: parses events as they arrive. `opened` resolves once the
// response head is in (or the request failed); `waitFor(pred)` resolves when pred() becomes true (checked on
// every event and at the end of the connection).
// options: { token (default hw.token), lastEventId }
import http from 'node:http';

export function openStream(hw, path, { token = hw.token, lastEventId } = {}) {
  const s = { events: [], comments: 0, ended: false, waiters: [], status: 0, headers: {} };
  const check = () => { s.waiters = s.waiters.filter((w) => (w.pred() ? (w.resolve(), false) : true)); };
  s.waitFor = (pred, what) => new Promise((resolve, reject) => {
    if (pred()) return resolve();
    s.waiters.push({ pred, resolve });
    s.failWith = (e) => reject(new Error(`${what}: ${e}`));
  });
  const headers = { authorization: `Bearer ${token}`, accept: 'text/event-stream' };
  if (lastEventId) headers['last-event-id'] = lastEventId;
  s.opened = new Promise((opened) => {
    s.req = http.get({ host: '127.0.0.1', port: hw.port, path, headers }, (res) => {
      s.status = res.statusCode;
      s.headers = res.headers;
      opened();
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (chunk) => {
        pending += chunk;
        let at;
        while ((at = pending.indexOf('\n\n')) >= 0) {
          const block = pending.slice(0, at);
          pending = pending.slice(at + 2);
          if (block.startsWith(':')) { s.comments += 1; continue; }
          const e = { id: '', event: 'message', data: '' };
          for (const line of block.split('\n')) {
            const colon = line.indexOf(':');
            const field = line.slice(0, colon);
            const value = line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') e.data += (e.data ? '\n' : '') + value;
            else if (field === 'id' || field === 'event') e[field] = value;
          }
          s.events.push(e);
        }
        check();
      });
      res.on('end', () => { s.ended = true; check(); });
      res.on('error', () => { s.ended = true; check(); });
    });
    s.req.on('error', () => { s.ended = true; check(); opened(); });
  });
  s.close = () => s.req.destroy();
  return s;
}
