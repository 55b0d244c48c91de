import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { InvalidArgumentError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import {
  DEFAULT_UPLOADS,
  type ResolvedUploads,
  serverUploads,
  type UploadOptions,
} from '../request/request-body-options.ts';
import { enableTracking } from '../request/request-context.ts';
import type { Handler } from '../request/request-middleware.ts';
import {
  compileTrust,
  type ProxyTrust,
  type TrustProxy,
  type TrustProxyOptions,
} from '../request/request-proxy.ts';
import { assertMiddleware, RouteGroup, Router } from '../router/router.ts';
import { handleRequest, notFound } from './server-handle.ts';
import {
  createHttp2Listener,
  destroyAll,
  goAway,
  type Http2Listener,
  type Http2Options,
  type Http2RequestListener,
  type ResolvedHttp2,
  resolveHttp2,
} from './server-http2.ts';
import { guardLogger, type Logger } from './server-logger.ts';
import { bindOpenApiPath, bindSwaggerPath, type OpenApiPathOptions } from './server-openapi.ts';
import {
  DEFAULT_MAX_HEADER_SIZE,
  DEFAULT_TIMEOUTS,
  headerSize,
  listenerOptions,
  mergeTimeouts,
  type ResolvedTimeouts,
  type ServerTimeouts,
} from './server-timeouts.ts';

const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;
// The common limit for forms (PHP's max_input_vars, the qs package), but refused past it, not cut.
const DEFAULT_BODY_FIELD_LIMIT = 1000;
// A hundred files is far more than a form uploads, whether they are held in memory or on disk.
const DEFAULT_BODY_FILE_LIMIT = 100;
const DEFAULT_SHUTDOWN_TIMEOUT = 10_000;

/**
 * Options of {@link Server.shutdown} and {@link Server.run}.
 *
 * @example
 * ```ts
 * await s.run({ timeout: 30_000 }); // give streams 30 s to finish after SIGTERM
 * ```
 */
export interface ShutdownOptions {
  /** Milliseconds to wait for in-flight requests and streams before their connections are destroyed. Default 10000. */
  timeout?: number;
}

/**
 * An HTTP server, as GoFrame's `ghttp.Server`: routes and groups (it is the
 * root group), global middleware, ports, and a graceful life cycle. Get one
 * with {@link server} (a named singleton) or {@link createServer} (a fresh one).
 *
 * @example
 * ```ts
 * const s = server();
 * s.use(accessLog());
 * s.bindHandler('/', (r) => r.response.write('hello'));
 * s.setPort(8999);
 * await s.run(); // until SIGINT/SIGTERM
 * ```
 */
export class Server extends RouteGroup {
  /** The name this server was created under (`server(name)`). */
  readonly name: string;
  /** @internal Requests that asked to hear of a client leaving or a shutdown (`r.signal`, SSE). */
  readonly inFlight = new Set<Request>();
  /** @internal Requests whose handler chain has not finished yet. */
  active = 0;
  /** @internal Always guarded (see `guardLogger`): the core logs where a throw would crash. */
  logger: Logger = guardLogger(console);
  /** @internal */ bodyLimit = DEFAULT_BODY_LIMIT;
  /** @internal */ bodyFieldLimit = DEFAULT_BODY_FIELD_LIMIT;
  /** @internal */ bodyFileLimit = DEFAULT_BODY_FILE_LIMIT;
  /** @internal */ uploads: ResolvedUploads = DEFAULT_UPLOADS;
  /** @internal */ stopping = false;
  /** @internal */ tracksCurrentRequest = false;
  /** @internal */ notFoundChain: readonly Handler[];
  /** @internal Who may speak for the client in X-Forwarded-* / Forwarded; nobody by default. */
  proxyTrust: ProxyTrust | undefined = undefined;
  /** @internal Signing secrets for cookies, the first signs, all verify. */
  cookieSecrets: readonly Buffer[] = [];
  private timeouts: ResolvedTimeouts = DEFAULT_TIMEOUTS;
  private maxHeaderSize = DEFAULT_MAX_HEADER_SIZE;
  private ports: number[] = [0];
  private address: string | undefined = undefined;
  private httpsOptions: HttpsOptions | undefined = undefined;
  private http2: ResolvedHttp2 | undefined = undefined;
  private listeners: HttpServer[] = [];
  /** The HTTP/2 listeners, apart: their connections are sessions, closed with GOAWAY. */
  private http2Listeners: Http2Listener[] = [];
  /** Callers of run() waiting for the server to stop, however it is stopped. */
  private stopWaiters: (() => void)[] = [];

  constructor(name: string) {
    super(new Router(notFound), '', []);
    this.name = name;
    this.notFoundChain = [notFound];
  }

  /**
   * Adds middleware that runs for every request, matched or not (so CORS and
   * access logs also see 404s, 405s and refused bodies), before any group
   * middleware, and before the body is read: `r.getBody()` is still
   * `undefined` here unless the middleware calls `await r.parseBody()`.
   *
   * @example
   * ```ts
   * s.use(accessLog(), async (r) => {
   *   r.response.header.set('X-Request-Id', crypto.randomUUID());
   *   await r.middleware.next();
   * });
   * ```
   */
  use(...middleware: Handler[]): this {
    assertMiddleware(middleware);
    this.router.addGlobalMiddleware(middleware);
    this.notFoundChain = this.router.fallbackChain(notFound);
    return this;
  }

  /**
   * Makes {@link currentRequest} work in this server's requests. Off by
   * default: on Node 20 the AsyncLocalStorage behind it slows every promise,
   * and `r.ctx` with `requestFromCtx` already reaches the request for code
   * that is handed a context.
   *
   * @example
   * ```ts
   * s.enableCurrentRequest();
   * s.get('/', () => handlerDeepDown()); // handlerDeepDown() calls currentRequest()
   * ```
   */
  enableCurrentRequest(): this {
    this.tracksCurrentRequest = true;
    enableTracking();
    return this;
  }

  /** The ports to listen on; 0 picks a free one (see {@link getListenedPort}). */
  setPort(...ports: number[]): this {
    if (ports.length === 0) throw new InvalidArgumentError('ports', 'must name at least one port');
    for (const p of ports) {
      if (!Number.isInteger(p) || p < 0 || p > 65535) {
        throw new InvalidArgumentError('port', 'must be an integer from 0 to 65535', p);
      }
    }
    this.ports = ports;
    return this;
  }

  /** The address to bind, such as `127.0.0.1`; by default every interface. */
  setAddress(host: string): this {
    if (typeof host !== 'string' || host.length === 0) {
      throw new InvalidArgumentError('host', 'must be a non-empty host name or IP address', host);
    }
    this.address = host;
    return this;
  }

  /** Serves HTTPS with these TLS options (`key`, `cert`, ...) instead of plain HTTP. */
  setHttps(options: HttpsOptions): this {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'must be TLS options such as { key, cert }', options);
    }
    this.httpsOptions = options;
    return this;
  }

  /**
   * Serves HTTP/2 (`true`, or settings; `false` turns it off again). With {@link setHttps}: HTTP/2
   * over TLS, HTTP/1.1 still accepted on the same port (ALPN picks per connection), so old clients
   * and `curl --http1.1` keep working. Without TLS: cleartext h2c with prior knowledge, for use
   * behind a proxy that speaks HTTP/2 to its upstream; Node's h2c server does not accept HTTP/1.1
   * there. Every feature works alike on both protocols; connection-specific headers
   * (`Connection`, `Keep-Alive`, `Transfer-Encoding`, `Upgrade`, `Proxy-Connection`) are
   * never sent on HTTP/2, whoever sets them. A connection left with no open stream is closed
   * after the keep-alive timeout (see {@link setTimeouts}), as an idle HTTP/1.1 one is; the
   * head and request timeouts apply to HTTP/1.1 only. Applies to listeners started afterwards.
   *
   * @example
   * ```ts
   * s.setHttps({ key: readFileSync('key.pem'), cert: readFileSync('cert.pem') }).setHttp2(true);
   * s.setHttp2({ maxConcurrentStreams: 2000 }); // h2c behind a proxy when no setHttps()
   * ```
   */
  setHttp2(options: boolean | Http2Options): this {
    this.http2 = resolveHttp2(options);
    return this;
  }

  /**
   * The largest request body parsed, in bytes (default 8 MiB); a larger one gets 413. Every
   * byte that arrives counts, a multipart body's boundaries and part headers too.
   *
   * @example
   * ```ts
   * s.setBodyLimit(64 * 1024); // JSON APIs rarely need more
   * ```
   */
  setBodyLimit(bytes: number): this {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new InvalidArgumentError('bytes', 'must be a non-negative integer', bytes);
    }
    this.bodyLimit = bytes;
    return this;
  }

  /**
   * The most fields a urlencoded or multipart body may have, each repeat of a name counted
   * (default 1000). A body with more gets 413: none is ever dropped silently.
   *
   * @example
   * ```ts
   * s.setBodyFieldLimit(5000); // a spreadsheet-like form
   * ```
   */
  setBodyFieldLimit(count: number): this {
    this.bodyFieldLimit = countLimit(count);
    return this;
  }

  /**
   * The most files a multipart body may have (default 100); a body with more gets 413. Files are
   * held in memory, within the body limit, unless {@link setUploads} sends them to disk.
   *
   * @example
   * ```ts
   * s.setBodyFileLimit(1); // an avatar upload, nothing else
   * ```
   */
  setBodyFileLimit(count: number): this {
    this.bodyFileLimit = countLimit(count);
    return this;
  }

  /**
   * How multipart files are received by every route that does not say otherwise (a route's or
   * group's `uploads` option wins, key by key). With `storage: 'disk'` each file is streamed,
   * with backpressure, to its own temp file in `dir` (default `os.tmpdir()`), named at random,
   * created exclusively with mode 0o600, and deleted when the request ends; `maxFileSize` makes
   * a larger file a 413 that names it. Files still count toward the body limit: raise it on the
   * upload routes. The keys not given keep their value.
   *
   * @example
   * ```ts
   * s.setUploads({ storage: 'disk', maxFileSize: 20 * 2 ** 20 });
   * s.post('/video', saveVideo, { bodyLimit: 2 ** 30, uploads: { maxFileSize: 2 ** 30 } });
   * ```
   */
  setUploads(options: UploadOptions): this {
    this.uploads = serverUploads(this.uploads, options);
    return this;
  }

  /**
   * Where errors and access lines go (default `console`). A logger that throws is never fatal:
   * its failure is reported on stderr and the request goes on.
   */
  setLogger(logger: Logger): this {
    if (
      typeof logger?.error !== 'function' ||
      typeof logger.warn !== 'function' ||
      typeof logger.info !== 'function'
    ) {
      throw new InvalidArgumentError('logger', 'must have error, warn and info methods', logger);
    }
    this.logger = guardLogger(logger);
    return this;
  }

  /** The logger in use, for middleware that logs through the server's choice. */
  getLogger(): Logger {
    return this.logger;
  }

  /**
   * Which proxies in front of the server to believe about the client: `r.ip`, `r.protocol` and
   * `r.host` read `X-Forwarded-For`/`-Proto`/`-Host` (or RFC 7239 `Forwarded`, see
   * {@link TrustProxyOptions}) only as far as the hops are trusted. Trusts nobody by default:
   * without a proxy in front, those headers are whatever the client chose to send.
   *
   * @example
   * ```ts
   * s.setTrustProxy('loopback');          // nginx on this machine
   * s.setTrustProxy(1);                   // one load balancer, whatever its address
   * s.setTrustProxy(['10.0.0.0/8', '172.16.0.0/12']);
   * ```
   */
  setTrustProxy(trust: TrustProxy, options?: TrustProxyOptions): this {
    this.proxyTrust = compileTrust(trust, options);
    return this;
  }

  /**
   * The secret that signs cookies set with `{ signed: true }` (HMAC-SHA256), at least 32 bytes.
   * Given a list, the first signs and every one verifies: put a new secret first and keep the
   * old one until the cookies it signed have expired.
   *
   * @example
   * ```ts
   * s.setCookieSecret([process.env.COOKIE_SECRET!, process.env.OLD_COOKIE_SECRET!]);
   * ```
   */
  setCookieSecret(secret: string | Buffer | readonly (string | Buffer)[]): this {
    const list = Array.isArray(secret) ? secret : [secret];
    if (list.length === 0) throw new InvalidArgumentError('secret', 'must hold at least one secret');
    this.cookieSecrets = list.map((s: unknown) => {
      const bytes = typeof s === 'string' ? Buffer.from(s) : Buffer.isBuffer(s) ? Buffer.from(s) : undefined;
      if (bytes === undefined || bytes.length < 32) {
        throw new InvalidArgumentError(
          'secret',
          'must be a string or Buffer of at least 32 bytes, such as crypto.randomBytes(32).toString("hex")',
          typeof s === 'string' ? `${s.length} characters` : s,
        );
      }
      return bytes;
    });
    return this;
  }

  /**
   * Timeouts for what clients send (see {@link ServerTimeouts}); the ones not given keep their
   * value. None cuts a streaming response. Applies to listeners started afterwards.
   *
   * @example
   * ```ts
   * s.setTimeouts({ headers: 10_000, keepAlive: 65_000 });
   * ```
   */
  setTimeouts(timeouts: ServerTimeouts): this {
    this.timeouts = mergeTimeouts(this.timeouts, timeouts);
    return this;
  }

  /**
   * The largest request head (request line and headers) accepted, in bytes; a larger one gets
   * 431. Default 16 KiB, Node's. Raise it for big cookies or tokens; lower it to shed load.
   *
   * @example
   * ```ts
   * s.setMaxHeaderSize(32 * 1024);
   * ```
   */
  setMaxHeaderSize(bytes: number): this {
    this.maxHeaderSize = headerSize(bytes);
    return this;
  }

  /**
   * Serves the OpenAPI document of every route at `path`, as GoFrame's `s.SetOpenApiPath`: 3.1 by
   * default, 3.2 with `{ version: '3.2' }` (event streams with `itemSchema`). Routes made with
   * `defineRoute` (`sluice/schema`) carry their schemas and events; others are listed by path.
   * `sluice/openapi` is loaded on the first request, not before: the core does not import it.
   *
   * @example
   * ```ts
   * s.setOpenApiPath('/api.json', { version: '3.2', info: { title: 'Shop', version: '1.0.0' } });
   * s.setSwaggerPath('/swagger');
   * ```
   */
  setOpenApiPath(path: string, options?: OpenApiPathOptions): this {
    bindOpenApiPath(this, path, options);
    return this;
  }

  /**
   * Serves a docs page that renders the document of {@link Server.setOpenApiPath} at `path`, as
   * GoFrame's `s.SetSwaggerPath`: sluice's own page, self-contained (no CDN), listing every
   * operation and each streaming route's events.
   *
   * @example
   * ```ts
   * s.setOpenApiPath('/api.json').setSwaggerPath('/swagger'); // open http://127.0.0.1:8999/swagger
   * ```
   */
  setSwaggerPath(path: string): this {
    bindSwaggerPath(this, path);
    return this;
  }

  /** Starts listening on every configured port; resolves once all are bound. */
  async start(): Promise<void> {
    if (this.listeners.length > 0) throw new InvalidArgumentError('start', 'the server is already started');
    this.stopping = false;
    const onRequest = handleRequest.bind(null, this);
    const http2 = this.http2;
    if (http2 !== undefined) {
      const options = listenerOptions(this.timeouts, this.maxHeaderSize);
      const stopping = () => this.stopping;
      this.http2Listeners = this.ports.map(() =>
        createHttp2Listener(http2, this.httpsOptions, options, onRequest as Http2RequestListener, stopping),
      );
    }
    this.listeners = this.ports.map((_, i) => {
      // HTTP/2 listeners share the plain ones' life cycle (listen, close, port): a net.Server each.
      const h2 = this.http2Listeners[i];
      if (h2 !== undefined) return h2.server as unknown as HttpServer;
      const options = listenerOptions(this.timeouts, this.maxHeaderSize);
      const s = this.httpsOptions
        ? createHttpsServer({ ...options, ...this.httpsOptions }, onRequest)
        : createHttpServer(options, onRequest);
      // No write or idle timeout: a stream may legitimately last hours. The head and request
      // timeouts bound only what the client sends, which is what stops slow-header attacks.
      s.setTimeout(0);
      return s;
    });
    const bound = this.listeners.map(
      (s, i) =>
        new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.listen(this.ports[i], this.address, () => {
            s.off('error', reject);
            resolve();
          });
        }),
    );
    const results = await Promise.allSettled(bound);
    const failed = results.find((res) => res.status === 'rejected');
    if (failed !== undefined) {
      // One port failed (EADDRINUSE, say): release the others so a corrected start() can follow.
      const listeners = this.listeners;
      this.listeners = [];
      this.http2Listeners = [];
      await Promise.all(
        listeners.map((s) => (s.listening ? new Promise((resolve) => s.close(resolve)) : undefined)),
      );
      throw failed.reason;
    }
  }

  /** The port bound by the first listener (useful with port 0); -1 before start. */
  getListenedPort(): number {
    return this.getListenedPorts()[0] ?? -1;
  }

  /** Every bound port, in `setPort` order. */
  getListenedPorts(): number[] {
    return this.listeners.map((s) => {
      const addr = s.address();
      return addr !== null && typeof addr === 'object' ? (addr as AddressInfo).port : -1;
    });
  }

  /**
   * Starts (unless `start()` already did), then serves until SIGINT or
   * SIGTERM, then shuts down gracefully. Resolves when the server has
   * stopped, also when something else called {@link shutdown}.
   */
  async run(options?: ShutdownOptions): Promise<void> {
    // Checked now: a bad timeout found only when the signal comes would leave the server running.
    shutdownTimeout(options);
    if (this.listeners.length === 0) await this.start();
    const addr = this.address ?? 'localhost';
    const scheme = this.httpsOptions === undefined ? 'http' : 'https';
    const protocols =
      this.http2 === undefined ? '' : this.httpsOptions === undefined ? ' (h2c)' : ' (h2, http/1.1)';
    for (const port of this.getListenedPorts())
      this.logger.info(`sluice: "${this.name}" listening on ${scheme}://${addr}:${port}${protocols}`);
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        // Handlers go at the first signal, so a second Ctrl-C gets Node's default: exit at once.
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        this.logger.info(`sluice: ${signal}, shutting down`);
        this.shutdown(options).catch((e: unknown) => this.logger.error('sluice: shutdown failed', e));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      this.stopWaiters.push(() => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      });
    });
  }

  /**
   * Stops accepting connections, aborts `r.signal` of every in-flight request
   * (SSE streams end cleanly; a request stopped by it before sending anything
   * gets 503), waits for them up to `timeout`, then destroys whatever is
   * still open. A pending {@link run} resolves once this is done.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    const timeout = shutdownTimeout(options);
    this.stopping = true;
    const listeners = this.listeners;
    const http2 = this.http2Listeners;
    this.listeners = [];
    this.http2Listeners = [];
    const closed = listeners.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (let i = 0; i < listeners.length; i++) {
      const h2 = http2[i];
      if (h2 !== undefined) goAway(h2);
      else listeners[i]!.closeIdleConnections();
    }
    for (const r of this.inFlight) r.abort('shutdown');
    await this.drain(timeout);
    for (let i = 0; i < listeners.length; i++) {
      const h2 = http2[i];
      if (h2 !== undefined) destroyAll(h2);
      else listeners[i]!.closeAllConnections();
    }
    await Promise.all(closed);
    for (const resolve of this.stopWaiters.splice(0)) resolve();
  }

  private async drain(timeout: number): Promise<void> {
    const deadline = performance.now() + timeout;
    while (this.active > 0 && performance.now() < deadline) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(20, Math.max(1, deadline - performance.now()))),
      );
    }
  }
}

function countLimit(count: number): number {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new InvalidArgumentError('count', 'must be a non-negative integer', count);
  }
  return count;
}

function shutdownTimeout(options: ShutdownOptions | undefined): number {
  const timeout = options?.timeout ?? DEFAULT_SHUTDOWN_TIMEOUT;
  if (!Number.isFinite(timeout) || timeout < 0) {
    throw new InvalidArgumentError('timeout', 'must be a non-negative number of milliseconds', timeout);
  }
  return timeout;
}

const servers = new Map<string, Server>();

/**
 * The server of this name, created on first use, as GoFrame's `g.Server(name)`:
 * any module can reach the same server without passing it around. It is a
 * process-wide singleton: every call with the same name returns the same
 * server, routes and all, so code that builds an app more than once (a
 * `buildApp()` per test) must use {@link createServer} instead, or its second
 * build fails with "a route ... is already bound".
 *
 * @example
 * ```ts
 * const api = server();        // the default server
 * const admin = server('admin'); // another one, with its own routes and port
 * ```
 */
export function server(name = 'default'): Server {
  if (typeof name !== 'string') throw new InvalidArgumentError('name', 'must be a string', name);
  let s = servers.get(name);
  if (s === undefined) {
    s = new Server(name);
    s.router.shared = true;
    servers.set(name, s);
  }
  return s;
}

/**
 * A new server of its own, registered nowhere: each call returns a fresh one
 * with no routes, so an app factory can run once per test. `name` only labels
 * it; {@link server} never returns it.
 *
 * @example
 * ```ts
 * export function buildApp(): Server {
 *   const s = createServer();
 *   s.get('/health', () => 'ok');
 *   return s;
 * }
 * const a = buildApp(); const b = buildApp(); // two independent servers
 * ```
 */
export function createServer(name = 'default'): Server {
  if (typeof name !== 'string') throw new InvalidArgumentError('name', 'must be a string', name);
  return new Server(name);
}
