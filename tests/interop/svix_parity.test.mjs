// Svix API parity: the official svix SDK (npm `svix`, unchanged) walks its whole method list against hookwire.
// Each method must either work (the route exists: the call resolves, or answers an ordinary API error such as a
// 404 for an id that does not exist) or answer 501 {"code":"not_supported","detail":"hookwire does not support
// ..."}; never 404 "no such path" or 405 ("missing").
//
// docs/api-compatibility.md is the record of this run. The test fails when the run and that page disagree;
//   UPDATE_COMPAT=1 HOOKWIRE_BIN=$PWD/build/src/cli/hookwire node --test tests/interop/svix_parity.test.mjs
// rewrites the page from the run instead. PARITY_VERBOSE=1 prints every request and answer.
//
// The method list is not written here: it is read from the SDK object at run time (every getter of `Svix` is a
// resource, every getter of a resource a nested resource, every other function a method; the route is the
// `new SvixRequest(method, path)` in the method's source, and the request actually sent must match it). This file
// holds only how to call each method; a method with no call here fails the test, so an SDK upgrade cannot add
// methods silently.
//
// Nothing leaves loopback: every URL given to hookwire is http://127.0.0.1:9/... (nothing listens there), and
// sinks, destinations and sources use kinds that have no URL at all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Svix, ApiException, AutoConfig, AutoConfigConsumer } from 'svix';
import { Hookwire } from './lib/hookwire.mjs';

const DOC = new URL('../../docs/api-compatibility.md', import.meta.url).pathname;
const UPDATE = process.env.UPDATE_COMPAT === '1';
const SDK_DIR = dirname(createRequire(import.meta.url).resolve('svix/package.json'));
const SDK_VERSION = JSON.parse(readFileSync(join(SDK_DIR, 'package.json'), 'utf8')).version;
// Svix's OpenAPI document (1.947), for the shapes of answers; not in this repository. Without it the shapes are
// not checked (the SDK still has to parse every answer).
const SPEC_FILE = process.env.SVIX_OPENAPI ?? '/work/shared/reference/svix-openapi-1.947.json';

const STATUS = { works: 'works', unsupported: '501 not supported', missing: 'missing' };

// ---- The SDK's method list, discovered ----

// [{ name: 'message.poller.poll', method: 'GET', path: '/api/v1/app/{app_id}/poller/{sink_id}' }] in the SDK's
// own order.
function discoverMethods(client) {
  const out = [];
  const walk = (obj, prefix) => {
    const proto = Object.getPrototypeOf(obj);
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === 'constructor') continue;
      const name = prefix ? `${prefix}.${key}` : key;
      const desc = Object.getOwnPropertyDescriptor(proto, key);
      if (desc.get) walk(obj[key], name);
      else if (typeof desc.value === 'function') {
        const routes = [...desc.value.toString().matchAll(/new SvixRequest\("(\w+)", "([^"]+)"\)/g)];
        assert.equal(routes.length, 1, `${name}: expected one SvixRequest in its source, found ${routes.length}`);
        out.push({ name, method: routes[0][1], path: routes[0][2] });
      }
    }
  };
  walk(client, '');
  return out;
}

