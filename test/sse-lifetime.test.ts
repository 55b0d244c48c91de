// Issue #13, trap 1: an event stream opened with sse() lives until es.close(), the client leaving
// or the shutdown — not until the handler returns. The handlers below are the snippets.
import assert from 'node:assert/strict';
import test from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { accessLog, Channel, type EventStream } from '../src/index.ts';
import { waitFor } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';
import { parseEvents, read } from './helpers/sse-clients.ts';

/** Reads until `n` events arrived, then leaves; the result says whether the server ended first. */
async function readEvents(url: string, n: number) {
  const result = await read(url, {
    onChunk: (_c, all) => parseEvents(all.map((x) => x.text).join('')).length >= n,
  });
  return { ...result, events: parseEvents(result.body) };
}

test('a stream fed by setInterval stays open after the handler returns', async (t) => {
  const timers: NodeJS.Timeout[] = [];
  let stream: EventStream | undefined;
  const srv = await startServer((s) => {
    s.get('/ticks', (r) => {
      const es = r.response.sse();
      stream = es;
      let n = 0;
      // As written in the issue: no await, no return.
      timers.push(setInterval(() => es.send({ data: n++ }), 20));
    });
  });
  t.after(async () => {
    for (const timer of timers) clearInterval(timer);
    await srv.close();
  });
  const got = await readEvents(`${srv.url}/ticks`, 3);
  assert.equal(got.status, 200);
  assert.equal(got.ending, 'aborted', 'the client left first; the server did not end the stream');
  assert.deepEqual(
    got.events.slice(0, 3).map((e) => e.data),
    ['0', '1', '2'],
  );
  // The client leaving is what ends it, and the stream says so to the code that feeds it.
  await waitFor(() => stream?.isClosed === true, 'the stream to see the client leave');
  assert.equal(srv.server.inFlight.size, 0);
});

test('a stream handed to channel.subscribe() without await gets what is published', async (t) => {
  const ch = new Channel();
  const srv = await startServer((s) => {
    s.get('/feed', (r) => {
      ch.subscribe(r.response.sse());
    });
  });
  t.after(async () => {
    ch.close();
    await srv.close();
  });
  const reading = readEvents(`${srv.url}/feed`, 2);
  await waitFor(() => ch.stats().subscribers === 1, 'the subscriber');
  // Later than the handler's return: an ended stream would have left the channel by now.
  await sleep(50);
  assert.equal(ch.stats().subscribers, 1);
  ch.publish({ event: 'tick', data: { n: 1 } });
  ch.publish({ event: 'tick', data: { n: 2 } });
  const got = await reading;
  assert.deepEqual(
    got.events.map((e) => [e.event, e.data]),
    [
      ['tick', '{"n":1}'],
      ['tick', '{"n":2}'],
    ],
  );
  await waitFor(() => ch.stats().subscribers === 0, 'the subscriber to leave with its client');
});

test('the access log and the middleware after next() see the end of the stream, not the return', async (t) => {
  const order: string[] = [];
  let stream: EventStream | undefined;
  const srv = await startServer((s) => {
    s.use(accessLog());
    s.use(async (r) => {
      await r.middleware.next();
      order.push(`after next: ${r.response.eventStream?.isClosed}`);
    });
    s.get('/once', (r) => {
      stream = r.response.sse();
      void stream.send({ data: 'first' });
      order.push('handler returned');
    });
  });
  t.after(() => srv.close());
  const reading = readEvents(`${srv.url}/once`, 2);
  await waitFor(() => stream !== undefined, 'the handler');
  await sleep(50);
  assert.deepEqual(order, ['handler returned']);
  assert.equal(srv.logger.lines.filter((l) => l.level === 'info').length, 0, 'no access line yet');
  assert.equal(srv.server.inFlight.size, 1, 'the open stream is in flight');
  await stream?.send({ data: 'second' });
  stream?.close();
  const got = await reading;
  assert.deepEqual(
    got.events.map((e) => e.data),
    ['first', 'second'],
  );
  await waitFor(() => order.length === 2, 'the middleware to resume');
  assert.deepEqual(order, ['handler returned', 'after next: true']);
  await waitFor(() => srv.logger.lines.some((l) => l.level === 'info'), 'the access line');
  const line = String(srv.logger.lines.find((l) => l.level === 'info')?.args[0]);
  assert.match(line, /^GET \/once 200 .* sse events=2 ended=complete$/);
});

test('shutdown ends a stream whose handler has returned, and waits for it', async (t) => {
  const srv = await startServer((s) => {
    s.get('/idle', (r) => {
      void r.response.sse().send({ data: 'hello' });
    });
  });
  t.after(() => srv.close());
  const reading = read(`${srv.url}/idle`);
  await waitFor(() => srv.server.inFlight.size === 1, 'the stream');
  await sleep(30);
  const started = performance.now();
  await srv.server.shutdown({ timeout: 5000 });
  assert.ok(
    performance.now() - started < 2000,
    'shutdown closed the stream instead of waiting out its timeout',
  );
  const got = await reading;
  assert.equal(got.ending, 'end', 'a clean end, which a client can tell from a cut');
  assert.deepEqual(
    parseEvents(got.body).map((e) => e.data),
    ['hello'],
  );
  assert.equal(srv.server.inFlight.size, 0);
});

test('a response streamed with flush() still ends when the handler returns', async (t) => {
  const srv = await startServer((s) => {
    s.get('/flushed', async (r) => {
      r.response.header.set('Content-Type', 'text/plain');
      r.response.write('part 1\n');
      await r.response.flush();
      r.response.write('part 2\n');
    });
  });
  t.after(() => srv.close());
  const got = await read(`${srv.url}/flushed`);
  assert.equal(got.ending, 'end');
  assert.equal(got.body, 'part 1\npart 2\n');
});
