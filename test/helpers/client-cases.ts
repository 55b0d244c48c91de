import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Channel, type Request, type Server } from '../../src/index.ts';

// The reconnect matrix of `sluice/client`, run unchanged in Node (test/client-reconnect.test.ts) and in
// headless Chromium (test/client-chromium.test.ts). Each case binds its routes on a real sluice server,
// records the requests the server saw, and has a client program written as plain JavaScript source, so
// both places run the very same text: `async (connect, base) => result`.

/** One request as the server saw it. */
export interface Seen {
  method: string;
  path: string;
  lastEventId: string | undefined;
  authorization: string | undefined;
  body: string | undefined;
  at: number;
  /** When the server saw the request's stream end (the client left or the handler closed it). */
  closedAt?: number;
}

/** What a client program returns: what the app saw. */
export interface AppSaw {
  events: [type: string, data: string, id: string | null, lastEventId: string][];
  errors: [kind: string, status: number | null, retryIn: number | null][];
  opens: number;
  state: number;
  thrown?: [kind: string, status: number | null];
}

export interface ClientCase {
  name: string;
  mount(s: Server, seen: Seen[]): void;
  /** JavaScript source of `async (connect, base) => AppSaw`; `record` is in scope (see RECORD). */
  client: string;
  check(app: AppSaw, seen: Seen[]): void | Promise<void>;
}

/**
 * Shared by every client program: wires the listeners that fill an AppSaw and runs the loop until
 * `stop(app)` says so. Prepended to each program's source.
 */
export const RECORD = `
async function record(client, stop) {
  const app = { events: [], errors: [], opens: 0, state: -1 };
  client.onopen = () => { app.opens++; };
  client.onerror = (e) => { app.errors.push([e.kind, e.status ?? null, e.retryIn ?? null]); };
  try {
    for await (const ev of client) {
      app.events.push([ev.type, ev.data, ev.id ?? null, ev.lastEventId]);
      if (stop(app)) break;
    }
  } catch (e) {
    app.thrown = [e.kind, e.status ?? null];
  }
  app.state = client.readyState;
  return app;
}`;

/** Tiny delays so the whole matrix runs in a couple of seconds. */
const FAST = `backoff: { initialDelay: 5, maxDelay: 40, jitter: 0.5 }`;

function note(r: Request, seen: Seen[]): Seen {
  const body = r.getBody<unknown>();
  const entry: Seen = {
    method: r.method,
    path: r.path,
    lastEventId: r.headers['last-event-id'] as string | undefined,
    authorization: r.headers.authorization,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    at: performance.now(),
  };
  seen.push(entry);
  r.signal.addEventListener('abort', () => {
    entry.closedAt ??= performance.now();
  });
  return entry;
}

const ids = (seen: Seen[]) => seen.map((s) => s.lastEventId);

