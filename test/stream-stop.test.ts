import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type EventStream, ndjson } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { deferred, type RawConnection, rawRequest, waitFor } from './helpers/sse-clients.ts';

// A client that connects and then reads nothing fills the socket, and the producer's write waits
// for a 'drain' that never comes. Neither es.close() nor a shutdown makes one come, so both must
// release that write themselves (resolve it false); otherwise the handler hangs on its await, a
// returned generator never reaches its finally, and shutdown waits its whole timeout.

const MIB = 1024 * 1024;
const BIG = 'x'.repeat(MIB);
/** Long enough that waiting it out is unmistakable, short enough that the old code fails in time. */
const SHUTDOWN_TIMEOUT = 5000;
/** What "promptly" means here: well within the timeout, with room for a loaded CI machine. */
const PROMPT_MS = 1500;

/** How one producer's loop went: writes started and settled, what the last one said, when it ended. */
interface Producer {
  started: number;
  settled: number;
  last: boolean | undefined;
  endedAt: number | undefined;
}

function producer(): Producer {
  return { started: 0, settled: 0, last: undefined, endedAt: undefined };
}

/** Counts one write of a producer loop; resolves with what it resolved with. */
async function track(p: Producer, write: Promise<boolean>): Promise<boolean> {
  p.started++;
  const ok = await write;
  p.settled++;
  p.last = ok;
  return ok;
}

/** Waits until the producer is blocked: one write started and has not settled, and stays so. */
async function waitUntilBlocked(p: Producer): Promise<void> {
  await waitFor(() => p.started > 0 && p.started === p.settled + 1, 'a write to block', 10_000);
  const at = p.started;
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(p.started, at, 'the producer went on although the client reads nothing');
  assert.equal(p.endedAt, undefined);
}

/** Opens `path` on a raw socket that never reads: paused, so the kernel's buffers fill and stay full. */
async function stalledClient(t: { after(fn: () => unknown): void }, ts: TestServer, path: string) {
  const conn: RawConnection = await rawRequest(ts.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, {
    read: false,
  });
  t.after(() => conn.socket.destroy());
  return conn;
}

async function timedShutdown(ts: TestServer): Promise<number> {
  const start = performance.now();
  await ts.server.shutdown({ timeout: SHUTDOWN_TIMEOUT });
  return performance.now() - start;
}

test('es.close() releases a send() waiting on a client that reads nothing: it resolves false', async (t) => {
  const p = producer();
  let stream: EventStream | undefined;
  const ts = await startServer((s) =>
    s.get('/stall', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      stream = es;
      while (await track(p, es.send({ data: BIG })));
      p.endedAt = performance.now();
    }),
  );
  t.after(() => ts.close());
  await stalledClient(t, ts, '/stall');
  await waitUntilBlocked(p);

  const closedAt = performance.now();
  stream?.close();
  await waitFor(() => p.endedAt !== undefined, 'the send loop to end after close()', PROMPT_MS);
  assert.equal(p.last, false);
  assert.equal(p.settled, p.started);
  assert.ok((p.endedAt ?? 0) - closedAt < PROMPT_MS);
  // Closed for good: a later write is refused at once, and a comment too.
  assert.equal(await stream?.send({ data: 'late' }), false);
  assert.equal(await stream?.comment('late'), false);
});

test('a closed stream whose client never reads is cut after a grace period, not held until shutdown', async (t) => {
  const p = producer();
  let stream: EventStream | undefined;
  let raw: import('node:http').ServerResponse | undefined;
  const ts = await startServer((s) =>
    s.get('/stall', async (r) => {
      raw = r.response.raw;
      const es = r.response.sse({ heartbeat: 0 });
      stream = es;
      while (await track(p, es.send({ data: BIG })));
      p.endedAt = performance.now();
    }),
  );
  t.after(() => ts.close());
  await stalledClient(t, ts, '/stall');
  await waitUntilBlocked(p);
  stream?.close();
  // The grace period is 10 s: the socket is still there shortly after close(), gone well after it.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(raw?.destroyed, false, 'cut before the grace period');
  await waitFor(() => raw?.destroyed === true, 'the unread socket to be cut', 14_000);
});

