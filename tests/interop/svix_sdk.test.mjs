// The official svix SDK (npm `svix`), unchanged, driving hookwire's management API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Svix, ApiException } from 'svix';
import { Hookwire } from './lib/hookwire.mjs';

// Endpoint URLs here are http://127.0.0.1:9/...: loopback is allowed for deliveries, and nothing listens on
// port 9, so every attempt fails with the connection refused. (Without the allowance the endpoint would be
// refused when it is created; a made-up host name would make the dispatcher send a DNS query off this machine.)

let hw;
let svix;

before(async () => {
  hw = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8'] });
  svix = new Svix(hw.token, { serverUrl: hw.url });
});
after(async () => {
  assert.equal(await hw.stop(), 0, 'graceful stop exits 0');
  hw.cleanup();
});

test('applications: create with uid, get by id and by uid, update, list, getOrCreate', async () => {
  const app = await svix.application.create({ name: 'Acme', uid: 'acme', metadata: { plan: 'pro' } });
  assert.match(app.id, /^app_[0-9A-Za-z]{27}$/);
  assert.equal(app.uid, 'acme');
  assert.equal(app.name, 'Acme');
  assert.deepEqual(app.metadata, { plan: 'pro' });
  assert.ok(app.createdAt instanceof Date && !Number.isNaN(app.createdAt.getTime()));

  assert.equal((await svix.application.get(app.id)).id, app.id);
  assert.equal((await svix.application.get('acme')).id, app.id);

  const updated = await svix.application.upsert('acme', { name: 'Acme Inc', uid: 'acme' });
  assert.equal(updated.name, 'Acme Inc');
  assert.equal(updated.id, app.id);

  const patched = await svix.application.patch(app.id, { metadata: { plan: 'enterprise' } });
  assert.deepEqual(patched.metadata, { plan: 'enterprise' });
  assert.equal(patched.name, 'Acme Inc');

  const again = await svix.application.getOrCreate({ name: 'ignored', uid: 'acme' });
  assert.equal(again.id, app.id, 'getOrCreate returns the existing application');

  const list = await svix.application.list({ limit: 10 });
  assert.ok(list.data.some((a) => a.id === app.id));
  assert.equal(list.done, true);

  // A uid already taken is a 409 from the SDK's point of view.
  await assert.rejects(svix.application.create({ name: 'dup', uid: 'acme' }),
    (e) => e instanceof ApiException && e.code === 409);
});

test('event types: create, get, update, archive, list', async () => {
  const et = await svix.eventType.create({ name: 'invoice.paid', description: 'An invoice was paid' });
  assert.equal(et.name, 'invoice.paid');
  assert.equal(et.archived, false);
  await svix.eventType.create({ name: 'invoice.voided', description: 'An invoice was voided' });

  const got = await svix.eventType.get('invoice.paid');
  assert.equal(got.description, 'An invoice was paid');

  const up = await svix.eventType.upsert('invoice.paid', { description: 'Paid in full' });
  assert.equal(up.description, 'Paid in full');

  await svix.eventType.delete('invoice.voided');  // archives
  const visible = await svix.eventType.list({});
  assert.deepEqual(visible.data.map((e) => e.name).filter((n) => n.startsWith('invoice.')), ['invoice.paid']);
  const all = await svix.eventType.list({ includeArchived: true });
  const voided = all.data.find((e) => e.name === 'invoice.voided');
  assert.equal(voided.archived, true);

  await assert.rejects(svix.eventType.create({ name: 'invoice.paid', description: 'again' }),
    (e) => e instanceof ApiException && e.code === 409);
});

