// Pieces several views use: a paged table, status badges, tabs, notices, confirmations.
import {h, mount} from '../dom.js';
import {STATUS, STATUS_CLASS} from '../format.js';

export function badge(status) {
  const n = Number(status);
  return h('span', {class: `badge ${STATUS_CLASS[n] || ''}`}, STATUS[n] ?? String(status));
}

export function notice(kind, text) {
  return h('div', {class: `notice ${kind}`, role: kind === 'bad' ? 'alert' : 'status'}, text);
}

export function title(text, ...actions) {
  return h('div', {class: 'title-row'}, h('h1', null, text), h('div', {class: 'actions'}, actions));
}

// A read-only block of text (a payload, a body): shown as text, never as markup.
export function code(text, label) {
  return h('pre', {class: 'code', tabindex: '0', 'aria-label': label || 'text'}, text);
}

export function button(label, onClick, {kind = '', disabled = false, type = 'button'} = {}) {
  return h('button', {type, class: kind, disabled, on: {click: onClick}}, label);
}

// Runs `action` after the user confirms; shows what it answered or why it failed in `out`.
export async function confirmed(question, action, out) {
  if (!window.confirm(question)) return;
  try {
    const result = await action();
    if (out) mount(out, notice('ok', typeof result === 'string' ? result : 'Done.'));
  } catch (e) {
    if (out) mount(out, notice('bad', e.message));
  }
}

// Tabs as links (#.../tab), so each is addressable and the back button works.
export function tabs(items, current) {
  return h('nav', {class: 'tabs', 'aria-label': 'Sections'},
    items.map(([label, hash, id]) => h('a', {href: hash, 'aria-current': id === current ? 'page' : undefined}, label)));
}

// A table over a Svix list route, a page at a time (never the whole list). `load(params)` fetches one page
// ({data, iterator, prevIterator, done}); `columns` are [label, item => cell]; `link(item)` makes a row open
// something. Returns {el, reload, prepend}.
export function pagedTable({load, columns, link, empty = 'Nothing here yet.', limit = 25, label}) {
  const body = h('tbody');
  const status = h('p', {class: 'muted', role: 'status'});
  const prev = button('← Newer', () => show(prevIterator, 'prev'), {kind: 'small'});
  const next = button('Older →', () => show(nextIterator, 'next'), {kind: 'small'});
  let nextIterator = null;
  let prevIterator = null;
  let shown = [];
  let atStart = true;

  function row(item) {
    const cells = columns.map(([, render]) => h('td', null, render(item)));
    const tr = h('tr', null, cells);
    const target = link ? link(item) : null;
    if (target) {
      tr.classList.add('clickable');
      // The first cell holds a real link (keyboard and screen readers); the row is a larger click target.
      const first = tr.firstChild;
      const content = [...first.childNodes];
      mount(first, h('a', {href: target}, content));
      tr.addEventListener('click', (e) => {
        if (e.target.closest('a,button,input,select')) return;
        location.hash = target;
      });
    }
    return tr;
  }

  async function show(iterator, direction) {
    mount(status, 'Loading…');
    try {
      const params = {limit};
      if (iterator) params.iterator = iterator;
      const page = await load(params);
      shown = page.data || [];
      atStart = !iterator || (direction === 'prev' && !page.prevIterator);
      mount(body, shown.map(row));
      nextIterator = page.done ? null : page.iterator;
      prevIterator = page.prevIterator || null;
      next.disabled = !nextIterator;
      prev.disabled = atStart || !prevIterator;
      // A filtered list (the message log's status filter) may answer a short or empty page that is not the
      // end: its iterator goes on.
      if (!shown.length) mount(status, nextIterator ? 'Nothing on this page: look further with "Older".' : empty);
      else mount(status, '');
    } catch (e) {
      mount(status, notice('bad', e.message));
    }
  }

  const table = h('table', {'aria-label': label},
    h('thead', null, h('tr', null, columns.map(([l]) => h('th', {scope: 'col'}, l)))), body);
  const el = h('div', {class: 'paged'}, h('div', {class: 'table-wrap'}, table), status,
    h('div', {class: 'pager'}, prev, next));
  show(null);
  return {
    el,
    reload: () => show(null),
    // New items on the first page (live tail): added on top, the page kept at its size.
    prepend(items) {
      if (!atStart) return;
      const known = new Set(shown.map((x) => x.id));
      const fresh = items.filter((x) => !known.has(x.id));
      if (!fresh.length) return;
      shown = [...fresh, ...shown].slice(0, limit);
      mount(body, shown.map(row));
      mount(status, '');
    },
    items: () => shown,
  };
}

// A small definition list: [[term, value], ...].
export function facts(pairs) {
  return h('dl', {class: 'facts'}, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}