test('a shutdown releases a blocked send() loop and resolves well before its timeout', async (t) => {
  const p = producer();
  const ts = await startServer((s) =>
    s.get('/stall', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      while (await track(p, es.send({ data: BIG })));
      p.endedAt = performance.now();
    }),
  );
  t.after(() => ts.close());
  await stalledClient(t, ts, '/stall');
  await waitUntilBlocked(p);

  const took = await timedShutdown(ts);
  assert.ok(took < PROMPT_MS, `shutdown took ${took.toFixed(0)} ms of its ${SHUTDOWN_TIMEOUT} ms timeout`);
  assert.equal(p.last, false);
  assert.notEqual(p.endedAt, undefined);
  assert.deepEqual(
    ts.logger.lines.filter((l) => l.level === 'error'),
    [],
  );
});

test('a shutdown releases a blocked flush() loop that never reads r.signal', async (t) => {
  const p = producer();
  const ts = await startServer((s) =>
    s.get('/stall', async (r) => {
      r.response.header.set('Content-Type', 'application/octet-stream');
      for (;;) {
        r.response.write(BIG);
        if (!(await track(p, r.response.flush()))) break;
      }
      p.endedAt = performance.now();
    }),
  );
  t.after(() => ts.close());
  await stalledClient(t, ts, '/stall');
  await waitUntilBlocked(p);

  const took = await timedShutdown(ts);
  assert.ok(took < PROMPT_MS, `shutdown took ${took.toFixed(0)} ms of its ${SHUTDOWN_TIMEOUT} ms timeout`);
  assert.equal(p.last, false);
  assert.notEqual(p.endedAt, undefined);
});

for (const kind of ['sse', 'ndjson'] as const) {
  test(`a shutdown stops a returned ${kind} generator blocked on a stalled client: its finally runs`, async (t) => {
    const p = producer();
    const finallyRan = deferred<number>();
    async function* items() {
      try {
        for (;;) {
          p.started++;
          yield BIG;
          p.settled++;
        }
      } finally {
        finallyRan.resolve(performance.now());
      }
    }
    const ts = await startServer((s) => s.get('/stall', () => (kind === 'sse' ? items() : ndjson(items()))));
    t.after(() => ts.close());
    await stalledClient(t, ts, '/stall');
    // The generator waits at its yield while the piped write waits for the socket.
    await waitFor(() => p.started > 2, 'the generator to be pulled', 10_000);
    const before = p.started;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(p.started - before <= 1, 'the generator ran ahead of a client that reads nothing');

    const start = performance.now();
    const took = await timedShutdown(ts);
    assert.ok(took < PROMPT_MS, `shutdown took ${took.toFixed(0)} ms of its ${SHUTDOWN_TIMEOUT} ms timeout`);
    assert.ok((await finallyRan.promise) - start < PROMPT_MS, 'the generator was not stopped');
  });
}

test('a flush() loop that only checks what flush() says ends cleanly at shutdown', async (t) => {
  // The README's loop without r.signal: flush() resolving false is its only way to hear of a shutdown.
  const p = producer();
  const ts = await startServer((s) =>
    s.get('/ticks', async (r) => {
      for (let i = 0; ; i++) {
        r.response.writefln('tick %d', i);
        if (!(await track(p, r.response.flush()))) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      p.endedAt = performance.now();
    }),
  );
  t.after(() => ts.close());
  const conn = await rawRequest(ts.port, 'GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n');
  t.after(() => conn.socket.destroy());
  await waitFor(() => conn.text().includes('tick 2'), 'the stream to flow');

  const took = await timedShutdown(ts);
  assert.ok(took < PROMPT_MS, `shutdown took ${took.toFixed(0)} ms of its ${SHUTDOWN_TIMEOUT} ms timeout`);
  assert.equal(p.last, false);
  await conn.closed;
  // Ended, not cut: the chunked body has its last chunk before the server closed the connection.
  assert.match(conn.text(), /\r\n0\r\n\r\n$/);
});
