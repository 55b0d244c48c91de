import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AccessEntry, accessLog, sprintf } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { blockedUntilRead, rawRequest, waitFor } from './helpers/sse-clients.ts';

// flush() writes what is buffered as one pre-built HTTP/1.1 chunk straight to the socket once the
// head has left (the shortcut es.send() takes, under the same guards). These tests pin what must
// not change with it: the bytes, their order among other writes, backpressure, the access log's
// byte count, HEAD, and the stop rule.

const KIB = 1024;

let ts: TestServer;
const entries: AccessEntry[] = [];
/** Every socket.write the server made for a response, by name, as text. */
const socketWrites = new Map<string, string[]>();
/** Bytes the response held beyond its socket's right after each flush of a burst in one tick, then once the tick is over. */
const held: number[] = [];
/** The same, during /park-mixed, after each step. */
const parkedSteps: number[] = [];
const stall = { started: 0, stop: false, results: [] as boolean[] };
const head = { results: [] as boolean[] };
const gone = { results: [] as boolean[], ended: false };

function recordSocketWrites(name: string, socket: Socket): void {
  const seen: string[] = [];
  socketWrites.set(name, seen);
  const write = socket.write;
  // Observes and forwards: the real socket still writes every byte.
  socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
    seen.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Buffer).toString('latin1'));
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as Socket['write'];
}

/** What the flush loop of /bytes writes, one flush per entry; the route /bytes-raw writes the same through res.write. */
async function writeSequence(
  write: (...values: unknown[]) => void,
  flush: () => Promise<boolean> | boolean,
): Promise<void> {
  write('first, through res.write with the head');
  await flush();
  write('é ✓ 😀 multi-byte');
  await flush();
  write(''); // an empty flush must not become the chunk that ends the response
  await flush();
  write(Buffer.from([0x00, 0xff, 0x41]));
  await flush();
  write('several ', Buffer.from('pieces '), { as: 'json' }, ' in one flush');
  await flush();
  write('x'.repeat(40 * KIB));
  await flush();
}

before(async () => {
  ts = await startServer((s) => {
    s.use(
      accessLog({
        format: (e) => {
          entries.push(e);
          return e.path;
        },
      }),
    );
    s.get('/bytes', async (r) => {
      recordSocketWrites('bytes', r.response.raw.socket as Socket);
      await writeSequence(
        (...v) => r.response.write(...v),
        () => r.response.flush(),
      );
    });
    s.get('/bytes-raw', async (r) => {
      const raw = r.response.rawWriter();
      raw.setHeader('Content-Type', 'text/plain; charset=utf-8');
      await writeSequence(
        (...values) => {
          const parts = values.map((v) =>
            typeof v === 'string' || v instanceof Uint8Array
              ? Buffer.from(v)
              : Buffer.from(JSON.stringify(v)),
          );
          raw.write(Buffer.concat(parts));
        },
        () => true,
      );
    });
    s.get('/seed', async (r) => {
      r.response.header.set('Content-Type', 'text/event-stream');
      recordSocketWrites('seed', r.response.raw.socket as Socket);
      for (let i = 0; i < 5; i++) {
        r.response.writefln('id: %d\ndata: %d\n', i, i);
        if (!(await r.response.flush())) return;
      }
    });
    s.get('/mixed', async (r) => {
      const raw = r.response.raw;
      // Writes straight to the response between flushes must not be overtaken, in one tick or across ticks.
      r.response.write('1');
      void r.response.flush();
      raw.write('2');
      r.response.write('3');
      void r.response.flush();
      await new Promise((resolve) => setImmediate(resolve));
      raw.write('4');
      r.response.write('5');
      void r.response.flush();
      await new Promise((resolve) => setImmediate(resolve));
      r.response.write('6');
      await r.response.flush();
    });
    s.get('/burst', async (r) => {
      const socket = r.response.raw.socket as Socket;
      r.response.write('head');
      await r.response.flush();
      await new Promise((resolve) => setImmediate(resolve));
      const raw = r.response.raw;
      for (let i = 0; i < 3; i++) {
        r.response.write(String(i));
        void r.response.flush();
        held.push(raw.writableLength - socket.writableLength);
      }
      await new Promise((resolve) => setImmediate(resolve));
      held.push(raw.writableLength - socket.writableLength);
    });
    s.get('/park-mixed', async (r) => {
      const raw = r.response.rawWriter();
      const socket = raw.socket as Socket;
      const step = () => parkedSteps.push(raw.writableLength - socket.writableLength);
      r.response.write('a');
      await r.response.flush();
      await new Promise((resolve) => setImmediate(resolve));
      // One tick: flushes that wait in the response, a write straight to it, more flushes, the end.
      r.response.write('b');
      void r.response.flush();
      r.response.write('c');
      void r.response.flush();
      step();
      raw.write('d');
      step();
      r.response.write('e');
      void r.response.flush();
      r.response.write('f');
      void r.response.flush();
      // Returning ends the response in this tick: its last chunk must follow what waits.
    });
    s.get('/stall', async (r) => {
      // Bounded: a build that lost backpressure fails the test instead of filling memory.
      while (!stall.stop && stall.started < 256) {
        stall.started++;
        r.response.write('x'.repeat(64 * KIB));
        const ok = await r.response.flush();
        stall.results.push(ok);
        if (!ok) return;
      }
    });
    s.get('/gone', async (r) => {
      for (let i = 0; i < 10_000; i++) {
        r.response.write('y'.repeat(4 * KIB));
        const ok = await r.response.flush();
        gone.results.push(ok);
        if (!ok) break;
        await sleep(1);
      }
      gone.ended = true;
    });
    s.bindHandler('HEAD:/head', async (r) => {
      r.response.header.set('Content-Type', 'text/event-stream');
      for (let i = 0; i < 3; i++) {
        r.response.writefln('data: %d\n', i);
        head.results.push(await r.response.flush());
      }
    });
    s.get('/plain', () => 'plain');
  });
});