// Every route template the SDK can call (the public client's and those of AutoConfig / AutoConfigConsumer,
// which live in api_internal): the recorded requests are mapped back to these.
const SDK_TEMPLATES = [...new Set([...readFileSync(join(SDK_DIR, 'dist/index.mjs'), 'utf8')
  .matchAll(/new SvixRequest\("(\w+)", "([^"]+)"\)/g)].map((m) => `${m[1]} ${m[2]}`))];

function templateOf(method, path) {
  const hits = SDK_TEMPLATES.filter((t) => {
    const [m, p] = t.split(' ');
    return m === method && new RegExp(`^${p.replace(/\{[a-z_]+\}/g, '[^/]+')}$`).test(path);
  });
  // A literal segment beats a parameter (`/msg/precheck/active` over `/msg/{msg_id}/...`).
  hits.sort((a, b) => (a.match(/\{/g) ?? []).length - (b.match(/\{/g) ?? []).length);
  return hits[0] ?? `${method} ${path} (not an SDK route)`;
}

// ---- Answers checked against Svix's OpenAPI document ----

const spec = existsSync(SPEC_FILE) ? JSON.parse(readFileSync(SPEC_FILE, 'utf8')) : null;

function deref(schema) {
  while (schema?.$ref) schema = schema.$ref.split('/').slice(1).reduce((o, k) => o[k], spec);
  return schema ?? {};
}

function isType(type, v) {
  switch (type) {
    case 'null': return v === null;
    case 'object': return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array': return Array.isArray(v);
    case 'integer': return Number.isInteger(v);
    case 'number': return typeof v === 'number';
    default: return typeof v === type;
  }
}

// Appends to `problems` what in `value` does not fit `schema`: required fields, types, nullability, enums and
// date-times (the SDK turns an unparsable one into an Invalid Date without a word). Fields Svix does not know
// (hookwire's extensions) are fine.
function checkShape(schema, value, at, problems) {
  schema = deref(schema);
  for (const s of schema.allOf ?? []) checkShape(s, value, at, problems);
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) {
    const fits = alternatives.some((s) => { const p = []; checkShape(s, value, at, p); return p.length === 0; });
    if (!fits) problems.push(`${at} fits none of its ${alternatives.length} forms`);
    return;
  }
  const types = schema.type === undefined ? [] : [schema.type].flat();
  if (value === null) {
    if (!(schema.nullable || types.includes('null') || types.length === 0)) problems.push(`${at} is null`);
    return;
  }
  if (types.length && !types.some((t) => isType(t, value))) {
    problems.push(`${at} is ${JSON.stringify(value).slice(0, 40)}, not ${types.join('|')}`);
    return;
  }
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${at} is ${JSON.stringify(value)}, not one of its enum`);
  if (schema.format === 'date-time' && typeof value === 'string' && Number.isNaN(Date.parse(value))) {
    problems.push(`${at} is not a date-time`);
  }
  if (isType('object', value)) {
    for (const field of schema.required ?? []) if (!(field in value)) problems.push(`${at}.${field} is missing`);
    for (const [field, sub] of Object.entries(schema.properties ?? {})) {
      if (field in value) checkShape(sub, value[field], `${at}.${field}`, problems);
    }
    if (typeof schema.additionalProperties === 'object') {
      for (const [field, v] of Object.entries(value)) {
        if (!(field in (schema.properties ?? {}))) checkShape(schema.additionalProperties, v, `${at}.${field}`, problems);
      }
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((v) => checkShape(schema.items, v, `${at}[]`, problems));
}

// Svix's OpenAPI operation for `route` ("GET /api/v1/..."), if the document is at hand and has it.
function operation(route) {
  const [method, path] = route.split(' ');
  return spec?.paths[path]?.[method.toLowerCase()];
}

// Appends to `problems` what in a 2xx answer `r` to `route` differs from what Svix documents: the status, and
// the body against the schema of that status (or of the 2xx status Svix answers).
function checkAnswer(route, r, problems) {
  const op = operation(route);
  if (!op) return;
  const documented = Object.keys(op.responses ?? {}).filter((k) => /^2/.test(k));
  if (documented.length && !documented.includes(String(r.status))) {
    problems.push(`answered ${r.status} where Svix answers ${documented.join(' or ')}`);
  }
  if (!r.text) return;
  let json;
  try { json = JSON.parse(r.text); } catch { problems.push(`answered ${r.status} with a body that is not JSON`); return; }
  const status = documented.includes(String(r.status)) ? String(r.status) : documented[0];
  const schema = op.responses?.[status]?.content?.['application/json']?.schema;
  if (schema) checkShape(schema, json, 'answer', problems);
}

// ---- Recording what each call sends and gets ----

let recording = null;
const realFetch = globalThis.fetch;
// The SDK's default fetch is the global one, read at each call (AutoConfig's internal client takes no `fetch`
// option), so the recorder sits there, for the duration of this file.
globalThis.fetch = async (url, init) => {
  const res = await realFetch(url, init);
  if (recording) {
    const u = new URL(String(url));
    recording.push({ method: init?.method ?? 'GET', path: u.pathname, status: res.status, text: await res.clone().text() });
  }
  return res;
};

// The answer hookwire gives a path it has no route for, and a method a path does not take.
const isNoSuchPath = (r) => r.status === 404 && /"detail"\s*:\s*"no such path"/.test(r.text);
const isMethodNotAllowed = (r) => r.status === 405;

// Calls one method and says what became of it:
// { name, route, status: works | 501 not supported | missing | broken, note, shape: [problems], body501 }
async function classify(name, call) {
  recording = [];
  let value;
  let error;
  try { value = await call(); } catch (e) { error = e; }
  const sent = recording;
  recording = null;
  if (process.env.PARITY_VERBOSE) {
    for (const r of sent) console.log(`${name}: ${r.method} ${r.path} -> ${r.status} ${r.text.slice(0, 300)}`);
  }
  const row = { name, shape: [], value };
  if (!sent.length) {
    return { ...row, route: '-', status: 'broken', note: `sent no request: ${error?.message ?? 'no error either'}` };
  }
  // The request that decided the outcome is the last one (the SDK stops at the first error; a 5xx is retried).
  const last = sent[sent.length - 1];
  const routes = [...new Set(sent.map((r) => templateOf(r.method, r.path)))];
  row.route = routes.join(', then ');
  row.requests = sent;
  if (isNoSuchPath(last) || isMethodNotAllowed(last)) {
    return { ...row, status: STATUS.missing, note: `${last.status} ${isNoSuchPath(last) ? 'no such path' : 'method not allowed'}` };
  }
  if (last.status === 501) {
    let body;
    try { body = JSON.parse(last.text); } catch { body = last.text; }
    return { ...row, status: STATUS.unsupported, note: '', body501: body };
  }
  if (last.status >= 500 || last.status === 401 || last.status === 403) {
    return { ...row, status: 'broken', note: `answered ${last.status}: ${last.text.slice(0, 120)}` };
  }
  // The route exists. Whatever came back 2xx must be what Svix documents, and the SDK must have parsed it.
  for (const r of sent) if (r.status < 300) checkAnswer(templateOf(r.method, r.path), r, row.shape);
  if (error && !(error instanceof ApiException)) row.shape.push(`the SDK could not parse the answer: ${error.message}`);
  row.shape = [...new Set(row.shape)];  // one line for a field wrong in every item of a list
  const note = error instanceof ApiException ? `answered ${error.code} here` : '';
  return { ...row, status: STATUS.works, note };
}

// ---- How to call each method ----

// Dates and ids that hookwire does not have (streams, connectors, ...): plausible, and the same at every run.
const FAKE = {
  stream: 'parity-stream', sink: 'parity-sink', connector: 'parity-connector', source: 'parity-source',
  ingestEndpoint: 'parity-ingest-ep', destination: 'parity-dest', integration: 'integ_2aNmvqr0ZTb8YlRZnVzNtiX4zQe',
  task: 'qtask_2aNmvqr0ZTb8YlRZnVzNtiX4zQe', autoconfig: 'parity-autoconfig', opEndpoint: 'parity-opwh',
};
const CODE = 'function handler(webhook) { return webhook; }';
// parity.created's schema, with the example endpoint.sendExample sends.
const SCHEMAS = { 1: { type: 'object', properties: { n: { type: 'integer' } }, examples: [{ n: 1 }] } };
const idOf = (f, call, fallback) => f.results[call]?.id ?? fallback;

// In the order they run (the table keeps the SDK's order). `s` is the admin client, `f` the fixtures and the
// results of the calls made so far.
const CALLS = {
  'application.list': (s) => s.application.list({ limit: 10 }),
  'application.create': (s) => s.application.create({ name: 'Parity created', uid: 'parity-created' }),
  'application.getOrCreate': (s) => s.application.getOrCreate({ name: 'Parity', uid: 'parity' }),
  'application.get': (s, f) => s.application.get(f.app.id),
  'application.upsert': (s) => s.application.upsert('parity', { name: 'Parity', uid: 'parity' }),
  'application.patch': (s, f) => s.application.patch(f.app.id, { metadata: { run: 'parity' } }),
  'application.delete': (s, f) => s.application.delete(f.spareApp.id),

  'eventType.list': (s) => s.eventType.list({ limit: 50 }),
  'eventType.create': (s) => s.eventType.create({ name: 'parity.made', description: 'Made by the parity run' }),
  'eventType.importOpenapi': (s) => s.eventType.importOpenapi({
    spec: {
      openapi: '3.1.0', info: { title: 'Parity', version: '1.0.0' }, paths: {},
      webhooks: {
        'parity.imported': {
          post: {
            description: 'Imported from an OpenAPI document',
            requestBody: { content: { 'application/json': { schema: {
              type: 'object', properties: { id: { type: 'string' } }, required: ['id'], example: { id: 'x1' },
            } } } },
            responses: { 200: { description: 'ok' } },
          },
        },
      },
    },
  }),
  'eventType.get': (s) => s.eventType.get('parity.created'),
  'eventType.upsert': (s) => s.eventType.upsert('parity.created', { description: 'Created, upserted', schemas: SCHEMAS }),
  'eventType.patch': (s) => s.eventType.patch('parity.created', { description: 'Created, patched' }),
  'eventType.delete': (s) => s.eventType.delete('parity.spare'),

  'endpoint.list': (s, f) => s.endpoint.list(f.app.id, { limit: 10 }),
  'endpoint.create': (s, f) => s.endpoint.create(f.app.id, { url: 'http://127.0.0.1:9/created', uid: 'parity-created-ep' }),
  'endpoint.get': (s, f) => s.endpoint.get(f.app.id, f.ep.id),
  'endpoint.upsert': (s, f) => s.endpoint.upsert(f.app.id, 'parity-upserted', { url: 'http://127.0.0.1:9/upserted' }),
  'endpoint.patch': (s, f) => s.endpoint.patch(f.app.id, f.ep.id, { description: 'patched' }),
  'endpoint.getSecret': (s, f) => s.endpoint.getSecret(f.app.id, f.ep.id),
  'endpoint.rotateSecret': (s, f) => s.endpoint.rotateSecret(f.app.id, f.ep.id, {}),
  'endpoint.getHeaders': (s, f) => s.endpoint.getHeaders(f.app.id, f.ep.id),
  'endpoint.setHeaders': (s, f) => s.endpoint.setHeaders(f.app.id, f.ep.id, { headers: { 'X-Parity': '1' } }),
  'endpoint.patchHeaders': (s, f) => s.endpoint.patchHeaders(f.app.id, f.ep.id, { headers: { 'X-Parity-Two': '2' } }),
  'endpoint.getStats': (s, f) => s.endpoint.getStats(f.app.id, f.ep.id),
  'endpoint.recover': (s, f) => s.endpoint.recover(f.app.id, f.ep.id, { since: f.since }),
  'endpoint.replayMissing': (s, f) => s.endpoint.replayMissing(f.app.id, f.ep.id, { since: f.since }),
  'endpoint.bulkReplay': (s, f) => s.endpoint.bulkReplay(f.app.id, f.ep.id, { since: f.since }),
  'endpoint.sendExample': (s, f) => s.endpoint.sendExample(f.app.id, f.ep.id, { eventType: 'parity.created' }),
  'endpoint.transformation.get': (s, f) => s.endpoint.transformation.get(f.app.id, f.ep.id),
  'endpoint.transformation.patch': (s, f) => s.endpoint.transformation.patch(f.app.id, f.ep.id, { code: CODE, enabled: false }),
  'endpoint.transformationPartialUpdate': (s, f) =>
    s.endpoint.transformationPartialUpdate(f.app.id, f.ep.id, { code: CODE, enabled: false }),
  'endpoint.delete': (s, f) => s.endpoint.delete(f.app.id, f.spareEp.id),

  'message.list': (s, f) => s.message.list(f.app.id, { limit: 10 }),
  'message.create': (s, f) => s.message.create(f.app.id, { eventType: 'parity.created', payload: { n: 2 } }),
  'message.precheck': (s, f) => s.message.precheck(f.app.id, { eventType: 'parity.created' }),
  'message.get': (s, f) => s.message.get(f.app.id, f.msg.id, { withContent: true }),
  'message.expungeContent': (s, f) => s.message.expungeContent(f.app.id, f.spareMsg.id),
  'message.bulkExpungeContent': (s, f) => s.message.bulkExpungeContent(f.app.id, { ids: [f.spareMsg2.id] }),
  'message.expungeAllContents': (s, f) => s.message.expungeAllContents(f.expungeApp.id),
  'message.poller.poll': (s, f) => s.message.poller.poll(f.app.id, f.ep.id, { limit: 10 }),
  'message.poller.consumerSeek': (s, f) => s.message.poller.consumerSeek(f.app.id, f.ep.id, 'parity', { after: f.since }),
  'message.poller.consumerPoll': (s, f) => s.message.poller.consumerPoll(f.app.id, f.ep.id, 'parity', { limit: 10 }),

  'messageAttempt.listByEndpoint': (s, f) => s.messageAttempt.listByEndpoint(f.app.id, f.ep.id, { limit: 10 }),
  'messageAttempt.listByMsg': (s, f) => s.messageAttempt.listByMsg(f.app.id, f.msg.id, { limit: 10 }),
  'messageAttempt.listAttemptedMessages': (s, f) => s.messageAttempt.listAttemptedMessages(f.app.id, f.ep.id, { limit: 10 }),
  'messageAttempt.listAttemptedDestinations': (s, f) =>
    s.messageAttempt.listAttemptedDestinations(f.app.id, f.msg.id, { limit: 10 }),
  'messageAttempt.get': (s, f) => s.messageAttempt.get(f.app.id, f.msg.id, f.attempt.id),
  'messageAttempt.expungeContent': (s, f) => s.messageAttempt.expungeContent(f.app.id, f.msg.id, f.attempt.id),
  'messageAttempt.resend': (s, f) => s.messageAttempt.resend(f.app.id, f.msg.id, f.ep.id),

  // Portal tokens log themselves out; an admin token is not for logging out. Each logout has its own token.
  'authentication.appPortalAccess': (s, f) => s.authentication.appPortalAccess(f.app.id, {}),
  'authentication.logout': (s, f) => f.portal1.authentication.logout(),
  'authentication.streamLogout': (s, f) => f.portal2.authentication.streamLogout(),
  'authentication.expireAll': (s, f) => s.authentication.expireAll(f.app.id, {}),
  'authentication.streamPortalAccess': (s) => s.authentication.streamPortalAccess(FAKE.stream, {}),
  'authentication.streamExpireAll': (s) => s.authentication.streamExpireAll(FAKE.stream, {}),
  'authentication.rotateStreamPollerToken': (s) => s.authentication.rotateStreamPollerToken(FAKE.stream, FAKE.sink, {}),
  'authentication.getStreamPollerToken': (s) => s.authentication.getStreamPollerToken(FAKE.stream, FAKE.sink),

  'statistics.aggregateEventTypes': (s) => s.statistics.aggregateEventTypes(),
  'statistics.aggregateAppStats': (s, f) =>
    s.statistics.aggregateAppStats({ since: f.since, until: new Date(Date.now() + 60_000), appIds: [f.app.id] }),

  // Background tasks: the one replay-missing started, if it did.
  'backgroundTask.list': (s) => s.backgroundTask.list({ limit: 10 }),
  'backgroundTask.get': (s, f) => s.backgroundTask.get(idOf(f, 'endpoint.replayMissing', FAKE.task)),

  'health.get': (s) => s.health.get(),

  'environment.export': (s) => s.environment.export(),
  'environment.import': (s) => s.environment.import({
    eventTypes: [{ name: 'parity.environment', description: 'Imported with the environment' }],
  }),

  'autoconfigSubscription.create': (s, f) => s.autoconfigSubscription.create(f.app.id),
  'autoconfigSubscription.rotate': (s, f) =>
    s.autoconfigSubscription.rotate(f.app.id, idOf(f, 'autoconfigSubscription.create', FAKE.autoconfig), {}),

  'connector.list': (s) => s.connector.list({ limit: 10 }),
  'connector.create': (s) => s.connector.create({ name: 'Parity connector', uid: FAKE.connector, transformation: CODE }),
  'connector.get': (s) => s.connector.get(FAKE.connector),
  'connector.upsert': (s) => s.connector.upsert(FAKE.connector, { name: 'Parity connector', transformation: CODE }),
  'connector.patch': (s) => s.connector.patch(FAKE.connector, { description: 'patched' }),
  'connector.delete': (s) => s.connector.delete(FAKE.connector),

  // A polling-endpoint destination: no URL.
  'destination.list': (s, f) => s.destination.list(f.app.id, { limit: 10 }),
  'destination.create': (s, f) => s.destination.create(f.app.id, { type: 'pollingEndpoint', config: {}, uid: FAKE.destination }),
  'destination.get': (s, f) => s.destination.get(f.app.id, FAKE.destination),
  'destination.upsert': (s, f) =>
    s.destination.upsert(f.app.id, FAKE.destination, { type: 'pollingEndpoint', config: {}, uid: FAKE.destination }),
  'destination.patch': (s, f) => s.destination.patch(f.app.id, FAKE.destination, { type: 'pollingEndpoint', config: {} }),
  'destination.transformation.get': (s, f) => s.destination.transformation.get(f.app.id, FAKE.destination),
  'destination.transformation.patch': (s, f) => s.destination.transformation.patch(f.app.id, FAKE.destination, { code: CODE }),
  'destination.delete': (s, f) => s.destination.delete(f.app.id, FAKE.destination),

  // A generic-webhook source: no URL of its own; its endpoint is on loopback.
  'ingest.source.list': (s) => s.ingest.source.list({ limit: 10 }),
  'ingest.source.create': (s) => s.ingest.source.create({ name: 'Parity source', uid: FAKE.source, type: 'generic-webhook', config: {} }),
  'ingest.source.get': (s) => s.ingest.source.get(FAKE.source),
  'ingest.source.upsert': (s) =>
    s.ingest.source.upsert(FAKE.source, { name: 'Parity source', uid: FAKE.source, type: 'generic-webhook', config: {} }),
  'ingest.source.rotateToken': (s) => s.ingest.source.rotateToken(FAKE.source),
  'ingest.authentication.consumerPortalAccess': (s) => s.ingest.authentication.consumerPortalAccess(FAKE.source, {}),
  'ingest.endpoint.list': (s) => s.ingest.endpoint.list(FAKE.source, { limit: 10 }),
  'ingest.endpoint.create': (s) =>
    s.ingest.endpoint.create(FAKE.source, { url: 'http://127.0.0.1:9/ingest', uid: FAKE.ingestEndpoint }),
  'ingest.endpoint.get': (s) => s.ingest.endpoint.get(FAKE.source, FAKE.ingestEndpoint),
  'ingest.endpoint.upsert': (s) =>
    s.ingest.endpoint.upsert(FAKE.source, FAKE.ingestEndpoint, { url: 'http://127.0.0.1:9/ingest' }),
  'ingest.endpoint.getSecret': (s) => s.ingest.endpoint.getSecret(FAKE.source, FAKE.ingestEndpoint),
  'ingest.endpoint.rotateSecret': (s) => s.ingest.endpoint.rotateSecret(FAKE.source, FAKE.ingestEndpoint, {}),
  'ingest.endpoint.getHeaders': (s) => s.ingest.endpoint.getHeaders(FAKE.source, FAKE.ingestEndpoint),
  'ingest.endpoint.setHeaders': (s) =>
    s.ingest.endpoint.setHeaders(FAKE.source, FAKE.ingestEndpoint, { headers: { 'X-Parity': '1' } }),
  'ingest.endpoint.transformation.get': (s) => s.ingest.endpoint.transformation.get(FAKE.source, FAKE.ingestEndpoint),
  'ingest.endpoint.transformation.patch': (s) =>
    s.ingest.endpoint.transformation.patch(FAKE.source, FAKE.ingestEndpoint, { code: CODE }),
  'ingest.endpoint.delete': (s) => s.ingest.endpoint.delete(FAKE.source, FAKE.ingestEndpoint),
  'ingest.source.delete': (s) => s.ingest.source.delete(FAKE.source),

  'integration.list': (s, f) => s.integration.list(f.app.id, { limit: 10 }),
  'integration.create': (s, f) => s.integration.create(f.app.id, { name: 'Parity integration' }),
  'integration.get': (s, f) => s.integration.get(f.app.id, idOf(f, 'integration.create', FAKE.integration)),
  'integration.update': (s, f) =>
    s.integration.update(f.app.id, idOf(f, 'integration.create', FAKE.integration), { name: 'Parity integration 2' }),
  'integration.rotateKey': (s, f) => s.integration.rotateKey(f.app.id, idOf(f, 'integration.create', FAKE.integration)),
  'integration.delete': (s, f) => s.integration.delete(f.app.id, idOf(f, 'integration.create', FAKE.integration)),

  'operationalWebhook.endpoint.list': (s) => s.operationalWebhook.endpoint.list({ limit: 10 }),
  'operationalWebhook.endpoint.create': (s) =>
    s.operationalWebhook.endpoint.create({ url: 'http://127.0.0.1:9/operational', uid: FAKE.opEndpoint }),
  'operationalWebhook.endpoint.get': (s) => s.operationalWebhook.endpoint.get(FAKE.opEndpoint),
  'operationalWebhook.endpoint.upsert': (s) =>
    s.operationalWebhook.endpoint.upsert(FAKE.opEndpoint, { url: 'http://127.0.0.1:9/operational' }),
  'operationalWebhook.endpoint.getSecret': (s) => s.operationalWebhook.endpoint.getSecret(FAKE.opEndpoint),
  'operationalWebhook.endpoint.rotateSecret': (s) => s.operationalWebhook.endpoint.rotateSecret(FAKE.opEndpoint, {}),
  'operationalWebhook.endpoint.getHeaders': (s) => s.operationalWebhook.endpoint.getHeaders(FAKE.opEndpoint),
  'operationalWebhook.endpoint.setHeaders': (s) =>
    s.operationalWebhook.endpoint.setHeaders(FAKE.opEndpoint, { headers: { 'X-Parity': '1' } }),
  'operationalWebhook.endpoint.delete': (s) => s.operationalWebhook.endpoint.delete(FAKE.opEndpoint),

  // Poller sinks: no URL.
  'streaming.eventType.list': (s) => s.streaming.eventType.list({ limit: 10 }),
  'streaming.eventType.create': (s) => s.streaming.eventType.create({ name: 'parity.stream', description: 'Parity' }),
  'streaming.eventType.get': (s) => s.streaming.eventType.get('parity.stream'),
  'streaming.eventType.upsert': (s) => s.streaming.eventType.upsert('parity.stream', { name: 'parity.stream' }),
  'streaming.eventType.patch': (s) => s.streaming.eventType.patch('parity.stream', { description: 'patched' }),
  'streaming.stream.list': (s) => s.streaming.stream.list({ limit: 10 }),
  'streaming.stream.create': (s) => s.streaming.stream.create({ name: 'Parity stream', uid: FAKE.stream }),
  'streaming.stream.get': (s) => s.streaming.stream.get(FAKE.stream),
  'streaming.stream.upsert': (s) => s.streaming.stream.upsert(FAKE.stream, { name: 'Parity stream', uid: FAKE.stream }),
  'streaming.stream.patch': (s) => s.streaming.stream.patch(FAKE.stream, { description: 'patched' }),
  'streaming.sink.list': (s) => s.streaming.sink.list(FAKE.stream, { limit: 10 }),
  'streaming.sink.create': (s) => s.streaming.sink.create(FAKE.stream, { type: 'poller', config: {}, uid: FAKE.sink }),
  'streaming.sink.get': (s) => s.streaming.sink.get(FAKE.stream, FAKE.sink),
  'streaming.sink.upsert': (s) => s.streaming.sink.upsert(FAKE.stream, FAKE.sink, { type: 'poller', config: {}, uid: FAKE.sink }),
  'streaming.sink.patch': (s) => s.streaming.sink.patch(FAKE.stream, FAKE.sink, { type: 'poller', config: {} }),
  'streaming.sink.getSecret': (s) => s.streaming.sink.getSecret(FAKE.stream, FAKE.sink),
  'streaming.sink.rotateSecret': (s) => s.streaming.sink.rotateSecret(FAKE.stream, FAKE.sink, {}),
  'streaming.sink.transformation.get': (s) => s.streaming.sink.transformation.get(FAKE.stream, FAKE.sink),
  'streaming.sink.transformation.patch': (s) => s.streaming.sink.transformation.patch(FAKE.stream, FAKE.sink, { code: CODE }),
  'streaming.sinkHeadersGet': (s) => s.streaming.sinkHeadersGet(FAKE.stream, FAKE.sink),
  'streaming.sinkHeadersPatch': (s) => s.streaming.sinkHeadersPatch(FAKE.stream, FAKE.sink, { headers: { 'X-Parity': '1' } }),
  'streaming.events.create': (s) =>
    s.streaming.events.create(FAKE.stream, { events: [{ eventType: 'parity.stream', payload: '{"n":1}' }] }),
  'streaming.events.get': (s) => s.streaming.events.get(FAKE.stream, FAKE.sink, { limit: 10 }),
  'streaming.sink.delete': (s) => s.streaming.sink.delete(FAKE.stream, FAKE.sink),
  'streaming.stream.delete': (s) => s.streaming.stream.delete(FAKE.stream),
  'streaming.eventType.delete': (s) => s.streaming.eventType.delete('parity.stream'),
};

// The SDK's other exports that talk to a server: AutoConfig (an application's endpoint configured from a token)
// and AutoConfigConsumer (a polling consumer configured from one). Their tokens carry the server URL and the
// token to use; v1 tokens name an endpoint, v2 tokens an AutoConfig subscription. Webhook.sign / verify and
// messageInRaw are local (no server).
const autoConfigToken = (version, f, id) => `auto_${version}_${Buffer.from(JSON.stringify({
  aid: f.app.id, [version === 'v1' ? 'eid' : 'sid']: id, surl: f.url, esec: f.secret, tok: f.token,
})).toString('base64')}`;
const EXTRA_CALLS = {
  'AutoConfig.subscribe (v1 token)': (f) =>
    new AutoConfig(autoConfigToken('v1', f, f.ep.id), { url: 'http://127.0.0.1:9/auto' }).subscribe(),
  'AutoConfig.subscribe (v2 token)': (f) =>
    new AutoConfig(autoConfigToken('v2', f, FAKE.autoconfig), { url: 'http://127.0.0.1:9/auto' }).subscribe(),
  'AutoConfigConsumer.subscribe (v1 token)': (f) =>
    new AutoConfigConsumer(autoConfigToken('v1', f, f.ep.id), { uid: 'parity-auto-sink' }).subscribe(),
  'AutoConfigConsumer.subscribe (v2 token)': (f) =>
    new AutoConfigConsumer(autoConfigToken('v2', f, FAKE.autoconfig), { uid: 'parity-auto-sink' }).subscribe(),
  'AutoConfigConsumer.receive (v1 token)': (f) =>
    new AutoConfigConsumer(autoConfigToken('v1', f, f.ep.id), {}).receive('parity-auto', { limit: 10 }),
  'AutoConfigConsumer.receive (v2 token)': (f) =>
    new AutoConfigConsumer(autoConfigToken('v2', f, FAKE.autoconfig), {}).receive('parity-auto', { limit: 10 }),
  'AutoConfigConsumer.commit (v1 token)': (f) =>
    new AutoConfigConsumer(autoConfigToken('v1', f, f.ep.id), {}).commit('parity-auto', 0),
  'AutoConfigConsumer.commit (v2 token)': (f) =>
    new AutoConfigConsumer(autoConfigToken('v2', f, FAKE.autoconfig), {}).commit('parity-auto', 0),
};
// The methods of those classes that EXTRA_CALLS must cover (`verify` is local).
const EXTRA_METHODS = { AutoConfig: ['subscribe'], AutoConfigConsumer: ['subscribe', 'receive', 'commit'] };

// ---- The run ----

let hw;
let methods;
let rows;

async function waitFor(fn, what) {
  for (let i = 0; i < 1000; i += 1) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

before(async () => {
  hw = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8'] });
  // No retries: a 501 is an answer, not a hiccup.
  const options = { serverUrl: hw.url, retryScheduleInMs: [] };
  const svix = new Svix(hw.token, options);
  methods = discoverMethods(svix);

  const f = { url: hw.url, token: hw.token, since: new Date(Date.now() - 3_600_000), results: {} };
  f.app = await svix.application.create({ name: 'Parity', uid: 'parity' });
  f.spareApp = await svix.application.create({ name: 'Parity spare', uid: 'parity-spare' });
  f.expungeApp = await svix.application.create({ name: 'Parity expunge', uid: 'parity-expunge' });
  await svix.eventType.create({
    name: 'parity.created', description: 'Made for the parity run',
    schemas: SCHEMAS,
  });
  await svix.eventType.create({ name: 'parity.spare', description: 'Archived by the parity run' });
  f.ep = await svix.endpoint.create(f.app.id, { url: 'http://127.0.0.1:9/x', uid: 'parity-ep' });
  f.spareEp = await svix.endpoint.create(f.app.id, { url: 'http://127.0.0.1:9/spare', uid: 'parity-spare-ep' });
  f.secret = (await svix.endpoint.getSecret(f.app.id, f.ep.id)).key;
  f.msg = await svix.message.create(f.app.id, { eventType: 'parity.created', eventId: 'parity-1', payload: { n: 1 } });
  f.spareMsg = await svix.message.create(f.app.id, { eventType: 'parity.created', payload: { n: 3 } });
  f.spareMsg2 = await svix.message.create(f.app.id, { eventType: 'parity.created', payload: { n: 4 } });
  await svix.message.create(f.expungeApp.id, { eventType: 'parity.created', payload: { n: 5 } });
  // The dispatcher tries 127.0.0.1:9 at once and logs the refused connection as the attempt.
  f.attempt = await waitFor(async () => (await svix.messageAttempt.listByMsg(f.app.id, f.msg.id)).data
    .find((a) => a.endpointId === f.ep.id), 'an attempt');
  f.portal1 = new Svix((await svix.authentication.appPortalAccess(f.app.id, {})).token, options);
  f.portal2 = new Svix((await svix.authentication.appPortalAccess(f.app.id, {})).token, options);

  const byName = new Map();
  for (const [name, call] of Object.entries(CALLS)) {
    if (!methods.some((m) => m.name === name)) continue;  // reported by the coverage test
    const row = await classify(name, () => call(svix, f));
    if (row.status === STATUS.works && row.value) f.results[name] = row.value;
    byName.set(name, row);
  }
  rows = methods.filter((m) => byName.has(m.name)).map((m) => ({ ...byName.get(m.name), declared: m }));
  for (const [name, call] of Object.entries(EXTRA_CALLS)) rows.push({ ...(await classify(name, () => call(f))), extra: true });
});

after(async () => {
  globalThis.fetch = realFetch;
  if (hw) {
    assert.equal(await hw.stop(), 0, 'graceful stop exits 0');
    hw.cleanup();
  }
});

// ---- The table ----

const EXTRA_SECTION = 'Outside the `Svix` client';
const sectionOf = (r) => (r.extra ? EXTRA_SECTION : `\`${r.name.split('.')[0]}\``);

const rowNotes = (r) => [r.note, ...r.shape.map((p) => `shape: ${p}`)].filter(Boolean).join('; ');

function renderDoc(rs) {
  const tally = (some) => {
    const count = (s) => some.filter((r) => r.status === s).length;
    return `${some.length} methods, ${count(STATUS.works)} work, ${count(STATUS.unsupported)} answer 501, `
      + `${count(STATUS.missing)} missing`;
  };
  const cell = (s) => String(s).replace(/\|/g, '\\|');
  const lines = [
    '# Svix API compatibility',
    '',
    `Every method of the official \`svix\` SDK (npm \`svix\` ${SDK_VERSION}, the version \`tests/interop\` pins), the route`,
    'it calls (written as in Svix\'s OpenAPI document) and what hookwire does with it:',
    '- **works**: the route exists. In the run below the call resolved, or answered an ordinary API error (the',
    '  note says which: a 404 for an id that does not exist is an answer, not a gap).',
    '- **501 not supported**: hookwire answers `501 {"code": "not_supported", "detail": "hookwire does not support',
    '  <the Svix operation>: ..."}`, which the SDK raises as an `ApiException` with `code` 501.',
    '- **missing**: hookwire answers 404 `no such path` (or 405). A gap, which the parity test fails on.',
    '',
    'This page is generated, not written. `tests/interop/svix_parity.test.mjs` reads the method list from the SDK',
    'object (every resource and nested resource; each method\'s route from its source, checked against the request it',
    'sends), starts a fresh hookwire, creates an application, endpoints, event types, messages and an attempt, and',
    'calls every method with real ids (made-up ones for what hookwire does not have), on loopback only. It checks that',
    'each 501 has the body above, that the SDK parsed every answer, and that each 2xx answer fits the schema Svix\'s',
    'OpenAPI document (1.947) gives it ("shape:" notes). It fails when this page and the run disagree. To regenerate',
    'the page from a run:',
    '```sh',
    'UPDATE_COMPAT=1 HOOKWIRE_BIN=$PWD/build/src/cli/hookwire node --test tests/interop/svix_parity.test.mjs',
    '```',
    '',
    'Beyond Svix: `message.list` (`GET /api/v1/app/{app_id}/msg`) takes Svix\'s `event_types`, `channel`, `before`,',
    '`after`, `with_content`, `iterator` and `limit`, and hookwire\'s `status=0|1|2|3` (the messages with a delivery in',
    'that status; a bounded scan whose page may be short with `done: false`: docs/api.md, "Console and portal',
    'reads"); `tag` filters nothing (hookwire keeps no tags). `message.get` finds a message by its id or its `eventId`.',
    '',
    `**The \`Svix\` client: ${tally(rs.filter((r) => !r.extra))}. Outside it: ${tally(rs.filter((r) => r.extra))}.**`,
  ];
  const shapes = rs.filter((r) => r.shape.length).length;
  if (shapes) lines.push(`Of those that work, ${shapes} answer in a shape Svix's document does not give (see "shape:").`);
  let section;
  for (const r of rs) {
    if (sectionOf(r) !== section) {
      section = sectionOf(r);
      lines.push('', `## ${section}`, '');
      if (r.extra) {
        lines.push(
          '`AutoConfig` and `AutoConfigConsumer` are configured from a token that carries the server\'s URL and the token',
          'to use; a v1 token names an endpoint, a v2 token an AutoConfig subscription. `Webhook.sign`, `Webhook.verify`,',
          '`AutoConfig.verify` and `messageInRaw` work without a server.', '');
      }
      lines.push('| SDK method | route | hookwire | notes |', '|---|---|---|---|');
    }
    lines.push(`| \`${cell(r.name)}\` | \`${cell(r.route)}\` | ${r.status} | ${cell(rowNotes(r))} |`);
  }
  return `${lines.join('\n')}\n`;
}

// name -> { route, status, notes } from the page.
function parseDoc(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    const m = line.match(/^\| `(.+?)` \| `(.+?)` \| (.+?) \| (.*?) ?\|$/);
    if (m) out.set(m[1], { route: m[2], status: m[3], notes: m[4].replace(/\\\|/g, '|') });
  }
  return out;
}

// Without Svix's OpenAPI document the run cannot see the schema problems the page notes ("shape: answer...").
const comparable = (notes) => (spec ? notes : notes.split('; ').filter((n) => !n.startsWith('shape: answer')).join('; '));

// ---- The checks ----

test('every public method of the SDK has a call here, and each sent the request its source says', () => {
  const names = methods.map((m) => m.name);
  assert.ok(names.length >= 140, `found only ${names.length} methods: the discovery is broken`);
  const uncalled = names.filter((n) => !(n in CALLS));
  assert.deepEqual(uncalled, [], `SDK methods with no call in this file: ${uncalled.join(', ')}`);
  const stale = Object.keys(CALLS).filter((n) => !names.includes(n));
  assert.deepEqual(stale, [], `calls for methods the SDK does not have: ${stale.join(', ')}`);
  for (const [cls, expected] of Object.entries({ AutoConfig, AutoConfigConsumer })) {
    const own = Object.getOwnPropertyNames(expected.prototype).filter((k) => k !== 'constructor' && k !== 'verify' && k !== 'getSinkId');
    assert.deepEqual(own.sort(), [...EXTRA_METHODS[cls]].sort(), `${cls}'s methods changed`);
  }
  for (const r of rows.filter((x) => x.declared)) {
    assert.equal(r.route, `${r.declared.method} ${r.declared.path}`, `${r.name} sent another request than its source says`);
  }
});

test('no call went wrong (5xx other than 501, 401/403, nothing sent)', () => {
  const broken = rows.filter((r) => r.status === 'broken').map((r) => `${r.name} (${r.route}): ${r.note}`);
  assert.deepEqual(broken, [], `calls that went wrong:\n  ${broken.join('\n  ')}`);
});

test('every 501 carries the not_supported body', () => {
  const bad = rows.filter((r) => r.status === STATUS.unsupported).filter((r) => !(
    typeof r.body501 === 'object' && r.body501?.code === 'not_supported'
      && /^hookwire does not support [^:]+: ./.test(r.body501?.detail ?? '')));
  assert.deepEqual(bad.map((r) => `${r.name}: ${JSON.stringify(r.body501)}`), []);
});

test(UPDATE ? 'docs/api-compatibility.md rewritten from the run' : 'docs/api-compatibility.md matches the run', () => {
  if (UPDATE) {
    writeFileSync(DOC, renderDoc(rows));
    return;
  }
  let text;
  try { text = readFileSync(DOC, 'utf8'); } catch { assert.fail(`${DOC} is missing: run with UPDATE_COMPAT=1`); }
  const table = parseDoc(text);
  const diffs = [];
  for (const r of rows) {
    const t = table.get(r.name);
    if (!t) { diffs.push(`${r.name}: not in the table (run: ${r.status})`); continue; }
    if (t.route !== r.route) diffs.push(`${r.name}: table route ${t.route}, run ${r.route}`);
    if (t.status !== r.status) diffs.push(`${r.name}: table says ${t.status}, run ${r.status}`);
    else if (comparable(t.notes) !== comparable(rowNotes(r))) {
      diffs.push(`${r.name}: table notes "${t.notes}", run "${rowNotes(r)}"`);
    }
  }
  for (const name of table.keys()) if (!rows.some((r) => r.name === name)) diffs.push(`${name}: in the table, not in the SDK`);
  assert.deepEqual(diffs, [], `the table and the run disagree (regenerate with UPDATE_COMPAT=1 if the run is right):\n  ${
    diffs.join('\n  ')}`);
});

test('no SDK method is missing: each works or answers 501', () => {
  const missing = rows.filter((r) => r.status === STATUS.missing);
  assert.deepEqual(missing.map((r) => `${r.name}  ${r.route}  (${r.note})`), [],
    `${missing.length} SDK methods reach no route in hookwire:\n  ${missing.map((r) => `${r.name.padEnd(44)} ${r.route}`).join('\n  ')}`);
});

// The goal. Until it holds, the page notes each known shape problem ("shape:"), and the table test above fails
// on any new one.
test('what hookwire answers has Svix\'s shape and the SDK parses it', () => {
  const bad = rows.filter((r) => r.shape.length).map((r) => `${r.name} (${r.route}): ${r.shape.join('; ')}`);
  assert.deepEqual(bad, [], `answers that are not Svix's shape:\n  ${bad.join('\n  ')}`);
});