test('endpoints: create with uid and filters, secret get and rotate, headers', async () => {
  const app = await svix.application.create({ name: 'Endpoints', uid: 'ep-app' });
  const ep = await svix.endpoint.create(app.id, {
    url: 'http://127.0.0.1:9/hooks', uid: 'main', description: 'Main receiver',
    eventTypes: ['invoice.paid'], channels: ['project_1'], throttleRate: 100,
  });
  assert.match(ep.id, /^ep_[0-9A-Za-z]{27}$/);
  assert.equal(ep.uid, 'main');
  assert.equal(ep.url, 'http://127.0.0.1:9/hooks');
  assert.deepEqual(ep.eventTypes, ['invoice.paid']);
  assert.deepEqual(ep.channels, ['project_1']);
  assert.equal(ep.throttleRate, 100);
  assert.equal(ep.disabled, false);

  assert.equal((await svix.endpoint.get('ep-app', 'main')).id, ep.id);

  const s1 = await svix.endpoint.getSecret(app.id, ep.id);
  assert.match(s1.key, /^whsec_[A-Za-z0-9+/=]{32,}$/);
  await svix.endpoint.rotateSecret(app.id, ep.id, {});
  const s2 = await svix.endpoint.getSecret(app.id, ep.id);
  assert.match(s2.key, /^whsec_/);
  assert.notEqual(s2.key, s1.key, 'rotation issues a new key');
  const chosen = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
  await svix.endpoint.rotateSecret(app.id, ep.id, { key: chosen });
  assert.equal((await svix.endpoint.getSecret(app.id, ep.id)).key, chosen);

  const patched = await svix.endpoint.patch(app.id, ep.id, { disabled: true, description: 'paused' });
  assert.equal(patched.disabled, true);
  assert.equal(patched.description, 'paused');
  assert.equal(patched.url, ep.url);

  await svix.endpoint.setHeaders(app.id, ep.id, { headers: { 'X-Tenant': 't1', Authorization: 'Bearer s3cret' } });
  let headers = await svix.endpoint.getHeaders(app.id, ep.id);
  assert.deepEqual(headers.headers, { 'X-Tenant': 't1' });
  assert.deepEqual(headers.sensitive, ['Authorization']);
  await svix.endpoint.patchHeaders(app.id, ep.id, { headers: { 'X-Extra': 'yes' } });
  headers = await svix.endpoint.getHeaders(app.id, ep.id);
  assert.deepEqual(headers.headers, { 'X-Extra': 'yes', 'X-Tenant': 't1' });

  const list = await svix.endpoint.list(app.id);
  assert.deepEqual(list.data.map((e) => e.id), [ep.id]);

  await svix.endpoint.delete(app.id, ep.id);
  await assert.rejects(svix.endpoint.get(app.id, ep.id), (e) => e instanceof ApiException && e.code === 404);
});

test('messages: create, eventId reuse is a 409, get by id and eventId, page through 260 with the iterator',
  async () => {
    const app = await svix.application.create({ name: 'Messages', uid: 'msg-app' });
    const first = await svix.message.create(app.id, {
      eventType: 'invoice.paid', eventId: 'evt-1', payload: { amount: 1250, currency: 'EUR', nested: { ok: true } },
    }, { withContent: true });
    assert.match(first.id, /^msg_[0-9A-Za-z]{27}$/);
    assert.equal(first.eventId, 'evt-1');
    assert.deepEqual(first.payload, { amount: 1250, currency: 'EUR', nested: { ok: true } });

    await assert.rejects(
      svix.message.create(app.id, { eventType: 'invoice.paid', eventId: 'evt-1', payload: {} }),
      (e) => e instanceof ApiException && e.code === 409);

    const fetched = await svix.message.get(app.id, first.id, { withContent: true });
    assert.equal(fetched.eventId, 'evt-1');
    assert.deepEqual(fetched.payload, { amount: 1250, currency: 'EUR', nested: { ok: true } });
    // The SDK asks for with_content=false by default: the payload is left out of the answer.
    const lean = await svix.message.create(app.id, { eventType: 'invoice.paid', payload: { big: 'x' } });
    assert.deepEqual(lean.payload, {});
    assert.equal((await svix.message.get(app.id, 'evt-1')).id, first.id);

    const created = [first.id, lean.id];
    for (let i = 0; i < 258; i += 1) {
      const m = await svix.message.create('msg-app', {
        eventType: i % 2 ? 'invoice.paid' : 'invoice.voided', payload: { i }, channels: i % 3 === 0 ? ['c3'] : undefined,
      });
      created.push(m.id);
    }
    const seen = [];
    let iterator;
    let pages = 0;
    for (;;) {
      const page = await svix.message.list(app.id, { limit: 50, iterator });
      pages += 1;
      seen.push(...page.data.map((m) => m.id));
      if (page.done) break;
      iterator = page.iterator;
      assert.ok(pages < 20, 'paging terminates');
    }
    assert.equal(pages, 6);
    assert.equal(seen.length, 260);
    assert.deepEqual(seen, [...created].reverse(), 'newest first, each message exactly once');

    const paid = await svix.message.list(app.id, { eventTypes: ['invoice.voided'], limit: 250 });
    assert.equal(paid.data.length, 129);
    assert.ok(paid.data.every((m) => m.eventType === 'invoice.voided'));
    const chan = await svix.message.list(app.id, { channel: 'c3', limit: 250 });
    assert.equal(chan.data.length, 86);
  });

