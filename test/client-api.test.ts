import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  Backoff,
  connect,
  type FetchFunction,
  InvalidArgumentError,
  ReadyState,
} from '../src/client/index.ts';
import type { Request, Server } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';

// The client's surface in Node: listeners, readyState, the server's retry, argument checks, and what is
// left behind after close() or break: no timer, no socket, no fetch still waiting.

async function withServer(setup: (s: Server) => void, fn: (ts: TestServer) => Promise<void>): Promise<void> {
  const ts = await startServer(setup);
  try {
    await fn(ts);
  } finally {
    await ts.close();
  }
}

async function until(what: string | (() => string), ok: () => boolean, ms = 2000): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end)
      assert.fail(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(5);
  }
}

describe('listeners and state', () => {
  test('on(), onopen and readyState follow the stream; a throwing listener does not stop it', async () => {
    await withServer(
      (s) =>
        s.get('/ticks', async (r) => {
          const es = r.response.sse();
          for (let i = 1; i <= 3; i++) await es.send({ event: 'tick', id: i, data: { price: i * 10 } });
          await es.send({ data: 'plain' });
          await es.closed;
        }),
      async (ts) => {
        const client = connect<{ tick: { price: number }; message: unknown }>(`${ts.url}/ticks`);
        assert.equal(client.readyState, ReadyState.CONNECTING);
        const prices: number[] = [];
        const messages: string[] = [];
        const states: number[] = [];
        client.onopen = (info) => states.push(info.status, client.readyState);
        client.on('tick', () => {
          throw new Error('a buggy listener');
        });
        const stop = client.on('tick', (ev) => {
          prices.push(ev.json().price);
          if (prices.length === 2) stop();
        });
        client.on('message', (ev) => messages.push(`${ev.data}@${ev.lastEventId}`));
        const reported: unknown[] = [];
        const consoleError = console.error;
        console.error = (err: unknown) => reported.push(err);
        try {
          await until('the plain event', () => messages.length === 1);
        } finally {
          console.error = consoleError;
        }
        assert.deepEqual(prices, [10, 20], 'the listener removed by its stop function got no third tick');
        assert.deepEqual(messages, ['plain@3']);
        assert.deepEqual(states, [200, ReadyState.OPEN]);
        assert.equal(reported.length, 3, 'each throw was reported');
        assert.equal(client.lastEventId, '3');
        client.close();
        assert.equal(client.readyState, ReadyState.CLOSED);
      },
    );
  });

  test("the server's retry: replaces the initial delay", async () => {
    const at: number[] = [];
    await withServer(
      (s) =>
        s.get('/slow-retry', async (r) => {
          at.push(performance.now());
          const es = r.response.sse({ retry: 300 });
          await es.send({ data: 'x' });
          es.close();
        }),
      async (ts) => {
        const client = connect(`${ts.url}/slow-retry`, { backoff: { initialDelay: 5, jitter: 0 } });
        let n = 0;
        for await (const _ of client) if (++n === 2) break;
        const waited = (at[1] ?? 0) - (at[0] ?? 0);
        assert.ok(waited >= 290, `reconnected after ${waited} ms`);
      },
    );
  });

  test('aborting the signal option closes the client', async () => {
    await withServer(
      (s) =>
        s.get('/open', async (r) => {
          const es = r.response.sse();
          await es.send({ data: 'hello' });
          await es.closed;
        }),
      async (ts) => {
        const ac = new AbortController();
        const client = connect(`${ts.url}/open`, { signal: ac.signal });
        const got: string[] = [];
        for await (const ev of client) {
          got.push(ev.data);
          ac.abort();
        }
        assert.deepEqual(got, ['hello']);
        assert.equal(client.readyState, ReadyState.CLOSED);
      },
    );
  });
});

