import { type OutgoingHttpHeader, ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { InvalidArgumentError, RawWriteAfterSseError, ResponseCommittedError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import { EventStream, type EventStreamOptions, SSE_HEAD } from '../sse/event-stream.ts';
import { chunkedSocketOf, socketTakesFlush, writeChunkTo } from './chunked-socket.ts';
import type { BodyEncoder } from './response-encoder.ts';
import { type ServeFileOptions, serveFile, serveFileDownload } from './response-file.ts';
import { formatWith, toText } from './response-format.ts';
import { ResponseHeader } from './response-header.ts';
import { carriesBody, DrainWait, FALSE, TRUE, writeChunk } from './response-writer.ts';

const EMPTY = Buffer.alloc(0);
/** The buffer of a response that has not written: shared, frozen so that a stray push throws. */
const NO_CHUNKS = Object.freeze([]) as unknown as (string | Buffer)[];
/** `Response.state`: committed by sluice (`commit()`), whether or not Node sent the head yet. */
const COMMITTED = 1;
/** `Response.state`: writes resolve false from now on (`stopWrites()`). */
const WRITES_STOPPED = 2;
const TEXT = 'text/plain; charset=utf-8';

/**
 * The parts of a response that few responses use, in one object made the first time one is set:
 * an idle stream keeps its Response for as long as it lives, and each of these as a field of its
 * own cost every response 8 bytes.
 */
class ResponseRare {
  endReason: EndReason | undefined = undefined;
  filePending: Promise<void> | undefined = undefined;
  onCommit: (() => void) | undefined = undefined;
  bodyEncoder: BodyEncoder | undefined = undefined;
  drainWait: DrainWait | undefined = undefined;
  /**
   * The socket `flush()` may write pre-built chunks to (see `chunked-socket.ts`): `undefined`
   * until the head is rendered and it is looked up, `null` when every flush goes through `res.write`.
   */
  flushSocket: Socket | null | undefined = undefined;
}
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Why a response ended, as the access log reports it: `complete` (the handler
 * finished it and every byte went out), `client` (the connection closed
 * first), `shutdown` (the server's shutdown stopped it), or `error` (the
 * server cut it short after a handler error, or dropped a stream).
 *
 * @example
 * ```ts
 * s.use(accessLog({ format: (e) => (e.ended === 'error' ? `CUT ${e.path}` : formatEntry(e)) }));
 * ```
 */
export type EndReason = 'complete' | 'client' | 'shutdown' | 'error';

/** Content types that are streams by nature, whatever has been sent so far. */
const STREAM_TYPES =
  /^(?:text\/event-stream|application\/x-ndjson|application\/octet-stream|multipart\/x-mixed-replace)\b/i;

/**
 * Percent-encodes what is not ASCII in a URL, leaving existing escapes alone: Node refuses a header
 * value above U+00FF, and would send U+0080–U+00FF as Latin-1 bytes no browser reads as UTF-8.
 */
function encodeNonAscii(url: string): string {
  try {
    return url.replace(/[^\x00-\x7f]+/g, encodeURI);
  } catch {
    // encodeURI throws URIError on a lone surrogate, which no URL can carry.
    throw new InvalidArgumentError(
      'location',
      'must be well-formed Unicode (a lone surrogate was found)',
      url,
    );
  }
}

/**
 * The buffered response of a request, as GoFrame's `r.Response`. Writes
 * collect in a buffer that is sent in one piece, with its `Content-Length`,
 * when the handler chain ends. `flush()` instead commits the response and
 * sends what is buffered now, which is how a handler streams.
 *
 * @example
 * ```ts
 * s.bindHandler('/count', async (r) => {
 *   for (let i = 0; i < 3; i++) {
 *     r.response.writefln('data: %d\n', i);
 *     if (!(await r.response.flush())) return; // false: the client is gone
 *   }
 * });
 * ```
 */
export class Response {
  /** The request this response answers. */
  readonly request: Request;
  /**
   * @internal Node's response, as it is: for what reads no header (its state, its writes) and for
   * the code here that knows of the header view's held headers. Everything else reads `raw`.
   */
  readonly node: ServerResponse;
  /**
   * @internal What is buffered. {@link NO_CHUNKS} until the first write: a response that never
   * buffers (an event stream, for its whole life) holds no array of its own.
   */
  chunks: (string | Buffer)[] = NO_CHUNKS;
  /** @internal */ written = 0;
  /** Bits: {@link COMMITTED} and {@link WRITES_STOPPED}; one field, where two booleans took two. */
  private state = 0;
  /** @internal The SSE stream opened by `sse()`, so an error after it began can be reported in-band. */
  eventStream: EventStream | undefined = undefined;
  /** What few responses use (see {@link ResponseRare}), made the first time one of them is set. */
  private rare: ResponseRare | undefined = undefined;
  private headerView: ResponseHeader | undefined = undefined;

  constructor(request: Request, raw: ServerResponse) {
    this.request = request;
    this.node = raw;
  }

  /**
   * @internal Node's response, holding every header set so far: the header view may hold the
   * ones set through it until the end of a buffered response (see `ResponseHeader.takeHead`),
   * and gives them to Node's map here, first, for whoever reads or writes headers on it.
   */
  get raw(): ServerResponse {
    this.headerView?.release();
    return this.node;
  }

  /** {@link rare}, made now if there is none. */
  private get more(): ResponseRare {
    this.rare ??= new ResponseRare();
    return this.rare;
  }

  /**
   * What the body passes through on its way to the socket (`compress()` sets one), or
   * `undefined` for bytes as they are. Set it before the response commits: it is asked once, at
   * commit for a stream or at the end of the chain for a buffered body, and dropped if it declines.
   *
   * @example
   * ```ts
   * s.use(async (r) => {
   *   r.response.bodyEncoder = myEncoder(r); // see BodyEncoder
   *   await r.middleware.next();
   * });
   * ```
   */
  get bodyEncoder(): BodyEncoder | undefined {
    return this.rare?.bodyEncoder;
  }

  set bodyEncoder(encoder: BodyEncoder | undefined) {
    if (encoder !== undefined || this.rare !== undefined) this.more.bodyEncoder = encoder;
  }

  /**
   * @internal Why the server ended or stopped the response, recorded once by whoever decided it:
   * the first cause is the true one (a cut after an error closes the socket, which would otherwise
   * read as the client leaving). Unset when the socket's state tells: see {@link endedBecause}.
   */
  get endReason(): EndReason | undefined {
    return this.rare?.endReason;
  }

  /**
   * @internal A file `serveFile()` is still sending: the end of the handler chain waits for it,
   * so a `serveFile()` that was not awaited still owns the response until the file is out.
   */
  get filePending(): Promise<void> | undefined {
    return this.rare?.filePending;
  }

  /** @internal */
  set filePending(sending: Promise<void> | undefined) {
    if (sending !== undefined || this.rare !== undefined) this.more.filePending = sending;
  }

  /**
   * @internal Called once when `flush()`, `sse()`, a returned stream or a served file commits the
   * response, before any byte is written: the session middleware saves a changed session then,
   * rather than when a long stream ends. It must not throw.
   */
  get onCommit(): (() => void) | undefined {
    return this.rare?.onCommit;
  }

  /** @internal */
  set onCommit(hook: (() => void) | undefined) {
    if (hook !== undefined || this.rare !== undefined) this.more.onCommit = hook;
  }

  /** The response headers; changing them after commit throws. Made on first use. */
  get header(): ResponseHeader {
    this.headerView ??= new ResponseHeader(this.node, this);
    return this.headerView;
  }

  /** The status code; setting it after commit throws {@link ResponseCommittedError}. */
  get status(): number {
    return this.node.statusCode;
  }

  set status(code: number) {
    if (this.isCommitted()) throw new ResponseCommittedError(`set status ${code}`);
    if (!Number.isInteger(code) || code < 100 || code > 999) {
      throw new InvalidArgumentError('status', 'must be an integer from 100 to 999', code);
    }
    this.node.statusCode = code;
  }

  /** Whether status and headers were sent. */
  get headersSent(): boolean {
    return this.node.headersSent;
  }

  /**
   * Whether the response was committed (by `flush()`, `sse()`, a returned
   * stream or the raw writer): from then on status and headers are fixed.
   */
  isCommitted(): boolean {
    return (this.state & COMMITTED) !== 0 || this.node.headersSent;
  }

  /**
   * @internal The stream `sse()` opened, while it is open: what the end of a request waits for
   * (the stream outlives the handler) and what an error after it began is reported in.
   */
  openStream(): EventStream | undefined {
    const es = this.eventStream;
    return es !== undefined && !es.isClosed ? es : undefined;
  }

  /**
   * @internal The head `sse()` gave Node as one list when nothing was set before it: Node sends
   * such a head without keeping it, so `header.get()` reads it here (a middleware after `next()`
   * still sees `Content-Type: text/event-stream`).
   */
  writtenHead(): readonly string[] | undefined {
    if (this.eventStream === undefined || this.node.getHeaderNames().length !== 0) return undefined;
    return SSE_HEAD;
  }

  /**
   * @internal The head `sse()` gives Node as one list, as node:http's own `writeHead(status,
   * headers)` does, or `undefined` when it must take Node's header map: something was set there
   * already, or a commit hook or an encoder runs (they read and change the map at commit). Node
   * sends a list without keeping it, where its map (a dictionary-mode object and an array per
   * header, ~370 bytes) would stay with the stream for its whole life. Headers the header view
   * holds come first, as they would in the map; the bytes are the same either way.
   */
  streamHead(): readonly OutgoingHttpHeader[] | undefined {
    const node = this.node;
    if (
      this.rare?.onCommit !== undefined ||
      this.rare?.bodyEncoder !== undefined ||
      !(node instanceof ServerResponse) ||
      node.getHeaderNames().length !== 0
    )
      return undefined;
    return this.headerView?.takeStreamHead(SSE_HEAD) ?? SSE_HEAD;
  }

  /**
   * Whether this response streams: committed (by `flush()`, `sse()`, a
   * returned stream or the raw writer), or typed as a stream
   * (`text/event-stream`, NDJSON, octet-stream, multipart/x-mixed-replace)
   * before its first byte. Middleware that post-processes whole bodies (an
   * envelope, an ETag) must leave such a response alone.
   *
   * @example
   * ```ts
   * s.use(async (r) => {
   *   await r.middleware.next();
   *   if (!r.response.isStreaming()) r.response.header.set('ETag', etagOf(r.response.bufferString()));
   * });
   * ```
   */
  isStreaming(): boolean {
    if (this.isCommitted()) return true;
    // The view reads Node's map itself after its own: asked once, not again when it says none.
    const view = this.headerView;
    const type = view !== undefined ? view.get('content-type') : this.node.getHeader('content-type');
    return typeof type === 'string' && STREAM_TYPES.test(type);
  }

  /**
   * Appends values to the buffer: strings as they are, bytes raw, objects as
   * JSON. After `sse()` it throws {@link RawWriteAfterSseError}, as every
   * buffer write does: those bytes would reach the event stream unframed.
   */
  write(...values: unknown[]): void {
    if (this.eventStream !== undefined) throw new RawWriteAfterSseError('write()');
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v === 'string') this.filling().push(v);
      else if (v instanceof Uint8Array) this.filling().push(Buffer.isBuffer(v) ? v : Buffer.from(v));
      else if (v !== undefined && v !== null) this.filling().push(toText(v));
    }
  }

  /** Like `write`, then a newline. */
  writeln(...values: unknown[]): void {
    this.write(...values);
    this.filling().push('\n');
  }

  /** Appends printf-style formatted text (`%s %d %v %j %f ...`, see {@link sprintf}). */
  writef(format: string, ...args: unknown[]): void {
    if (this.eventStream !== undefined) throw new RawWriteAfterSseError('writef()');
    this.filling().push(formatWith(format, args));
  }

  /** Like `writef`, then a newline. */
  writefln(format: string, ...args: unknown[]): void {
    if (this.eventStream !== undefined) throw new RawWriteAfterSseError('writefln()');
    this.filling().push(`${formatWith(format, args)}\n`);
  }

  /** Writes a value as JSON and sets `Content-Type: application/json` unless a type was already chosen. */
  writeJson(value: unknown): void {
    if (this.eventStream !== undefined) throw new RawWriteAfterSseError('writeJson()');
    if (!this.isCommitted() && !this.hasHeader('content-type')) this.header.set('Content-Type', JSON_TYPE);
    this.filling().push(JSON.stringify(value) ?? 'null');
  }

  /**
   * @internal Ends the response with a value a handler returned, as JSON: what `writeJson` and
   * then `finish()` would send, called where the one follows the other with nothing in between
   * that could read the headers. So the type can go out with the head (see `endWith`) instead
   * of being set first. With a body encoder it takes the `writeJson` way: `finish()` encodes.
   * Only for a response with nothing buffered.
   */
  endJson(value: unknown): void {
    if (this.bodyEncoder !== undefined) {
      this.writeJson(value);
      return;
    }
    if (this.eventStream !== undefined) throw new RawWriteAfterSseError('writeJson()');
    this.endWith(JSON.stringify(value) ?? 'null', undefined, JSON_TYPE);
  }

  /** Replaces whatever is buffered with these values. */
  writeOver(...values: unknown[]): void {
    if (this.eventStream !== undefined) throw new RawWriteAfterSseError('writeOver()');
    this.chunks = NO_CHUNKS;
    this.write(...values);
  }

  /**
   * Sets the status and writes `content`, or the status text (`Not Found`)
   * when there is none and nothing is buffered, as GoFrame's `WriteStatus`.
   * A status that has no body (204, 304) gets no text.
   */
  writeStatus(code: number, content?: unknown): void {
    this.status = code;
    if (content !== undefined) this.write(content);
    else if (this.chunks.length === 0 && code >= 200 && code !== 204 && code !== 304) {
      // statusMessage is only filled in when Node writes the head, so it is empty here.
      this.filling().push(this.node.statusMessage || STATUS_CODES[code] || String(code));
    }
  }

  /** Writes the values and ends the current handler, as `write` + `r.exit()`. */
  writeExit(...values: unknown[]): never {
    this.write(...values);
    return this.request.exit();
  }

  /**
   * Redirects and ends the current handler, as GoFrame's `RedirectTo`: sets
   * `Location` and the status (302 unless given), then exits like
   * `r.exit()`, so a guard that redirects does not go on to call `next()`
   * and let the protected handler run. Characters beyond ASCII are
   * percent-encoded as UTF-8, as a browser would put them in the address bar;
   * control characters (CR and LF above all, which would inject headers) are
   * refused.
   *
   * @example
   * ```ts
   * s.use(async (r) => {
   *   if (!loggedIn(r)) r.response.redirectTo('/login?next=' + encodeURIComponent(r.url)); // exits here
   *   await r.middleware.next();
   * });
   * r.response.redirectTo('https://example.com/', 301);
   * ```
   */
  redirectTo(location: string, code = 302): never {
    if (typeof location !== 'string' || location.length === 0) {
      throw new InvalidArgumentError('location', 'must be a non-empty URL', location);
    }
    if (/[\x00-\x1f\x7f]/.test(location)) {
      throw new InvalidArgumentError(
        'location',
        'must not contain CR, LF or other control characters',
        location,
      );
    }
    if (!Number.isInteger(code) || code < 300 || code > 399) {
      throw new InvalidArgumentError('code', 'must be a 3xx status', code);
    }
    const target = encodeNonAscii(location);
    this.status = code;
    this.raw.setHeader('Location', target);
    return this.request.exit();
  }

  /** The buffered, not yet sent, content as a string. */
  bufferString(): string {
    return joinChunks(this.chunks).toString();
  }

  /** The buffered, not yet sent, byte count. */
  bufferLength(): number {
    let n = 0;
    for (const c of this.chunks) n += typeof c === 'string' ? Buffer.byteLength(c) : c.length;
    return n;
  }

  /** Drops what is buffered. */
  clearBuffer(): void {
    this.chunks = NO_CHUNKS;
  }

  /** Body bytes already handed to the socket (as the handler wrote them: before any compression). */
  bytesWritten(): number {
    // A channel's subscribers count what they write to the stream's socket themselves.
    this.eventStream?.settleCounts();
    return this.written;
  }

  /**
   * Commits the response (status and headers are sent if they were not) and
   * writes the buffer now, chunked. Resolves `true` once the socket accepted
   * the bytes — after a `drain` when the socket was full, which is what keeps
   * a fast producer from filling memory for a slow client. Resolves `false`,
   * and never throws, when the producer should stop: the client is gone, or
   * the server is shutting down (a write waiting on a client that stopped
   * reading is released then too) — the same rule as every other streaming
   * write in sluice (`es.send()` too). A response that carries no body (HEAD,
   * 204, 304) gets its head at the first flush, is ended there, and resolves
   * `false`: the client has all it will ever get.
   */
  flush(): Promise<boolean> {
    const raw = this.raw;
    if ((this.state & COMMITTED) === 0) {
      // A flushed response is a stream: from now on a shutdown or a client leaving must reach it.
      this.request.watch();
      this.commit();
    }
    let socket = this.rare?.flushSocket;
    if (socket === undefined && raw.headersSent) {
      // Once, when the head is rendered (by the first flush): what holds for the stream's life.
      socket = carriesBody(raw) ? chunkedSocketOf(this) : null;
      this.more.flushSocket = socket;
    }
    // The shortcut es.send() takes: one pre-built chunk straight to the socket, under the same guards.
    if (socket != null && !raw.writableEnded && socket.writable && socketTakesFlush(raw, socket)) {
      const body = this.takeChunks();
      const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
      if (length === 0) return this.stopped ? FALSE : TRUE;
      this.written += length;
      if (writeChunkTo(raw, socket, body, length)) return this.stopped ? FALSE : TRUE;
      return this.drained(socket);
    }
    const body = this.takeChunks();
    if (!carriesBody(raw)) {
      // Node ignores body writes here and so would send no head until the handler returns.
      if (!raw.writableEnded && !raw.destroyed) raw.end();
      return FALSE;
    }
    if (body.length === 0) {
      if (raw.destroyed || raw.writableEnded) return FALSE;
      if (!raw.headersSent) raw.flushHeaders();
      return this.stopped ? FALSE : TRUE;
    }
    return writeChunk(this, body);
  }

  /** @internal Whether a producer should stop: the client left, or the server is stopping the stream. */
  get stopped(): boolean {
    return (this.state & WRITES_STOPPED) !== 0 || this.request.gone;
  }

  /**
   * @internal Resolves `true` when the socket has room again, `false` once
   * writing is over: the client left, the stream was ended, or the server is
   * stopping. Concurrent waiters share one wait. `socket`: the write went
   * straight to it (see `chunked-socket.ts`), so the response itself never
   * learnt it was full and its `drain` would not come; the socket's does.
   */
  drained(socket?: Socket): Promise<boolean> {
    const raw = this.raw;
    if (raw.destroyed || raw.writableEnded || this.stopped) return FALSE;
    if (!(socket === undefined ? raw.writableNeedDrain : socket.writableNeedDrain)) return TRUE;
    let wait = this.rare?.drainWait;
    if (wait === undefined || wait.settled) {
      // Only a blocked writer gets here: now a shutdown must be able to reach it, so it is watched.
      this.request.watch();
      if (this.stopped) return FALSE;
      wait = new DrainWait(raw, socket);
      this.more.drainWait = wait;
    }
    return wait.promise;
  }

  /**
   * @internal The server ended or stopped this response (`es.close()`, a
   * shutdown, a cut after an error): records why (the first reason stands)
   * and releases every write waiting for a `drain` that may never come.
   */
  stopWrites(reason: EndReason | undefined): void {
    if (reason !== undefined) this.more.endReason ??= reason;
    this.state |= WRITES_STOPPED;
    const rare = this.rare;
    if (rare === undefined) return;
    const wait = rare.drainWait;
    rare.drainWait = undefined;
    wait?.settle(false);
  }

  /** @internal The request is gone (the client left, or the server is stopping): stop the writers. */
  requestGone(reason: 'client' | 'shutdown'): void {
    this.stopWrites(reason);
    this.eventStream?.requestGone();
  }

  /**
   * @internal Why the response ended, for the access log: the reason the
   * server recorded, else what the socket shows (finished: `complete`;
   * closed under us: the client left, or the shutdown cut it).
   */
  endedBecause(): EndReason {
    const reason = this.rare?.endReason;
    if (reason !== undefined) return reason;
    if (this.node.writableFinished) return 'complete';
    return this.request.server.stopping ? 'shutdown' : 'client';
  }

  /**
   * Sends a file as the whole response, as GoFrame's `ServeFile`: its MIME type and length,
   * `ETag`/`Last-Modified` with 304 answers, `Range` with 206/416, streamed with backpressure.
   * Resolves once the response has ended; await or return it. A missing file rejects with a
   * 404 {@link HttpError} before anything is sent, so error handling stays the handler's.
   * With `options.root` the path may come from the request (traversal is refused); without it,
   * the path is the server's own.
   *
   * @example
   * ```ts
   * s.get('/report', (r) => r.response.serveFile('./var/report.csv'));
   * s.get('/docs/{name}', (r) => r.response.serveFile(r.params.name!, { root: './docs' }));
   * ```
   */
  serveFile(path: string, options?: ServeFileOptions): Promise<void> {
    return serveFile(this, path, options);
  }

  /**
   * Like {@link serveFile}, as an attachment the browser saves under `name` (default: the
   * file's own name), as GoFrame's `ServeFileDownload`. Any name is safe: it is sent as an
   * RFC 6266 `filename*` with an ASCII fallback.
   *
   * @example
   * ```ts
   * s.get('/invoice/{id}', (r) =>
   *   r.response.serveFileDownload(`${r.params.id}.pdf`, `Rechnung ${r.params.id}.pdf`, { root: './invoices' }),
   * );
   * ```
   */
  serveFileDownload(path: string, name?: string, options?: ServeFileOptions): Promise<void> {
    return serveFileDownload(this, path, name, options);
  }

  /**
   * The Node `ServerResponse`: the escape hatch for what sluice does not
   * wrap. Writing to it commits the response as Node sees it.
   */
  rawWriter(): ServerResponse {
    // What is written here reaches the socket as it is: no encoder may claim the body after it.
    this.bodyEncoder = undefined;
    return this.raw;
  }

  /**
   * Opens a Server-Sent Events stream: commits the response now as
   * `text/event-stream` and returns the stream. Framing is done by sluice,
   * so no data can break an event or inject a field.
   *
   * The stream lives until `es.close()`, the client leaving, or the server's
   * shutdown — not until the handler returns, so a handler may hand the
   * stream to a timer or a channel and return (as better-sse sessions and
   * Fastify's `keepAlive()` do). Until it ends the request counts as in
   * flight: the access log line and the code after `next()` in middleware
   * come at its end, and a shutdown closes it. `await es.closed` keeps the
   * handler itself running until then, for code that cleans up. (A response
   * streamed with `flush()` is different: it is the handler's buffer, and ends
   * when the handler returns.)
   *
   * @example
   * ```ts
   * s.get('/clock', (r) => {
   *   const es = r.response.sse();
   *   const t = setInterval(() => es.send({ data: new Date().toISOString() }), 1000);
   *   es.signal.addEventListener('abort', () => clearInterval(t)); // the stream ended
   * });
   * s.get('/feed', (r) => { feed.subscribe(r.response.sse()); }); // stays open, no await needed
   * ```
   */
  sse(options?: EventStreamOptions): EventStream {
    if (this.eventStream !== undefined) {
      throw new InvalidArgumentError(
        'sse',
        'was already called for this response; use the stream it returned',
      );
    }
    if (this.isCommitted()) throw new ResponseCommittedError('start an SSE stream');
    // Sent at the end of the chain, they would land on the stream unframed.
    if (this.chunks.length > 0) throw new RawWriteAfterSseError('sse()', this.bufferLength());
    const es = new EventStream(this, options);
    this.eventStream = es;
    return es;
  }

  /** @internal Marks the response committed; the headers leave with the first write. */
  commit(): void {
    if ((this.state & COMMITTED) !== 0) return;
    this.state |= COMMITTED;
    const hook = this.onCommit;
    if (hook !== undefined) {
      this.onCommit = undefined;
      hook();
    }
    // The one moment a stream's encoding can still be chosen: its head has not left yet.
    const encoder = this.bodyEncoder;
    if (encoder !== undefined && (this.node.headersSent || !encoder.startStream(this))) {
      this.bodyEncoder = undefined;
    }
  }

  /**
   * @internal Ends the response when the chain is done: the buffer goes out in one write. With a
   * body encoder, a stream's encoder ends it, and a buffered body may be encoded first (async for a
   * large one, which is when this returns a promise).
   */
  finish(): void | Promise<void> {
    const raw = this.node;
    if (raw.writableEnded || raw.destroyed) return;
    const body = this.takeChunks();
    const encoder = this.bodyEncoder;
    if (encoder === undefined) return this.endWith(body);
    // Counted as the handler wrote them, before encoding, as every streaming write counts them.
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (this.isCommitted()) {
      if (carriesBody(raw)) this.written += size;
      encoder.end(body);
      return;
    }
    this.bodyEncoder = undefined;
    this.defaultType(body);
    const encoded = encoder.encodeWhole(this, body);
    if (encoded instanceof Promise) return encoded.then((b) => this.endWith(b, size));
    this.endWith(encoded, size);
  }

  /**
   * Sends `body` as the rest of the response, with the headers of a buffered one when it was not
   * committed; `counted` is its size before any encoding, `type` its type unless one was set.
   */
  private endWith(body: string | Buffer, counted?: number, type?: string): void {
    const raw = this.node;
    // Checked again: the client may have left while an encoder worked on the body.
    if (raw.writableEnded || raw.destroyed) return;
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (!this.isCommitted()) this.sendHead(size, type);
    if (carriesBody(raw)) this.written += counted ?? size;
    if (size > 0) raw.end(body);
    else raw.end();
  }

  /**
   * The head of a buffered body: the headers that were set, then its type (`type`, else text
   * for a body without one) and its length. Over HTTP/1 they go to Node in one `writeHead` (as
   * Fastify sends its head) when the header view still holds what was set through it, or when
   * nothing was set: Node then skips the header map it builds on `setHeader` (a validation, a
   * lower-cased name and an entry each, read back once when the head is rendered); headers in
   * that map stay, and those given here replace theirs. Nothing runs between this and `end()`, so
   * nothing else could read them; the bytes are the same either way. HTTP/2 sets them: its
   * `writeHead` sends HEADERS at once, which would split an empty body's END_STREAM into a frame
   * of its own.
   */
  private sendHead(size: number, type: string | undefined): void {
    const raw = this.node;
    const code = raw.statusCode;
    const hasBody = code !== 204 && code !== 304 && code >= 200;
    const typed = this.hasHeader('content-type');
    const sized = !hasBody || this.hasHeader('content-length');
    let contentType: string | undefined;
    if (!typed) contentType = type ?? (hasBody && size > 0 ? TEXT : undefined);
    if (raw instanceof ServerResponse) {
      const head = this.headerView?.takeHead(contentType, sized ? undefined : size);
      if (head !== undefined) {
        raw.writeHead(code, head);
        return;
      }
      if (!typed && !sized) {
        if (contentType === undefined) raw.writeHead(code, { 'Content-Length': `${size}` });
        else raw.writeHead(code, { 'Content-Type': contentType, 'Content-Length': `${size}` });
        return;
      }
    } else this.headerView?.release();
    if (contentType !== undefined) raw.setHeader('Content-Type', contentType);
    if (!sized) raw.setHeader('Content-Length', size);
  }

  /** Whether a header is set, in Node's map or held by the header view, without making the view. */
  private hasHeader(lower: string): boolean {
    const view = this.headerView;
    return view === undefined ? this.node.hasHeader(lower) : view.hasLower(lower);
  }

  /** The type a buffered body without one is sent as, set early so an encoder can judge it. */
  private defaultType(body: string | Buffer): void {
    if (body.length > 0 && carriesBody(this.node) && !this.hasHeader('content-type')) {
      this.header.set('Content-Type', TEXT);
    }
  }

  /** The buffer to append to: made on the first write. */
  private filling(): (string | Buffer)[] {
    const chunks = this.chunks;
    if (chunks !== NO_CHUNKS) return chunks;
    this.chunks = [];
    return this.chunks;
  }

  /**
   * Empties the buffer into one piece to send. A lone string (the usual writef + flush loop, or
   * one write before the end) stays a string: Node then sends head and body in one write and
   * no Buffer copy is made, where a Buffer would cost a writev of two.
   */
  private takeChunks(): string | Buffer {
    const chunks = this.chunks;
    this.chunks = NO_CHUNKS;
    const only = chunks.length === 1 ? chunks[0] : undefined;
    return typeof only === 'string' ? only : joinChunks(chunks);
  }
}

function joinChunks(chunks: readonly (string | Buffer)[]): Buffer {
  if (chunks.length === 0) return EMPTY;
  if (chunks.length === 1) {
    const c = chunks[0]!;
    return typeof c === 'string' ? Buffer.from(c) : c;
  }
  // One allocation for the whole body: strings are encoded straight into it, not into a Buffer each.
  let total = 0;
  for (const c of chunks) total += typeof c === 'string' ? Buffer.byteLength(c) : c.length;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const c of chunks) at += typeof c === 'string' ? out.write(c, at) : c.copy(out, at);
  return out;
}
