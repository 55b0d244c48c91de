import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ndjson, sseEvent, textStream } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { deferred, parseEvents, rawRequest, read, waitFor } from './helpers/sse-clients.ts';

let ts: TestServer;

/** Per-route bookkeeping of a generator: how many items were pulled, and when its finally ran. */
interface Probe {
  pulls: number;
  finallyAt: number | undefined;
}
const probes = new Map<string, Probe>();
function probe(name: string): Probe {
  const p: Probe = { pulls: 0, finallyAt: undefined };
  probes.set(name, p);
  return p;
}

/** An endless generator, one item every `everyMs` (0: as fast as it is pulled), that records its pulls. */
async function* endless(p: Probe, item: (i: number) => unknown, everyMs: number) {
  try {
    for (let i = 0; ; i++) {
      if (everyMs > 0) await sleep(everyMs);
      p.pulls++;
      yield item(i);
    }
  } finally {
    p.finallyAt = performance.now();
  }
}

const MIB = 1024 * 1024;

// A collector for the retention test, without running the whole file under --expose-gc.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Weak references to the items the /retain generator yielded, and the gate it waits on after them. */
const retained: WeakRef<object>[] = [];
const retainGate = deferred();
const RETAIN_ITEMS = 200;

before(async () => {
  ts = await startServer((s) => {
    s.get('/gen', async function* () {
      yield 'plain text';
      yield { n: 1, s: 'two' };
      yield sseEvent({ event: 'named', id: '7', data: 'with id' });
      yield 42;
    });
    s.get('/sync-gen', function* () {
      yield 'a';
      yield sseEvent({ event: 'end' });
    });
    s.get(
      '/web-stream',
      () =>
        new ReadableStream({
          start(c) {
            c.enqueue('one');
            c.enqueue({ two: 2 });
            c.close();
          },
        }),
    );
    s.get('/node-readable', () => Readable.from(['x', 'y', 'z']));
    s.get('/array', () => [1, 2, 3]);
    s.get('/with-options', (r) => {
      r.response.sse({ retry: 500, heartbeat: 0 });
      return (async function* () {
        yield 'after retry';
      })();
    });
    s.get('/ndjson', () =>
      ndjson(
        (async function* () {
          yield { a: 1 };
          yield [1, 2];
          yield 'str';
          yield null;
        })(),
      ),
    );
    s.get('/text', () => textStream(Readable.from([Buffer.from('abc'), 'déf', Buffer.from('\n')])));
    s.get('/text-web', () =>
      textStream(
        new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new TextEncoder().encode('web '));
            c.enqueue(new TextEncoder().encode('bytes'));
            c.close();
          },
        }),
      ),
    );
    s.get('/text-typed', (r) => {
      r.response.header.set('Content-Type', 'text/csv; charset=utf-8');
      return textStream(['a,b\n', '1,2\n']);
    });
    s.get('/leave-sse', () => endless(probe('leave-sse'), (i) => ({ i }), 20));
    s.get('/leave-ndjson', () => ndjson(endless(probe('leave-ndjson'), (i) => ({ i }), 20)));
    s.get('/leave-text', () => textStream(endless(probe('leave-text'), (i) => `${i}\n`, 20)));
    s.get('/stall-sse', () => endless(probe('stall-sse'), () => 'x'.repeat(MIB), 0));
    s.get('/stall-ndjson', () => ndjson(endless(probe('stall-ndjson'), () => 'x'.repeat(MIB), 0)));
    s.get('/retain', async function* () {
      for (let i = 0; i < RETAIN_ITEMS; i++) {
        const item = { i, pad: `${'x'.repeat(4096)}${i}` };
        retained.push(new WeakRef(item));
        yield item;
      }
      await retainGate.promise;
    });
    // Finite, so a regression that pulls for HEAD shows as a count instead of a loop that never yields.
    s.get('/head', () => {
      const p = probe('head');
      return ndjson(
        (async function* () {
          for (let i = 0; i < 10_000; i++) {
            p.pulls++;
            yield i;
          }
        })(),
      );
    });
  });
});

after(() => ts.close());

describe('a returned iterable is streamed as SSE', () => {
  test('an async generator: strings as data, objects as JSON, sseEvent() for name and id', async () => {
    const res = await read(`${ts.url}/gen`);
    assert.equal(res.ending, 'end');
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(
      res.body,
      'data: plain text\n\ndata: {"n":1,"s":"two"}\n\nevent: named\nid: 7\ndata: with id\n\ndata: 42\n\n',
    );
  });

  test('a sync generator, a web ReadableStream and a Node Readable', async () => {
    const sync = await read(`${ts.url}/sync-gen`);
    assert.deepEqual(
      parseEvents(sync.body).map((e) => [e.event ?? 'message', e.data]),
      [
        ['message', 'a'],
        ['end', ''],
      ],
    );
    const web = await read(`${ts.url}/web-stream`);
    assert.deepEqual(
      parseEvents(web.body).map((e) => e.data),
      ['one', '{"two":2}'],
    );
    const node = await read(`${ts.url}/node-readable`);
    assert.deepEqual(
      parseEvents(node.body).map((e) => e.data),
      ['x', 'y', 'z'],
    );
  });

  test('an array is a value, not a stream: it is sent as JSON', async () => {
    const res = await read(`${ts.url}/array`);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.body, '[1,2,3]');
  });

  test('a handler that opened sse(options) itself streams the iterable into that stream', async () => {
    const res = await read(`${ts.url}/with-options`);
    assert.equal(res.body, 'retry: 500\n\ndata: after retry\n\n');
  });

  test('sseEvent() refuses a bad field where the event is built', () => {
    assert.throws(() => sseEvent({ id: 'a\nb' }), { name: 'InvalidArgumentError', argument: 'id' });
  });
});

