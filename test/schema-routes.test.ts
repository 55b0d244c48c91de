import assert from 'node:assert/strict';
import test from 'node:test';
import * as z from 'zod';
import { HttpError, handlerResponse, InvalidArgumentError } from '../src/index.ts';
import { defineRoute } from '../src/schema/index.ts';
import { send } from './helpers/http-client.ts';
import { LIBRARIES, usersApi } from './helpers/schema-apis.ts';
import { startServer } from './helpers/server.ts';

type Problems = { path: (string | number)[]; message: string }[];

function problemsOf(text: string): { code: number; message: string; problems: Problems } {
  const json = JSON.parse(text) as { code: number; message: string; data: { problems: Problems } };
  return { code: json.code, message: json.message, problems: json.data.problems };
}

const paths = (problems: Problems) => problems.map((p) => p.path.join('.')).sort();

for (const lib of LIBRARIES) {
  test(`${lib}: valid params, query, headers and body reach the handler parsed, and the answer is the schema's output`, async (t) => {
    const srv = await startServer((s) => s.bind(usersApi(lib)));
    t.after(() => srv.close());
    const one = await send(`${srv.url}/users/7`);
    assert.equal(one.status, 200);
    // params.id arrived as the number 7: the handler found the map entry keyed by a number.
    assert.deepEqual(JSON.parse(one.text), { id: 7, name: 'Ann' });
    const list = await send(`${srv.url}/users?limit=2`, { headers: { 'x-tenant': 'acme' } });
    assert.equal(list.status, 200);
    assert.deepEqual(JSON.parse(list.text), [
      { id: 0, name: 'acme 0' },
      { id: 1, name: 'acme 1' },
    ]);
    const created = await send(`${srv.url}/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Bo', age: 30 }),
    });
    assert.equal(created.status, 200);
    assert.deepEqual(JSON.parse(created.text), { id: 101, name: 'Bo' });
  });

  test(`${lib}: each invalid input place is a 400 listing every problem, as JSON without the envelope`, async (t) => {
    const srv = await startServer((s) => s.bind(usersApi(lib)));
    t.after(() => srv.close());
    const badParam = await send(`${srv.url}/users/seven`);
    assert.equal(badParam.status, 400);
    assert.match(String(badParam.headers['content-type']), /^application\/json/);
    assert.deepEqual(paths(problemsOf(badParam.text).problems), ['params.id']);
    // Query and header wrong at once: one answer names both.
    const both = await send(`${srv.url}/users?limit=500`);
    assert.equal(both.status, 400);
    assert.deepEqual(paths(problemsOf(both.text).problems), ['headers.x-tenant', 'query.limit']);
    const badBody = await send(`${srv.url}/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: '', age: -1 }),
    });
    assert.equal(badBody.status, 400);
    const body = problemsOf(badBody.text);
    assert.equal(body.code, 400);
    assert.match(body.message, /^Invalid request: body\./);
    assert.deepEqual(paths(body.problems), ['body.age', 'body.name']);
    for (const p of body.problems) assert.ok(p.message.length > 0, 'every problem says what is wrong');
    // No body at all: the body place itself is the problem.
    const noBody = await send(`${srv.url}/users`, { method: 'POST' });
    assert.equal(noBody.status, 400);
    assert.deepEqual(paths(problemsOf(noBody.text).problems), ['body']);
  });

  test(`${lib}: inside handlerResponse a 400 is the envelope with data.problems, and success is wrapped`, async (t) => {
    const srv = await startServer((s) =>
      s.group('/api', (g) => g.middleware(handlerResponse).bind(usersApi(lib))),
    );
    t.after(() => srv.close());
    const bad = await send(`${srv.url}/api/users/x`);
    assert.equal(bad.status, 400);
    const envelope = JSON.parse(bad.text);
    assert.equal(envelope.code, 400);
    assert.deepEqual(
      envelope.data.problems.map((p: { path: string[] }) => p.path.join('.')),
      ['params.id'],
    );
    const ok = await send(`${srv.url}/api/users/7`);
    assert.deepEqual(JSON.parse(ok.text), { code: 0, message: 'OK', data: { id: 7, name: 'Ann' } });
  });

  test(`${lib}: an answer that fails the response schema is a 500 with nothing of it sent, and logged`, async (t) => {
    const srv = await startServer((s) => s.bind(usersApi(lib)));
    t.after(() => srv.close());
    const res = await send(`${srv.url}/broken/7`);
    assert.equal(res.status, 500);
    assert.equal(res.text, 'Internal Server Error');
    const logged = srv.logger.lines.find((l) => l.level === 'error');
    assert.ok(logged, 'the failure is logged');
    assert.match(
      String((logged.args[1] as Error).message),
      /GET \/broken\/7: the response failed its schema: response\.id/,
    );
  });
}

