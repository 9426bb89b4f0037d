// Talking to hookwire's API from the page. The session is an HttpOnly cookie the page cannot read; every call
// carries the session's CSRF token in X-Hookwire-Csrf (the server refuses a cookie without it), which the
// login answer or GET /ui/api/{portal,console}/session gives.

let csrf = '';
export function setCsrf(value) {
  csrf = value || '';
}

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

// The query string of `params`, without the empty ones; arrays repeat their key.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

function describe(body, status) {
  if (body && typeof body === 'object') {
    if (typeof body.detail === 'string') return body.detail;
    if (Array.isArray(body.detail))
      return body.detail.map((d) => `${(d.loc || []).join('.')}: ${d.msg}`).join('; ');
  }
  return `HTTP ${status}`;
}

// Session expired or revoked: the app shows its error page (set by app.js).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export async function call(method, path, body, {signal} = {}) {
  const headers = {'X-Hookwire-Csrf': csrf};
  const init = {method, headers, credentials: 'same-origin', signal, cache: 'no-store'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data && data.code, describe(data, res.status));
    if (res.status === 401 && !path.startsWith('/ui/api/')) onUnauthorized(err);
    throw err;
  }
  return data;
}

export const get = (path, params, opts) => call('GET', path + query(params), undefined, opts);
export const post = (path, body, opts) => call('POST', path, body ?? {}, opts);
export const put = (path, body) => call('PUT', path, body);
export const patch = (path, body) => call('PATCH', path, body);
export const del = (path) => call('DELETE', path);

export const app = (appId) => `/api/v1/app/${encodeURIComponent(appId)}`;

// Server-sent events read through fetch (EventSource cannot send the CSRF header). Calls onEvent({event, id,
// data}) for each event until `signal` aborts; reconnects after a drop, from the last id seen.
export async function stream(path, {signal, onEvent, onState}) {
  let lastId = '';
  while (!signal.aborted) {
    try {
      const headers = {'X-Hookwire-Csrf': csrf, Accept: 'text/event-stream'};
      if (lastId) headers['Last-Event-ID'] = lastId;
      const res = await fetch(path, {headers, credentials: 'same-origin', signal, cache: 'no-store'});
      if (res.status === 401) {
        onUnauthorized(new ApiError(401, 'unauthorized', 'the session ended'));
        return;
      }
      if (!res.ok) throw new ApiError(res.status, 'stream', `HTTP ${res.status}`);
      onState?.('live');
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, {stream: true});
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const ev = {event: 'message', id: '', data: ''};
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const name = colon < 0 ? line : line.slice(0, colon);
            const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (name === 'event') ev.event = val;
            else if (name === 'id') ev.id = val;
            else if (name === 'data') data.push(val);
          }
          if (!data.length) continue;
          ev.data = data.join('\n');
          if (ev.id) lastId = ev.id;
          if (ev.event === 'close') {
            let reason = '';
            try {
              reason = JSON.parse(ev.data).reason;
            } catch {}
            if (reason === 'unauthorized') {
              onUnauthorized(new ApiError(401, 'unauthorized', 'the session ended'));
              return;
            }
            continue;  // the server is stopping: read to the end, then reconnect
          }
          onEvent(ev);
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    onState?.('reconnecting');
    await new Promise((r) => setTimeout(r, 2000));
  }
}
