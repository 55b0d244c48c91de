import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import { SessionNotInstalledError } from '../errors.ts';
import { Response } from '../response/response.ts';
import { http2StreamOf } from '../response/response-http2.ts';
import type { Server } from '../server/server.ts';
import type { Session } from '../session/session.ts';
import { readRequestBody, type UploadedFile } from './request-body.ts';
import type { RouteOptions } from './request-body-options.ts';
import { type Context, createContext } from './request-context.ts';
import { RequestCookie } from './request-cookie.ts';
import { exitSignal, type Handler, Middleware } from './request-middleware.ts';
import { pathOf } from './request-path.ts';
import { type ProxyView, resolveProxy } from './request-proxy.ts';

// No prototype, so r.get('toString') on a request without params finds nothing rather than Object's method.
const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null));
// Shared by every request without uploads: a body parse replaces it, nothing appends to it.
const NO_FILES: UploadedFile[] = Object.freeze([]) as unknown as UploadedFile[];

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
  get method(): string {
    // Read from the request rather than kept: one field less on every request, an idle stream's too.
    return this.raw.method ?? 'GET';
  }
  /**
   * The request target in origin form: path and query (`/user/7?tab=1`). A target in absolute
   * form (`GET http://host/user/7`, as sent to proxies) is reduced to its path and query here,
   * as it is for routing; `r.raw.url` keeps it as sent.
   */
  readonly url: string;
  /**
   * The path exactly as the router matched it: no query, one trailing slash dropped, and
   * percent-decoded except for reserved characters (`/%61dmin` is `/admin`; `%2F` stays `%2F`).
   * Guard routes by binding them in a group with the guard as group middleware, not by testing
   * this string: a group's middleware runs for every request its routes match, however the
   * client spelled the path.
   */
  get path(): string {
    const url = this.url;
    // Most targets have no query and no escape: their path is the url's own string, and worth no
    // field; a bit says so, so that a second read does not scan the url again.
    if ((this.flags & PATH_IS_URL) !== 0) return url;
    const kept = this.rare?.path;
    if (kept !== undefined) return kept;
    const path = pathOf(url);
    if (path !== url) this.more.path = path;
    else this.flags |= PATH_IS_URL;
    return path;
  }
  /** The Node request: the escape hatch, and the unread body for types sluice does not parse. */
  readonly raw: IncomingMessage;
  /** The response to this request. */
  readonly response: Response;
  /** The server handling this request. */
  readonly server: Server;
  /** Path parameters of the matched route (`/user/{id}` gives `params.id`). */
  params: Readonly<Record<string, string>> = NO_PARAMS;
  /**
   * The chain until something asks for {@link middleware}, then the cursor made for it: a
   * route of one handler (no middleware) run by the server's one-handler path needs no cursor,
   * and an idle stream would keep it for its life.
   */
  private cursor: Middleware | readonly Handler[];
  /** @internal */ query: Record<string, unknown> = NO_PARAMS;
  /** @internal */ handlerResult: unknown = undefined;
  /**
   * The small state below (exited, gone and why, watched, accessLogged) as bits of one field: an
   * idle stream keeps its Request for as long as it lives, and six fields cost 40 bytes more.
   */
  private flags = 0;
  /** What few requests use (see {@link RequestRare}), made the first time one of them is set. */
  private rare: RequestRare | undefined = undefined;

  constructor(
    server: Server,
    raw: IncomingMessage,
    res: ServerResponse,
    chain: readonly Handler[],
    url: string,
  ) {
    this.server = server;
    this.raw = raw;
    this.url = url;
    this.response = new Response(this, res);
    this.cursor = chain;
  }

  /** {@link rare}, made now if there is none. */
  private get more(): RequestRare {
    this.rare ??= new RequestRare();
    return this.rare;
  }

  /** @internal The matched route's body settings (its own and its groups'), over the server's. */
  get bodyOptions(): RouteOptions | undefined {
    return this.rare?.bodyOptions;
  }

  /** @internal */
  set bodyOptions(options: RouteOptions | undefined) {
    // Set on every routed request, and `undefined` for most routes: nothing to make then.
    if (options !== undefined || this.rare !== undefined) this.more.bodyOptions = options;
  }

  /** @internal The parsed body (see {@link getBody}). */
  get body(): unknown {
    return this.rare?.body;
  }

  /** @internal */
  set body(body: unknown) {
    // Only a request that has a body to parse gets here (a GET is never parsed): none made for the rest.
    if (body !== undefined || this.rare !== undefined) this.more.body = body;
  }

  /** @internal The body read, once begun: every `parseBody()` call shares it. */
  get bodyRead(): Promise<unknown> | undefined {
    return this.rare?.bodyRead;
  }

  /** @internal */
  set bodyRead(read: Promise<unknown> | undefined) {
    if (read !== undefined || this.rare !== undefined) this.more.bodyRead = read;
  }

  /** @internal The files of a multipart body (see {@link getFiles}). */
  get files(): UploadedFile[] {
    return this.rare?.files ?? NO_FILES;
  }

  /** @internal */
  set files(files: UploadedFile[]) {
    if (files !== NO_FILES || this.rare !== undefined) this.more.files = files;
  }

  /** @internal Set by the `session()` middleware. */
  get sessionState(): Session | undefined {
    return this.rare?.sessionState;
  }

  /** @internal */
  set sessionState(state: Session | undefined) {
    this.more.sessionState = state;
  }

  /** The cursor through the handler chain: `await r.middleware.next()`. */
  get middleware(): Middleware {
    const c = this.cursor;
    if (!Array.isArray(c)) return c as Middleware;
    const m = new Middleware(this, c);
    this.cursor = m;
    // Made while the one-handler path runs (or after it): it starts where that path is.
    if ((this.flags & ONLY_ENTERED) !== 0) m.enterOnly();
    if ((this.flags & ONLY_LEFT) !== 0) m.leaveOnly();
    return m;
  }

  /** @internal The handlers of this request's route, in order. */
  get chain(): readonly Handler[] {
    const c = this.cursor;
    return Array.isArray(c) ? c : (c as Middleware).chain;
  }

  /** @internal `Middleware.enterOnly()` for the server's one-handler path, without making the cursor. */
  enterOnly(): void {
    const c = this.cursor;
    if (Array.isArray(c)) this.flags |= ONLY_ENTERED;
    else (c as Middleware).enterOnly();
  }

  /** @internal `Middleware.leaveOnly()` likewise. */
  leaveOnly(): void {
    const c = this.cursor;
    if (Array.isArray(c)) this.flags |= ONLY_LEFT;
    else (c as Middleware).leaveOnly();
  }

  /**
   * Aborts when the client goes away, or when the server shuts down, so a
   * streaming loop can stop producing. Created on first use: most requests
   * never look at it.
   */
  get signal(): AbortSignal {
    let controller = this.rare?.controller;
    if (controller === undefined) {
      controller = new AbortController();
      this.more.controller = controller;
      this.watch();
      if (this.gone) controller.abort(this.goneReason());
    }
    return controller.signal;
  }

  /**
   * @internal Starts telling this request when its client leaves or the
   * server stops: called the first time something can react (`r.signal`
   * read, an SSE stream opened). Most requests never get here, and skip a
   * close listener and a place in the server's in-flight set. Whether a 'close' listener now
   * watches the response (it also ends the response's event stream).
   */
  watch(): boolean {
    if (this.watched) return this.closeWatched;
    this.watched = true;
    const res = this.response.node;
    if (res.destroyed) {
      this.abort('client');
      return false;
    }
    if (res.writableFinished) return false;
    this.closeWatched = true;
    const server = this.server;
    server.inFlight.add(this);
    const stream = http2StreamOf(res);
    if (stream !== undefined) watchHttp2(this, stream);
    // `on`, not `once`: 'close' comes once, and once()'s wrapper costs three objects per request.
    // A bound method (48 B) rather than an arrow function, whose context an idle stream keeps too (96 B).
    else res.on('close', this.responseClosed.bind(this));
    if (server.stopping) this.abort('shutdown');
    return true;
  }

  /** @internal The HTTP/1 response's 'close' (see `watch`). */
  responseClosed(): void {
    this.server.inFlight.delete(this);
    // The event stream's end too: one 'close' listener per response, not one each.
    this.response.eventStream?.responseClosed();
    // 'close' before the response finished means the connection went away under us.
    if (!this.response.node.writableFinished) this.abort('client');
  }

  /**
   * The request headers, names in lower case. A getter: Node builds this
   * object on first use, and a request that never looks at it is cheaper.
   */
  get headers(): IncomingHttpHeaders {
    return this.raw.headers;
  }

  /**
   * The client's session, as GoFrame's `r.Session`; see {@link Session}. Needs the session
   * middleware: without `s.use(session())` it throws {@link SessionNotInstalledError}.
   *
   * @example
   * ```ts
   * s.use(session());
   * s.get('/visits', (r) => {
   *   const n = r.session.get('visits', 0) + 1;
   *   r.session.set('visits', n);
   *   return { visits: n };
   * });
   * ```
   */
  get session(): Session {
    if (this.sessionState === undefined) throw new SessionNotInstalledError();
    return this.sessionState;
  }

  /**
   * The request's cookies and the response's `Set-Cookie`; see {@link RequestCookie}. Created,
   * and the `Cookie` header parsed, on first use.
   *
   * @example
   * ```ts
   * const theme = r.cookie.get('theme') ?? 'light';
   * r.cookie.set('seen', '1', { maxAge: 3600 });
   * ```
   */
  get cookie(): RequestCookie {
    const rare = this.more;
    rare.cookies ??= new RequestCookie(this);
    return rare.cookies;
  }

  /**
   * The client's IP address: the socket's peer, or, behind proxies trusted with
   * `s.setTrustProxy()`, the first untrusted address of `X-Forwarded-For` (or `Forwarded`)
   * walking from the server outwards. Never a value a client can forge past a trusted proxy.
   *
   * @example
   * ```ts
   * s.setTrustProxy('loopback');
   * s.get('/', (r) => r.ip); // '203.0.113.7', not nginx's 127.0.0.1
   * ```
   */
  get ip(): string {
    return this.proxy.ip;
  }

  /** `'https'` when the connection is TLS, or a trusted proxy says the client used HTTPS; else `'http'`. */
  get protocol(): 'http' | 'https' {
    return this.proxy.protocol;
  }

  /**
   * The host the client asked for, with its port if it gave one: the `Host` header, or a
   * trusted proxy's `X-Forwarded-Host` (or `Forwarded: host=`); `undefined` when none was sent.
   */
  get host(): string | undefined {
    return this.proxy.host;
  }

  /** What the trusted proxies say, worked out on first use. */
  private get proxy(): ProxyView {
    const rare = this.more;
    rare.proxied ??= resolveProxy(this);
    return rare.proxied;
  }

  /** The context of this request, for code that takes a `ctx`; see {@link requestFromCtx}. */
  get ctx(): Context {
    const rare = this.more;
    rare.context ??= createContext(this);
    return rare.context;
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
   * string for `text/plain`; `undefined` when there was none, its type is not
   * one sluice parses (read `r.raw` then), or it was not read yet. Route
   * handlers and group middleware always find it read; global middleware
   * (`s.use`) runs before it is, and calls {@link parseBody} when it needs it.
   */
  getBody<T = unknown>(): T {
    return this.body as T;
  }

  /**
   * Reads and parses the body now, unless that was already done, and resolves
   * with it (what `getBody()` returns from then on). sluice calls it after the
   * global middleware of every route, so only global middleware that needs the
   * body before that (to verify a signature, say) calls it itself. A refused
   * body rejects with the {@link HttpError} that answers it (400 malformed,
   * 413 over the route's or the server's limits), and rejects the same way on every call.
   * GET, HEAD, OPTIONS and TRACE bodies are never parsed: it resolves
   * `undefined` for them.
   *
   * @example
   * ```ts
   * s.use(async (r) => {
   *   const body = await r.parseBody<{ token?: string }>();
   *   if (body?.token !== expected) throw new HttpError(401);
   *   await r.middleware.next();
   * });
   * ```
   */
  parseBody<T = unknown>(): Promise<T> {
    this.bodyRead ??= readRequestBody(this);
    return this.bodyRead as Promise<T>;
  }

  /**
   * Files of a multipart body: in memory by default, or in temp files that are deleted when the
   * request ends under `uploads: { storage: 'disk' }` (keep one with `await file.save(dir)`).
   */
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
    this.rare?.controller?.abort(this.goneReason());
    this.response.requestGone(reason);
  }

  /** @internal `exit()` (1) and `exitAll()` (3) as bits. */
  get exited(): number {
    return this.flags & EXITED_ALL;
  }

  set exited(bits: number) {
    this.flags = (this.flags & ~EXITED_ALL) | (bits & EXITED_ALL);
  }

  /** @internal The client left or the server is stopping: `signal` aborted (or will when made). */
  get gone(): boolean {
    return (this.flags & GONE) !== 0;
  }

  set gone(on: boolean) {
    this.setFlag(GONE, on);
  }

  /** @internal Why `signal` aborted: the client left, or the server is stopping. */
  get goneBecause(): 'client' | 'shutdown' {
    return (this.flags & GONE_SHUTDOWN) !== 0 ? 'shutdown' : 'client';
  }

  set goneBecause(reason: 'client' | 'shutdown') {
    this.setFlag(GONE_SHUTDOWN, reason === 'shutdown');
  }

  /** @internal Whether the server tracks this request for client-gone and shutdown (see `watch`). */
  get watched(): boolean {
    return (this.flags & WATCHED) !== 0;
  }

  set watched(on: boolean) {
    this.setFlag(WATCHED, on);
  }

  /** @internal Whether `watch()` listens for the response's 'close'. */
  get closeWatched(): boolean {
    return (this.flags & CLOSE_WATCHED) !== 0;
  }

  set closeWatched(on: boolean) {
    this.setFlag(CLOSE_WATCHED, on);
  }

  /** @internal Set by `accessLog()`: its line reports a 4xx, so the core does not warn about it too. */
  get accessLogged(): boolean {
    return (this.flags & ACCESS_LOGGED) !== 0;
  }

  set accessLogged(on: boolean) {
    this.setFlag(ACCESS_LOGGED, on);
  }

  private setFlag(bit: number, on: boolean): void {
    this.flags = on ? this.flags | bit : this.flags & ~bit;
  }

  private goneReason(): Error {
    const e = new Error(
      this.goneBecause === 'client' ? 'The client closed the connection' : 'The server is shutting down',
    );
    e.name = 'AbortError';
    return e;
  }
}

