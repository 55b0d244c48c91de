import assert from 'node:assert/strict';
import { get } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { handlerResponse } from '../src/index.ts';
import { deferred, openSocket, waitFor } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

/** Collects unhandled rejections for the duration of a test. */
function watchRejections(t: { after(fn: () => void): void }): unknown[] {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', onRejection);
  t.after(() => process.off('unhandledRejection', onRejection));
  return seen;
}

/** Opens a stream with node's client and destroys it after `events` chunks; resolves with the time it left. */
function readThenLeave(url: string, events: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const req = get(url, { agent: false }, (res) => {
      res.on('data', () => {
        if (++seen === events) {
          const at = performance.now();
          req.destroy();
          resolve(at);
        }
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (seen < events) reject(e);
    });
  });
}

test('a client leaving mid-stream aborts r.signal within 100 ms and the loop stops', async (t) => {
  const rejections = watchRejections(t);
  const done = deferred();
  const state = { abortedAt: 0, endedAt: 0, iterations: 0, iterationsAtAbort: 0, reason: '' };
  const srv = await startServer((s) =>
    s.get('/live', async (r) => {
      r.signal.addEventListener('abort', () => {
        state.abortedAt = performance.now();
        state.iterationsAtAbort = state.iterations;
        state.reason = String((r.signal.reason as Error).message);
      });
      r.response.header.set('Content-Type', 'text/event-stream');
      try {
        for (;;) {
          state.iterations++;
          r.response.writefln('data: %d\n', state.iterations);
          await r.response.flush();
          await sleep(50, undefined, { signal: r.signal });
        }
      } finally {
        state.endedAt = performance.now();
        done.resolve();
      }
    }),
  );
  t.after(() => srv.close());

  const leftAt = await readThenLeave(`${srv.url}/live`, 3);
  await done.promise;
  assert.ok(state.abortedAt > 0, 'r.signal never aborted');
  assert.ok(
    state.abortedAt - leftAt < 100,
    `r.signal aborted ${(state.abortedAt - leftAt).toFixed(1)} ms late`,
  );
  assert.ok(state.endedAt - leftAt < 100, `handler ended ${(state.endedAt - leftAt).toFixed(1)} ms late`);
  assert.equal(state.iterations, state.iterationsAtAbort, 'the loop ran on after the abort');
  assert.equal(state.reason, 'The client closed the connection');
  // Let any stray promise settle before looking for unhandled rejections and logged errors.
  await sleep(50);
  assert.deepEqual(rejections, []);
  // Stopping on the abort is the normal way a stream ends: nothing is logged for it.
  assert.deepEqual(
    srv.logger.lines.filter((l) => l.level !== 'info'),
    [],
  );
});

test('a handler that ignores r.signal sees flush() resolve false, never throw, once the client is gone', async (t) => {
  const rejections = watchRejections(t);
  const done = deferred();
  const results: boolean[] = [];
  let thrown: unknown;
  const srv = await startServer((s) =>
    s.get('/deaf', async (r) => {
      try {
        for (let i = 0; i < 200; i++) {
          r.response.write(`chunk ${i}\n`);
          results.push(await r.response.flush());
          // Keep going past the first false: every later flush must be false too, and none may throw.
          if (results.filter((ok) => !ok).length === 3) break;
          await sleep(20);
        }
        r.response.write('after the client left');
        r.response.writeln('still no throw');
      } catch (e) {
        thrown = e;
      } finally {
        done.resolve();
      }
    }),
  );
  t.after(() => srv.close());

  await readThenLeave(`${srv.url}/deaf`, 2);
  await done.promise;
  assert.equal(thrown, undefined);
  const firstFalse = results.indexOf(false);
  assert.ok(firstFalse >= 2, `results: ${results.join(',')}`);
  assert.ok(
    results.slice(0, firstFalse).every((ok) => ok),
    'true until the client left',
  );
  assert.deepEqual(results.slice(firstFalse), [false, false, false]);
  await sleep(50);
  assert.deepEqual(rejections, []);
  assert.deepEqual(
    srv.logger.lines.filter((l) => l.level === 'error'),
    [],
  );
});

test('a client leaving before anything was flushed aborts the signal of a buffered handler', async (t) => {
  const rejections = watchRejections(t);
  const started = deferred();
  const done = deferred<string>();
  const srv = await startServer((s) =>
    s.get('/slow', async (r) => {
      r.response.write('never sent');
      started.resolve();
      try {
        await sleep(5000, undefined, { signal: r.signal });
        done.resolve('slept');
      } catch (e) {
        done.resolve((e as Error).name);
        throw e;
      }
    }),
  );
  t.after(() => srv.close());
  const socket = await openSocket(srv.port);
  socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
  await started.promise;
  const leftAt = performance.now();
  socket.destroy();
  assert.equal(await done.promise, 'AbortError');
  assert.ok(performance.now() - leftAt < 100);
  await sleep(50);
  assert.deepEqual(rejections, []);
  assert.deepEqual(
    srv.logger.lines.filter((l) => l.level === 'error'),
    [],
  );
});

test('under handlerResponse, a client leaving is not reported as a 500 failure', async (t) => {
  const rejections = watchRejections(t);
  const started = deferred();
  const ended = deferred();
  let afterNextRan = false;
  const srv = await startServer((s) =>
    s.group('/api', (g) => {
      g.middleware(async (r) => {
        await r.middleware.next();
        afterNextRan = true;
      });
      g.middleware(handlerResponse);
      g.get('/slow', async (r) => {
        started.resolve();
        try {
          await sleep(5000, undefined, { signal: r.signal });
        } finally {
          ended.resolve();
        }
      });
    }),
  );
  t.after(() => srv.close());
  const socket = await openSocket(srv.port);
  socket.write('GET /api/slow HTTP/1.1\r\nHost: x\r\n\r\n');
  await started.promise;
  socket.destroy();
  await ended.promise;
  await sleep(50);
  assert.deepEqual(rejections, []);
  assert.deepEqual(srv.logger.lines, []);
  // The abort unwinds like an error, past the middleware's code after next().
  assert.equal(afterNextRan, false);
});

test('r.signal first read after the client left is already aborted', async (t) => {
  const checked = deferred<{ aborted: boolean; flushed: boolean }>();
  const srv = await startServer((s) =>
    s.get('/late-look', async (r) => {
      await r.response.flush();
      // Wait for the close without touching r.signal, so it is created only afterwards.
      await new Promise((resolve) => r.response.rawWriter().once('close', resolve));
      const flushed = await r.response.flush();
      checked.resolve({ aborted: r.signal.aborted, flushed });
    }),
  );
  t.after(() => srv.close());
  const socket = await openSocket(srv.port);
  socket.write('GET /late-look HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((resolve) => socket.once('data', resolve));
  socket.destroy();
  assert.deepEqual(await checked.promise, { aborted: true, flushed: false });
});

test('a finished response on a kept-alive connection is not treated as a disconnect', async (t) => {
  let aborted = false;
  const srv = await startServer((s) =>
    s.get('/ok', (r) => {
      r.signal.addEventListener('abort', () => {
        aborted = true;
      });
      r.response.write('fine');
    }),
  );
  t.after(() => srv.close());
  const socket = await openSocket(srv.port);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => Buffer.concat(chunks).toString().endsWith('fine'), 'the response');
  socket.destroy();
  await sleep(50);
  assert.equal(aborted, false);
});
