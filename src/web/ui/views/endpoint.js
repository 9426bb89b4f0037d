// One endpoint: overview (health), attempts, secret, testing (send an example), recovery.
import {h, mount, field} from '../dom.js';
import * as api from '../api.js';
import {when, ago, fromLocalInput, toLocalInput} from '../format.js';
import {pagedTable, title, notice, button, badge, tabs, facts, confirmed} from './common.js';
import {healthChart} from './chart.js';

export async function endpointView(root, ctx, [appId, endpointId, tab = 'overview']) {
  const base = `${api.app(appId)}/endpoint/${encodeURIComponent(endpointId)}`;
  const ep = await api.get(base);
  const here = (t) => ctx.appPath(appId, `/endpoints/${encodeURIComponent(ep.id)}${t ? `/${t}` : ''}`);
  const items = [['Overview', here(''), 'overview'], ['Attempts', here('attempts'), 'attempts']];
  if (ctx.can('ViewEndpointSecret')) items.push(['Secret', here('secret'), 'secret']);
  if (ctx.can('CreateAttempts')) items.push(['Testing', here('testing'), 'testing'], ['Recovery', here('recovery'), 'recovery']);
  const body = h('section', {class: 'tab-body'});
  const actions = [];
  if (ctx.can('ManageEndpoint')) {
    actions.push(h('a', {class: 'button', href: here('edit')}, 'Edit'));
    actions.push(button(ep.disabled ? 'Enable' : 'Disable', async () => {
      try {
        await api.patch(base, {disabled: !ep.disabled});
        ctx.go(here(''));
      } catch (e) {
        mount(body, notice('bad', e.message));
      }
    }));
    actions.push(button('Delete', () => confirmed(`Delete the endpoint ${ep.url}? Its pending deliveries are dropped.`,
      async () => {
        await api.del(base);
        ctx.go(ctx.appPath(appId, '/endpoints'));
      }, body), {kind: 'danger'}));
  }
  mount(root,
    title(ep.description || 'Endpoint', actions),
    h('p', {class: 'mono url'}, ep.url),
    ep.disabled ? notice('bad', 'This endpoint is disabled: nothing is sent to it.') : null,
    tabs(items, tab), body);
  const views = {overview, attempts, secret, testing, recovery};
  const render = views[tab] || overview;
  return render(body, ctx, {appId, ep, base});
}

async function overview(root, ctx, {ep, base}) {
  const [stats, health] = await Promise.all([
    api.get(`${base}/stats`).catch(() => null),
    api.get(`${base}/health`, {period: 'day'}).catch(() => null),
  ]);
  const parts = [facts([
    ['ID', h('span', {class: 'mono'}, ep.id)],
    ep.uid ? ['UID', ep.uid] : null,
    ['Event types', ep.filterTypes && ep.filterTypes.length ? ep.filterTypes.join(', ') : 'All'],
    ['Channels', ep.channels && ep.channels.length ? ep.channels.join(', ') : 'All'],
    ['Rate limit', ep.rateLimit ? `${ep.rateLimit} per second` : 'None'],
    ['Created', when(ep.createdAt)],
    ['Metadata', ep.metadata && Object.keys(ep.metadata).length ? JSON.stringify(ep.metadata) : '—'],
  ])];
  if (stats) {
    parts.push(h('h2', null, 'Deliveries'), h('div', {class: 'stats'},
      [['Succeeded', stats.success, 'ok'], ['Pending', stats.pending, 'pending'], ['Sending', stats.sending, 'pending'],
        ['Failed', stats.fail, 'bad']].map(([label, n, cls]) =>
        h('div', {class: `stat ${cls}`}, h('strong', null, String(n ?? 0)), h('span', null, label)))));
  }
  if (health) {
    parts.push(h('h2', null, 'Success over the last 24 hours'), healthChart(health.buckets || []));
    if (health.disabled)
      parts.push(notice('bad', `Disabled ${health.disabledAt ? when(health.disabledAt) : ''}: ${health.disabledReason || 'by an operator'}`));
    else if (health.failingSince)
      parts.push(notice('warn', `Failing since ${when(health.failingSince)}.`));
    if (health.lastFailures && health.lastFailures.length) {
      parts.push(h('h2', null, 'Last failures'), h('ul', {class: 'failures'}, health.lastFailures.map((f) =>
        h('li', null,
          h('a', {href: ctx.appPath(ctx.appId, `/messages/${encodeURIComponent(f.msgId)}/attempts/${encodeURIComponent(f.attemptId)}`)},
            `${f.responseStatusCode || 'no answer'} · ${ago(f.timestamp)}`),
          ' ', h('span', {class: 'muted'}, f.response || '')))));
    }
  }
  mount(root, parts);
}