export const CASES: ClientCase[] = [
  {
    name: 'the server ends the stream: the client reconnects with Last-Event-ID and misses nothing',
    mount(s, seen) {
      s.get('/ends', async (r) => {
        note(r, seen);
        const es = r.response.sse();
        const from = es.lastEventId === undefined ? 1 : Number(es.lastEventId) + 1;
        for (let i = from; i < from + 3; i++) await es.send({ id: i, data: `event ${i}` });
        await es.send({ data: 'no id of its own' });
        es.close();
      });
    },
    client: `async (connect, base) => record(connect(base + '/ends', { ${FAST} }), (app) => app.events.length === 8)`,
    check(app, seen) {
      assert.deepEqual(app.events, [
        ['message', 'event 1', '1', '1'],
        ['message', 'event 2', '2', '2'],
        ['message', 'event 3', '3', '3'],
        ['message', 'no id of its own', null, '3'],
        ['message', 'event 4', '4', '4'],
        ['message', 'event 5', '5', '5'],
        ['message', 'event 6', '6', '6'],
        ['message', 'no id of its own', null, '6'],
      ]);
      // The second stream ends too, and may do so before the app closes after its 8th event.
      const kinds = app.errors.map((e) => e[0]);
      assert.ok(kinds.length >= 1 && kinds.every((k) => k === 'ended'), `errors: ${kinds.join(', ')}`);
      assert.ok((app.errors[0]?.[2] ?? -1) >= 0, 'a retry delay was given');
      assert.ok(app.opens === 2 || (app.opens === 3 && kinds.length === 2), `opens: ${app.opens}`);
      assert.equal(app.state, 2);
      assert.deepEqual(ids(seen).slice(0, 2), [undefined, '3']);
    },
  },
  {
    name: '503 with Retry-After: the client waits what the server asked, not its own backoff',
    mount(s, seen) {
      s.get('/busy', async (r) => {
        note(r, seen);
        if (seen.length === 1) {
          r.response.header.set('Retry-After', '1');
          r.response.writeStatus(503, 'busy');
          return;
        }
        const es = r.response.sse();
        await es.send({ id: 'a', data: 'served' });
        await es.closed;
      });
    },
    client: `async (connect, base) => record(connect(base + '/busy', { ${FAST} }), () => true)`,
    check(app, seen) {
      assert.deepEqual(app.events, [['message', 'served', 'a', 'a']]);
      assert.deepEqual(app.errors, [['status', 503, 1000]]);
      assert.equal(seen.length, 2);
      const waited = (seen[1]?.at ?? 0) - (seen[0]?.at ?? 0);
      assert.ok(waited >= 950 && waited < 1500, `waited ${waited} ms`);
    },
  },
  {
    name: '401, then the headers function gives a fresh token and the retry succeeds',
    mount(s, seen) {
      s.get('/auth', async (r) => {
        note(r, seen);
        if (r.headers.authorization !== 'Bearer 2') {
          r.response.writeStatus(401, 'stale token');
          return;
        }
        const es = r.response.sse();
        await es.send({ event: 'hello', data: { user: 'ada' } });
        await es.closed;
      });
    },
    client: `async (connect, base) => {
      let token = 0;
      const client = connect(base + '/auth', {
        headers: () => ({ authorization: 'Bearer ' + ++token }),
        shouldRetry: (e) => (e.status === 401 ? true : undefined),
        ${FAST},
      });
      const app = await record(client, () => true);
      app.events = app.events.map((e) => [e[0], JSON.stringify(JSON.parse(e[1])), e[2], e[3]]);
      return app;
    }`,
    check(app, seen) {
      assert.deepEqual(app.events, [['hello', '{"user":"ada"}', null, '']]);
      assert.deepEqual(
        app.errors.map((e) => e.slice(0, 2)),
        [['status', 401]],
      );
      assert.deepEqual(
        seen.map((s) => s.authorization),
        ['Bearer 1', 'Bearer 2'],
      );
    },
  },
  {
    name: '401 under the default policy: the client gives up and the loop throws it',
    mount(s, seen) {
      s.get('/denied', (r) => {
        note(r, seen);
        r.response.writeStatus(401, 'no');
      });
    },
    client: `async (connect, base) => record(connect(base + '/denied', { ${FAST} }), () => true)`,
    async check(app, seen) {
      assert.deepEqual(app.thrown, ['status', 401]);
      assert.deepEqual(app.errors, [['status', 401, null]]);
      assert.equal(app.state, 2);
      await sleep(60);
      assert.equal(seen.length, 1);
    },
  },
  {
    name: '204 stops for good: the loop ends, no error, no second request',
    mount(s, seen) {
      s.get('/gone', (r) => {
        note(r, seen);
        r.response.status = 204;
      });
    },
    client: `async (connect, base) => record(connect(base + '/gone', { ${FAST} }), () => true)`,
    async check(app, seen) {
      assert.deepEqual(app.events, []);
      assert.deepEqual(app.errors, []);
      assert.equal(app.thrown, undefined);
      assert.equal(app.state, 2);
      await sleep(60);
      assert.equal(seen.length, 1);
    },
  },
  {
    name: 'a stall (no bytes at all) hits the read timeout and reconnects from the last id',
    mount(s, seen) {
      s.get('/stall', async (r) => {
        note(r, seen);
        const es = r.response.sse({ heartbeat: 0 });
        await es.send({ id: seen.length, data: `from request ${seen.length}` });
        await es.closed;
      });
    },
    client: `async (connect, base) =>
      record(connect(base + '/stall', { readTimeout: 150, ${FAST} }), (app) => app.events.length === 2)`,
    check(app, seen) {
      assert.deepEqual(app.events, [
        ['message', 'from request 1', '1', '1'],
        ['message', 'from request 2', '2', '2'],
      ]);
      assert.deepEqual(
        app.errors.map((e) => e[0]),
        ['read-timeout'],
      );
      assert.deepEqual(ids(seen), [undefined, '1']);
      const stalled = (seen[1]?.at ?? 0) - (seen[0]?.at ?? 0);
      assert.ok(stalled >= 140, `reconnected after ${stalled} ms`);
    },
  },
  {
    name: 'heartbeats are bytes: a stream that only sends comments never hits the read timeout',
    mount(s, seen) {
      s.get('/beats', async (r) => {
        note(r, seen);
        const es = r.response.sse({ heartbeat: 30 });
        await es.send({ data: 'one' });
        await es.closed;
      });
    },
    client: `async (connect, base) => {
      const client = connect(base + '/beats', { readTimeout: 120, ${FAST} });
      let comments = 0;
      client.oncomment = () => { comments++; };
      setTimeout(() => client.close(), 450);
      const app = await record(client, () => false);
      app.comments = comments;
      return app;
    }`,
    check(app, seen) {
      assert.deepEqual(app.events, [['message', 'one', null, '']]);
      assert.deepEqual(app.errors, []);
      assert.equal(seen.length, 1);
      assert.ok((app as AppSaw & { comments: number }).comments >= 5);
    },
  },
  {
    name: 'a redirect is followed, and each reconnect starts again at the original URL',
    mount(s, seen) {
      s.get('/old', (r) => {
        note(r, seen);
        r.response.redirectTo('/new', 307);
      });
      s.get('/new', async (r) => {
        note(r, seen);
        const es = r.response.sse();
        const n = es.lastEventId === undefined ? 1 : Number(es.lastEventId) + 1;
        await es.send({ id: n, data: `at ${n}` });
        if (n === 1) es.close();
        await es.closed;
      });
    },
    client: `async (connect, base) => record(connect(base + '/old', { ${FAST} }), (app) => app.events.length === 2)`,
    check(app, seen) {
      assert.deepEqual(app.events, [
        ['message', 'at 1', '1', '1'],
        ['message', 'at 2', '2', '2'],
      ]);
      assert.deepEqual(
        seen.map((s) => [s.path, s.lastEventId]),
        [
          ['/old', undefined],
          ['/new', undefined],
          ['/old', '1'],
          ['/new', '1'],
        ],
      );
    },
  },
  {
    name: 'a POST sends its body and is not re-sent when the stream ends, unless repeat is set',
    mount(s, seen) {
      const answer = async (r: Request) => {
        note(r, seen);
        const es = r.response.sse();
        await es.send({ id: `${r.path}-${seen.length}`, event: 'token', data: { text: 'hi' } });
        es.close();
      };
      s.post('/once', answer);
      s.post('/again', answer);
    },
    client: `async (connect, base) => {
      const post = (path, repeat) => ({
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: path }),
        repeat,
        ${FAST},
      });
      const once = await record(connect(base + '/once', post('/once', undefined)), () => false);
      const again = await record(connect(base + '/again', post('/again', true)), (app) => app.events.length === 2);
      return { ...once, events: [...once.events, ...again.events], errors: [...once.errors, ...again.errors] };
    }`,
    check(app, seen) {
      assert.deepEqual(
        app.events.map((e) => [e[0], e[3]]),
        [
          ['token', '/once-1'],
          ['token', '/again-2'],
          ['token', '/again-3'],
        ],
      );
      assert.deepEqual(
        app.errors.map((e) => e[0]),
        ['ended'],
      );
      assert.deepEqual(
        seen.map((s) => [s.method, s.path, s.body, s.lastEventId]),
        [
          ['POST', '/once', '{"prompt":"/once"}', undefined],
          ['POST', '/again', '{"prompt":"/again"}', undefined],
          ['POST', '/again', '{"prompt":"/again"}', '/again-2'],
        ],
      );
    },
  },
  {
    name: 'a 200 that is not text/event-stream is a failure with its status, not retried',
    mount(s, seen) {
      s.get('/json', (r) => {
        note(r, seen);
        r.response.writeJson({ not: 'a stream' });
      });
    },
    client: `async (connect, base) => record(connect(base + '/json', { ${FAST} }), () => true)`,
    async check(app, seen) {
      assert.deepEqual(app.thrown, ['content-type', 200]);
      await sleep(40);
      assert.equal(seen.length, 1);
    },
  },
  {
    name: "a channel's reset is its own typed event, and the next reconnect sends its resume position",
    mount(s, seen) {
      const channel = new Channel({ history: 100 });
      s.get('/reset', async (r) => {
        const entry = note(r, seen);
        const es = r.response.sse();
        const done = channel.subscribe(es, { lastEventId: es.lastEventId });
        if (seen.length === 1) setTimeout(() => es.close(), 30);
        else await channel.publish({ data: 'after the reset' });
        await done;
        entry.closedAt ??= performance.now();
      });
    },
    client: `async (connect, base) => {
      const client = connect(base + '/reset', { lastEventId: 'from-another-server', ${FAST} });
      const resets = [];
      client.on('reset', (ev) => resets.push(ev.json()));
      const app = await record(client, (app) => app.events.length === 2);
      app.resets = resets;
      return app;
    }`,
    check(app, seen) {
      const resets = (app as AppSaw & { resets: { reason: string; lastEventId: string; resumeId: string }[] })
        .resets;
      assert.equal(resets.length, 1);
      const reset = resets[0];
      assert.equal(reset?.reason, 'unknown-id');
      assert.equal(reset?.lastEventId, 'from-another-server');
      assert.deepEqual(app.events[0]?.slice(0, 1), ['reset']);
      assert.equal(app.events[0]?.[3], reset?.resumeId);
      assert.deepEqual(app.events[1]?.slice(0, 2), ['message', 'after the reset']);
      assert.deepEqual(ids(seen), ['from-another-server', reset?.resumeId]);
    },
  },
  {
    name: 'reconnecting to a Channel again and again: every event once, in order, no gap',
    mount(s, seen) {
      const channel = new Channel({ history: 1000 });
      let publisher: ReturnType<typeof setInterval> | undefined;
      let n = 0;
      s.get('/live', async (r) => {
        note(r, seen);
        const es = r.response.sse();
        if (publisher === undefined) {
          publisher = setInterval(() => {
            if (++n >= 150) clearInterval(publisher);
            channel.publish({ data: String(n) });
          }, 2);
        }
        // The server cuts every stream after 25 ms: the client must stitch the pieces together.
        const cut = setTimeout(() => es.close(), 25);
        await channel.subscribe(es, { lastEventId: es.lastEventId });
        clearTimeout(cut);
      });
    },
    client: `async (connect, base) =>
      record(connect(base + '/live', { ${FAST} }), (app) => app.events[app.events.length - 1][1] === '150')`,
    check(app, seen) {
      assert.deepEqual(
        app.events.map((e) => Number(e[1])),
        Array.from({ length: 150 }, (_, i) => i + 1),
      );
      assert.ok(seen.length >= 4, `${seen.length} connections`);
      assert.ok(app.errors.every((e) => e[0] === 'ended'));
    },
  },
];
