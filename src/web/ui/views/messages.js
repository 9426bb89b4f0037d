// An application's message log: filters (event type, channel, status, time), search by message id or
// eventId, and a live tail (the application's event stream) that adds new messages on top.
import {h, mount, field} from '../dom.js';
import * as api from '../api.js';
import {when, fromLocalInput} from '../format.js';
import {pagedTable, title, notice} from './common.js';

const PRESETS = [['', 'Any time'], ['3600', 'Last hour'], ['86400', 'Last day'], ['604800', 'Last week'], ['custom', 'Custom']];

export function messagesView(root, ctx, [appId]) {
  const base = api.app(appId);
  const eventType = h('input', {type: 'text', placeholder: 'invoice.paid', autocomplete: 'off'});
  const channel = h('input', {type: 'text', placeholder: 'project_1', autocomplete: 'off'});
  const status = h('select', null, h('option', {value: ''}, 'Any'), h('option', {value: '0'}, 'Succeeded'),
    h('option', {value: '2'}, 'Failed'), h('option', {value: '1'}, 'Pending'), h('option', {value: '3'}, 'Sending'));
  const preset = h('select', null, PRESETS.map(([v, l]) => h('option', {value: v}, l)));
  const after = h('input', {type: 'datetime-local'});
  const before = h('input', {type: 'datetime-local'});
  const custom = h('div', {class: 'row', hidden: true}, field('From', after), field('To', before));
  const search = h('input', {type: 'search', placeholder: 'msg_… or your eventId', autocomplete: 'off'});
  const searchOut = h('div', {role: 'status'});
  const liveState = h('span', {class: 'live', role: 'status'}, '');
  const holder = h('div');
  let table = null;

  function filters() {
    const f = {};
    if (eventType.value.trim()) f.event_types = eventType.value.trim();
    if (channel.value.trim()) f.channel = channel.value.trim();
    if (status.value) f.status = status.value;
    if (preset.value === 'custom') {
      f.after = fromLocalInput(after.value);
      f.before = fromLocalInput(before.value);
    } else if (preset.value) {
      f.after = new Date(Date.now() - Number(preset.value) * 1000).toISOString();
    }
    return f;
  }
  function filtered() {
    const f = filters();
    return Object.keys(f).length > 0;
  }

  function load() {
    const f = filters();
    table = pagedTable({
      label: 'Messages',
      load: (params) => api.get(`${base}/msg`, {...params, ...f, with_content: false}),
      columns: [
        ['Event type', (m) => m.eventType],
        ['Message ID', (m) => h('span', {class: 'mono'}, m.id)],
        ['Event ID', (m) => (m.eventId ? h('span', {class: 'mono'}, m.eventId) : '—')],
        ['Channels', (m) => (m.channels && m.channels.length ? m.channels.join(', ') : '—')],
        ['Created', (m) => when(m.timestamp)],
      ],
      link: (m) => ctx.appPath(appId, `/messages/${encodeURIComponent(m.id)}`),
      empty: filtered() ? 'No message matches.' : 'No message yet.',
    });
    mount(holder, table.el);
  }
  for (const control of [eventType, channel]) control.addEventListener('change', load);
  status.addEventListener('change', load);
  preset.addEventListener('change', () => {
    custom.hidden = preset.value !== 'custom';
    load();
  });
  after.addEventListener('change', load);
  before.addEventListener('change', load);

  async function find(e) {
    e.preventDefault();
    const id = search.value.trim();
    if (!id) return;
    try {
      const msg = await api.get(`${base}/msg/${encodeURIComponent(id)}`, {with_content: false});
      ctx.go(ctx.appPath(appId, `/messages/${encodeURIComponent(msg.id)}`));
    } catch (err) {
      mount(searchOut, notice('bad', err.status === 404 ? `No message has the id or eventId "${id}".` : err.message));
    }
  }

  mount(root,
    title('Messages', liveState),
    h('form', {class: 'search', role: 'search', on: {submit: find}},
      field('Find a message', search), h('button', {type: 'submit'}, 'Find'), searchOut),
    h('div', {class: 'filters'}, field('Event type', eventType), field('Channel', channel), field('Status', status),
      field('Time', preset), custom),
    holder);
  load();

  // Live tail: new messages of the application, added on top of the first page while no filter is set.
  const stop = new AbortController();
  api.stream(`${base}/stream`, {
    signal: stop.signal,
    onState: (state) => mount(liveState, state === 'live' ? '● Live' : '○ Reconnecting…'),
    onEvent: (ev) => {
      if (ev.event !== 'message' || filtered() || !table) return;
      try {
        table.prepend([JSON.parse(ev.data)]);
      } catch {}
    },
  });
  return () => stop.abort();
}
