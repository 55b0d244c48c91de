import { createServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { InvalidArgumentError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import { enableTracking } from '../request/request-context.ts';
import type { Handler } from '../request/request-middleware.ts';
import { assertMiddleware, RouteGroup, Router } from '../router/router.ts';
import { handleRequest, notFound, refuseBody } from './server-handle.ts';
import type { Logger } from './server-logger.ts';

const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;
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
 * with {@link server}.
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
  /** @internal */ logger: Logger = console;
  /** @internal */ bodyLimit = DEFAULT_BODY_LIMIT;
  /** @internal */ stopping = false;
  /** @internal */ tracksCurrentRequest = false;
  /** @internal */ notFoundChain: readonly Handler[];
  /** @internal */ bodyErrorChain: readonly Handler[];
  private ports: number[] = [0];
  private address: string | undefined = undefined;
  private httpsOptions: HttpsOptions | undefined = undefined;
  private listeners: HttpServer[] = [];
  /** Callers of run() waiting for the server to stop, however it is stopped. */
  private stopWaiters: (() => void)[] = [];

  constructor(name: string) {
    super(new Router(), '', []);
    this.name = name;
    this.notFoundChain = [notFound];
    this.bodyErrorChain = [refuseBody];
  }

  /**
   * Adds middleware that runs for every request, matched or not (so CORS and
   * access logs also see 404s, 405s and refused bodies), before any group
   * middleware.
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
    this.bodyErrorChain = this.router.fallbackChain(refuseBody);
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

  /** The largest request body parsed, in bytes (default 8 MiB); a larger one gets 413. */
  setBodyLimit(bytes: number): this {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new InvalidArgumentError('bytes', 'must be a non-negative integer', bytes);
    }
    this.bodyLimit = bytes;
    return this;
  }

  /** Where errors and access lines go (default `console`). */
  setLogger(logger: Logger): this {
    if (
      typeof logger?.error !== 'function' ||
      typeof logger.warn !== 'function' ||
      typeof logger.info !== 'function'
    ) {
      throw new InvalidArgumentError('logger', 'must have error, warn and info methods', logger);
    }
    this.logger = logger;
    return this;
  }

  /** The logger in use, for middleware that logs through the server's choice. */
  getLogger(): Logger {
    return this.logger;
  }

  /** Starts listening on every configured port; resolves once all are bound. */
  async start(): Promise<void> {
    if (this.listeners.length > 0) throw new InvalidArgumentError('start', 'the server is already started');
    this.stopping = false;
    const onRequest = handleRequest.bind(null, this);
    this.listeners = this.ports.map(() => {
      const s = this.httpsOptions ? createHttpsServer(this.httpsOptions, onRequest) : createServer(onRequest);
      // No write timeout: a stream may legitimately last hours. Node's headersTimeout and
      // requestTimeout stay on, which is what protects against slow-header attacks.
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
    for (const port of this.getListenedPorts())
      this.logger.info(`sluice: "${this.name}" listening on ${scheme}://${addr}:${port}`);
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
    this.listeners = [];
    const closed = listeners.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of listeners) s.closeIdleConnections();
    for (const r of this.inFlight) r.abort('shutdown');
    await this.drain(timeout);
    for (const s of listeners) s.closeAllConnections();
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
 * any module can reach the same server without passing it around.
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
    servers.set(name, s);
  }
  return s;
}