test('messages: MessageIn.application creates the application on first use', async () => {
  const msg = await svix.message.create('fresh-app', {
    eventType: 'user.created', payload: { id: 1 }, application: { name: 'Fresh', uid: 'fresh-app' },
  });
  assert.match(msg.id, /^msg_/);
  assert.equal((await svix.application.get('fresh-app')).name, 'Fresh');
});

test('attempts: listings by message and by endpoint have the Svix shape', async () => {
  const app = await svix.application.create({ name: 'Attempts' });
  const ep = await svix.endpoint.create(app.id, { url: 'http://127.0.0.1:9/a' });
  const msg = await svix.message.create(app.id, { eventType: 'invoice.paid', payload: {} });
  // The dispatcher tries the endpoint at once; nothing listens there, which is logged as a failed attempt with
  // the reason.
  let byMsg;
  for (let i = 0; i < 500; i += 1) {
    byMsg = await svix.messageAttempt.listByMsg(app.id, msg.id);
    if (byMsg.data.length) break;
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(byMsg.data.length, 1);
  assert.equal(byMsg.done, true);
  const [attempt] = byMsg.data;
  assert.match(attempt.id, /^atmpt_/);
  assert.equal(attempt.msgId, msg.id);
  assert.equal(attempt.endpointId, ep.id);
  assert.equal(attempt.responseStatusCode, 0);
  assert.equal(attempt.statusText, 'fail');
  assert.match(attempt.response, /refused/i);
  assert.ok(attempt.timestamp instanceof Date);
  const byEp = await svix.messageAttempt.listByEndpoint(app.id, ep.id);
  assert.deepEqual(byEp.data.map((a) => a.id), [attempt.id]);
  assert.equal(byEp.done, true);
  await assert.rejects(svix.messageAttempt.listByMsg(app.id, 'msg_does_not_exist'),
    (e) => e instanceof ApiException && e.code === 404);
});

test('attempts and messages: get one attempt, expunge its response, expunge a message payload', async () => {
  const app = await svix.application.create({ name: 'Expunge' });
  const ep = await svix.endpoint.create(app.id, { url: 'http://127.0.0.1:9/e' });
  const msg = await svix.message.create(app.id,
    { eventType: 'invoice.paid', eventId: 'evt-expunge-1', payload: { card: '4242' } });
  let listed;
  for (let i = 0; i < 500; i += 1) {
    listed = await svix.messageAttempt.listByMsg(app.id, msg.id);
    if (listed.data.length) break;
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(listed.data.length, 1);
  const [attempt] = listed.data;

  // One attempt, by message id or by the message's eventId: the same MessageAttemptOut as in the listing.
  const got = await svix.messageAttempt.get(app.id, msg.id, attempt.id);
  assert.deepEqual(got, attempt);
  assert.equal((await svix.messageAttempt.get(app.id, 'evt-expunge-1', attempt.id)).id, attempt.id);
  assert.match(got.response, /refused/i);
  await assert.rejects(svix.messageAttempt.get(app.id, msg.id, 'atmpt_does_not_exist'),
    (e) => e instanceof ApiException && e.code === 404);

  // Expunging the response keeps the attempt.
  await svix.messageAttempt.expungeContent(app.id, msg.id, attempt.id);
  const expunged = await svix.messageAttempt.get(app.id, msg.id, attempt.id);
  assert.equal(expunged.response, '');
  assert.equal(expunged.statusText, 'fail');
  assert.equal(expunged.timestamp.getTime(), attempt.timestamp.getTime());

  // Expunging the payload keeps the message, which reads as Svix shows an expired one and cannot be resent.
  assert.deepEqual((await svix.message.get(app.id, msg.id, { withContent: true })).payload, { card: '4242' });
  await svix.message.expungeContent(app.id, msg.id);
  const gone = await svix.message.get(app.id, msg.id, { withContent: true });
  assert.deepEqual(gone.payload, { expired: true });
  assert.equal(gone.eventType, 'invoice.paid');
  await assert.rejects(svix.messageAttempt.resend(app.id, msg.id, ep.id),
    (e) => e instanceof ApiException && e.code === 409);
  await assert.rejects(svix.message.expungeContent(app.id, 'msg_does_not_exist'),
    (e) => e instanceof ApiException && e.code === 404);
});

test('a wrong token is refused with 401', async () => {
  const bad = new Svix('wrong-token', { serverUrl: hw.url });
  await assert.rejects(bad.application.list(), (e) => e instanceof ApiException && e.code === 401);
});

test('message precheck says whether an enabled endpoint would receive an event type; expunge-all-contents empties every payload of the application', async () => {
  const app = await svix.application.create({ name: 'Precheck' });
  const other = await svix.application.create({ name: 'Untouched' });
  assert.equal((await svix.message.precheck(app.id, { eventType: 'invoice.paid' })).active, false, 'no endpoint yet');
  const ep = await svix.endpoint.create(app.id, { url: 'http://127.0.0.1:9/p', eventTypes: ['invoice.paid'], channels: ['eu'] });
  assert.equal((await svix.message.precheck(app.id, { eventType: 'invoice.paid', channels: ['eu'] })).active, true);
  assert.equal((await svix.message.precheck(app.id, { eventType: 'invoice.paid', channels: ['us'] })).active, false);
  assert.equal((await svix.message.precheck(app.id, { eventType: 'user.created', channels: ['eu'] })).active, false);
  assert.equal((await svix.endpoint.patch(app.id, ep.id, { disabled: true })).disabled, true);
  assert.equal((await svix.message.precheck(app.id, { eventType: 'invoice.paid', channels: ['eu'] })).active, false, 'a disabled endpoint receives nothing');

  const ids = [];
  for (let i = 0; i < 3; i += 1) ids.push((await svix.message.create(app.id, { eventType: 'e', payload: { secret: i } })).id);
  const kept = await svix.message.create(other.id, { eventType: 'e', payload: { keep: true } });
  const task = await svix.message.expungeAllContents(app.id);
  assert.match(task.id, /^qtask_/);
  assert.equal(task.status, 'finished');
  assert.equal(task.task, 'application.purge_content');
  for (const id of ids) assert.deepEqual((await svix.message.get(app.id, id, { withContent: true })).payload, { expired: true });
  assert.deepEqual((await svix.message.get(other.id, kept.id, { withContent: true })).payload, { keep: true });
});

test('replay-missing queues, for an endpoint, the messages it never had (created before it existed); a second run finds none', async () => {
  const { receiver } = await import('./lib/receiver.mjs');
  const rx = await receiver();
  try {
    const app = await svix.application.create({ name: 'Replay' });
    const before = await svix.message.create(app.id, { eventType: 'invoice.paid', payload: { n: 1 } });
    await svix.message.create(app.id, { eventType: 'other.type', payload: { n: 2 } });  // not for its filter
    const ep = await svix.endpoint.create(app.id, { url: rx.url, eventTypes: ['invoice.paid'] });
    const task = await svix.endpoint.replayMissing(app.id, ep.id, { since: new Date(Date.now() - 3600e3) });
    assert.match(task.id, /^qtask_/);
    assert.equal(task.status, 'finished');
    assert.equal(task.task, 'endpoint.replay');
    await rx.waitFor(1);
    assert.equal(rx.requests[0].headers['webhook-id'], before.id);
    const raw = await hw.api('POST', `/api/v1/app/${app.id}/endpoint/${ep.id}/replay-missing`, { since: new Date(0).toISOString() });
    assert.equal(raw.status, 202, raw.text);
    assert.equal(raw.json.replayed, 0, 'already queued: nothing more');
    const bad = await hw.api('POST', `/api/v1/app/${app.id}/endpoint/${ep.id}/replay-missing`, { since: 'yesterday' });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.json.detail[0].loc, ['body', 'since']);
    // The attempt is logged as manual.
    for (;;) {
      const attempts = (await hw.api('GET', `/api/v1/app/${app.id}/attempt/msg/${before.id}`)).json.data;
      if (attempts.length) {
        assert.equal(attempts[0].triggerType, 1);
        break;
      }
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(rx.requests.length, 1, 'the other type was not replayed');
  } finally {
    await rx.close();
  }
});

test('bulk-replay sends again what was sent to an endpoint, by status, status code and event type', async () => {
  const { receiver } = await import('./lib/receiver.mjs');
  const rx = await receiver();
  try {
    const app = await svix.application.create({ name: 'Bulk replay' });
    const ep = await svix.endpoint.create(app.id, { url: rx.url });
    const a = await svix.message.create(app.id, { eventType: 'a.b', payload: { n: 1 } });
    const c = await svix.message.create(app.id, { eventType: 'c.d', payload: { n: 2 } });
    await rx.waitFor(2);
    for (;;) {  // both deliveries recorded as successes
      const statuses = (await hw.api('GET', `/api/v1/app/${app.id}/endpoint/${ep.id}/msg`)).json.data.map((m) => m.status);
      if (statuses.length === 2 && statuses.every((s) => s === 0)) break;
      await new Promise((r) => setImmediate(r));
    }
    const since = new Date(Date.now() - 3600e3);
    const none = await hw.api('POST', `/api/v1/app/${app.id}/endpoint/${ep.id}/bulk-replay`, { since: since.toISOString(), statusCode: 404 });
    assert.equal(none.status, 202, none.text);
    assert.equal(none.json.replayed, 0, 'no last attempt answered 404');
    const onlyA = await hw.api('POST', `/api/v1/app/${app.id}/endpoint/${ep.id}/bulk-replay`, { since: since.toISOString(), status: 0, eventTypes: ['a.b'] });
    assert.equal(onlyA.json.replayed, 1);
    await rx.waitFor(3);
    assert.equal(rx.requests[2].headers['webhook-id'], a.id);
    await rx.waitFor(3);
    // Every message whose last attempt answered 200: c, and a unless its replay is still in flight.
    const all = await hw.api('POST', `/api/v1/app/${app.id}/endpoint/${ep.id}/bulk-replay`, { since: since.toISOString(), statusCode: 200 });
    assert.ok(all.json.replayed === 1 || all.json.replayed === 2, all.text);
    await rx.waitFor(3 + all.json.replayed);
    assert.ok(rx.requests.slice(3).some((r) => r.headers['webhook-id'] === c.id));
    const task = await svix.endpoint.bulkReplay(app.id, ep.id, { since, status: 2 });  // nothing failed
    assert.equal(task.status, 'finished');
    assert.equal(task.task, 'endpoint.bulk-replay');
  } finally {
    await rx.close();
  }
});

test('event types imported from an OpenAPI document: webhooks become event types with their schema and examples; dryRun changes nothing; replaceAll archives the rest', async () => {
  await svix.eventType.create({ name: 'legacy.thing', description: 'old' });
  const spec = {
    openapi: '3.1.0', info: { title: 'Shop', version: '1' },
    webhooks: {
      'order.paid': { post: { summary: 'An order was paid', requestBody: { content: { 'application/json': {
        schema: { $ref: '#/components/schemas/Order' }, example: { id: 'ord_1', total: 42 } } } } } },
      'order.refunded': { post: { description: 'Refunded', deprecated: true, requestBody: { content: { 'application/json': {
        schema: { type: 'object', properties: { id: { type: 'string' } } } } } } } },
    },
    components: { schemas: { Order: { type: 'object', properties: { id: { type: 'string' }, total: { type: 'integer' } } } } },
  };
  const dry = await svix.eventType.importOpenapi({ spec, dryRun: true });
  assert.deepEqual([...dry.data.modified].sort(), ['order.paid', 'order.refunded']);
  assert.equal(dry.data.toModify.length, 2);
  await assert.rejects(svix.eventType.get('order.paid'), (e) => e instanceof ApiException && e.code === 404, 'dryRun wrote nothing');

  const done = await svix.eventType.importOpenapi({ spec, replaceAll: true });
  assert.deepEqual([...done.data.modified].sort(), ['order.paid', 'order.refunded']);
  const paid = await svix.eventType.get('order.paid');
  assert.equal(paid.description, 'An order was paid');
  assert.equal(paid.schemas['1'].properties.total.type, 'integer', 'the $ref was resolved');
  assert.deepEqual(paid.schemas['1'].examples, [{ id: 'ord_1', total: 42 }]);
  assert.equal((await svix.eventType.get('order.refunded')).deprecated, true);
  assert.equal((await svix.eventType.get('legacy.thing')).archived, true, 'replaceAll archived the rest');

  // The example is what send-example and `hookwire send --example 0` send.
  const bad = await hw.api('POST', '/api/v1/event-type/import/openapi', { specRaw: 'openapi: 3.1.0' });
  assert.equal(bad.status, 422);
  assert.match(bad.text, /does not read YAML/);
  const neither = await hw.api('POST', '/api/v1/event-type/import/openapi', {});
  assert.equal(neither.status, 400);
  const badName = await hw.api('POST', '/api/v1/event-type/import/openapi', { spec: { webhooks: { 'bad name': { post: {} } } } });
  assert.equal(badName.status, 422);
  assert.match(badName.text, /bad name/);
});
