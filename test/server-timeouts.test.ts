import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, server } from '../src/index.ts';
import { openSocket, parseRawResponse, send } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { parseEvents, read } from './helpers/sse-clients.ts';

// The timeouts bound what a client sends, never how long a response streams. Configured small here
// (hundreds of ms) so each cut is seen quickly; the defaults are the same mechanism at 15 s / 300 s / 5 s.

const HEADERS_MS = 500;
const REQUEST_MS = 800;
const KEEP_ALIVE_MS = 300;
let ts: TestServer;

before(async () => {
  ts = await startServer((s) => {
    s.setTimeouts({ headers: HEADERS_MS, request: REQUEST_MS, keepAlive: KEEP_ALIVE_MS });
    s.setMaxHeaderSize(2048);
    s.get('/', () => 'ok');
    s.post('/upload', async (r) => ({ got: await r.parseBody() }));
    s.get('/quiet-stream', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      await es.send({ data: 'first' });
      // Silent for longer than every timeout above added together.
      await sleep(HEADERS_MS + REQUEST_MS + KEEP_ALIVE_MS + 400);
      await es.send({ data: 'second' });
      es.close();
    });
  });
});

after(() => ts.close());

/** Drips `text` one byte per `everyMs` and resolves with what came back and when the server closed. */
async function drip(text: string, everyMs: number): Promise<{ closedAfter: number; reply: string }> {
  const socket = await openSocket(ts.port);
  const started = performance.now();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => resolve(performance.now() - started)),
  );
  let open = true;
  void closed.then(() => {
    open = false;
  });
  for (const byte of text) {
    if (!open) break;
    socket.write(byte);
    await Promise.race([sleep(everyMs, undefined, { ref: false }), closed]);
  }
  const closedAfter = await Promise.race([
    closed,
    sleep(5000, undefined, { ref: false }).then(() => Number.POSITIVE_INFINITY),
  ]);
  socket.destroy();
  return { closedAfter, reply: Buffer.concat(chunks).toString('latin1') };
}

describe('slow clients are cut', () => {
  test('a client sending its headers one byte at a time is answered 408 and disconnected at the headers timeout', async () => {
    // Two bytes a second never finishes this head within the timeout, however long the wait.
    const { closedAfter, reply } = await drip('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 0123456789\r\n\r\n', 500);
    assert.match(reply, /^HTTP\/1\.1 408 /);
    assert.ok(closedAfter >= HEADERS_MS - 50, `cut too early: ${closedAfter.toFixed(0)} ms`);
    // Node checks at a quarter of the timeout (see listenerOptions); its own 30 s check would miss this.
    assert.ok(closedAfter < HEADERS_MS * 2, `cut too late: ${closedAfter.toFixed(0)} ms`);
  });

  test('a body that trickles in past the request timeout is cut with 408', async () => {
    const head = 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n\r\n';
    const socket = await openSocket(ts.port);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    const started = performance.now();
    const closed = new Promise<number>((resolve) =>
      socket.once('close', () => resolve(performance.now() - started)),
    );
    socket.write(head);
    const dripping = setInterval(() => socket.writable && socket.write('x'), 100);
    const closedAfter = await Promise.race([
      closed,
      sleep(5000, undefined, { ref: false }).then(() => Number.POSITIVE_INFINITY),
    ]);
    clearInterval(dripping);
    socket.destroy();
    assert.ok(
      closedAfter >= REQUEST_MS - 50 && closedAfter < REQUEST_MS * 2,
      `closed after ${closedAfter} ms`,
    );
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 408 /);
  });

  test('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const socket = await openSocket(ts.port);
    const started = performance.now();
    const closed = new Promise<number>((resolve) =>
      socket.once('close', () => resolve(performance.now() - started)),
    );
    socket.on('data', () => {});
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const closedAfter = await Promise.race([
      closed,
      sleep(5000, undefined, { ref: false }).then(() => Number.POSITIVE_INFINITY),
    ]);
    socket.destroy();
    // Node advertises `Keep-Alive: timeout=N` and holds the socket up to a second longer, so the
    // client, which closes at N, never sends into a connection the server is closing.
    assert.ok(
      closedAfter >= KEEP_ALIVE_MS - 50 && closedAfter < KEEP_ALIVE_MS + 2000,
      `closed after ${closedAfter} ms`,
    );
  });

  test('a head larger than the max header size gets 431; a smaller one is served', async () => {
    const big = await send(`${ts.url}/`, { headers: { 'X-Big': 'x'.repeat(3000) } });
    assert.equal(big.status, 431);
    const fine = await send(`${ts.url}/`, { headers: { 'X-Big': 'x'.repeat(1000) } });
    assert.equal(fine.status, 200);
  });

  test('a fast client on the same server is served', async () => {
    const { reply } = await drip('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 0);
    assert.equal(parseRawResponse(Buffer.from(reply, 'latin1')).status, 200);
  });
});

describe('long-lived streams are not', () => {
  test('an SSE stream silent for longer than every timeout stays open and keeps delivering', async () => {
    const res = await read(`${ts.url}/quiet-stream`);
    assert.equal(res.ending, 'end', 'the stream ended by close(), not by a cut');
    assert.deepEqual(
      parseEvents(res.body).map((e) => e.data),
      ['first', 'second'],
    );
    const gap = (res.chunks.at(-1)?.at ?? 0) - (res.chunks[0]?.at ?? 0);
    assert.ok(gap >= HEADERS_MS + REQUEST_MS + KEEP_ALIVE_MS, `the silence lasted ${gap.toFixed(0)} ms`);
  });
});

describe('settings are checked', () => {
  const s = server(`timeouts-${process.pid}`);
  const bad: [string, () => unknown, string][] = [
    ['a zero headers timeout', () => s.setTimeouts({ headers: 0 }), 'headers'],
    [
      'a headers timeout above the request timeout',
      () => s.setTimeouts({ headers: 5000, request: 1000 }),
      'headers',
    ],
    ['a negative keep-alive', () => s.setTimeouts({ keepAlive: -1 }), 'keepAlive'],
    ['a fractional request timeout', () => s.setTimeouts({ request: 1.5 }), 'request'],
    ['no object', () => s.setTimeouts(null as never), 'timeouts'],
    ['a tiny max header size', () => s.setMaxHeaderSize(100), 'bytes'],
  ];
  for (const [what, call, argument] of bad) {
    test(`refuses ${what}, naming "${argument}"`, () => {
      assert.throws(call, (e: unknown) => e instanceof InvalidArgumentError && e.argument === argument);
    });
  }

  test('a request timeout of 0 (none) allows any headers timeout', () => {
    s.setTimeouts({ request: 0, headers: 600_000 });
  });
});
