import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError, apiManifest, ConnectError, createApiClient } from '../src/client/index.ts';
import { handlerResponse } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { type Routes, reports, routes } from './helpers/typed-api.ts';

/*
 * The typed client's NDJSON and text streams, and refusals of streaming calls, against a real
 * server over real sockets: items parsed as their bytes arrive, closing by break / close() /
 * signal reaching the server, a truncated body and a 400 both reported as typed errors.
 */

async function startApi(): Promise<TestServer> {
  return startServer((s) => {
    s.group('/api', (g) => {
      g.bind(routes.ticker).bind({ rows: reports.rows, log: reports.log });
    });
    s.group('/env', (g) => {
      g.middleware(handlerResponse).bind({ rows: reports.rows }).bind(routes.ticker);
    });
  });
}

/** Resolves once `check` holds, polling: the server notices a client leaving on its own schedule. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what);
}

function gate(): { open: () => void } {
  let open = (): void => {};
  reports.gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => assert.fail(`resolved with ${JSON.stringify(v)}`),
    (e: unknown) => e,
  );
}

describe('typed client: NDJSON and text streams', () => {
  test('NDJSON items arrive typed, each as its line arrives, not when the body ends', {
    timeout: 10_000,
  }, async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    t.after(() => {
      reports.gate = undefined;
    });
    const g = gate();
    const api = createApiClient<Routes>(`${app.url}/api`, routes);
    const got: string[] = [];
    for await (const row of api.reports.rows({ params: { prefix: 'r' }, query: { count: 3 } })) {
      got.push(`${row.id}:${row.name}`);
      // The server holds the rest back until the client has the first item: a client that
      // waited for the whole body would never get here.
      if (row.id === 1) g.open();
    }
    assert.deepEqual(got, ['1:r 1', '2:r 2', '3:r 3']);
    // From the manifest (JSON), as a browser has it: the same.
    const manifest = JSON.parse(JSON.stringify(apiManifest(routes)));
    reports.gate = undefined;
    const viaManifest = createApiClient<Routes>(`${app.url}/api`, manifest);
    const ids = [];
    for await (const row of viaManifest.reports.rows({ params: { prefix: 'm' }, query: { count: 2 } })) {
      ids.push(row.id);
    }
    assert.deepEqual(ids, [1, 2]);
  });

  test('break, close() and an aborted signal end the request on the server', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    t.after(() => {
      reports.gate = undefined;
    });
    const api = createApiClient<Routes>(`${app.url}/api`, routes);
    reports.ended.length = 0;
    gate(); // never opened: the server stays after the first item until the client leaves
    for await (const row of api.reports.rows({ params: { prefix: 'b' }, query: { count: 1000 } })) {
      assert.equal(row.id, 1);
      break;
    }
    await until(() => reports.ended.length === 1, 'the server saw the client leave after break');
    assert.deepEqual(reports.ended, ['left']);

    const stream = api.reports.rows({ params: { prefix: 'c' }, query: { count: 1000 } });
    const it = stream[Symbol.asyncIterator]();
    assert.equal((await it.next()).done, false);
    const pending = it.next(); // waits on the server, which waits on the gate
    stream.close();
    assert.deepEqual(await pending, { done: true, value: undefined });
    await until(() => reports.ended.length === 2, 'the server saw the client leave after close()');

    const controller = new AbortController();
    const aborted = api.reports.rows(
      { params: { prefix: 'd' }, query: { count: 1000 } },
      { signal: controller.signal },
    );
    const reason = new Error('the user went away');
    const seen: number[] = [];
    const error = await rejection(
      (async () => {
        for await (const row of aborted) {
          seen.push(row.id);
          controller.abort(reason);
        }
      })(),
    );
    assert.equal(error, reason);
    assert.deepEqual(seen, [1]);
    await until(() => reports.ended.length === 3, 'the server saw the client leave after abort');
    assert.deepEqual(reports.ended, ['left', 'left', 'left']);
  });

  test('a text stream yields its chunks as strings, a character split over two chunks kept whole', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    const api = createApiClient<Routes>(`${app.url}/api`, routes);
    let text = '';
    for await (const chunk of api.reports.log({ body: { lines: ['one', 'two'] } })) {
      assert.equal(typeof chunk, 'string');
      text += chunk;
    }
    assert.equal(text, 'one\ntwo\n€\n');
  });

  test('an NDJSON body cut short by a bad item rejects with an ApiError after the good items', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    const api = createApiClient<Routes>(`${app.url}/api`, routes);
    const ids: number[] = [];
    const error = await rejection(
      (async () => {
        for await (const row of api.reports.rows({ params: { prefix: 'x' }, query: { count: 5, bad: 3 } })) {
          ids.push(row.id);
        }
      })(),
    );
    assert.deepEqual(ids, [1, 2]);
    assert.ok(error instanceof ApiError, String(error));
    assert.equal(error.status, 200);
    assert.equal(error.code, -1);
    assert.match(error.message, /broke off/);
  });
});

describe('typed client: a refused streaming call carries its problems', () => {
  test('NDJSON and text routes: a 400 rejects with an ApiError listing the problems', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    for (const [base, envelope] of [
      ['api', false],
      ['env', true],
    ] as const) {
      const api = createApiClient<Routes>(`${app.url}/${base}`, routes, { envelope });
      const stream = api.reports.rows({ params: { prefix: 'p' }, query: { count: -1 } });
      const error = await rejection(stream[Symbol.asyncIterator]().next());
      assert.ok(error instanceof ApiError, `${base}: ${String(error)}`);
      assert.equal(error.status, 400);
      assert.deepEqual(
        error.problems.map((p) => p.path),
        [['query', 'count']],
      );
    }
    const api = createApiClient<Routes>(`${app.url}/api`, routes);
    const log = await rejection(
      api.reports
        .log({ body: { lines: [] } })
        [Symbol.asyncIterator]()
        .next(),
    );
    assert.ok(log instanceof ApiError);
    assert.deepEqual(log.problems[0]?.path, ['body', 'lines']);
  });

  test('SSE routes: a 400 ends the loop with a ConnectError listing the problems, not retried', async (t) => {
    const app = await startApi();
    t.after(() => app.close());
    for (const [base, envelope] of [
      ['api', false],
      ['env', true],
    ] as const) {
      const api = createApiClient<Routes>(`${app.url}/${base}`, routes, { envelope });
      const errors: ConnectError[] = [];
      const client = api.ticker.events({ params: { room: 'r' }, query: { count: 0 } });
      client.onerror = (e) => errors.push(e);
      const error = await rejection(
        (async () => {
          for await (const ev of client) assert.fail(`no event expected, got ${ev.type}`);
        })(),
      );
      assert.ok(error instanceof ConnectError, String(error));
      assert.equal(error.kind, 'status');
      assert.equal(error.status, 400);
      assert.deepEqual(
        error.problems.map((p) => p.path),
        [['query', 'count']],
      );
      assert.match(error.message, /^HTTP 400: Invalid request/);
      assert.equal(errors.length, 1, 'a 400 is not retried');
      // A POST stream's body is checked too.
      const chat = await rejection(
        (async () => {
          for await (const _ of api.ticker.chat({ body: { prompt: '' } })) assert.fail('no event expected');
        })(),
      );
      assert.ok(chat instanceof ConnectError);
      assert.deepEqual(chat.problems[0]?.path, ['body', 'prompt']);
    }
  });
});
