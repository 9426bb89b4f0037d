// The page's start: who is this (the console's operator, or a portal session of one application), the frame
// around every view, and the router (#/... routes). Views live in views/*.js; each is
// `(root, ctx, params) => cleanup?`.
import {h, mount} from './dom.js';
import * as api from './api.js';
import {applicationsView} from './views/applications.js';
import {dashboardView} from './views/dashboard.js';
import {endpointsView, endpointFormView} from './views/endpoints.js';
import {endpointView} from './views/endpoint.js';
import {messagesView} from './views/messages.js';
import {messageView} from './views/message.js';
import {eventTypesView} from './views/event_types.js';
import {deadLettersView} from './views/dead_letters.js';
import {sourcesView, sourceView} from './views/sources.js';
import {attemptView} from './views/attempt.js';

const root = document.getElementById('app');
const mode = document.documentElement.dataset.mode === 'portal' ? 'portal' : 'console';
const ALL_CAPABILITIES = ['ViewBase', 'ViewEndpointSecret', 'ManageEndpointSecret', 'CreateAttempts',
  'ManageEndpoint'];

// What the views share: who may do what, and where to go.
const ctx = {
  mode,
  appId: null,      // portal: its application; console: the one being looked at
  appName: '',
  capabilities: new Set(ALL_CAPABILITIES),
  can(capability) {
    if (this.capabilities.has(capability)) return true;
    // Svix: ManageEndpoint includes the secrets; ManageEndpointSecret includes seeing them.
    if (capability === 'ViewEndpointSecret' || capability === 'ManageEndpointSecret')
      return this.capabilities.has('ManageEndpoint') ||
        (capability === 'ViewEndpointSecret' && this.capabilities.has('ManageEndpointSecret'));
    return false;
  },
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  appPath(appId, rest = '') {
    return `#/app/${encodeURIComponent(appId)}${rest}`;
  },
};

// ---- White-label (Svix's parameters, from the query string or the fragment) ----
function readOptions() {
  const params = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  const pick = (name) => params.get(name) ?? fragment.get(name);
  return {
    key: fragment.get('key'),
    next: pick('next'),
    darkMode: pick('darkMode') === 'true',
    hideNavigation: pick('hideNavigation') === 'true',
    primaryColorLight: pick('primaryColorLight'),
    primaryColorDark: pick('primaryColorDark'),
  };
}

// A colour as CSS takes it: #rgb or #rrggbb only (a value is set through the CSSOM, never as markup).
function colour(value) {
  return value && /^#?[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/.test(value) ? (value.startsWith('#') ? value : `#${value}`) : null;
}

function applyTheme(options) {
  const docEl = document.documentElement;
  const saved = sessionStorage.getItem('hookwire.theme');
  const theme = saved ? JSON.parse(saved) : options;
  if (!saved) sessionStorage.setItem('hookwire.theme', JSON.stringify(options));
  docEl.classList.toggle('dark', !!theme.darkMode);
  docEl.classList.toggle('no-nav', !!theme.hideNavigation);
  const primary = colour(theme.darkMode ? theme.primaryColorDark : theme.primaryColorLight);
  if (primary) docEl.style.setProperty('--primary', primary);
}

// ---- Frame ----
let view = null;
let cleanup = null;

function navLink(label, hash) {
  const current = location.hash === hash || location.hash.startsWith(`${hash}/`);
  return h('a', {href: hash, 'aria-current': current ? 'page' : undefined}, label);
}

function frame() {
  const links = [];
  if (mode === 'console') {
    links.push(navLink('Dashboard', '#/dashboard'), navLink('Applications', '#/apps'), navLink('Sources', '#/sources'));
  }
  if (ctx.appId) {
    const base = ctx.appPath(ctx.appId);
    links.push(
      mode === 'console' ? h('span', {class: 'nav-app', title: ctx.appId}, ctx.appName || ctx.appId) : null,
      navLink('Endpoints', `${base}/endpoints`),
      navLink('Messages', `${base}/messages`),
      navLink('Event types', `${base}/event-types`),
      navLink('Dead letters', `${base}/dead-letters`));
  }
  const logout = h('button', {type: 'button', class: 'link', on: {click: logOut}}, 'Log out');
  view = h('main', {id: 'view', tabindex: '-1'});
  mount(root,
    h('header', {class: 'top'},
      h('span', {class: 'brand'}, mode === 'console' ? 'hookwire' : (ctx.appName || 'Webhooks')),
      h('nav', {'aria-label': 'Main'}, links),
      logout),
    view);
}

async function logOut() {
  try {
    await api.post('/api/v1/auth/logout');
  } catch {}
  sessionStorage.removeItem('hookwire.theme');
  if (mode === 'console') consoleLogin();
  else showError('You are logged out', 'Open the portal again from the application that sent you here.');
}

export function showError(title, text) {
  if (cleanup) cleanup();
  cleanup = null;
  mount(root, h('main', {class: 'error-page', role: 'alert'}, h('h1', null, title), h('p', null, text)));
}

