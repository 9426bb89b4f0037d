// Background tasks and the usage statistics through the official svix SDK: statistics.aggregateAppStats and
// aggregateEventTypes answer a finished task whose result backgroundTask.get returns; recover, the replays and
// expunge-all-contents record theirs; backgroundTask.list filters by type and status; bad input is refused
// (422) with nothing recorded; tasks survive a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Svix, ApiException } from 'svix';
import { Hookwire } from './lib/hookwire.mjs';

const ARGS = ['--delivery', 'off', '--delivery-allow-cidr', '127.0.0.0/8'];

async function refused(promise, code) {
  await assert.rejects(promise, (e) => e instanceof ApiException && e.code === code);
}

test('usage statistics and background tasks: results kept by id, listed by type and status, bad input refused', async () => {
  const first = await Hookwire.start({ args: ARGS });
  let hw = first;
  try {
    let svix = new Svix(hw.token, { serverUrl: hw.url });
    const since = new Date(Date.now() - 60_000);
    const a = await svix.application.create({ name: 'A', uid: 'app-a' });
    const b = await svix.application.create({ name: 'B' });
    await svix.application.create({ name: 'quiet', uid: 'app-quiet' });
    const ep = await svix.endpoint.create(a.id, { url: 'http://127.0.0.1:9/a', uid: 'ep-a' });
    await svix.endpoint.create(a.id, { url: 'http://127.0.0.1:9/a2', eventTypes: ['order.paid'] });
    for (const [app, eventType] of [[a.id, 'order.paid'], [a.id, 'order.shipped'], [b.id, 'order.paid']])
      await svix.message.create(app, { eventType, payload: { n: 1 } });
    const until = new Date(Date.now() + 60_000);

    // Named applications: stats for those found, the others answered as unresolved.
    const named = await svix.statistics.aggregateAppStats({ since, until, appIds: ['app-a', 'app-nope', a.id] });
    assert.equal(named.status, 'finished');
    assert.equal(named.task, 'application.stats');
    assert.match(named.id, /^qtask_[A-Za-z0-9]{27}$/);
    assert.deepEqual(named.unresolvedAppIds, ['app-nope']);
    const namedTask = await svix.backgroundTask.get(named.id);
    assert.equal(namedTask.status, 'finished');
    // order.paid goes to both endpoints, order.shipped to the unfiltered one: 3 destinations.
    assert.deepEqual(namedTask.data.appStats, [{ appId: a.id, appUid: 'app-a', messages: 2, messageDestinations: 3 }]);
    assert.equal(new Date(namedTask.data.since).getTime(), since.getTime());
    assert.equal(new Date(namedTask.data.until).getTime(), until.getTime());

    // Every application, in a window that excludes nothing; then one that is before everything.
    const all = await svix.backgroundTask.get((await svix.statistics.aggregateAppStats({ since, until })).id);
    const byId = Object.fromEntries(all.data.appStats.map((s) => [s.appId, s]));
    assert.equal(all.data.appStats.length, 3);
    assert.deepEqual(byId[b.id], { appId: b.id, appUid: null, messages: 1, messageDestinations: 0 });
    assert.equal(byId[a.id].messages, 2);
    const before = await svix.backgroundTask.get((await svix.statistics.aggregateAppStats({
      since: new Date(since.getTime() - 3_600_000), until: since, appIds: ['app-a'] })).id);
    assert.deepEqual(before.data.appStats, [{ appId: a.id, appUid: 'app-a', messages: 0, messageDestinations: 0 }]);

    // The event types in use.
    const types = await svix.statistics.aggregateEventTypes();
    assert.equal(types.task, 'event-type.aggregate');
    const typesTask = await svix.backgroundTask.get(types.id);
    assert.deepEqual(typesTask.data.eventTypes.map(({ eventType, messages, applications }) => ({ eventType, messages, applications })),
      [{ eventType: 'order.paid', messages: 2, applications: 2 }, { eventType: 'order.shipped', messages: 1, applications: 1 }]);

    // Bad input: 422, and no task recorded.
    const countBefore = (await svix.backgroundTask.list({ limit: 250 })).data.length;
    await refused(svix.statistics.aggregateAppStats({ since, until, appIds: ['app-nope'] }), 422);
    await refused(svix.statistics.aggregateAppStats({ since: until, until: since }), 422);
    const raw = await hw.api('POST', '/api/v1/stats/usage/app', { since: since.toISOString() });
    assert.equal(raw.status, 422);
    assert.match(raw.text, /until/);
    assert.equal((await hw.api('POST', '/api/v1/stats/usage/app', { since: 'yesterday', until: until.toISOString() })).status, 422);
    assert.equal((await svix.backgroundTask.list({ limit: 250 })).data.length, countBefore);

    // Recover, the replays and expunge-all-contents record their tasks.
    const recovered = await svix.endpoint.recover(a.id, ep.id, { since });
    const recoverTask = await svix.backgroundTask.get(recovered.id);
    assert.equal(recoverTask.task, 'endpoint.recover');
    assert.deepEqual(recoverTask.data, { appId: a.id, endpointId: ep.id, recovered: 0 });
    const missing = await svix.endpoint.replayMissing(a.id, ep.id, { since });
    assert.equal((await svix.backgroundTask.get(missing.id)).task, 'endpoint.replay');
    const bulk = await hw.api('POST', `/api/v1/app/${a.id}/endpoint/${ep.id}/bulk-replay`, { since: since.toISOString() });
    assert.equal(bulk.status, 202, bulk.text);
    assert.equal(bulk.json.task, 'endpoint.bulk-replay');
    const purged = await hw.api('POST', `/api/v1/app/${b.id}/msg/expunge-all-contents`);
    assert.equal(purged.status, 202, purged.text);
    assert.deepEqual((await svix.backgroundTask.get(purged.json.id)).data, { appId: b.id });

    // Listing: newest first, filtered by type and status; unknown filters refused.
    const listed = await svix.backgroundTask.list({ limit: 250 });
    assert.equal(listed.data[0].id, purged.json.id);
    const ids = listed.data.map((t) => t.id);
    assert.deepEqual(ids, [...ids].sort().reverse());
    const statsOnly = await svix.backgroundTask.list({ task: 'application.stats', limit: 250 });
    assert.deepEqual(statsOnly.data.map((t) => t.task), Array(3).fill('application.stats'));
    assert.equal((await svix.backgroundTask.list({ status: 'failed' })).data.length, 0);
    const paged = await svix.backgroundTask.list({ limit: 2 });
    assert.equal(paged.data.length, 2);
    assert.equal(paged.done, false);
    const next = await svix.backgroundTask.list({ limit: 2, iterator: paged.iterator });
    assert.ok(next.data[0].id < paged.data[1].id);
    assert.equal((await hw.api('GET', '/api/v1/background-task?task=endpoint.nope')).status, 422);
    assert.equal((await hw.api('GET', '/api/v1/background-task?status=done')).status, 422);
    await refused(svix.backgroundTask.get('qtask_2Ls7YsVdqXkx0M3Ez4lb3AbCdEf'), 404);
    // Admin only.
    assert.equal((await fetch(`${hw.url}/api/v1/background-task`)).status, 401);

    // Kept across a restart.
    assert.equal(await hw.stop(), 0);
    hw = await Hookwire.start({ dataDir: first.dataDir, args: ARGS });
    svix = new Svix(hw.token, { serverUrl: hw.url });
    assert.deepEqual((await svix.backgroundTask.get(named.id)).data, namedTask.data);
  } finally {
    await hw.stop();
    first.cleanup();
  }
});
