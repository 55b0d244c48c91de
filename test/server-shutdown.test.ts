import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { get } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { deferred, openSocket, send, waitFor } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

const CHILD = fileURLToPath(new URL('./fixtures/shutdown-child.ts', import.meta.url));

interface Child {
  proc: ChildProcess;
  events: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  port: Promise<number>;
}

function startChild(t: { after(fn: () => unknown): void }, args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const events: Record<string, unknown>[] = [];
  const port = deferred<number>();
  let pending = '';
  proc.stdout?.setEncoding('utf8');
  proc.stdout?.on('data', (text: string) => {
    pending += text;
    for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n')) {
      const event = JSON.parse(pending.slice(0, nl)) as Record<string, unknown>;
      pending = pending.slice(nl + 1);
      events.push(event);
      if (event.event === 'listening') port.resolve(Number(event.port));
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(String(event.line ?? ''));
      if (m) port.resolve(Number(m[1]));
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  return { proc, events, exited, port: port.promise };
}

/** Opens the child's stream; resolves once data flows, with a promise of how the stream ended. */
async function openStream(port: number): Promise<{ ended: Promise<{ complete: boolean; body: string }> }> {
  const first = deferred();
  const ended = new Promise<{ complete: boolean; body: string }>((resolve) => {
    let body = '';
    const req = get(`http://127.0.0.1:${port}/stream`, { agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
        first.resolve();
      });
      res.on('end', () => resolve({ complete: res.complete, body }));
      res.on('error', () => resolve({ complete: false, body }));
    });
    req.on('error', () => resolve({ complete: false, body }));
  });
  await first.promise;
  // Wrapped: an async function returning the promise itself would wait for the stream to end.
  return { ended };
}

const names = (child: Child) => child.events.map((e) => e.event);

test('SIGTERM under run(): the open stream is aborted and the process exits well within the timeout', {
  timeout: 30_000,
}, async (t) => {
  const child = startChild(t, ['sigterm', '5000', 'cooperative']);
  const stream = await openStream(await child.port);
  await sleep(120);
  const signalledAt = performance.now();
  child.proc.kill('SIGTERM');
  const exit = await child.exited;
  const took = exit.at - signalledAt;
  assert.equal(exit.code, 0);
  assert.ok(took < 2000, `exited ${took.toFixed(0)} ms after SIGTERM`);
  assert.ok(child.events.some((e) => e.event === 'aborted' && e.reason === 'The server is shutting down'));
  assert.ok(names(child).includes('handler-ended'));
  assert.ok(names(child).includes('stopped'), names(child).join(','));
  assert.ok(!names(child).includes('error'), JSON.stringify(child.events));
  // A stream that stops on its signal ends cleanly: the client sees a complete response, not a reset.
  const { complete, body } = await stream.ended;
  assert.equal(complete, true);
  assert.match(body, /^data: 0\n\ndata: 1\n\n/);
  assert.ok(body.endsWith('\n\n'));
});

test('shutdown() with a stream that ignores its signal: cut at the timeout, then the process exits', {
  timeout: 30_000,
}, async (t) => {
  const timeout = 800;
  const child = startChild(t, ['shutdown', String(timeout), 'stubborn']);
  const stream = await openStream(await child.port);
  const calledAt = performance.now();
  child.proc.stdin?.write('stop\n');
  const exit = await child.exited;
  const took = exit.at - calledAt;
  assert.equal(exit.code, 0);
  assert.ok(took >= timeout * 0.9, `exited after ${took.toFixed(0)} ms, before the timeout`);
  assert.ok(took < timeout + 2000, `exited ${took.toFixed(0)} ms after shutdown(), timeout ${timeout}`);
  assert.ok(child.events.some((e) => e.event === 'aborted' && e.reason === 'The server is shutting down'));
  // The handler notices only at its next flush, which may come just after shutdown() resolved.
  assert.ok(names(child).includes('handler-ended'), names(child).join(','));
  assert.ok(names(child).includes('stopped'), names(child).join(','));
  // Destroyed at the deadline: the client sees the stream cut off.
  const { complete, body } = await stream.ended;
  assert.equal(complete, false);
  assert.match(body, /^data: 0\n\n/);
});