describe('requests', () => {
  test('url, headers and body functions are called again for every attempt; one that throws is a setup failure', async () => {
    const seen: string[] = [];
    await withServer(
      (s) =>
        s.post('/{n}', async (r) => {
          seen.push(`${r.path} ${JSON.stringify(r.getBody())} ${r.headers['x-attempt']}`);
          const es = r.response.sse();
          await es.send({ id: r.params.n ?? '', data: 'x' });
          es.close();
        }),
      async (ts) => {
        let n = 0;
        const client = connect(() => `${ts.url}/${++n}`, {
          method: 'POST',
          repeat: true,
          headers: async () => ({ 'content-type': 'application/json', 'x-attempt': String(n) }),
          body: () => {
            if (n === 3) throw new Error('no token');
            return JSON.stringify({ n });
          },
          backoff: { initialDelay: 5 },
        });
        const errors: string[] = [];
        client.onerror = (e) => errors.push(`${e.kind}${e.retryIn === undefined ? ' (gave up)' : ''}`);
        await assert.rejects(
          async () => {
            for await (const _ of client);
          },
          (err: Error & { kind?: string }) => err.kind === 'setup' && /no token/.test(err.message),
        );
        assert.deepEqual(seen, ['/1 {"n":1} 1', '/2 {"n":2} 2']);
        assert.deepEqual(errors, ['ended', 'ended', 'setup (gave up)']);
      },
    );
  });

  test('a slow for-await loop pushes back on the server instead of queueing the stream in memory', async () => {
    const total = 1000;
    let sent = 0;
    await withServer(
      (s) =>
        s.get('/flood', async (r) => {
          const es = r.response.sse();
          const pad = 'x'.repeat(20_000);
          for (let i = 1; i <= total && !es.signal.aborted; i++) {
            await es.send({ data: `${i} ${pad}` });
            sent = i;
          }
          await es.closed;
        }),
      async (ts) => {
        const got: number[] = [];
        for await (const ev of connect(`${ts.url}/flood`)) {
          got.push(Number.parseInt(ev.data, 10));
          if (got.length === 1) {
            // The app is busy with the first event while 20 MB wait on the server's side. Once the socket's
            // buffers and the loop's queue are full, the server's send() must stop resolving.
            await sleep(600);
            const filled = sent;
            await sleep(400);
            assert.equal(sent, filled, `the server went on from ${filled} to ${sent} events`);
            assert.ok(sent < total, 'a stalled loop took the whole stream');
          }
          if (got.length === total) break;
        }
        assert.deepEqual(
          got,
          Array.from({ length: total }, (_, i) => i + 1),
        );
      },
    );
  });
});

describe('bad arguments', () => {
  const cases: [string, () => unknown][] = [
    ['url', () => connect(42 as unknown as string)],
    ['method', () => connect('http://x/', { method: 'GE T' })],
    ['readTimeout', () => connect('http://x/', { readTimeout: -1 })],
    ['lastEventId', () => connect('http://x/', { lastEventId: 'a\nb' })],
    ['backoff.jitter', () => connect('http://x/', { backoff: { jitter: 2 } })],
    ['backoff.initialDelay', () => connect('http://x/', { backoff: { initialDelay: Number.NaN } })],
    ['fetch', () => connect('http://x/', { fetch: 'no' as unknown as FetchFunction })],
    ['fn', () => connect('http://x/', { signal: AbortSignal.abort() }).on('message', 1 as never)],
  ];
  for (const [argument, fn] of cases) {
    test(`${argument}: throws InvalidArgumentError naming it`, () => {
      assert.throws(fn, (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.equal(err.argument, argument);
        assert.equal(err.code, 'SLUICE_INVALID_ARGUMENT');
        return true;
      });
    });
  }
});

test('backoff doubles up to the cap, jitters down, honours a larger server retry and resets after a healthy connection', () => {
  const top = new Backoff({ initialDelay: 100, maxDelay: 1000, jitter: 0.5 }, () => 0);
  assert.deepEqual(
    Array.from({ length: 6 }, () => top.next(undefined)),
    [100, 200, 400, 800, 1000, 1000],
  );
  const bottom = new Backoff({ initialDelay: 100, maxDelay: 1000, jitter: 0.5 }, () => 1);
  assert.deepEqual([bottom.next(undefined), bottom.next(undefined)], [50, 100]);
  const server = new Backoff({ initialDelay: 100, maxDelay: 1000, jitter: 0 }, () => 0);
  assert.deepEqual([server.next(3000), server.next(3000)], [3000, 3000]);
  const healthy = new Backoff({ initialDelay: 100, resetAfter: 500, jitter: 0 });
  healthy.next(undefined);
  healthy.next(undefined);
  healthy.connected(1000, 1400);
  assert.equal(healthy.next(undefined), 400, 'a short connection does not reset');
  healthy.connected(1000, 1500);
  assert.equal(healthy.next(undefined), 100);
});

