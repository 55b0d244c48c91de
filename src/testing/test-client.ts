import { type ConnectOptions, connect, type EventMap, type SseClient } from '../client/index.ts';
import { InvalidArgumentError } from '../errors.ts';
import { createServer, type Server } from '../server/server.ts';
import type { Logger } from '../server/server-logger.ts';

/**
 * What {@link testClient} tests: a {@link Server} with its routes bound, or a function that binds
 * routes on the fresh server it is given — or builds and returns its own (an app's
 * `buildApp()`), which is then used instead.
 *
 * @example
 * ```ts
 * const viaServer: TestApp = buildApp();
 * const viaSetup: TestApp = (s) => s.get('/health', () => 'ok');
 * ```
 */
export type TestApp = Server | ((s: Server) => unknown);

/**
 * Options of {@link testClient}.
 *
 * @example
 * ```ts
 * const t = await testClient(buildApp, { logger: silentLogger });
 * ```
 */
export interface TestClientOptions {
  /** A logger for the app under test (say `silentLogger`, or one that records); default: the app's own. */
  logger?: Logger;
}

/**
 * An app listening on an ephemeral port of 127.0.0.1, with real clients bound to it. Made by
 * {@link testClient}.
 *
 * @example
 * ```ts
 * const t = await testClient(buildApp);
 * try {
 *   assert.equal((await t.fetch('/health')).status, 200);
 * } finally {
 *   await t.close();
 * }
 * ```
 */
export interface TestClient {
  /** The server under test. */
  readonly server: Server;
  /** `http://127.0.0.1:<port>`, for clients of your own (a browser, `curl`, `EventSource`). */
  readonly url: string;
  /** The bound port. */
  readonly port: number;
  /** The global `fetch` against the app: `path` is resolved against {@link url}. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /**
   * An SSE stream of the app, as sluice's own client (`sluice/client`) reads it: iterate it with
   * `for await`, and `break` to disconnect. Unlike a browser it does not reconnect unless
   * `options.repeat` is true, so the loop ends when the server ends the stream.
   */
  sse<M extends EventMap = EventMap>(path: string, options?: ConnectOptions): SseClient<M>;
  /** Closes open SSE clients, then shuts the server down (open streams end, as on SIGTERM). */
  close(timeout?: number): Promise<void>;
}

/**
 * Starts an app on a real ephemeral port for a test and gives it real clients: `fetch` and an
 * SSE iterator over a socket, no mocks in between, so what passes here passes for a browser.
 * A `Server` passed in is started on 127.0.0.1 port 0 (its configured port is replaced);
 * `close()` stops it.
 *
 * @example
 * ```ts
 * import { testClient } from 'sluice/testing';
 *
 * test('the ticker sends prices', async () => {
 *   const t = await testClient((s) => s.get('/prices', async (r) => {
 *     const es = r.response.sse();
 *     await es.send({ event: 'tick', data: { price: 1 } });
 *     es.close();
 *   }));
 *   for await (const ev of t.sse<{ tick: { price: number } }>('/prices')) {
 *     assert.equal(ev.type === 'tick' && ev.json().price, 1);
 *     break;
 *   }
 *   await t.close();
 * });
 * ```
 */
export async function testClient(app: TestApp, options?: TestClientOptions): Promise<TestClient> {
  const s = await serverOf(app);
  if (options?.logger !== undefined) s.setLogger(options.logger);
  if (s.getListenedPort() !== -1) {
    throw new InvalidArgumentError(
      'app',
      'must not be started yet: testClient() starts it on port 0',
      s.name,
    );
  }
  s.setAddress('127.0.0.1').setPort(0);
  await s.start();
  const port = s.getListenedPort();
  const url = `http://127.0.0.1:${port}`;
  const clients = new Set<SseClient<EventMap>>();
  return {
    server: s,
    url,
    port,
    fetch: (path, init) => fetch(new URL(path, url), init),
    sse<M extends EventMap = EventMap>(path: string, sseOptions?: ConnectOptions): SseClient<M> {
      const client = connect<M>(new URL(path, url), { repeat: false, ...sseOptions });
      clients.add(client as unknown as SseClient<EventMap>);
      return client;
    },
    async close(timeout = 1000) {
      for (const client of clients) client.close();
      clients.clear();
      await s.shutdown({ timeout });
    },
  };
}

async function serverOf(app: TestApp): Promise<Server> {
  if (typeof app !== 'function') {
    if (isServer(app)) return app;
    throw new InvalidArgumentError('app', 'must be a Server or a function that binds routes', app);
  }
  const fresh = createServer('test');
  // An app factory (`buildApp`) builds its own server and returns it: that one is the app.
  const built = await app(fresh);
  return isServer(built) ? built : fresh;
}

function isServer(value: unknown): value is Server {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Server).start === 'function' &&
    typeof (value as Server).shutdown === 'function' &&
    typeof (value as Server).getListenedPort === 'function'
  );
}