test('the three libraries answer the same invalid request with the same problem paths', async (t) => {
  const answers: string[][] = [];
  for (const lib of LIBRARIES) {
    const srv = await startServer((s) => s.bind(usersApi(lib)));
    t.after(() => srv.close());
    const res = await send(`${srv.url}/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 5 }),
    });
    assert.equal(res.status, 400);
    answers.push(paths(problemsOf(res.text).problems));
  }
  assert.deepEqual(answers[0], ['body.age', 'body.name']);
  assert.deepEqual(answers[1], answers[0]);
  assert.deepEqual(answers[2], answers[0]);
});

test('response checks can be switched off per route: the handler answer is then sent as returned', async (t) => {
  const route = defineRoute({
    method: 'GET',
    path: '/loose',
    response: z.object({ id: z.number() }),
    validateResponse: false,
    handler: () => ({ id: 'seven' as unknown as number }),
  });
  const srv = await startServer((s) => s.bind({ route }));
  t.after(() => srv.close());
  const res = await send(`${srv.url}/loose`);
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.text), { id: 'seven' });
});

test('fields the response schema does not know are not sent: the output is what the schema returns', async (t) => {
  const route = defineRoute({
    method: 'GET',
    path: '/me',
    response: z.object({ id: z.number(), name: z.string() }),
    handler: () => {
      const row = { id: 1, name: 'Ann', passwordHash: 'secret' };
      return row;
    },
  });
  const srv = await startServer((s) => s.bind({ route }));
  t.after(() => srv.close());
  assert.deepEqual(JSON.parse((await send(`${srv.url}/me`)).text), { id: 1, name: 'Ann' });
});

test('a class instance binds as a controller: its route fields see the instance, other fields are skipped', async (t) => {
  class Greetings {
    private readonly greeting = 'hello';
    readonly db = { connected: true };
    hello = defineRoute({
      method: 'GET',
      path: '/hello/{name}',
      response: z.string(),
      handler: ({ params }) => `${this.greeting} ${params.name}`,
    });
  }
  const srv = await startServer((s) => {
    s.group('/v1', (g) => g.bind(new Greetings()));
    // Plain handlers keep working beside bound controllers.
    s.get('/plain', () => 'plain');
  });
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/v1/hello/bo`)).text, 'hello bo');
  assert.equal((await send(`${srv.url}/plain`)).text, 'plain');
});

test('bad definitions and controllers throw InvalidArgumentError naming the argument', async () => {
  const s = (await import('../src/index.ts')).server(`schema-bad-${process.pid}`);
  assert.throws(
    () => s.bind({ db: {} }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'controller',
  );
  assert.throws(
    () => s.bind(null as unknown as object),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'controller',
  );
  const handler = () => undefined;
  assert.throws(
    () => defineRoute({ method: 'FETCH' as 'GET', path: '/x', handler }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'method',
  );
  assert.throws(
    () => defineRoute({ method: 'GET', path: 'x', handler }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'path',
  );
  assert.throws(
    () => defineRoute({ method: 'GET', path: '/x', body: { parse() {} } as never, handler }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'body',
  );
  assert.throws(
    () => defineRoute({ method: 'GET', path: '/x', events: { tick: z.number(), tock: 5 as never }, handler }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'events.tock',
  );
  assert.throws(
    () => defineRoute({ method: 'GET', path: '/x', events: { 'a\nb': z.number() }, handler }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'events',
  );
  assert.throws(
    () => defineRoute({ method: 'GET', path: '/x', events: {}, handler }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'events',
  );
});

test('an HttpError carrying data answers JSON { code, message, data } without the envelope too', async (t) => {
  const srv = await startServer((s) => {
    s.get('/taken', () => {
      throw new HttpError(409, 'taken', { code: 10001, data: { name: 'ann' } });
    });
    s.get('/plain', () => {
      throw new HttpError(404, 'no such thing');
    });
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/taken`);
  assert.equal(res.status, 409);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.deepEqual(JSON.parse(res.text), { code: 10001, message: 'taken', data: { name: 'ann' } });
  // Without data an error stays the short text it always was.
  const plain = await send(`${srv.url}/plain`);
  assert.equal(plain.text, 'no such thing');
  assert.match(String(plain.headers['content-type']), /^text\/plain/);
});

test('a body with thousands of bad items is answered with at most 50 problems', async (t) => {
  const route = defineRoute({
    method: 'POST',
    path: '/bulk',
    body: z.array(z.number()),
    handler: ({ body }) => body.length,
  });
  const srv = await startServer((s) => s.bind({ route }));
  t.after(() => srv.close());
  const res = await send(`${srv.url}/bulk`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(Array.from({ length: 5000 }, () => 'x')),
  });
  assert.equal(res.status, 400);
  const { problems } = problemsOf(res.text);
  assert.equal(problems.length, 50);
  assert.deepEqual(problems[49]?.path, ['body', 49]);
  assert.ok(res.body.length < 10_000, `answer of ${res.body.length} bytes`);
});
