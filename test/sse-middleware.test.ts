import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { handlerResponse, type Request, sseEvent } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { parseEvents, read } from './helpers/sse-clients.ts';

// The seed page's comment, as tests: inside a unified-response middleware's scope, a streaming handler
// got `{"code":0,"message":"","data":null}` appended after its last event, and with ExitAll() it did not
// stream at all. Here every streaming route inside handlerResponse delivers exactly its events, nothing
// else, while it streams, with and without exitAll().

const GAP = 40;
const COUNT = 5;
const EXPECTED = Array.from({ length: COUNT }, (_, i) => `data: ${i}\n\n`).join('');

let ts: TestServer;
/** Which routes had code run after their handler's `next()` in the middleware below handlerResponse. */
const afterNext = new Set<string>();

/** The seed's second program, verbatim in spirit: set the type, writefln + flush in a loop. */
async function seedLoop(r: Request): Promise<void> {
  r.response.header.set('Content-Type', 'text/event-stream');
  r.response.header.set('Cache-Control', 'no-cache');
  for (let i = 0; i < COUNT; i++) {
    r.response.writefln('data: %d\n', i);
    await r.response.flush();
    await sleep(GAP);
  }
}

async function sseLoop(r: Request): Promise<void> {
  const es = r.response.sse();
  for (let i = 0; i < COUNT; i++) {
    await es.send({ data: String(i) });
    await sleep(GAP);
  }
  // Done: an event stream outlives its handler, so the end is said, not implied by returning.
  es.close();
}

before(async () => {
  ts = await startServer((s) => {
    s.group('/api', (g) => {
      g.middleware(handlerResponse, async (r) => {
        await r.middleware.next();
        afterNext.add(r.path);
      });
      g.get('/writefln', seedLoop);
      g.get('/writefln-exitall', async (r) => {
        await seedLoop(r);
        r.exitAll();
      });
      g.get('/sse', sseLoop);
      g.get('/sse-exitall', async (r) => {
        await sseLoop(r);
        r.exitAll();
      });
      g.get('/sse-closed-exitall', async (r) => {
        const es = r.response.sse();
        const t = setInterval(() => {
          if (es.eventsSent === COUNT) es.close();
          else es.send({ data: String(es.eventsSent) });
        }, GAP);
        await es.closed;
        clearInterval(t);
        r.exitAll();
      });
      g.get('/generator', async function* () {
        for (let i = 0; i < COUNT; i++) {
          yield String(i);
          await sleep(GAP);
        }
      });
      g.get('/generator-events', async function* () {
        yield sseEvent({ event: 'start', id: '0' });
        for (let i = 1; i <= 2; i++) yield { i };
      });
      // A plain JSON route in the same group, to show the envelope is still there for what it is for.
      g.get('/json', () => ({ ok: true }));
    });
  });
});

after(() => ts.close());

describe('a streaming route inside handlerResponse', () => {
  for (const route of [
    'writefln',
    'writefln-exitall',
    'sse',
    'sse-exitall',
    'sse-closed-exitall',
    'generator',
  ]) {
    test(`${route}: exactly its events, as they happen, nothing appended`, async () => {
      const res = await read(`${ts.url}/api/${route}`);
      assert.equal(res.status, 200);
      assert.equal(res.ending, 'end');
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      assert.equal(res.body, EXPECTED);
      // Streamed, not buffered to the end: the first event arrived well before the last one.
      const first = res.chunks[0]?.at ?? 0;
      const last = res.chunks.findLast((c) => c.text.includes(`data: ${COUNT - 1}`))?.at ?? 0;
      assert.ok(last - first >= GAP * 2, `all events arrived within ${(last - first).toFixed(0)} ms`);
    });
  }

  test('exitAll() stops the code after next() in the middleware; without it that code runs', () => {
    assert.ok(afterNext.has('/api/writefln'));
    assert.ok(afterNext.has('/api/sse'));
    assert.ok(!afterNext.has('/api/writefln-exitall'));
    assert.ok(!afterNext.has('/api/sse-exitall'));
    assert.ok(!afterNext.has('/api/sse-closed-exitall'));
  });

  test('a returned generator with named events is untouched too', async () => {
    const res = await read(`${ts.url}/api/generator-events`);
    assert.deepEqual(
      parseEvents(res.body).map((e) => [e.event ?? 'message', e.id ?? '', e.data]),
      [
        ['start', '0', ''],
        ['message', '', '{"i":1}'],
        ['message', '', '{"i":2}'],
      ],
    );
    assert.ok(!res.body.includes('"code"'));
  });

  test('the envelope still wraps a plain value in the same group', async () => {
    const res = await read(`${ts.url}/api/json`);
    assert.deepEqual(JSON.parse(res.body), { code: 0, message: 'OK', data: { ok: true } });
  });
});
