// The console's applications: a paged list, a lookup by id or uid, and creation.
import {h, mount, field} from '../dom.js';
import * as api from '../api.js';
import {when} from '../format.js';
import {pagedTable, title, notice} from './common.js';

export function applicationsView(root, ctx) {
  const table = pagedTable({
    label: 'Applications',
    load: (params) => api.get('/api/v1/app', params),
    columns: [
      ['Name', (a) => a.name],
      ['ID', (a) => h('span', {class: 'mono'}, a.id)],
      ['UID', (a) => a.uid || '—'],
      ['Created', (a) => when(a.createdAt)],
    ],
    link: (a) => ctx.appPath(a.id, '/endpoints'),
    empty: 'No application yet.',
  });
  const search = h('input', {type: 'search', placeholder: 'app_… or uid', autocomplete: 'off'});
  const out = h('div', {role: 'status'});
  const name = h('input', {type: 'text', required: true});
  const uid = h('input', {type: 'text', placeholder: 'optional'});
  const created = h('div', {role: 'status'});
  mount(root,
    title('Applications'),
    h('form', {class: 'search', role: 'search', on: {submit: async (e) => {
      e.preventDefault();
      try {
        const app = await api.get(api.app(search.value.trim()));
        ctx.go(ctx.appPath(app.id, '/endpoints'));
      } catch (err) {
        mount(out, notice('bad', err.status === 404 ? 'No application has that id or uid.' : err.message));
      }
    }}}, field('Find an application', search), h('button', {type: 'submit'}, 'Find'), out),
    table.el,
    h('details', {class: 'card'}, h('summary', null, 'New application'),
      h('form', {class: 'form', on: {submit: async (e) => {
        e.preventDefault();
        try {
          const app = await api.post('/api/v1/app', {name: name.value, uid: uid.value.trim() || undefined});
          ctx.go(ctx.appPath(app.id, '/endpoints'));
        } catch (err) {
          mount(created, notice('bad', err.message));
        }
      }}}, field('Name', name), field('UID', uid), created, h('button', {type: 'submit', class: 'primary'}, 'Create'))));
}
