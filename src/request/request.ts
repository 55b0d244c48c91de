import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Response } from '../response/response.ts';
import type { Server } from '../server/server.ts';
import type { UploadedFile } from './request-body.ts';
import { type Context, createContext } from './request-context.ts';
import { exitSignal, type Handler, Middleware } from './request-middleware.ts';

// No prototype, so r.get('toString') on a request without params finds nothing rather than Object's method.
const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null));

/**
 * One HTTP request, as GoFrame's `*ghttp.Request`: its input (params, query,
 * body), its {@link Response}, its place in the middleware chain, and a
 * `signal` that aborts when the client goes away or the server stops.
 *
 * @example
 * ```ts
 * s.bindHandler('POST:/user/{id}', async (r) => {
 *   const id = r.get('id');          // path, then query, then body
 *   const name = r.get('name');
 *   r.response.writeJson({ id, name });
 * });
 * ```
 */
export class Request {
  /** The HTTP method, upper case. */
  readonly method: string;
  /** The request target as sent: path and query. */
  readonly url: string;
  /** The path without the query string, still percent-encoded. */
  readonly path: string;
  /** The Node request: the escape hatch, and the unread body for types sluice does not parse. */
  readonly raw: IncomingMessage;
  /** The response to this request. */
  readonly response: Response;
  /** The server handling this request. */
  readonly server: Server;
  /** Path parameters of the matched route (`/user/{id}` gives `params.id`). */
  params: Readonly<Record<string, string>> = NO_PARAMS;
  /** The cursor through the handler chain: `await r.middleware.next()`. */
  middleware: Middleware;
  /** @internal */ query: Record<string, unknown> = NO_PARAMS;
  /** @internal */ body: unknown = undefined;
  /** @internal */ files: UploadedFile[] = [];
  /** @internal Why the body was refused (a 400 or 413 HttpError), thrown inside the global middleware. */
  bodyError: unknown = undefined;
  /** @internal */ handlerResult: unknown = undefined;
  /** @internal */ exited = 0;
  /** @internal */ gone = false;
  /** @internal Whether the server tracks this request for client-gone and shutdown (see `watch`). */
  watched = false;
  private controller: AbortController | undefined = undefined;
  private context: Context | undefined = undefined;

  constructor(server: Server, raw: IncomingMessage, res: ServerResponse, chain: readonly Handler[]) {
    this.server = server;
    this.raw = raw;
    this.method = raw.method ?? 'GET';
    const url = raw.url ?? '/';
    this.url = url;
    const q = url.indexOf('?');
    this.path = q === -1 ? url : url.slice(0, q);
    this.response = new Response(this, res);
    this.middleware = new Middleware(this, chain);
  }

  /**
   * Aborts when the client goes away, or when the server shuts down, so a
   * streaming loop can stop producing. Created on first use: most requests
   * never look at it.
   */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      this.watch();
      if (this.gone) this.controller.abort(this.goneReason());
    }
    return this.controller.signal;
  }

  /**
   * @internal Starts telling this request when its client leaves or the
   * server stops: called the first time something can react (`r.signal`
   * read, an SSE stream opened). Most requests never get here, and skip a
   * close listener and a place in the server's in-flight set.
   */
  watch(): void {
    if (this.watched) return;
    this.watched = true;
    const res = this.response.raw;
    if (res.destroyed) {
      this.abort('client');
      return;
    }
    if (res.writableFinished) return;
    const server = this.server;
    server.inFlight.add(this);
    res.once('close', () => {
      server.inFlight.delete(this);
      // 'close' before the response finished means the connection went away under us.
      if (!res.writableFinished) this.abort('client');
    });
    if (server.stopping) this.abort('shutdown');
  }

  /**
   * The request headers, names in lower case. A getter: Node builds this
   * object on first use, and a request that never looks at it is cheaper.
   */
  get headers(): IncomingHttpHeaders {
    return this.raw.headers;
  }

  /** The context of this request, for code that takes a `ctx`; see {@link requestFromCtx}. */
  get ctx(): Context {
    this.context ??= createContext(this);
    return this.context;
  }

  /**
   * A parameter by name from the path, then the query, then the body, as
   * GoFrame's `r.Get`; `def` when none has it.
   */
  get(name: string, def?: unknown): unknown {
    const p = own(this.params, name);
    if (p !== undefined) return p;
    const q = own(this.query, name);
    if (q !== undefined) return q;
    const b = this.body;
    if (typeof b === 'object' && b !== null) {
      const v = own(b as Record<string, unknown>, name);
      if (v !== undefined) return v;
    }
    return def;
  }

  /** The whole parsed query, or one parameter of it (`def` when missing). */
  getQuery(): Record<string, unknown>;
  getQuery(name: string, def?: unknown): unknown;
  getQuery(name?: string, def?: unknown): unknown {
    if (name === undefined) return this.query;
    return own(this.query, name) ?? def;
  }

  /**
   * The parsed body: an object for JSON, urlencoded and multipart fields, a
   * string for `text/plain`; `undefined` when there was none or its type is
   * not one sluice parses (read `r.raw` then).
   */
  getBody<T = unknown>(): T {
    return this.body as T;
  }

  /** Files of a multipart body. */
  getFiles(): readonly UploadedFile[] {
    return this.files;
  }

  /** What the route handler returned (for envelope middleware such as {@link handlerResponse}). */
  getHandlerResponse(): unknown {
    return this.handlerResult;
  }

  /** Ends the current handler or middleware; the middleware wrapping it goes on after its `next()`. */
  exit(): never {
    this.exited |= 1;
    throw exitSignal(false);
  }

  /** Ends the whole chain: no code after any `next()` runs. What was written or flushed is kept. */
  exitAll(): never {
    this.exited |= 3;
    throw exitSignal(true);
  }

  /** Whether `exit()` or `exitAll()` was called. */
  isExited(): boolean {
    return this.exited !== 0;
  }

  /** Whether `exitAll()` was called. */
  isExitedAll(): boolean {
    return (this.exited & 2) !== 0;
  }

  /** @internal The client went away (or the server is stopping): abort `signal`. */
  abort(reason: 'client' | 'shutdown'): void {
    if (this.gone) return;
    this.gone = true;
    this.goneBecause = reason;
    this.controller?.abort(this.goneReason());
    this.response.eventStream?.requestGone();
  }

  /** @internal Why `signal` aborted: the client left, or the server is stopping. */
  goneBecause: 'client' | 'shutdown' = 'client';

  private goneReason(): Error {
    const e = new Error(
      this.goneBecause === 'client' ? 'The client closed the connection' : 'The server is shutting down',
    );
    e.name = 'AbortError';
    return e;
  }
}

/**
 * A property only when the object has it itself: find-my-way hands over a plain `{}` when there
 * is no query string, and `r.get('toString')` must not find Object's method there.
 */
function own(record: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}
