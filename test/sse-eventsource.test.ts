import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import { InvalidArgumentError } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import {
  deferred,
  parseEvents,
  type Received,
  read,
  SPEC_EVENTS,
  SPEC_RECEIVED,
  SPEC_TYPES,
  waitFor,
} from './helpers/sse-clients.ts';

// The `eventsource` npm package (v4, WHATWG-conformant) as the client: what a Node consumer of a sluice
// stream actually runs.

let ts: TestServer;
const openGate = deferred();
const seenLastIds: (string | undefined)[] = [];
let invalidSend: unknown;
let sendAfterLeave: Promise<boolean> | undefined;
const leftStream = deferred<boolean>();

before(async () => {
  ts = await startServer((s) => {
    s.get('/spec', async (r) => {
      const es = r.response.sse();
      for (const ev of SPEC_EVENTS) await es.send(ev);
      await es.closed;
    });
    // The first event waits until the client reported `open`: if open needed an event, this deadlocks.
    s.get('/open-first', async (r) => {
      const es = r.response.sse();
      await openGate.promise;
      await es.send({ data: 'first' });
      await es.closed;
    });
    // Ends the stream after id 3; the reconnect must carry Last-Event-ID: 3 and resume from there.
    s.get('/resume', async (r) => {
      const es = r.response.sse({ retry: 50 });
      seenLastIds.push(es.lastEventId);
      const from = es.lastEventId === undefined ? 1 : Number(es.lastEventId) + 1;
      const to = es.lastEventId === undefined ? 3 : 5;
      for (let i = from; i <= to; i++) await es.send({ id: i, data: `event ${i}` });
      if (es.lastEventId === undefined) {
        // No id of its own: the client's last event id stays 3.
        await es.send({ event: 'bye', data: 'reconnect please' });
        es.close();
      } else await es.closed;
    });
    s.get('/last-id', (r) => {
      const es = r.response.sse({ lastEventIdQuery: 'lastEventId' });
      es.send({ data: String(es.lastEventId) });
      es.close();
    });
    s.get('/last-id-off', (r) => {
      const es = r.response.sse();
      es.send({ data: String(es.lastEventId) });
      es.close();
    });
    s.get('/invalid', (r) => {
      const es = r.response.sse();
      try {
        es.send({ event: 'bad\nevent: injected', data: 'x' });
      } catch (e) {
        invalidSend = e;
      }
      es.send({ data: 'valid' });
      es.close();
    });
    s.get('/leave', async (r) => {
      const es = r.response.sse();
      await es.send({ data: 'hi' });
      await es.closed;
      leftStream.resolve(es.signal.aborted && es.endReason === 'client');
      sendAfterLeave = es.send({ data: 'nobody listens' });
    });
  });
});

after(() => ts.close());

/** Opens an EventSource and records every dispatched event of `types` until `until` says stop. */
function collect(
  url: string,
  types: readonly string[],
  until: (got: Received[]) => boolean,
  init?: ConstructorParameters<typeof EventSource>[1],
): Promise<{ got: Received[]; opens: number }> {
  return new Promise((resolve, reject) => {
    const source = new EventSource(url, init);
    const got: Received[] = [];
    let opens = 0;
    const timer = setTimeout(() => {
      source.close();
      reject(new Error(`timed out with ${JSON.stringify(got)}`));
    }, 5000);
    source.onopen = () => opens++;
    for (const type of types) {
      source.addEventListener(type, (e: MessageEvent) => {
        got.push({ type: e.type, data: String(e.data), lastEventId: e.lastEventId });
        if (until(got)) {
          clearTimeout(timer);
          source.close();
          resolve({ got, opens });
        }
      });
    }
  });
}