test('shutdown() in process: streams end, in-flight buffered requests finish, new connections are refused', async (t) => {
  const streamAborted = deferred<string>();
  const slowStarted = deferred();
  const srv = await startServer((s) => {
    s.get('/stream', async (r) => {
      r.signal.addEventListener('abort', () => streamAborted.resolve((r.signal.reason as Error).message));
      for (let i = 0; ; i++) {
        r.response.write(`${i};`);
        await r.response.flush();
        await sleep(30, undefined, { signal: r.signal });
      }
    });
    s.get('/slow', async (r) => {
      slowStarted.resolve();
      // Does not watch the signal: graceful shutdown must wait for it.
      await sleep(300);
      r.response.write('slow but complete');
    });
  });
  t.after(() => srv.close());
  let streamed = '';
  const streamEnded = new Promise<boolean>((resolve) => {
    get(`${srv.url}/stream`, { agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        streamed += c;
      });
      res.on('end', () => resolve(res.complete));
      res.on('error', () => resolve(false));
    });
  });
  const slow = send(`${srv.url}/slow`);
  await waitFor(() => streamed.length > 0, 'the stream to start');
  await slowStarted.promise;
  // An idle keep-alive connection must not hold the shutdown up.
  const idle = await openSocket(srv.port);
  t.after(() => idle.destroy());

  const start = performance.now();
  const done = srv.server.shutdown({ timeout: 3000 });
  assert.equal(await streamAborted.promise, 'The server is shutting down');
  assert.equal(await streamEnded, true);
  const slowReply = await slow;
  assert.equal(slowReply.status, 200);
  assert.equal(slowReply.text, 'slow but complete');
  assert.equal(slowReply.headers.connection, 'close');
  await done;
  assert.ok(performance.now() - start < 2000, `shutdown took ${(performance.now() - start).toFixed(0)} ms`);
  await assert.rejects(send(`${srv.url}/slow`), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  assert.deepEqual(
    srv.logger.lines.filter((l) => l.level === 'error'),
    [],
  );
});

test('a stopped server can start again on a new port and serve', async (t) => {
  const srv = await startServer((s) => s.get('/x', (r) => r.response.write('again')));
  await srv.server.shutdown({ timeout: 100 });
  assert.equal(srv.server.getListenedPort(), -1);
  await srv.server.start();
  t.after(() => srv.server.shutdown({ timeout: 100 }));
  const port = srv.server.getListenedPort();
  assert.ok(port > 0);
  assert.equal((await send(`http://127.0.0.1:${port}/x`)).text, 'again');
});

test('a buffered request aborted by shutdown is answered 503, not reset', async (t) => {
  const waiting = deferred();
  const srv = await startServer((s) =>
    s.get('/wait', async (r) => {
      r.response.write('partial, never sent');
      waiting.resolve();
      await sleep(10_000, undefined, { signal: r.signal });
    }),
  );
  t.after(() => srv.close());
  const reply = send(`${srv.url}/wait`);
  await waiting.promise;
  await srv.server.shutdown({ timeout: 2000 });
  const res = await reply;
  assert.equal(res.status, 503);
  assert.equal(res.text, 'Service Unavailable');
  assert.equal(res.headers.connection, 'close');
});

test('run() resolves when shutdown() is called directly, and lets go of its signal handlers', async (t) => {
  const srv = await startServer(() => {});
  t.after(() => srv.close());
  const before = process.listenerCount('SIGTERM');
  const beforeInt = process.listenerCount('SIGINT');
  const running = srv.server.run({ timeout: 200 });
  await waitFor(() => process.listenerCount('SIGTERM') === before + 1, 'run() to listen for SIGTERM');
  let resolved = false;
  void running.then(() => {
    resolved = true;
  });
  await srv.server.shutdown({ timeout: 200 });
  await waitFor(() => resolved, 'run() to resolve', 2000);
  assert.equal(process.listenerCount('SIGTERM'), before);
  assert.equal(process.listenerCount('SIGINT'), beforeInt);
});

test('a port already in use rejects start() and leaves the server startable', async (t) => {
  const taken = await startServer(() => {});
  t.after(() => taken.close());
  const srv = await startServer((s) => s.get('/x', (r) => r.response.write('bound')));
  t.after(() => srv.close());
  await srv.server.shutdown({ timeout: 100 });
  srv.server.setPort(0, taken.port);
  await assert.rejects(srv.server.start(), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
  assert.equal(srv.server.getListenedPort(), -1);
  srv.server.setPort(0);
  await srv.server.start();
  assert.equal((await send(`http://127.0.0.1:${srv.server.getListenedPort()}/x`)).text, 'bound');
});
