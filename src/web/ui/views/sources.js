// The console's inbound sources: the list, creation and editing (secrets are write-only: the API never shows
// them), and each source's request log: the requests it refused and why, and for a source with verifier
// "none" every request (the inspector), new ones appearing as they arrive.
import {h, mount, field} from '../dom.js';
import * as api from '../api.js';
import {when, prettyText} from '../format.js';
import {pagedTable, title, notice, button, confirmed, facts, code} from './common.js';

const VERIFIERS = ['standard-webhooks', 'svix', 'stripe', 'github', 'shopify', 'generic-hmac', 'static-token', 'none'];

export function sourcesView(root, ctx) {
  const table = pagedTable({
    label: 'Sources',
    load: (params) => api.get('/api/v1/source', params),
    columns: [
      ['Name', (s) => s.uid || s.id],
      ['Verifier', (s) => s.verifier],
      ['Description', (s) => s.description || ''],
      ['Forwards to', (s) => (s.destinations || []).map((d) => d.url).join(', ') || '—'],
    ],
    link: (s) => `#/sources/${encodeURIComponent(s.id)}`,
    empty: 'No source yet.',
  });
  mount(root, title('Inbound sources'), table.el, sourceForm(ctx, null));
}

// What the last save said, shown once by the next render of the source's page.
let flash = '';

function lines(text) {
  return text.split('\n').map((x) => x.trim()).filter(Boolean);
}

// Create (source null) or edit a source. The API's SourceIn: what the form does not show is kept as it was.
function sourceForm(ctx, source) {
  const uid = h('input', {type: 'text', value: source ? source.uid || '' : '', placeholder: 'stripe-live', required: !source});
  const description = h('input', {type: 'text', value: source ? source.description || '' : ''});
  const verifier = h('select', null, VERIFIERS.map((v) => h('option', {value: v, selected: source && source.verifier === v}, v)));
  const secrets = h('textarea', {rows: 2, spellcheck: 'false', autocomplete: 'off',
    placeholder: source ? 'Leave empty to keep the current secrets' : 'whsec_… (one per line)'});
  const destinations = h('textarea', {rows: 2, spellcheck: 'false',
    placeholder: 'https://internal.example.com/hooks (one per line)'},
  source ? (source.destinations || []).map((d) => d.url).join('\n') : '');
  const pull = h('input', {type: 'checkbox', checked: source ? !!source.pull : true});
  const out = h('div', {role: 'alert'});
  const form = h('form', {class: 'form', on: {submit: async (e) => {
    e.preventDefault();
    try {
      const body = {};
      if (source) {
        for (const [k, v] of Object.entries(source))
          if (!['id', 'appId', 'destinations', 'revision', 'createdAt', 'updatedAt', 'secretCount', 'declaredInConfig'].includes(k)) body[k] = v;
      }
      if (uid.value.trim()) body.uid = uid.value.trim();
      body.description = description.value;
      body.verifier = verifier.value;
      if (lines(secrets.value).length) body.secrets = lines(secrets.value);
      body.destinations = lines(destinations.value);
      body.pull = pull.checked;
      const saved = source
        ? await api.put(`/api/v1/source/${encodeURIComponent(source.id)}`, body)
        : await api.post('/api/v1/source', body);
      secrets.value = '';
      flash = source ? `Saved: revision ${saved.revision}.` : '';
      ctx.go(`#/sources/${encodeURIComponent(saved.id)}`);
    } catch (err) {
      mount(out, notice('bad', err.message));
    }
  }}},
  field('Name (uid)', uid, 'Providers post to /in/<name>.'),
  field('Description', description),
  field('Verifier', verifier, 'How requests prove they come from the provider.'),
  field(source ? 'New secrets' : 'Secrets', secrets, 'One per line; several are all accepted (rotation).'),
  field('Forward to', destinations, 'One URL per line.'),
  h('label', {class: 'check'}, pull, 'Keep its messages for the pull feed'),
  out,
  h('button', {type: 'submit', class: 'primary'}, source ? 'Save' : 'Create source'));
  return h('details', {class: 'card'}, h('summary', null, source ? 'Edit or rotate secrets' : 'New source'), form);
}