after(() => ts.close());

const chunk = (bytes: string | Buffer): string => {
  const b = Buffer.from(bytes);
  return `${b.length.toString(16)}\r\n${b.toString('latin1')}\r\n`;
};

/** The payloads of a chunked body (latin1 text), checking every size line and CRLF on the way. */
function chunksOf(body: string): string[] {
  const out: string[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    assert.ok(eol !== -1, `no size line at byte ${at}`);
    const size = Number.parseInt(body.slice(at, eol), 16);
    assert.ok(
      Number.isInteger(size) && /^[0-9a-f]+$/.test(body.slice(at, eol)),
      `bad size line at byte ${at}`,
    );
    if (size === 0) {
      assert.equal(body.slice(eol), '\r\n\r\n', 'bytes after the last chunk');
      return out;
    }
    out.push(body.slice(eol + 2, eol + 2 + size));
    assert.equal(
      body.slice(eol + 2 + size, eol + 4 + size),
      '\r\n',
      `chunk at byte ${at} not closed by CRLF`,
    );
    at = eol + 4 + size;
  }
}

/** The raw body (chunk framing included) of a GET on a fresh connection, as latin1 text. */
async function rawBody(path: string): Promise<string> {
  const conn = await rawRequest(ts.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  const bytes: Buffer[] = [];
  conn.socket.removeAllListeners('data');
  conn.socket.on('data', (b: Buffer) => bytes.push(b));
  await conn.closed;
  const text = Buffer.concat(bytes).toString('latin1');
  return text.slice(text.indexOf('\r\n\r\n') + 4);
}

test('flush() puts on the wire the chunk res.write sends for each flush, and the same body', async () => {
  const viaFlush = await rawBody('/bytes');
  const viaRaw = await rawBody('/bytes-raw');
  // One chunk per awaited flush, as res.write frames one call; an empty flush sends nothing.
  const flushes = [
    'first, through res.write with the head',
    'é ✓ 😀 multi-byte',
    Buffer.from([0x00, 0xff, 0x41]),
    'several pieces {"as":"json"} in one flush',
    'x'.repeat(40 * KIB),
  ];
  assert.equal(viaFlush, `${flushes.map(chunk).join('')}0\r\n\r\n`);
  assert.equal(chunksOf(viaFlush).join(''), chunksOf(viaRaw).join(''));
  // Where res.write frames one chunk per call (Node 20, 22; Node 24 joins the writes of a tick), byte for byte.
  if (chunksOf(viaRaw).length === flushes.length) assert.equal(viaFlush, viaRaw);
});

test('after the first flush, the first flush of a tick is one socket write, the rest one write together; the log counts the bytes', async () => {
  entries.length = 0;
  const body = await rawBody('/seed');
  const frames = [0, 1, 2, 3, 4].map((i) => `id: ${i}\ndata: ${i}\n\n`);
  assert.equal(body, `${frames.map(chunk).join('')}0\r\n\r\n`);
  // The awaited flushes after the head run in one tick: the socket had room for all of them.
  const writes = socketWrites.get('seed') ?? [];
  const joined = frames.slice(2).map(chunk).join('');
  assert.ok(
    writes.includes(chunk(frames[1]!)),
    `no single socket write of ${JSON.stringify(chunk(frames[1]!))}`,
  );
  assert.ok(
    writes.includes(joined),
    `no single socket write of ${JSON.stringify(joined)}: ${JSON.stringify(writes)}`,
  );
  await waitFor(() => entries.some((e) => e.path === '/seed'), 'the access log line');
  const entry = entries.find((e) => e.path === '/seed');
  assert.equal(entry?.bytes, frames.join('').length);
  assert.equal(entry?.ended, 'complete');
});

test('the access log counts bytes, not characters, through the shortcut', async () => {
  entries.length = 0;
  await rawBody('/bytes');
  await waitFor(() => entries.some((e) => e.path === '/bytes'), 'the access log line');
  const expected =
    Buffer.byteLength('first, through res.write with the head') +
    Buffer.byteLength('é ✓ 😀 multi-byte') +
    3 +
    Buffer.byteLength('several pieces {"as":"json"} in one flush') +
    40 * KIB;
  assert.equal(entries.find((e) => e.path === '/bytes')?.bytes, expected);
});

test('flushes and writes straight to the response reach the client in call order', async () => {
  // Chunk boundaries are res.write's to choose here (Node 24 joins the writes of a tick): the order is the test.
  assert.equal(chunksOf(await rawBody('/mixed')).join(''), '123456');
});

test('flushes in one tick leave together: from the second on they wait in the response until the tick ends', async () => {
  assert.equal(chunksOf(await rawBody('/burst')).join(''), 'head012');
  assert.equal(held[0], 0, 'the first flush of a tick waits for nothing');
  // Counted by writableLength while they wait, so backpressure and socketIsCaughtUp see them.
  assert.deepEqual(held.slice(1, 3), [chunk('1').length, chunk('1').length + chunk('2').length]);
  assert.equal(held[3], 0, 'still held after the tick');
});

test('flushes waiting in the response go out before a write straight to it and before the end, in one tick', async () => {
  const body = await rawBody('/park-mixed');
  const chunks = chunksOf(body);
  assert.equal(chunks.join(''), 'abcdef');
  // Up to the direct write, one chunk per flush, as res.write frames them (what follows is res.write's to frame on Node 24).
  assert.deepEqual(chunks.slice(0, 3), ['a', 'b', 'c']);
  assert.ok(body.startsWith(['a', 'b', 'c'].map(chunk).join('')));
  assert.equal(
    parkedSteps[0],
    chunk('c').length,
    'the second flush of the tick did not wait in the response',
  );
  // Node 20 and 22 send both now; Node 24 keeps both for the tick's end. Either way both are counted.
  assert.ok(
    (parkedSteps[1] ?? 0) === 0 || (parkedSteps[1] ?? 0) > chunk('c').length,
    `held ${parkedSteps[1]}`,
  );
});

test('a flush that found the socket full resolves true only once the client reads again', async () => {
  const blockedAt = await blockedUntilRead(ts.port, '/stall', stall, 'flush()');
  assert.ok(blockedAt < 256, 'every flush resolved at once: no backpressure');
});

test('flush() resolves false once the client is gone, and the loop ends', async () => {
  const conn = await rawRequest(ts.port, 'GET /gone HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => gone.results.length >= 5, 'a few flushes');
  conn.socket.destroy();
  await waitFor(() => gone.ended, 'the loop to end', 5000);
  assert.equal(gone.results.at(-1), false);
  assert.ok(gone.results.slice(0, 5).every((ok) => ok));
});

test('HEAD: the first flush sends the head and ends the response; later flushes write nothing', async () => {
  entries.length = 0;
  const conn = await rawRequest(ts.port, 'HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => head.results.length === 3, 'the HEAD handler');
  // The connection is kept alive: nothing of the HEAD response may reach the next response.
  conn.socket.write('GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await conn.closed;
  const text = conn.text();
  assert.deepEqual(head.results, [false, false, false]);
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.doesNotMatch(text, /data:/);
  const second = text.slice(text.indexOf('\r\n\r\n') + 4);
  assert.match(second, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(second.endsWith('\r\n\r\nplain'), JSON.stringify(second));
  await waitFor(() => entries.some((e) => e.path === '/head'), 'the access log line');
  assert.equal(entries.find((e) => e.path === '/head')?.bytes, 0);
});

test('sprintf: a format seen before still leaves a verb with no argument as it is', () => {
  // The parsed format is kept between calls; whether a verb has its argument is per call.
  assert.equal(sprintf('%d and %d, 100%%', 1, 2), '1 and 2, 100%');
  assert.equal(sprintf('%d and %d, 100%%', 1), '1 and %d, 100%');
  assert.equal(sprintf('%d and %d, 100%%'), '%d and %d, 100%');
  assert.equal(sprintf('%d and %d, 100%%', 1, 2, 3), '1 and 2, 100% 3');
  assert.equal(sprintf('%.2f|%z|%', 3), '3.00|%z|%');
  assert.equal(sprintf('%.2f|%z|%'), '%.2f|%z|%');
});
