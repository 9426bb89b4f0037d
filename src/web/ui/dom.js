// Building the page. Every value is put in as text (a text node or an attribute value), never parsed as
// markup: a payload or a response body carrying <script> or <img onerror> shows as those characters. No HTML
// string is ever handed to the browser to parse (web_test checks every file), and the server's
// Content-Security-Policy runs only this origin's files anyway.

// Attributes h() may set. Anything else is a programming error (not a place for data to choose a name).
const ATTRIBUTES = new Set([
  'id', 'class', 'type', 'name', 'value', 'placeholder', 'title', 'role', 'for', 'href', 'min', 'max', 'step',
  'rows', 'cols', 'autocomplete', 'spellcheck', 'tabindex', 'colspan', 'datetime', 'inputmode', 'pattern',
  'maxlength', 'size', 'scope', 'lang', 'viewBox', 'width', 'height', 'x', 'y', 'x1', 'x2', 'y1', 'y2', 'd',
  'points', 'fill', 'stroke', 'stroke-width', 'rx', 'text-anchor', 'preserveAspectRatio', 'focusable', 'cx', 'cy',
  'r',
]);
const FLAGS = new Set(['disabled', 'checked', 'selected', 'required', 'readonly', 'hidden', 'multiple', 'open']);
const SVG = 'http://www.w3.org/2000/svg';

// An href must stay in this application: a "#/..." route or a path on this origin ("/..."), never
// "javascript:" or another site.
function safeHref(value) {
  const v = String(value);
  if (v.startsWith('#') || (v.startsWith('/') && !v.startsWith('//'))) return v;
  throw new Error(`refusing href ${v.slice(0, 40)}`);
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'on') {
      for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    } else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    } else if (key.startsWith('aria-')) {
      el.setAttribute(key, String(value));
    } else if (FLAGS.has(key)) {
      el[key] = true;
    } else if (key === 'href') {
      el.setAttribute('href', safeHref(value));
    } else if (key === 'value' && 'value' in el && el.namespaceURI !== SVG) {
      el.value = String(value);
    } else if (ATTRIBUTES.has(key)) {
      el.setAttribute(key, String(value));
    } else {
      throw new Error(`h(): attribute ${key} is not allowed`);
    }
  }
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false || child === true) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

// h('button', {class: 'primary', on: {click}}, 'Save'): an element; strings and numbers become text.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

// The same for SVG (charts).
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG, tag);
  setProps(el, props);
  append(el, children);
  return el;
}

// Replaces the children of `el`.
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A labelled form field: the label names the control, for screen readers and for tests.
let fieldCount = 0;
export function field(label, control, hint) {
  const id = control.id || `f${++fieldCount}`;
  control.id = id;
  return h('div', {class: 'field'}, h('label', {for: id}, label), control, hint ? h('small', null, hint) : null);
}
