// The event type catalog: names, descriptions, schemas and examples; "send example" to an endpoint.
import {h, mount, field} from '../dom.js';
import * as api from '../api.js';
import {pretty} from '../format.js';
import {title, notice, button, code} from './common.js';

export async function eventTypesView(root, ctx, [appId]) {
  const list = h('div', {class: 'catalog'});
  const status = h('p', {class: 'muted', role: 'status'});
  const more = button('More', () => load(), {kind: 'small'});
  let iterator = null;
  let endpoints = [];
  if (ctx.can('CreateAttempts')) {
    try {
      endpoints = (await api.get(`${api.app(appId)}/endpoint`, {limit: 100})).data;
    } catch {}
  }

  function card(t) {
    const schema = t.schemas && (t.schemas['1'] || Object.values(t.schemas)[0]);
    const examples = schema && Array.isArray(schema.examples) ? schema.examples : [];
    const out = h('div', {role: 'status'});
    let sender = null;
    if (endpoints.length) {
      const target = h('select', {'aria-label': `Endpoint for ${t.name}`},
        endpoints.map((ep) => h('option', {value: ep.id}, ep.description || ep.url)));
      sender = h('div', {class: 'row'}, target, button('Send example', async () => {
        try {
          const msg = await api.post(`${api.app(appId)}/endpoint/${encodeURIComponent(target.value)}/send-example`, {eventType: t.name});
          mount(out, notice('ok', 'Sent: '), h('a', {href: ctx.appPath(appId, `/messages/${encodeURIComponent(msg.id)}`)}, msg.id));
        } catch (e) {
          mount(out, notice('bad', e.message));
        }
      }, {kind: 'small'}));
    }
    return h('details', {class: 'card'},
      h('summary', null, h('strong', {class: 'mono'}, t.name), ' ', t.deprecated ? h('span', {class: 'badge warn'}, 'deprecated') : null,
        h('span', {class: 'muted'}, ` ${t.description || ''}`)),
      examples.length ? [h('h3', null, 'Example'), code(pretty(examples[0]), `Example of ${t.name}`)] : h('p', {class: 'muted'}, 'No example.'),
      schema ? [h('h3', null, 'Schema'), code(pretty(schema), `Schema of ${t.name}`)] : null,
      sender, out);
  }

  async function load() {
    mount(status, 'Loading…');
    try {
      const page = await api.get('/api/v1/event-type', {limit: 50, iterator, with_content: true});
      list.append(...page.data.map(card));
      iterator = page.done ? null : page.iterator;
      more.hidden = !iterator;
      mount(status, list.childElementCount ? '' : 'No event type yet.');
    } catch (e) {
      mount(status, notice('bad', e.message));
    }
  }
  mount(root, title('Event types'), list, status, more);
  await load();
}