describe('nothing is left behind', () => {
  /** Timers that keep the process alive. */
  const handles = () => ({ Timeout: process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length });

  /** A fetch that remembers every request's signal and whether its promise settled. */
  function countingFetch() {
    const calls: { signal: AbortSignal; settled: boolean }[] = [];
    const fetcher: FetchFunction = (input, init) => {
      const call = { signal: init.signal as AbortSignal, settled: false };
      calls.push(call);
      return fetch(input, init).finally(() => {
        call.settled = true;
      });
    };
    return { calls, fetcher };
  }

  const scenarios: [string, (url: string, fetcher: FetchFunction) => Promise<void>][] = [
    [
      'close() while the stream is open',
      async (url, fetcher) => {
        const client = connect(`${url}/hold`, { fetch: fetcher, readTimeout: 5000 });
        await new Promise<void>((resolve) => client.on('message', () => resolve()));
        client.close();
      },
    ],
    [
      'break out of for await',
      async (url, fetcher) => {
        for await (const _ of connect(`${url}/hold`, { fetch: fetcher, readTimeout: 5000 })) break;
      },
    ],
    [
      'close() while waiting to reconnect',
      async (url, fetcher) => {
        const client = connect(`${url}/end`, { fetch: fetcher, backoff: { initialDelay: 60_000 } });
        await new Promise<void>((resolve) => {
          client.onerror = () => resolve();
        });
        assert.equal(client.readyState, ReadyState.CONNECTING);
        client.close();
      },
    ],
    [
      'close() while the request waits for its response headers',
      async (url, fetcher) => {
        const client = connect(`${url}/late`, { fetch: fetcher, readTimeout: 5000 });
        await sleep(50);
        client.close();
      },
    ],
  ];

  for (const [name, run] of scenarios) {
    test(`after ${name}: no timer, no socket, no pending fetch`, async () => {
      // The client's sockets, seen from the server: each must get the client's FIN (or close). The
      // server's own half of a connection may linger after that; it is not the client's to close.
      const sockets = new Map<Socket, boolean>();
      const watch = (r: Request) => {
        const socket = r.raw.socket;
        if (sockets.has(socket)) return;
        sockets.set(socket, false);
        const left = () => sockets.set(socket, true);
        socket.once('end', left).once('close', left);
      };
      await withServer(
        (s) => {
          s.get('/hold', async (r) => {
            watch(r);
            const es = r.response.sse({ heartbeat: 0 });
            await es.send({ data: 'one' });
            await es.closed;
          });
          s.get('/end', async (r) => {
            // Ended by the server: fetch may keep this idle connection in its pool (unref'd), as for any
            // completed response, so it is not watched.
            const es = r.response.sse({ heartbeat: 0 });
            es.close();
          });
          s.get('/late', async (r) => {
            watch(r);
            // Headers are never sent: the client is still waiting for the fetch to resolve.
            await new Promise<void>((resolve) => r.signal.addEventListener('abort', () => resolve()));
          });
        },
        async (ts) => {
          const before = handles();
          const { calls, fetcher } = countingFetch();
          await run(ts.url, fetcher);
          await until('every fetch to settle', () => calls.every((c) => c.settled));
          await until('the server to see every client socket closed', () =>
            [...sockets.values()].every(Boolean),
          );
          let now = handles();
          await until(
            () => `timers to return to ${before.Timeout}, still ${now.Timeout}`,
            () => {
              now = handles();
              return now.Timeout <= before.Timeout;
            },
          );
          assert.ok(calls.length >= 1);
          assert.ok(
            calls.every((c) => c.signal.aborted),
            'every request was aborted',
          );
        },
      );
    });
  }
});

test('src/client imports nothing from Node and nothing outside its folder', async () => {
  const dir = fileURLToPath(new URL('../src/client/', import.meta.url));
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 5, files.join());
  for (const file of files) {
    const source = await readFile(join(dir, file), 'utf8');
    // Import and export statements start a line; JSDoc examples (` * import ...`) do not.
    const specifiers = [...source.matchAll(/^(?:import|export)\b[^;]*?from\s*['"]([^'"]+)['"]/gm)].map(
      (m) => m[1] ?? '',
    );
    assert.doesNotMatch(source, /\bimport\s*\(/, `${file} has a dynamic import`);
    for (const spec of specifiers) {
      assert.ok(spec.startsWith('./'), `${file} imports ${spec}: the client must stay self-contained`);
    }
    // Comments may name Node APIs (to say why they are not used); the code may not.
    const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    assert.doesNotMatch(code, /\bnode:|\brequire\(|\bBuffer\b|\bprocess\./, `${file} uses a Node API`);
  }
});

test('the package exports sluice/client, resolved by plain Node to the build of src/client/index.ts', async () => {
  // A child without tsx: here, tsconfig paths would map the name to the source instead.
  const root = fileURLToPath(new URL('..', import.meta.url));
  const resolved = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', "process.stdout.write(import.meta.resolve('sluice/client'))"],
      { cwd: root },
      (err, stdout) => (err === null ? resolve(stdout) : reject(err)),
    );
  });
  assert.equal(resolved, pathToFileURL(join(root, 'dist', 'client', 'index.js')).href);
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  assert.equal(pkg.exports['./client'].types, './dist/client/index.d.ts');
});
