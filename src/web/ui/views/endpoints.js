// An application's endpoints: the list, and the form that creates or edits one.
import {h, mount, field} from '../dom.js';
import * as api from '../api.js';
import {pagedTable, title, notice, button} from './common.js';

export function endpointsView(root, ctx, [appId]) {
  const base = api.app(appId);
  const add = ctx.can('ManageEndpoint')
    ? h('a', {href: ctx.appPath(appId, '/endpoints/new'), class: 'button primary'}, 'Add endpoint')
    : null;
  const table = pagedTable({
    label: 'Endpoints',
    load: (params) => api.get(`${base}/endpoint`, params),
    columns: [
      ['URL', (ep) => h('span', {class: 'mono'}, ep.url)],
      ['Description', (ep) => ep.description || ''],
      ['Status', (ep) => (ep.disabled ? h('span', {class: 'badge bad'}, 'Disabled') : h('span', {class: 'badge ok'}, 'Enabled'))],
      ['Event types', (ep) => (ep.filterTypes && ep.filterTypes.length ? ep.filterTypes.join(', ') : 'All')],
    ],
    link: (ep) => ctx.appPath(appId, `/endpoints/${encodeURIComponent(ep.id)}`),
    empty: 'No endpoint yet.',
  });
  mount(root, title('Endpoints', add), table.el);
}

// "Name: value" lines <-> {name: value}.
function headersToText(headers) {
  return Object.entries(headers || {}).map(([k, v]) => `${k}: ${v}`).join('\n');
}
function textToHeaders(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`header line "${line.slice(0, 60)}" has no "name: value"`);
    out[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return out;
}

async function eventTypeNames() {
  // The catalog, a page at a time, up to 1,000 names for the choice (a longer catalog: type the rest).
  const names = [];
  let iterator;
  for (let i = 0; i < 4; i++) {
    const page = await api.get('/api/v1/event-type', {limit: 250, iterator});
    names.push(...page.data.map((t) => t.name));
    if (page.done || !page.iterator) break;
    iterator = page.iterator;
  }
  return names;
}

export async function endpointFormView(root, ctx, [appId, endpointId]) {
  const base = api.app(appId);
  const editing = !!endpointId;
  if (!ctx.can('ManageEndpoint')) {
    mount(root, notice('bad', 'You may not change endpoints.'));
    return;
  }
  const ep = editing ? await api.get(`${base}/endpoint/${encodeURIComponent(endpointId)}`) : {};
  const headers = editing ? await api.get(`${base}/endpoint/${encodeURIComponent(endpointId)}/headers`) : {headers: {}};
  let catalog = [];
  try {
    catalog = await eventTypeNames();
  } catch {}

  const url = h('input', {type: 'url', required: true, value: ep.url || '', placeholder: 'https://example.com/webhooks'});
  const description = h('input', {type: 'text', value: ep.description || '', maxlength: 1000});
  const chosen = new Set(ep.filterTypes || []);
  const typeBoxes = catalog.map((name) => {
    const box = h('input', {type: 'checkbox', value: name, checked: chosen.has(name)});
    return h('label', {class: 'check'}, box, name);
  });
  const otherTypes = h('input', {type: 'text', value: [...chosen].filter((n) => !catalog.includes(n)).join(', '),
    placeholder: 'other.event, another.event'});
  const channels = h('input', {type: 'text', value: (ep.channels || []).join(', '), placeholder: 'project_1, project_2'});
  const rateLimit = h('input', {type: 'number', min: 1, step: 1, value: ep.rateLimit ?? '', inputmode: 'numeric'});
  const headerText = h('textarea', {rows: 3, spellcheck: 'false', placeholder: 'X-Example: value'}, headersToText(headers.headers));
  const metadata = h('textarea', {rows: 3, spellcheck: 'false', placeholder: '{"team": "billing"}'},
    ep.metadata && Object.keys(ep.metadata).length ? JSON.stringify(ep.metadata, null, 2) : '');
  const error = h('div', {role: 'alert'});

  async function save(e) {
    e.preventDefault();
    try {
      const list = (text) => text.split(',').map((x) => x.trim()).filter(Boolean);
      const types = [...typeBoxes.map((l) => l.querySelector('input')).filter((b) => b.checked).map((b) => b.value),
        ...list(otherTypes.value)];
      let meta = {};
      if (metadata.value.trim()) {
        try {
          meta = JSON.parse(metadata.value);
        } catch {
          throw new Error('Metadata must be a JSON object of strings, e.g. {"team": "billing"}.');
        }
      }
      const body = {
        url: url.value.trim(),
        description: description.value,
        filterTypes: types.length ? types : null,
        channels: list(channels.value).length ? list(channels.value) : null,
        rateLimit: rateLimit.value ? Number(rateLimit.value) : null,
        metadata: meta,
      };
      const hdrs = textToHeaders(headerText.value);
      let saved;
      if (editing) {
        saved = await api.patch(`${base}/endpoint/${encodeURIComponent(endpointId)}`, body);
      } else {
        saved = await api.post(`${base}/endpoint`, body);
      }
      if (editing || Object.keys(hdrs).length)
        await api.put(`${base}/endpoint/${encodeURIComponent(saved.id)}/headers`, {headers: hdrs});
      ctx.go(ctx.appPath(appId, `/endpoints/${encodeURIComponent(saved.id)}`));
    } catch (err) {
      mount(error, notice('bad', err.message));
    }
  }

  mount(root,
    h('h1', null, editing ? 'Edit endpoint' : 'Add endpoint'),
    h('form', {class: 'form', on: {submit: save}},
      field('Endpoint URL', url),
      field('Description', description),
      h('fieldset', null, h('legend', null, 'Event types (none chosen: every event)'),
        h('div', {class: 'checks'}, typeBoxes),
        field('Other event types', otherTypes, 'Comma-separated.')),
      field('Channels', channels, 'Comma-separated; none: every channel.'),
      field('Rate limit (messages per second)', rateLimit, 'Empty: no limit.'),
      field('Custom headers', headerText, 'One "Name: value" per line, sent with every delivery.'),
      field('Metadata', metadata, 'A JSON object of strings.'),
      error,
      h('div', {class: 'actions'},
        h('button', {type: 'submit', class: 'primary'}, editing ? 'Save' : 'Create'),
        h('a', {class: 'button', href: editing ? ctx.appPath(appId, `/endpoints/${encodeURIComponent(endpointId)}`) : ctx.appPath(appId, '/endpoints')}, 'Cancel'))));
  url.focus();
}

