// The terminal workflow against a real server: hookwire send (a payload, an event type's example), messages,
// message, resend and recover, with the server and token from flags, the environment or the config file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { BIN, Hookwire } from './lib/hookwire.mjs';
import { receiver } from './lib/receiver.mjs';

let hw;
let rx;
const dir = mkdtempSync(join(tmpdir(), 'hookwire-cli-'));
before(async () => {
  // Two attempts per delivery (the second after 50 ms): a receiver that fails twice makes a failed delivery.
  hw = await Hookwire.start({ args: ['--delivery-allow-cidr', '127.0.0.0/8', '--retry-schedule', '50ms',
                                     '--retry-overload-floor-seconds', '0'] });
  rx = await receiver({ statuses: [], fallback: 200 });
});
after(async () => {
  assert.equal(await hw.stop(), 0);
  hw.cleanup();
  await rx.close();
  rmSync(dir, { recursive: true, force: true });
});

// Runs `hookwire args...` with only these environment variables (and PATH).
function cli(args, env = { HOOKWIRE_SERVER: hw.url, HOOKWIRE_TOKEN: hw.token }) {
  const r = spawnSync(BIN, args, { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', cwd: dir });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('send, messages, message, resend and recover against a server', async () => {
  await hw.api('POST', '/api/v1/app', { name: 'Acme', uid: 'acme' });
  await hw.api('POST', '/api/v1/event-type', { name: 'invoice.paid', description: 'paid',
    schemas: { 1: { type: 'object', examples: [{ id: 'in_1', amount: 4200 }, { id: 'in_2', amount: 1 }] } } });
  const ep = (await hw.api('POST', '/api/v1/app/acme/endpoint', { uid: 'local', url: rx.url })).json;
  const { key } = (await hw.api('GET', `/api/v1/app/acme/endpoint/${ep.id}/secret`)).json;

  // An event type's example, like `stripe trigger`.
  const sent = cli(['send', '--app', 'acme', '--type', 'invoice.paid', '--example', '1']);
  assert.equal(sent.code, 0, sent.err);
  const id = sent.out.match(/^sent (msg_\w+) {2}invoice\.paid {2}to acme$/m)?.[1];
  assert.ok(id, sent.out);
  await rx.waitFor(1);
  assert.deepEqual(JSON.parse(rx.requests[0].body), { id: 'in_2', amount: 1 });
  new Webhook(key).verify(rx.requests[0].body, rx.requests[0].headers);
  // A payload of its own, with an eventId.
  const own = cli(['send', '--app', 'acme', '--type', 'user.created', '--payload', '{"user":"u_1"}', '--event-id', 'evt-cli-1', '--json']);
  assert.equal(own.code, 0, own.err);
  assert.equal(JSON.parse(own.out).eventId, 'evt-cli-1');
  await rx.waitFor(2);

  // The attempts are recorded after the receiver answers: wait until both show.
  for (;;) {
    const attempts = (await hw.api('GET', `/api/v1/app/acme/attempt/msg/${id}`)).json.data;
    const second = (await hw.api('GET', '/api/v1/app/acme/attempt/msg/evt-cli-1')).json.data;
    if (attempts.length && second.length) break;
    await new Promise((r) => setImmediate(r));
  }
  const listed = cli(['messages', '--app', 'acme']);
  assert.equal(listed.code, 0, listed.err);
  const lines = listed.out.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /msg_\w+ {2}user\.created +1 success$/);
  assert.match(lines[1], new RegExp(`${id} {2}invoice\\.paid +1 success$`));
  const onlyType = cli(['messages', '--app', 'acme', '--type', 'invoice.paid', '--json']);
  assert.deepEqual(onlyType.out.trim().split('\n').map((l) => JSON.parse(l).message.id), [id]);

  const one = cli(['message', '--app', 'acme', 'evt-cli-1']);
  assert.equal(one.code, 0, one.err);
  assert.match(one.out, /^event type user\.created$/m);
  assert.match(one.out, /"user": "u_1"/);
  assert.match(one.out, new RegExp(`^attempt .* ${ep.id} {2}success +HTTP 200 .* scheduled$`, 'm'));

  const resent = cli(['resend', '--app', 'acme', '--endpoint', 'local', id]);
  assert.equal(resent.code, 0, resent.err);
  await rx.waitFor(3);
  assert.equal(rx.requests[2].headers['webhook-id'], id);

  // A delivery that fails twice is failed; recover sends it again.
  rx.statuses.push(500, 500);
  const failing = cli(['send', '--app', 'acme', '--type', 'user.deleted', '--event-id', 'evt-cli-fail']);
  assert.equal(failing.code, 0, failing.err);
  await rx.waitFor(5);
  for (;;) {
    const status = (await hw.api('GET', '/api/v1/app/acme/msg/evt-cli-fail/endpoint')).json.data[0]?.status;
    if (status === 2) break;  // failed
    await new Promise((r) => setImmediate(r));
  }
  const recovered = cli(['recover', '--app', 'acme', '--endpoint', 'local', '--since', '2000-01-01T00:00:00Z']);
  assert.equal(recovered.code, 0, recovered.err);
  assert.match(recovered.out, /^recovering 1 message\(s\) to local$/m);
  await rx.waitFor(6);
  assert.deepEqual(JSON.parse(rx.requests[5].body), {});
});

test('the server and token from a config file or flags; clear errors and exit 1', async () => {
  const conf = join(dir, 'hookwire.toml');
  writeFileSync(conf, `listen = "${hw.url.replace('http://', '')}"\nadmin-token = "\${CLI_TEST_TOKEN}"\n`);
  const fromFile = cli(['messages', '--config', conf, '--app', 'acme', '--limit', '1'], { CLI_TEST_TOKEN: hw.token });
  assert.equal(fromFile.code, 0, fromFile.err);
  assert.equal(fromFile.out.trim().split('\n').length, 1);
  const fromFlags = cli(['messages', '--server', hw.url, '--token', hw.token, '--app', 'acme', '--limit', '1'], {});
  assert.equal(fromFlags.code, 0, fromFlags.err);

  const wrongToken = cli(['messages', '--server', hw.url, '--token', 'wrong', '--app', 'acme'], {});
  assert.equal(wrongToken.code, 1);
  assert.match(wrongToken.err, /^hookwire: GET \/api\/v1\/app\/acme\/msg.*: 401 /m);
  const noApp = cli(['message', '--app', 'nope', 'msg_x']);
  assert.equal(noApp.code, 1);
  assert.match(noApp.err, /404 application not found/);
  const noToken = cli(['messages', '--server', hw.url, '--app', 'acme'], {});
  assert.equal(noToken.code, 1);
  assert.match(noToken.err, /no token: give --token/);
  const badExample = cli(['send', '--app', 'acme', '--type', 'invoice.paid', '--example', '7']);
  assert.equal(badExample.code, 1);
  assert.match(badExample.err, /event type invoice\.paid has no example 7/);
  const down = cli(['messages', '--app', 'acme'], { HOOKWIRE_SERVER: 'http://127.0.0.1:1', HOOKWIRE_TOKEN: 't' });
  assert.equal(down.code, 1);
  assert.match(down.err, /cannot reach the server at http:\/\/127\.0\.0\.1:1/);
});