/**
 * The parts of a request that few requests use, in one object made the first time one is set: an
 * idle stream keeps its Request for as long as it lives, and each of these as a field of its own
 * cost every request 8 bytes.
 */
class RequestRare {
  /** `r.path` when it is not `r.url` (a query, an escape, a trailing slash). */
  path: string | undefined = undefined;
  bodyOptions: RouteOptions | undefined = undefined;
  /** The body read, once begun, and what it parsed. */
  bodyRead: Promise<unknown> | undefined = undefined;
  body: unknown = undefined;
  files: UploadedFile[] | undefined = undefined;
  controller: AbortController | undefined = undefined;
  context: Context | undefined = undefined;
  cookies: RequestCookie | undefined = undefined;
  proxied: ProxyView | undefined = undefined;
  sessionState: Session | undefined = undefined;
}

// Bits of Request.flags: exit() sets 1, exitAll() 1 and 2.
const EXITED_ALL = 3;
const GONE = 4;
const GONE_SHUTDOWN = 8;
const WATCHED = 16;
const CLOSE_WATCHED = 32;
const ACCESS_LOGGED = 64;
/** The one-handler path entered / left its handler while no cursor existed (see `Request.enterOnly`). */
const ONLY_ENTERED = 128;
const ONLY_LEFT = 256;
/** `path` was computed and is the url itself. */
const PATH_IS_URL = 512;

/**
 * HTTP/2: the stream's own 'close' (Node's compatibility response misses some resets). A reset by
 * the client ends the stream's writable side first, so only a clean close with every byte sent
 * is a finished response. A function of its own, so the HTTP/1 listener's context holds no stream.
 */
function watchHttp2(r: Request, stream: ServerHttp2Stream): void {
  stream.on('close', () => {
    r.server.inFlight.delete(r);
    r.response.eventStream?.responseClosed();
    if (stream.rstCode !== 0 || !stream.writableFinished) r.abort('client');
  });
}

/**
 * A property only when the object has it itself: find-my-way hands over a plain `{}` when there
 * is no query string, and `r.get('toString')` must not find Object's method there.
 */
function own(record: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}
