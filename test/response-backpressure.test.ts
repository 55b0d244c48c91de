import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { deferred, openSocket, parseRawResponse, waitFor } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

const CHUNK = 64 * 1024;
/** Far more than loopback socket buffers hold, so only backpressure can stop the producer short of it. */
const CEILING = 512 * 1024 * 1024;
/** What Node itself may hold for a response: one chunk plus its default high-water mark, with room to spare. */
const NODE_BUFFER_BOUND = CHUNK + 64 * 1024;

/** Chunk `i`, filled with one byte value that depends on `i`, so the client can check order and content. */
function chunkFor(i: number): Buffer {
  return Buffer.alloc(CHUNK, i % 251);
}

/** Waits until `read()` has not changed for `quietMs`: the producer is stuck. */
async function waitUntilStalled(read: () => number, quietMs: number, timeout: number): Promise<void> {
  const deadline = performance.now() + timeout;
  let last = read();
  let since = performance.now();
  while (performance.now() - since < quietMs) {
    if (performance.now() > deadline) throw new Error(`producer never stalled (at ${read()} bytes)`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = read();
    if (now !== last) {
      last = now;
      since = performance.now();
    }
  }
}

interface Flood {
  produced: number;
  maxWritableLength: number;
  results: boolean[];
  stop: boolean;
  done: Promise<void>;
}

/** A producer that writes chunk after chunk, awaiting each flush, recording what Node buffered. */
async function startFlood(t: { after(fn: () => unknown): void }) {
  const handlerDone = deferred();
  const flood: Flood = {
    produced: 0,
    maxWritableLength: 0,
    results: [],
    stop: false,
    done: handlerDone.promise,
  };
  const srv = await startServer((s) =>
    s.get('/flood', async (r) => {
      const raw = r.response.rawWriter();
      try {
        for (let i = 0; !flood.stop && flood.produced < CEILING; i++) {
          r.response.write(chunkFor(i));
          const accepted = r.response.flush();
          // Measured right after the write, when Node's buffer is at its fullest.
          flood.maxWritableLength = Math.max(flood.maxWritableLength, raw.writableLength);
          const ok = await accepted;
          flood.results.push(ok);
          if (!ok) break;
          flood.produced += CHUNK;
        }
      } finally {
        handlerDone.resolve();
      }
    }),
  );
  t.after(() => srv.close());
  return { srv, flood };
}

function requestWithoutReading(socket: Socket): void {
  // HTTP/1.0: the body comes unframed, so the bytes after the head are exactly what was flushed.
  socket.pause();
  socket.write('GET /flood HTTP/1.0\r\n\r\n');
}

test('a client that stops reading holds the producer back; Node buffers stay small', async (t) => {
  const { srv, flood } = await startFlood(t);
  const socket = await openSocket(srv.port);
  t.after(() => socket.destroy());
  requestWithoutReading(socket);

  await waitFor(() => flood.produced > 0, 'the first chunk');
  await waitUntilStalled(() => flood.produced, 400, 10_000);
  const stalledAt = flood.produced;
  assert.ok(stalledAt < 64 * 1024 * 1024, `producer ran ahead to ${stalledAt} bytes`);
  assert.ok(
    flood.maxWritableLength <= NODE_BUFFER_BOUND,
    `writableLength reached ${flood.maxWritableLength} bytes`,
  );
  assert.ok(
    flood.results.every((ok) => ok),
    'no flush resolved false while the client was still there',
  );

  // The client reads again: the producer resumes, and every byte arrives in order.
  flood.stop = true;
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.resume();
  await flood.done;
  await closed;
  const { body } = parseRawResponse(Buffer.concat(chunks));
  assert.ok(flood.produced >= stalledAt);
  assert.equal(body.length, flood.produced);
  for (let i = 0; i * CHUNK < body.length; i += 97) {
    assert.equal(body[i * CHUNK], i % 251, `chunk ${i} out of order`);
    assert.equal(body[i * CHUNK + CHUNK - 1], i % 251, `chunk ${i} cut short`);
  }
  assert.ok(flood.maxWritableLength <= NODE_BUFFER_BOUND);
});

test('a client that stops reading and then leaves releases the pending flush with false', async (t) => {
  const { srv, flood } = await startFlood(t);
  const socket = await openSocket(srv.port);
  requestWithoutReading(socket);
  await waitFor(() => flood.produced > 0, 'the first chunk');
  await waitUntilStalled(() => flood.produced, 300, 10_000);
  const resultsBefore = flood.results.length;

  const leftAt = performance.now();
  socket.destroy();
  await flood.done;
  const stoppedAfter = performance.now() - leftAt;
  assert.ok(stoppedAfter < 1000, `the producer stopped ${stoppedAfter.toFixed(0)} ms after the client left`);
  // The flush that was waiting for room resolved false instead of hanging or throwing.
  assert.equal(flood.results.length, resultsBefore + 1);
  assert.equal(flood.results.at(-1), false);
  assert.deepEqual(
    srv.logger.lines.filter((l) => l.level === 'error'),
    [],
  );
});

test('a fast producer to a reading client keeps Node buffers bounded over many megabytes', async (t) => {
  const { srv, flood } = await startFlood(t);
  const socket = await openSocket(srv.port);
  t.after(() => socket.destroy());
  let received = 0;
  socket.on('data', (c: Buffer) => {
    received += c.length;
    if (received > 32 * 1024 * 1024) flood.stop = true;
  });
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.write('GET /flood HTTP/1.0\r\n\r\n');
  await flood.done;
  await closed;
  assert.ok(flood.produced > 32 * 1024 * 1024);
  assert.ok(
    flood.maxWritableLength <= NODE_BUFFER_BOUND,
    `writableLength reached ${flood.maxWritableLength} bytes`,
  );
  assert.ok(received >= flood.produced, `received ${received} of ${flood.produced} bytes`);
});
