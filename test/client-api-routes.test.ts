import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError, apiManifest, createApiClient, InvalidArgumentError } from '../src/client/index.ts';
import { handlerResponse } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { type Routes, routes } from './helpers/typed-api.ts';

/*
 * The typed API client against a real server over real sockets: the routes of helpers/typed-api.ts
 * bound twice, plain under /api and behind handlerResponse under /env, and called through
 * createApiClient with the routes themselves and with their JSON manifest.
 */

async function startApi(): Promise<
  TestServer & { seen: { path: string; lastEventId: string | undefined }[] }
> {
  const seen: { path: string; lastEventId: string | undefined }[] = [];
  const t = await startServer((s) => {
    s.use((r) => {
      const h = r.headers['last-event-id'];
      seen.push({ path: r.path, lastEventId: typeof h === 'string' ? h : undefined });
      return r.middleware.next();
    });
    s.group('/api', (g) => {
      g.bind(routes.users).bind({ files: routes.files }).bind(routes.ticker);
      g.bind({ rows: routes.reports.rows, log: routes.reports.log });
      g.get('/manifest.json', () => apiManifest(routes));
    });
    s.group('/env', (g) => {
      g.middleware(handlerResponse);
      g.bind(routes.users);
    });
  });
  return Object.assign(t, { seen });
}

function unexpected(value: unknown): never {
  return assert.fail(`expected an ApiError, got ${JSON.stringify(value)}`);
}

