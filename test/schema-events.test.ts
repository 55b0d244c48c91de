import assert from 'node:assert/strict';
import test from 'node:test';
import * as z from 'zod';
import { defineRoute } from '../src/schema/index.ts';
import { LIBRARIES, usersApi } from './helpers/schema-apis.ts';
import { startServer } from './helpers/server.ts';
import { parseEvents, read } from './helpers/sse-clients.ts';

const Tick = z.object({ n: z.number().int() });

for (const lib of LIBRARIES) {
  test(`${lib}: a streaming route sends its typed events framed, and resumes after Last-Event-ID`, async (t) => {
    const srv = await startServer((s) => s.bind(usersApi(lib)));
    t.after(() => srv.close());
    const res = await read(`${srv.url}/ticker?count=3`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    const events = parseEvents(res.body);
    assert.deepEqual(
      events.map((e) => [e.event, e.id, e.data]),
      [
        ['tick', '0', '{"n":0,"label":"tick 0"}'],
        ['tick', '1', '{"n":1,"label":"tick 1"}'],
        ['tick', '2', '{"n":2,"label":"tick 2"}'],
        ['note', undefined, 'line one\nline two'],
        ['done', undefined, '{"total":3}'],
      ],
    );
    const resumed = parseEvents(
      (await read(`${srv.url}/ticker?count=3`, { headers: { 'last-event-id': '1' } })).body,
    );
    assert.deepEqual(
      resumed.map((e) => e.id ?? e.event),
      ['2', 'note', 'done'],
    );
    // An invalid query on a streaming route is refused before any stream opens.
    const bad = await read(`${srv.url}/ticker?count=x`);
    assert.equal(bad.status, 400);
    assert.match(String(bad.headers['content-type']), /^application\/json/);
  });
}

test('an event that fails its schema mid-stream is not sent: event: error ends the stream, and it is logged', async (t) => {
  let finallyRan = false;
  const route = defineRoute({
    method: 'GET',
    path: '/ticks',
    events: { tick: Tick },
    async *handler() {
      try {
        yield { event: 'tick', data: { n: 1 } };
        yield { event: 'tick', data: { n: 1.5 } };
        yield { event: 'tick', data: { n: 3 } };
      } finally {
        finallyRan = true;
      }
    },
  });
  const srv = await startServer((s) => s.bind({ route }));
  t.after(() => srv.close());
  const res = await read(`${srv.url}/ticks`);
  assert.equal(res.ending, 'end');
  const events = parseEvents(res.body);
  assert.deepEqual(
    events.map((e) => [e.event, e.data]),
    [
      ['tick', '{"n":1}'],
      ['error', '{"message":"Internal Server Error"}'],
    ],
  );
  assert.doesNotMatch(res.body, /1\.5/, 'the invalid data never reached the wire');
  assert.ok(finallyRan, "the handler's generator was stopped");
  const logged = srv.logger.lines.find((l) => l.level === 'error');
  assert.match(
    String((logged?.args[1] as Error | undefined)?.message),
    /event "tick" failed its schema: data\.n/,
  );
});

test('an event name the route does not declare is refused, even with event checks off', async (t) => {
  const route = defineRoute({
    method: 'GET',
    path: '/ticks',
    events: { tick: Tick },
    validateEvents: false,
    async *handler() {
      // Off: a wrong shape passes, as asked...
      yield { event: 'tick', data: { n: 'not checked' as unknown as number } };
      // ...but a name outside the map never does.
      yield { event: 'tock' as 'tick', data: { n: 2 } };
    },
  });
  const srv = await startServer((s) => s.bind({ route }));
  t.after(() => srv.close());
  const events = parseEvents((await read(`${srv.url}/ticks`)).body);
  assert.deepEqual(
    events.map((e) => [e.event, e.data]),
    [
      ['tick', '{"n":"not checked"}'],
      ['error', '{"message":"Internal Server Error"}'],
    ],
  );
});

test('input.sse(): a typed stream whose invalid send resolves false, ends the stream and never throws', {
  timeout: 10_000,
}, async (t) => {
  const results: boolean[] = [];
  const route = defineRoute({
    method: 'GET',
    path: '/live',
    events: { tick: Tick, note: z.string() },
    handler: async (input) => {
      const es = input.sse();
      results.push(await es.send('tick', { n: 1 }, { id: 1 }));
      results.push(await es.send('note', 'hi'));
      // Not awaited on purpose: a rejection here would be unhandled and end the process.
      void es.send('tick', { n: 0.5 });
      await es.closed;
      results.push(await es.send('tick', { n: 2 }));
    },
  });
  const srv = await startServer((s) => s.bind({ route }));
  t.after(() => srv.close());
  const res = await read(`${srv.url}/live`);
  const events = parseEvents(res.body);
  assert.deepEqual(
    events.map((e) => [e.event, e.id, e.data]),
    [
      ['tick', '1', '{"n":1}'],
      ['note', undefined, 'hi'],
      ['error', undefined, '{"message":"Internal Server Error"}'],
    ],
  );
  assert.deepEqual(results, [true, true, false]);
  assert.ok(srv.logger.lines.some((l) => l.level === 'error'));
});

test('input.sse() on a route without events is a clear error', async (t) => {
  const route = defineRoute({
    method: 'GET',
    path: '/json',
    handler: (input) => {
      (input as unknown as { sse(): unknown }).sse();
    },
  });
  const srv = await startServer((s) => s.bind({ route }));
  t.after(() => srv.close());
  const res = await read(`${srv.url}/json`);
  assert.equal(res.status, 500);
  const logged = srv.logger.lines.find((l) => l.level === 'error');
  assert.match(String((logged?.args[1] as Error | undefined)?.message), /Invalid argument "sse"/);
});