function requestCard(r) {
  const headers = Object.entries(r.headers || {}).map(([k, v]) => `${k}: ${v}`).join('\n');
  const body = r.bodyEncoding === 'base64' ? `(base64) ${r.body}` : prettyText(r.body || '');
  return h('details', {class: `card request ${r.outcome}`},
    h('summary', null,
      h('span', {class: `badge ${r.outcome === 'rejected' ? 'bad' : 'ok'}`}, `${r.status} ${r.outcome}`), ' ',
      h('span', {class: 'mono'}, `${r.method} ${r.path}`), ' ',
      h('span', {class: 'muted'}, `${when(r.receivedAt)} from ${r.clientAddress}`),
      r.reason ? h('div', {class: 'reason'}, r.code ? `${r.code}: ` : '', r.reason) : null),
    facts([['Request', h('span', {class: 'mono'}, r.id)], r.messageId ? ['Message', h('span', {class: 'mono'}, r.messageId)] : null]),
    h('h3', null, 'Headers'), code(headers, 'Request headers'),
    h('h3', null, r.bodyTruncated ? 'Body (cut at 64 KiB)' : 'Body'), code(body, 'Request body'));
}

export async function sourceView(root, ctx, [sourceId]) {
  const path = `/api/v1/source/${encodeURIComponent(sourceId)}`;
  const source = await api.get(path);
  const out = h('div', {role: 'status'}, flash ? notice('ok', flash) : null);
  flash = '';
  const list = h('div', {class: 'requests'});
  const state = h('span', {class: 'live', role: 'status'});
  const outcome = h('select', null, h('option', {value: ''}, 'Every request'), h('option', {value: 'rejected'}, 'Rejected'),
    h('option', {value: 'accepted'}, 'Accepted'), h('option', {value: 'duplicate'}, 'Duplicates'));
  const inbound = `${location.origin}/in/${source.uid || source.id}`;
  const stop = new AbortController();
  let newest = null;

  async function first() {
    const page = await api.get(`${path}/request`, {limit: 50, outcome: outcome.value});
    mount(list, page.data.map(requestCard));
    if (!page.data.length) mount(list, h('p', {class: 'muted'}, source.verifier === 'none'
      ? `No request yet: post one to ${inbound}.` : 'No refused request: every request so far was accepted.'));
    newest = page.data.length ? page.data[0].id : newest;
  }

  // Live: wait for requests after the newest shown (held by the server up to 25 s), add them on top.
  async function follow() {
    while (!stop.signal.aborted) {
      try {
        const params = {wait: 25, limit: 50};
        if (newest) params.after = newest;
        const page = await api.get(`${path}/request`, params, {signal: stop.signal});
        mount(state, '● Live');
        const fresh = (page.data || []).filter((r) => !outcome.value || r.outcome === outcome.value);
        if (page.data && page.data.length) newest = page.data[page.data.length - 1].id;
        if (fresh.length) {
          if (list.firstChild && list.firstChild.tagName === 'P') list.replaceChildren();
          for (const r of fresh) list.prepend(requestCard(r));
        }
      } catch (e) {
        if (stop.signal.aborted) return;
        mount(state, '○ Reconnecting…');
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
  }
  outcome.addEventListener('change', first);

  mount(root,
    title(source.uid || source.id,
      button('Delete', () => confirmed(`Delete the source ${source.uid || source.id}?`, async () => {
        await api.del(path);
        ctx.go('#/sources');
      }, out), {kind: 'danger'})),
    out,
    facts([
      ['Receives at', h('span', {class: 'mono'}, inbound)],
      ['Verifier', source.verifier],
      ['Secrets', String(source.secretCount ?? 0)],
      ['Forwards to', (source.destinations || []).map((d) => d.url).join(', ') || '—'],
      ['Application', h('a', {href: ctx.appPath(source.appId, '/messages')}, source.appId)],
    ]),
    sourceForm(ctx, source),
    h('div', {class: 'title-row'}, h('h2', null, source.verifier === 'none' ? 'Requests (inspector)' : 'Refused requests'), state),
    field('Show', outcome),
    list);
  await first();
  follow();
  return () => stop.abort();
}
