// Dead letters: deliveries whose retries ran out. Replayed in bulk per endpoint (bulk-replay of the failed
// ones since a time).
import {h, mount, field} from '../dom.js';
import * as api from '../api.js';
import {when, fromLocalInput, toLocalInput} from '../format.js';
import {pagedTable, title, button, confirmed} from './common.js';
import {queued} from './endpoint.js';

export async function deadLettersView(root, ctx, [appId]) {
  const base = api.app(appId);
  const table = pagedTable({
    label: 'Dead letters',
    load: (params) => api.get(`${base}/dead-letter`, {...params, with_content: false}),
    columns: [
      ['Message', (d) => h('span', {class: 'mono'}, d.id)],
      ['Event type', (d) => d.eventType],
      ['Endpoint', (d) => h('span', {class: 'mono'}, d.endpointId)],
      ['Attempts', (d) => String(d.attempts ?? '')],
      ['Failed', (d) => when(d.failedAt)],
    ],
    link: (d) => ctx.appPath(appId, `/messages/${encodeURIComponent(d.id)}`),
    empty: 'No dead letter.',
  });
  const parts = [title('Dead letters'), table.el];
  if (ctx.can('CreateAttempts')) {
    let endpoints = [];
    try {
      endpoints = (await api.get(`${base}/endpoint`, {limit: 100})).data;
    } catch {}
    const target = h('select', null, endpoints.map((ep) => h('option', {value: ep.id}, ep.description || ep.url)));
    const since = h('input', {type: 'datetime-local', value: toLocalInput(new Date(Date.now() - 7 * 86400e3))});
    const out = h('div', {role: 'status'});
    parts.push(h('h2', null, 'Replay'),
      h('p', null, 'Send again every failed message of an endpoint since a time.'),
      h('div', {class: 'filters'}, field('Endpoint', target), field('Since', since)),
      button('Replay failed messages', () => confirmed('Send these failed messages again?', async () => {
        const task = await api.post(`${base}/endpoint/${encodeURIComponent(target.value)}/bulk-replay`,
          {since: fromLocalInput(since.value), status: 2});
        return `Replaying ${queued(task)} message(s).`;
      }, out), {kind: 'primary', disabled: !endpoints.length}), out);
  }
  mount(root, parts);
}
