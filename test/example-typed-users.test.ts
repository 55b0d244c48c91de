import assert from 'node:assert/strict';
import test from 'node:test';
import { validate } from '@hyperjump/json-schema/openapi-3-2';
import { buildApp } from '../examples/typed-users.ts';
import { silentLogger } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { parseEvents, read } from './helpers/sse-clients.ts';

test('the typed-users example: controller routes, a typed stream, and a valid 3.2 document', async (t) => {
  const s = buildApp(`typed-users-${process.pid}`).setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
  await s.start();
  t.after(() => s.shutdown({ timeout: 500 }));
  const url = `http://127.0.0.1:${s.getListenedPort()}`;
  assert.deepEqual(JSON.parse((await send(`${url}/api/users/1`)).text), {
    code: 0,
    message: 'OK',
    data: { id: 1, name: 'Ann', email: 'ann@example.com' },
  });
  const bad = await send(`${url}/api/users/one`);
  assert.equal(bad.status, 400);
  assert.deepEqual(JSON.parse(bad.text).data.problems[0].path, ['params', 'id']);
  const missing = await send(`${url}/api/users/9`);
  assert.equal(missing.status, 404);
  const created = await send(`${url}/api/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Bo', email: 'not-an-email' }),
  });
  assert.deepEqual(JSON.parse(created.text).data.problems[0].path, ['body', 'email']);
  const events = parseEvents((await read(`${url}/api/prices?symbol=ACME&count=2`)).body);
  assert.deepEqual(
    events.map((e) => e.event),
    ['price', 'price', 'done'],
  );
  assert.equal(JSON.parse(events[1]?.data ?? '{}').seq, 2);
  const doc = JSON.parse((await send(`${url}/api.json`)).text);
  assert.equal((await validate('https://spec.openapis.org/oas/3.2/schema-base', doc)).valid, true);
  assert.ok(doc.paths['/api/prices'].get.responses['200'].content['text/event-stream'].itemSchema);
  assert.equal((await send(`${url}/swagger`)).status, 200);
});