describe('createApiClient', () => {
  test('JSON routes: params encoded, query serialised, headers and body sent, typed answers back', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    const api = createApiClient<Routes>(`${app.url}/api`, routes);
    assert.deepEqual(await api.users.get({ params: { id: 1 } }), { id: 1, name: 'Ann', tags: ['a'] });
    assert.deepEqual(await api.users.list({ query: { limit: 5, tag: ['x', 'y z&'] } }), {
      limit: 5,
      tags: ['x', 'y z&'],
      users: [{ id: 1, name: 'Ann', tags: ['a'] }],
    });
    const created = await api.users.create({ headers: { 'x-tenant': 'acme' }, body: { name: 'Bo' } });
    assert.deepEqual(created, { id: 2, name: 'acme:Bo', tags: [] });
    // Reserved characters stay inside their param; a wildcard keeps its slashes.
    assert.deepEqual(await api.files({ params: { dir: 'a/b?c#d', rest: 'x y/ü/%.txt' } }), {
      dir: 'a/b?c#d',
      rest: 'x y/ü/%.txt',
    });
  });

  test('a refused request rejects with an ApiError carrying status and problems', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    const api = createApiClient<Routes>(`${app.url}/api`, routes);
    const bad = await api.users.get({ params: { id: 'one' } }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(bad instanceof ApiError);
    assert.equal(bad.status, 400);
    assert.deepEqual(
      bad.problems.map((p) => p.path),
      [['params', 'id']],
    );
    const body = await api.users
      .create({ headers: { 'x-tenant': '' }, body: { name: '' } })
      .then(unexpected, (e: unknown) => e as ApiError);
    assert.equal(body.status, 400);
    assert.deepEqual(body.problems.map((p) => p.path).sort(), [
      ['body', 'name'],
      ['headers', 'x-tenant'],
    ]);
    const missing = await api.users
      .get({ params: { id: 9 } })
      .then(unexpected, (e: unknown) => e as ApiError);
    assert.equal(missing.status, 404);
    assert.equal(missing.message, 'no user 9');
    assert.deepEqual(missing.problems, []);
  });

  test('behind handlerResponse: data unwrapped from the envelope, errors keep code and problems', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    const api = createApiClient<Routes>(`${app.url}/env`, routes, { envelope: true });
    assert.deepEqual(await api.users.get({ params: { id: 1 } }), { id: 1, name: 'Ann', tags: ['a'] });
    const bad = await api.users.get({ params: { id: -1 } }).then(unexpected, (e: unknown) => e as ApiError);
    assert.equal(bad.status, 400);
    assert.equal(bad.code, 400);
    assert.deepEqual(bad.problems[0]?.path, ['params', 'id']);
    // Without envelope: true the same answer is the envelope itself, as the server sent it.
    const raw = createApiClient<Routes>(`${app.url}/env`, routes);
    assert.deepEqual(await raw.users.get({ params: { id: 1 } }), {
      code: 0,
      message: 'OK',
      data: { id: 1, name: 'Ann', tags: ['a'] },
    });
  });

  test('the manifest: JSON with methods, paths and event names only, enough for a client', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    const manifest = await (await fetch(`${app.url}/api/manifest.json`)).json();
    assert.deepEqual(manifest, {
      users: {
        get: { method: 'GET', path: '/users/{id}' },
        list: { method: 'GET', path: '/users' },
        create: { method: 'POST', path: '/users' },
      },
      files: { method: 'GET', path: '/files/{dir}/*rest' },
      ticker: {
        events: {
          method: 'GET',
          path: '/ticker/{room}',
          events: { tick: 'json', done: 'json', note: 'text' },
        },
        chat: { method: 'POST', path: '/chat', events: { token: 'json' } },
      },
      reports: {
        rows: { method: 'GET', path: '/rows/{prefix}', stream: 'ndjson' },
        log: { method: 'POST', path: '/log', stream: 'text' },
      },
    });
    let calls = 0;
    const api = createApiClient<Routes>(`${app.url}/api`, manifest, {
      headers: () => ({ 'x-tenant': `t${++calls}` }), // evaluated for every call
    });
    assert.equal(
      (await api.users.create({ headers: { 'x-tenant': 'own' }, body: { name: 'A' } })).name,
      'own:A',
    );
    assert.equal(calls, 1);
    const events = [];
    for await (const ev of api.ticker.events({ params: { room: 'r' }, query: { count: 1 } })) {
      events.push(ev.type);
      if (ev.type === 'done') break;
    }
    assert.deepEqual(events, ['tick', 'note', 'done']);
    assert.equal(calls, 2);
  });

  test('a streaming route yields its typed events and resumes with Last-Event-ID on reconnect', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    const api = createApiClient<Routes>(`${app.url}/api`, routes, {
      stream: { backoff: { initialDelay: 10, maxDelay: 10, jitter: 0 } },
    });
    const got: string[] = [];
    let rounds = 0;
    for await (const ev of api.ticker.events({ params: { room: 'a b' }, query: { count: 3 } })) {
      if (ev.type === 'tick') got.push(`tick ${ev.json().n} ${ev.json().at} id=${ev.id}`);
      else if (ev.type === 'note') got.push(`note ${ev.json()}`);
      else if (ev.type === 'done' && ++rounds === 2) break;
      else got.push(`done ${ev.type === 'done' ? ev.json().total : ev.type}`);
    }
    // The server ended the first stream after done; the client came back with the last id (3),
    // and the route, resumable, sent nothing it had already sent.
    assert.deepEqual(got, [
      'tick 1 a b id=1',
      'tick 2 a b id=2',
      'tick 3 a b id=3',
      'note room a b',
      'done 3',
      'note room a b',
    ]);
    const streams = app.seen.filter((s) => s.path === '/api/ticker/a b');
    assert.deepEqual(
      streams.map((s) => s.lastEventId),
      [undefined, '3'],
    );
    const resumed = [];
    for await (const ev of api.ticker.events(
      { params: { room: 'r' }, query: { count: 4 } },
      { lastEventId: '2' },
    )) {
      if (ev.type === 'tick') resumed.push(ev.json().n);
      if (ev.type === 'done') break;
    }
    assert.deepEqual(resumed, [3, 4]);
  });

  test('a POST stream sends its JSON body once and ends with the stream', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    const api = createApiClient<Routes>(`${app.url}/api`, routes);
    const tokens: string[] = [];
    for await (const ev of api.ticker.chat({ body: { prompt: 'hello typed world' } })) {
      if (ev.type === 'token') tokens.push(ev.json().text);
    }
    assert.deepEqual(tokens, ['hello', 'typed', 'world']);
  });

  test('bad arguments throw InvalidArgumentError naming them', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    const api = createApiClient<Routes>(`${app.url}/api`, routes);
    const untyped = api as unknown as {
      users: { get(req: unknown): Promise<unknown> };
      ticker: { events(req: unknown): unknown };
    };
    await assert.rejects(untyped.users.get({ params: {} }), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.argument, 'params.id');
      return true;
    });
    assert.throws(() => untyped.ticker.events({ params: { room: {} } }), /params\.room/);
    assert.throws(() => createApiClient('/api', { nothing: 1 }), /manifest/);
    assert.throws(() => createApiClient(7 as unknown as string, routes), /baseUrl/);
  });
});
