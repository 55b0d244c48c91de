// A channel's subscriber writes to the socket without touching its stream or response, and keeps
// its own count of what it wrote; these tests read the counts the way users do (the access log's
// `events` and `bytes`, `r.response.bytesWritten()`) while the stream is live and after it ended.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AccessEntry, accessLog, Channel, type EventStream, type Response } from '../src/index.ts';
import { startServer } from './helpers/server.ts';
import { type Chunk, parseEvents, type ReadResult, read, waitFor } from './helpers/sse-clients.ts';

/** An access-log format that keeps each entry. */
function keepIn(entries: AccessEntry[]): (e: AccessEntry) => string {
  return (e) => {
    entries.push(e);
    return 'line';
  };
}

/** Reads `url` to its end; `body()` is what has arrived so far. */
function readLive(url: string): { done: Promise<ReadResult>; body: () => string } {
  let seen: Chunk[] = [];
  const done = read(url, {
    onChunk: (_c, all) => {
      seen = all;
      return undefined;
    },
  });
  return { done, body: () => seen.map((c) => c.text).join('') };
}

test("a channel's deliveries count in bytesWritten() while the stream lives, and in the access log after", async (t) => {
  const a = new Channel({ history: 10 });
  const b = new Channel({ history: 10 });
  const entries: AccessEntry[] = [];
  let held: Response | undefined;
  const srv = await startServer((s) => {
    s.use(accessLog({ format: keepIn(entries) }));
    s.get('/both', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      await es.send({ data: 'own' });
      held = r.response;
      // Two subscribers of one stream: the stream settles each.
      await Promise.all([a.subscribe(es, { lastEventId: null }), b.subscribe(es, { lastEventId: null })]);
      es.close();
    });
  });
  t.after(() => {
    a.close();
    b.close();
    return srv.close();
  });

  const reading = readLive(`${srv.url}/both`);
  await waitFor(() => a.stats().subscribers === 1 && b.stats().subscribers === 1, 'both subscriptions');
  for (let i = 0; i < 3; i++) {
    await a.publish({ data: `a${i}` });
    await b.publish({ event: 'b', data: `b${i}` });
  }
  await waitFor(() => parseEvents(reading.body()).length === 7, 'seven events');
  assert.ok(a.stats().socketWrites >= 3 && b.stats().socketWrites >= 3, 'the deliveries took the socket');
  // Live: every byte the client has, counted, though no delivery touched the response.
  assert.equal(held?.bytesWritten(), Buffer.byteLength(reading.body()));

  a.close();
  b.close();
  const got = await reading.done;
  assert.equal(got.ending, 'end');
  assert.deepEqual(
    parseEvents(got.body).map((e) => e.data),
    ['own', 'a0', 'b0', 'a1', 'b1', 'a2', 'b2'],
  );
  await waitFor(() => entries.length === 1, 'the access entry');
  // After the subscribers left: what they wrote moved into the stream's and response's counts.
  assert.equal(entries[0]?.events, 7);
  assert.equal(entries[0]?.bytes, Buffer.byteLength(got.body));
});

test('a subscriber that leaves while its stream goes on hands its counts over', async (t) => {
  const ch = new Channel({ history: 10 });
  const entries: AccessEntry[] = [];
  let held: EventStream | undefined;
  const srv = await startServer((s) => {
    s.use(accessLog({ format: keepIn(entries) }));
    s.get('/leave', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      held = es;
      const why = await ch.subscribe(es, { lastEventId: null });
      // The subscription is over (unsubscribe()); the stream is not.
      await es.send({ event: 'left', data: why });
      es.close();
    });
  });
  t.after(() => {
    ch.close();
    return srv.close();
  });

  const reading = readLive(`${srv.url}/leave`);
  await waitFor(() => ch.stats().subscribers === 1, 'the subscription');
  for (let i = 0; i < 4; i++) await ch.publish({ data: String(i) });
  await waitFor(() => parseEvents(reading.body()).length === 4, 'four events');
  assert.ok(ch.stats().socketWrites >= 4, 'the deliveries took the socket');
  if (held !== undefined) ch.unsubscribe(held);
  const got = await reading.done;
  assert.deepEqual(
    parseEvents(got.body).map((e) => e.data),
    ['0', '1', '2', '3', 'unsubscribed'],
  );
  await waitFor(() => entries.length === 1, 'the access entry');
  assert.equal(entries[0]?.events, 5);
  assert.equal(entries[0]?.bytes, Buffer.byteLength(got.body));
});