describe('sse() with the eventsource client', () => {
  test('sends the documented head: event-stream type, no-cache, no buffering, keep-alive on HTTP/1.1', async () => {
    const res = await read(`${ts.url}/last-id-off`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-cache, no-transform');
    assert.equal(res.headers['x-accel-buffering'], 'no');
    assert.equal(res.headers.connection, 'keep-alive');
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    assert.equal(res.headers['content-length'], undefined);
  });

  test('delivers the exact sequence: multi-line, unicode, empty data, named events, ids', async () => {
    const { got } = await collect(`${ts.url}/spec`, SPEC_TYPES, (g) => g.length === SPEC_RECEIVED.length);
    // This client puts only the event's own id on a MessageEvent (`event.id || ""`), where the spec (and
    // Chromium, see sse-chromium) carries the last id forward; it does keep the last id for reconnects.
    const expected = SPEC_RECEIVED.map((e, i) => {
      const own = (SPEC_EVENTS[i] as { id?: string }).id;
      return { ...e, lastEventId: own ?? '' };
    });
    assert.deepEqual(got, expected);
  });

  test("the client's open fires before the first event is sent", async () => {
    const source = new EventSource(`${ts.url}/open-first`);
    try {
      const order: string[] = [];
      source.onopen = () => {
        order.push('open');
        openGate.resolve();
      };
      source.onmessage = (e) => order.push(String(e.data));
      await waitFor(() => order.length === 2, 'open, then the first event');
      assert.deepEqual(order, ['open', 'first']);
    } finally {
      source.close();
    }
  });

  test('after the server ends the stream, the client reconnects with Last-Event-ID and resumes', async () => {
    const { got, opens } = await collect(`${ts.url}/resume`, ['message', 'bye'], (g) => g.length === 6);
    assert.deepEqual(
      got.map((e) => [e.type, e.data]),
      [
        ['message', 'event 1'],
        ['message', 'event 2'],
        ['message', 'event 3'],
        ['bye', 'reconnect please'],
        ['message', 'event 4'],
        ['message', 'event 5'],
      ],
    );
    assert.equal(opens, 2);
    assert.deepEqual(seenLastIds, [undefined, '3']);
  });

  test('lastEventId comes from the header first, then the opt-in query parameter', async () => {
    const viaQuery = await read(`${ts.url}/last-id?lastEventId=41`);
    assert.deepEqual(
      parseEvents(viaQuery.body).map((e) => e.data),
      ['41'],
    );
    const headerWins = await read(`${ts.url}/last-id?lastEventId=41`, { headers: { 'Last-Event-ID': '7' } });
    assert.deepEqual(
      parseEvents(headerWins.body).map((e) => e.data),
      ['7'],
    );
    const notOptedIn = await read(`${ts.url}/last-id-off?lastEventId=41`);
    assert.deepEqual(
      parseEvents(notOptedIn.body).map((e) => e.data),
      ['undefined'],
    );
  });

  test('an event name that would inject a field throws and writes nothing', async () => {
    const res = await read(`${ts.url}/invalid`);
    assert.ok(invalidSend instanceof InvalidArgumentError);
    assert.equal(invalidSend.argument, 'event');
    assert.equal(res.body, 'data: valid\n\n');
  });

  test('when the client leaves, closed settles, signal aborts and send() resolves false', async () => {
    await collect(`${ts.url}/leave`, ['message'], () => true);
    assert.equal(await leftStream.promise, true);
    assert.equal(await sendAfterLeave, false);
  });

  test('a server shutdown ends the stream cleanly and says why', async () => {
    let reason: string | undefined;
    const stopping = await startServer((s) => {
      s.get('/events', async (r) => {
        const es = r.response.sse();
        await es.send({ data: 'before shutdown' });
        await es.closed;
        reason = es.endReason;
      });
    });
    const res = read(`${stopping.url}/events`, {
      onChunk: () => {
        void stopping.close();
        return false;
      },
    });
    const { ending, body } = await res;
    assert.equal(ending, 'end');
    assert.deepEqual(
      parseEvents(body).map((e) => e.data),
      ['before shutdown'],
    );
    await waitFor(() => reason !== undefined, 'the handler to see the end');
    assert.equal(reason, 'shutdown');
  });

  test('HEAD gets the head and an immediately closed stream', async () => {
    let sent: boolean | undefined;
    let signalAborted: boolean | undefined;
    const head = await startServer((s) => {
      s.get('/events', async (r) => {
        const es = r.response.sse();
        await es.closed;
        signalAborted = es.signal.aborted;
        sent = await es.send({ data: 'never' });
      });
    });
    try {
      const res = await read(`${head.url}/events`, { method: 'HEAD' });
      assert.equal(res.ending, 'end');
      assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(res.body, '');
      await waitFor(() => sent !== undefined, 'the handler to finish');
      assert.equal(signalAborted, true);
      assert.equal(sent, false);
    } finally {
      await head.close();
    }
  });
});