// ---- Routes ----
const routes = [
  [/^#\/dashboard$/, dashboardView, 'console'],
  [/^#\/apps$/, applicationsView, 'console'],
  [/^#\/sources$/, sourcesView, 'console'],
  [/^#\/sources\/([^/]+)$/, sourceView, 'console'],
  [/^#\/app\/([^/]+)\/endpoints$/, endpointsView],
  [/^#\/app\/([^/]+)\/endpoints\/new$/, endpointFormView],
  [/^#\/app\/([^/]+)\/endpoints\/([^/]+)\/edit$/, endpointFormView],
  [/^#\/app\/([^/]+)\/endpoints\/([^/]+)(?:\/([a-z-]+))?$/, endpointView],
  [/^#\/app\/([^/]+)\/messages$/, messagesView],
  [/^#\/app\/([^/]+)\/messages\/([^/]+)$/, messageView],
  [/^#\/app\/([^/]+)\/messages\/([^/]+)\/attempts\/([^/]+)$/, attemptView],
  [/^#\/app\/([^/]+)\/event-types$/, eventTypesView],
  [/^#\/app\/([^/]+)\/dead-letters$/, deadLettersView],
];

function home() {
  return mode === 'console' ? '#/dashboard' : ctx.appPath(ctx.appId, '/endpoints');
}

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const hash = location.hash.split('?')[0];
  for (const [pattern, render, only] of routes) {
    const m = hash.match(pattern);
    if (!m || (only && only !== mode)) continue;
    const params = m.slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p)));
    if (hash.startsWith('#/app/')) {
      const appId = params[0];
      if (mode === 'portal' && appId !== ctx.appId) {
        frame();
        mount(view, h('div', {class: 'notice bad', role: 'alert'}, 'This portal shows only its own application.'));
        return;
      }
      if (mode === 'console' && appId !== ctx.appId) {
        ctx.appId = appId;
        ctx.appName = '';
        try {
          const app = await api.get(api.app(appId));
          ctx.appId = app.id;
          ctx.appName = app.name;
        } catch (e) {
          frame();
          mount(view, h('div', {class: 'notice bad', role: 'alert'}, `Application ${appId}: ${e.message}`));
          return;
        }
      }
    } else if (mode === 'console') {
      ctx.appId = null;
    }
    frame();
    try {
      cleanup = (await render(view, ctx, params)) || null;
    } catch (e) {
      mount(view, h('div', {class: 'notice bad', role: 'alert'}, e.message));
    }
    return;
  }
  location.replace(home());
}

// ---- Start ----
function started(session) {
  api.setCsrf(session.csrf);
  if (mode === 'portal') {
    ctx.appId = session.appId;
    ctx.appName = session.appName || '';
    ctx.capabilities = new Set(session.capabilities || ['ViewBase']);
  }
  window.addEventListener('hashchange', route);
  route();
}

// A `next` deep link (Svix's): a path inside the portal, e.g. /endpoints/ep_... or /messages/msg_....
function deepLink(next) {
  if (!next || !/^\/(endpoints|messages|event-types|dead-letters)(\/[A-Za-z0-9_.\-]+){0,2}$/.test(next)) return null;
  return ctx.appPath(ctx.appId, next);
}

async function startPortal() {
  const options = readOptions();
  if (options.key) {
    // The link's key is used once: it leaves the address bar (and the history) before anything else.
    history.replaceState(null, '', location.pathname + location.search);
    sessionStorage.removeItem('hookwire.theme');
  }
  applyTheme(options);
  api.setUnauthorizedHandler(() =>
    showError('Your session has ended', 'It expired or was revoked. Ask the application for a new link.'));
  let session;
  try {
    session = options.key
      ? await api.post('/ui/api/portal/login', {key: options.key})
      : await api.get('/ui/api/portal/session');
  } catch (e) {
    if (e.code === 'link_invalid')
      showError('This link cannot be used', 'It was already used or has expired. Ask the application for a new link.');
    else if (e.status === 401)
      showError('Your session has ended', 'It expired or was revoked. Ask the application for a new link.');
    else showError('The portal is unavailable', e.message);
    return;
  }
  if (options.key) {
    ctx.appId = session.appId;
    const target = deepLink(options.next);
    if (target) history.replaceState(null, '', location.pathname + location.search + target);
  }
  started(session);
}

function consoleLogin(message) {
  window.removeEventListener('hashchange', route);
  const input = h('input', {type: 'password', id: 'admin-token', autocomplete: 'current-password', required: true});
  const error = h('p', {class: 'form-error', role: 'alert'}, message || '');
  const form = h('form', {class: 'login', on: {submit: async (e) => {
    e.preventDefault();
    try {
      const session = await api.post('/ui/api/console/login', {token: input.value});
      input.value = '';
      started(session);
    } catch (err) {
      mount(error, err.status === 401 ? 'That is not the admin token.' : err.message);
    }
  }}},
  h('h1', null, 'hookwire console'),
  h('div', {class: 'field'}, h('label', {for: 'admin-token'}, 'Admin token'), input),
  error,
  h('button', {type: 'submit', class: 'primary'}, 'Log in'));
  mount(root, h('main', {class: 'login-page'}, form));
  input.focus();
}

async function startConsole() {
  applyTheme(readOptions());
  api.setUnauthorizedHandler(() => consoleLogin('Your session has ended: log in again.'));
  try {
    started(await api.get('/ui/api/console/session'));
  } catch (e) {
    consoleLogin(e.status === 401 ? '' : e.message);
  }
}

if (mode === 'portal') startPortal();
else startConsole();