describe('ndjson() and textStream()', () => {
  test('ndjson: one JSON line per item, application/x-ndjson, chunked', async () => {
    const res = await read(`${ts.url}/ndjson`);
    assert.equal(res.ending, 'end');
    assert.equal(res.headers['content-type'], 'application/x-ndjson');
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    assert.equal(res.headers['x-accel-buffering'], 'no');
    assert.equal(res.body, '{"a":1}\n[1,2]\n"str"\nnull\n');
  });

  test('textStream: strings and bytes as they are, from a Node Readable or a web stream', async () => {
    const res = await read(`${ts.url}/text`);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.body, 'abcdéf\n');
    const web = await read(`${ts.url}/text-web`);
    assert.equal(web.body, 'web bytes');
  });

  test('textStream keeps a content type the handler chose', async () => {
    const res = await read(`${ts.url}/text-typed`);
    assert.equal(res.headers['content-type'], 'text/csv; charset=utf-8');
    assert.equal(res.body, 'a,b\n1,2\n');
  });

  test('HEAD gets the head and never pulls the source', async () => {
    const res = await read(`${ts.url}/head`, { method: 'HEAD' });
    assert.equal(res.ending, 'end');
    assert.equal(res.headers['content-type'], 'application/x-ndjson');
    // Give a runaway loop time to show itself.
    await sleep(100);
    assert.ok(probes.has('head'), 'the handler ran');
    assert.equal(probes.get('head')?.pulls, 0);
  });
});

describe('the client leaves', () => {
  for (const kind of ['sse', 'ndjson', 'text']) {
    test(`${kind}: the generator's finally runs within 100 ms`, async () => {
      let leftAt = 0;
      const res = await read(`${ts.url}/leave-${kind}`, {
        onChunk: (_, all) => {
          if (all.length < 3) return false;
          leftAt = performance.now();
          return true;
        },
      });
      assert.equal(res.ending, 'aborted');
      const p = probes.get(`leave-${kind}`);
      assert.ok(p !== undefined);
      await waitFor(() => p.finallyAt !== undefined, "the generator's finally", 1000);
      const took = (p.finallyAt ?? 0) - leftAt;
      assert.ok(took < 100, `finally ran ${took.toFixed(1)} ms after the client left`);
      // It stopped: no pulls after the finally.
      const pulls = p.pulls;
      await sleep(100);
      assert.equal(p.pulls, pulls);
    });
  }
});

describe('a long stream', () => {
  test('items already sent are not kept alive while the stream goes on', async () => {
    const ac = new AbortController();
    let events = 0;
    const reading = read(`${ts.url}/retain`, {
      signal: ac.signal,
      onChunk: (_, all) => {
        events = parseEvents(all.map((c) => c.text).join('')).length;
        return undefined;
      },
    });
    try {
      // Generous: on a loaded machine 200 items have taken over 3 s; this test is about retention, not speed.
      await waitFor(() => events === RETAIN_ITEMS, 'every item to arrive', 20_000);
      // The generator now waits on the gate: nothing but a leak holds the items it yielded.
      for (let i = 0; i < 3; i++) {
        await sleep(10);
        gc();
      }
      const alive = retained.filter((ref) => ref.deref() !== undefined).length;
      assert.ok(alive <= 2, `${alive} of ${RETAIN_ITEMS} sent items are still reachable`);
    } finally {
      retainGate.resolve();
      ac.abort();
      await reading;
    }
  });
});

describe('a client that does not read', () => {
  for (const kind of ['sse', 'ndjson']) {
    test(`${kind}: the server pulls a bounded number of 1 MiB items, then waits`, async () => {
      const conn = await rawRequest(ts.port, `GET /stall-${kind} HTTP/1.1\r\nHost: x\r\n\r\n`, {
        read: false,
      });
      try {
        await waitFor(() => probes.has(`stall-${kind}`), 'the handler to start');
        const p = probes.get(`stall-${kind}`);
        // Wait until pulling stopped (socket buffers full), then prove it stays stopped while time passes.
        let last = -1;
        let stableSince = performance.now();
        await waitFor(
          () => {
            const now = performance.now();
            if (p?.pulls !== last) {
              last = p?.pulls ?? -1;
              stableSince = now;
            }
            return now - stableSince > 300;
          },
          'pulling to stop',
          5000,
        );
        const stalled = p?.pulls ?? -1;
        await sleep(700);
        assert.equal(p?.pulls, stalled, 'the server kept pulling for a client that reads nothing');
        // What the kernel's socket buffers hold, a few MiB, plus one item waiting for drain.
        assert.ok(stalled >= 1 && stalled <= 24, `pulled ${stalled} items of 1 MiB`);
        const gone = deferred();
        conn.socket.once('close', () => gone.resolve());
        conn.socket.destroy();
        await gone.promise;
        await waitFor(
          () => p?.finallyAt !== undefined,
          "the generator's finally after the client left",
          1000,
        );
      } finally {
        conn.socket.destroy();
      }
    });
  }
});