function attempts(root, ctx, {appId, ep, base}) {
  const status = h('select', {'aria-label': 'Status'},
    h('option', {value: ''}, 'Any status'), h('option', {value: '0'}, 'Succeeded'),
    h('option', {value: '2'}, 'Failed'), h('option', {value: '1'}, 'Pending'), h('option', {value: '3'}, 'Sending'));
  const holder = h('div');
  function load() {
    const table = pagedTable({
      label: 'Attempts',
      load: (params) => api.get(`${api.app(appId)}/attempt/endpoint/${encodeURIComponent(ep.id)}`, {...params, status: status.value}),
      columns: [
        ['Message', (a) => h('span', {class: 'mono'}, a.msgId)],
        ['Status', (a) => badge(a.status)],
        ['Response', (a) => String(a.responseStatusCode || '—')],
        ['Duration', (a) => `${a.responseDurationMs} ms`],
        ['Trigger', (a) => a.triggerTypeText || (a.triggerType ? 'manual' : 'scheduled')],
        ['When', (a) => when(a.timestamp)],
      ],
      link: (a) => ctx.appPath(appId, `/messages/${encodeURIComponent(a.msgId)}/attempts/${encodeURIComponent(a.id)}`),
      empty: 'No attempt yet.',
    });
    mount(holder, table.el);
  }
  status.addEventListener('change', load);
  load();
  mount(root, h('div', {class: 'filters'}, field('Status', status)), holder);
}

async function secret(root, ctx, {base}) {
  const out = h('div', {role: 'status'});
  const value = h('code', {class: 'secret mono'}, '••••••••••••••••');
  const reveal = button('Reveal', async () => {
    try {
      const s = await api.get(`${base}/secret`);
      mount(value, s.key);
      reveal.disabled = true;
    } catch (e) {
      mount(out, notice('bad', e.message));
    }
  });
  const parts = [h('h2', null, 'Signing secret'),
    h('p', null, 'Use it to verify the signature of every webhook this endpoint receives.'),
    h('div', {class: 'secret-row'}, value, reveal)];
  if (ctx.can('ManageEndpointSecret')) {
    const grace = h('input', {type: 'number', min: 0, max: 604800, value: 86400, inputmode: 'numeric'});
    parts.push(h('h2', null, 'Rotate'),
      h('p', null, 'A new secret signs from now on. During the grace period the old one signs too, so receivers can switch over.'),
      field('Grace period (seconds)', grace),
      button('Rotate secret', () => confirmed('Rotate the signing secret?', async () => {
        await api.post(`${base}/secret/rotate`, {gracePeriodSeconds: Number(grace.value)});
        mount(value, '••••••••••••••••');
        reveal.disabled = false;
        return 'Rotated: the new secret signs from now on.';
      }, out), {kind: 'primary'}));
  }
  parts.push(out);
  mount(root, parts);
}

async function testing(root, ctx, {base}) {
  const out = h('div', {role: 'status'});
  const type = h('select', {'aria-label': 'Event type'});
  let names = [];
  try {
    const page = await api.get('/api/v1/event-type', {limit: 250});
    names = page.data.map((t) => t.name);
  } catch {}
  mount(type, ['svix.ping', ...names.filter((n) => n !== 'svix.ping')].map((n) => h('option', {value: n}, n)));
  mount(root, h('h2', null, 'Send an example'),
    h('p', null, 'Sends the event type\'s example payload to this endpoint alone.'),
    field('Event type', type),
    button('Send example', async () => {
      try {
        const msg = await api.post(`${base}/send-example`, {eventType: type.value});
        mount(out, notice('ok', 'Sent: '), h('a', {href: ctx.appPath(ctx.appId, `/messages/${encodeURIComponent(msg.id)}`)}, msg.id));
      } catch (e) {
        mount(out, notice('bad', e.message));
      }
    }, {kind: 'primary'}), out);
}

// How many messages a recover or replay queued: its background task's count (hookwire answers it finished).
export function queued(task) {
  return task?.recovered ?? task?.replayed ?? task?.data?.recovered ?? task?.data?.replayed ?? 0;
}

function recovery(root, ctx, {base}) {
  const out = h('div', {role: 'status'});
  const since = h('input', {type: 'datetime-local', value: toLocalInput(new Date(Date.now() - 86400e3)), required: true});
  const until = h('input', {type: 'datetime-local'});
  const period = () => {
    const body = {since: fromLocalInput(since.value)};
    const u = fromLocalInput(until.value);
    if (u) body.until = u;
    if (!body.since) throw new Error('Choose when to start.');
    return body;
  };
  const run = (label, path, question) => button(label, () => confirmed(question, async () => {
    const task = await api.post(`${base}/${path}`, period());
    return `${label}: ${queued(task)} message(s) queued.`;
  }, out));
  mount(root, h('h2', null, 'Recover and replay'),
    field('Since', since), field('Until (empty: now)', until),
    h('div', {class: 'actions'},
      run('Recover failed messages', 'recover', 'Send again every message that failed to this endpoint in that window?'),
      run('Replay missing messages', 'replay-missing', 'Send this endpoint the messages of that window it never had?'),
      run('Replay every message', 'bulk-replay', 'Send again every message sent to this endpoint in that window?')),
    out);
}
