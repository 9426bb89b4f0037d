// One message: its payload (pretty or raw), where it went (each endpoint's status, resend) and its attempts.
// While a delivery is pending, the page refreshes the statuses and attempts by itself.
import {h, mount} from '../dom.js';
import * as api from '../api.js';
import {when, pretty} from '../format.js';
import {title, notice, button, badge, facts, code} from './common.js';

export async function messageView(root, ctx, [appId, msgId]) {
  const base = api.app(appId);
  const msg = await api.get(`${base}/msg/${encodeURIComponent(msgId)}`);
  const raw = typeof msg.payload === 'string' ? msg.payload : JSON.stringify(msg.payload);
  const payload = h('div');
  let showRaw = false;
  const toggle = button('Raw', () => {
    showRaw = !showRaw;
    toggle.textContent = showRaw ? 'Pretty' : 'Raw';
    toggle.setAttribute('aria-pressed', String(showRaw));
    mount(payload, code(showRaw ? raw : pretty(msg.payload), 'Payload'));
  }, {kind: 'small'});
  toggle.setAttribute('aria-pressed', 'false');
  mount(payload, code(pretty(msg.payload), 'Payload'));

  const destinations = h('tbody');
  const attemptRows = h('tbody');
  const out = h('div', {role: 'status'});
  let timer = null;
  let rounds = 0;

  async function refresh() {
    const [eps, atts] = await Promise.all([
      api.get(`${base}/msg/${encodeURIComponent(msg.id)}/endpoint`, {limit: 50}),
      api.get(`${base}/attempt/msg/${encodeURIComponent(msg.id)}`, {limit: 50}),
    ]);
    mount(destinations, eps.data.map((ep) => h('tr', null,
      h('td', null, h('a', {href: ctx.appPath(appId, `/endpoints/${encodeURIComponent(ep.id)}`)}, ep.url)),
      h('td', null, badge(ep.status)),
      h('td', null, ep.nextAttempt ? when(ep.nextAttempt) : '—'),
      h('td', null, ctx.can('CreateAttempts') ? button('Resend', async () => {
        try {
          await api.post(`${base}/msg/${encodeURIComponent(msg.id)}/endpoint/${encodeURIComponent(ep.id)}/resend`);
          mount(out, notice('ok', `Resending to ${ep.url}.`));
          schedule(true);
        } catch (e) {
          mount(out, notice('bad', e.message));
        }
      }, {kind: 'small'}) : null))));
    if (!eps.data.length) mount(destinations, h('tr', null, h('td', {colspan: 4}, 'No endpoint receives this message.')));
    mount(attemptRows, atts.data.map((a) => h('tr', null,
      h('td', null, h('a', {href: ctx.appPath(appId, `/messages/${encodeURIComponent(msg.id)}/attempts/${encodeURIComponent(a.id)}`)}, when(a.timestamp))),
      h('td', null, badge(a.status)),
      h('td', null, String(a.responseStatusCode || '—')),
      h('td', null, `${a.responseDurationMs} ms`),
      h('td', null, a.triggerTypeText || ''),
      h('td', {class: 'mono'}, a.url))));
    if (!atts.data.length) mount(attemptRows, h('tr', null, h('td', {colspan: 6}, 'No attempt yet.')));
    return eps.data.some((ep) => ep.status === 1 || ep.status === 3);
  }

  function schedule(again) {
    if (again) rounds = 0;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      let pending = false;
      try {
        pending = await refresh();
      } catch {}
      // Refreshed every 2 s while something is in flight, for 10 minutes at most.
      if (pending && ++rounds < 300) schedule(false);
    }, 2000);
  }

  mount(root,
    title(msg.eventType, h('span', {class: 'mono muted'}, msg.id)),
    facts([
      ['Event ID', msg.eventId || '—'],
      ['Channels', msg.channels && msg.channels.length ? msg.channels.join(', ') : '—'],
      ['Tags', msg.tags && msg.tags.length ? msg.tags.join(', ') : '—'],
      ['Created', when(msg.timestamp)],
    ]),
    h('div', {class: 'title-row'}, h('h2', null, 'Payload'), toggle), payload,
    h('h2', null, 'Endpoints'),
    h('div', {class: 'table-wrap'}, h('table', {'aria-label': 'Endpoints'},
      h('thead', null, h('tr', null, ['Endpoint', 'Status', 'Next attempt', ''].map((l) => h('th', {scope: 'col'}, l)))),
      destinations)),
    out,
    h('h2', null, 'Attempts'),
    h('div', {class: 'table-wrap'}, h('table', {'aria-label': 'Attempts'},
      h('thead', null, h('tr', null, ['When', 'Status', 'Response', 'Duration', 'Trigger', 'URL'].map((l) => h('th', {scope: 'col'}, l)))),
      attemptRows)));
  if (await refresh()) schedule(true);

  // New attempts also show at once when the application's log moves (another message, a resend's attempt
  // lands with the next refresh).
  return () => clearTimeout(timer);
}
