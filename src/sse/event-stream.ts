import type { OutgoingHttpHeader, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { HttpError, InvalidArgumentError } from '../errors.ts';
import {
  type ChunkedFrame,
  chunkedSocketOf,
  chunkOf,
  socketIsCaughtUp,
  writeBuiltChunkTo,
} from '../response/chunked-socket.ts';
import type { EndReason, Response } from '../response/response.ts';
import { FALSE, TRUE, writeChunk } from '../response/response-writer.ts';
import { encodeEvent, formatComment, formatEvent, formatFields, type SseEvent } from './encoder.ts';

/**
 * Options of `r.response.sse()`.
 *
 * @example
 * ```ts
 * const es = r.response.sse({ heartbeat: 30_000, retry: 2000, lastEventIdQuery: 'lastEventId' });
 * ```
 */
export interface EventStreamOptions {
  /**
   * Milliseconds of silence after which a comment line is sent, so proxies
   * and load balancers do not cut an idle stream. Default 15000; 0 turns it off.
   * While a {@link Channel} feeds the stream, silence is noticed within one
   * more interval: its fan-out writes skip the per-write timer reset to stay cheap.
   */
  heartbeat?: number;
  /** Reconnection delay (ms) sent to the client first, as the `retry:` field. */
  retry?: number;
  /**
   * A query parameter read as the last event id when the `Last-Event-ID`
   * header is missing, for clients that cannot set headers (a first
   * `EventSource` connection resuming from a stored id). Off by default
   * because it lets any link choose the replay point.
   */
  lastEventIdQuery?: string;
}

/**
 * @internal What {@link EventStream.onEnd} calls: a function, or an object's `streamEnded()`. An
 * object that writes to the stream and counts its own writes (a channel's subscriber) has
 * `settle()`, which adds them to the stream's counts (see {@link EventStream.settleCounts}).
 */
export type EndListener = (() => void) | { streamEnded(): void; settle?(): void };

function callEndListener(fn: EndListener): void {
  if (typeof fn === 'function') fn();
  else fn.streamEnded();
}

/** What an ended stream's end listeners are: whether it ended, without a field of its own. */
const ENDED: EndListener = Object.freeze({ streamEnded(): void {} });

const DEFAULT_HEARTBEAT = 15_000;
/**
 * @internal The headers of a stream's head (see `Response.streamHead`): the same names, values
 * and order as the setHeader() path.
 */
export const SSE_HEAD = Object.freeze([
  'Content-Type',
  'text/event-stream; charset=utf-8',
  'Cache-Control',
  'no-cache, no-transform',
  'X-Accel-Buffering',
  'no',
]) as string[];
const HEARTBEAT_FRAME = Buffer.from(formatComment(''));
const GENERIC_ERROR = 'Internal Server Error';

/**
 * One client's Server-Sent Events stream, returned by `r.response.sse()`.
 * Every event is framed by {@link encodeEvent}, so it is spec-correct by
 * construction; `send()` resolves once the socket accepted the bytes.
 *
 * The stream stays open until {@link close}, the client leaving or the
 * server's shutdown, whether or not the handler is still running.
 *
 * The head is sent at once, so the client's `open` fires before the first
 * event. A HEAD request gets the head and an already closed stream: there is
 * no body to stream into, and an endless loop writing nowhere helps nobody.
 *
 * @example
 * ```ts
 * s.bindHandler('/clock', async (r) => {
 *   const es = r.response.sse({ retry: 2000 });
 *   const t = setInterval(() => es.send({ event: 'tick', data: new Date().toISOString() }), 1000);
 *   await es.closed;
 *   clearInterval(t);
 * });
 * ```
 */
export class EventStream {
  /**
   * The `Last-Event-ID` the client sent (or the opt-in query fallback); `undefined` on a first connection.
   *
   * @example
   * ```ts
   * for (const row of await db.rowsAfter(es.lastEventId ?? '0')) await es.send({ id: row.id, data: row });
   * ```
   */
  readonly lastEventId: string | undefined;
  /** @internal */ readonly response: Response;
  /** Events it wrote, and those its subscribers settled (see {@link eventsSent}). */
  private sent = 0;
  // The signal, the `closed` promise and the end listeners are made on first use: a broadcast
  // server holds thousands of idle streams, and an AbortController with a listener on it costs
  // more memory than the rest of a stream together.
  private controller: AbortController | undefined = undefined;
  private closedPromise: Promise<void> | undefined = undefined;
  private resolveClosed: (() => void) | undefined = undefined;
  /**
   * One listener as it is (the usual: a channel's subscriber, or the request's end); an array from
   * the second; {@link ENDED} once the stream has ended (a field, not a boolean beside it).
   */
  private endListeners: EndListener | EndListener[] | undefined = undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Where `send()` may write pre-built chunks (see `chunked-socket.ts`), or `null`: through the response. */
  private socket: Socket | null = null;
  /** `response.written` when the heartbeat timer was last armed, to see writes that did not re-arm it. */
  private writtenAtBeat = 0;

  constructor(response: Response, options: EventStreamOptions = {}) {
    const heartbeat = options.heartbeat ?? DEFAULT_HEARTBEAT;
    if (!Number.isSafeInteger(heartbeat) || heartbeat < 0) {
      throw new InvalidArgumentError(
        'heartbeat',
        'must be a non-negative integer of milliseconds',
        heartbeat,
      );
    }
    // Framed before anything is sent, so a bad option throws while the response can still report it.
    const retryFrame = options.retry === undefined ? undefined : encodeEvent({ retry: options.retry });
    this.response = response;
    const r = response.request;
    this.lastEventId = readLastEventId(r.headers['last-event-id'], options.lastEventIdQuery, r);

    // Asked before Node's response is read: reading it gives Node the headers the view holds.
    const head = response.streamHead();
    const raw = response.raw;
    if (head !== undefined) {
      response.commit();
      raw.writeHead(raw.statusCode, head as OutgoingHttpHeader[]);
    } else {
      raw.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      // Whatever the handler said about a body of its own no longer describes this one.
      raw.removeHeader('Content-Length');
      raw.removeHeader('Content-Encoding');
      // Committed before our Cache-Control is set: a body encoder (compress()) decides here, and must
      // see a `no-transform` the handler asked for, not the one below, which is meant for proxies.
      response.commit();
      raw.setHeader('Cache-Control', 'no-cache, no-transform');
      raw.setHeader('X-Accel-Buffering', 'no');
    }
    // No `Connection` header of ours: Node says keep-alive exactly when it may (HTTP/1.1, and neither
    // the client nor the server, stopping, asked to close), and setting one would override both.
    // Send the head now so the client's `open` fires before the first event.
    if (retryFrame !== undefined) writeChunk(response, retryFrame);
    else raw.flushHeaders();

    if (raw.destroyed) {
      this.end();
      return;
    }
    if (r.method === 'HEAD') {
      this.close();
      return;
    }
    // A stream opened while the server is already stopping ends at once; later, a shutdown reaches
    // it through requestGone() (called by the request, so no listener on r.signal is needed). The
    // request's 'close' listener ends the stream too (responseClosed()): one listener, not two.
    if (!r.watch()) raw.once('close', () => this.end());
    if (r.gone) {
      this.requestGone();
      return;
    }
    if (heartbeat > 0) {
      this.writtenAtBeat = response.written;
      this.heartbeatTimer = setTimeout(() => this.beat(), heartbeat);
      // A stream must not keep a process alive that has nothing else to do.
      this.heartbeatTimer.unref();
    }
    this.socket = chunkedSocketOf(response);
  }

  /**
   * Whether the stream has ended.
   *
   * @example
   * ```ts
   * while (!es.isClosed) await es.send({ data: await nextTick() });
   * ```
   */
  get isClosed(): boolean {
    return this.ended;
  }

  private get ended(): boolean {
    return this.endListeners === ENDED;
  }

  /** @internal Why the stream ended (the response's reason), once it has. */
  get endReason(): EndReason | undefined {
    return this.ended ? this.response.endedBecause() : undefined;
  }

  /**
   * Aborts when the stream ends: the client left, `close()` was called, or
   * the server is stopping. Already aborted when first read after the end.
   *
   * @example
   * ```ts
   * const res = await fetch(upstream, { signal: es.signal }); // cancelled with the stream
   * ```
   */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.ended) this.controller.abort();
    }
    return this.controller.signal;
  }

  /**
   * Settles when the stream has ended, for whatever reason (already settled
   * when first read after the end). Never rejects. The stream does not need
   * it to stay open (it outlives the handler that opened it); await it to
   * keep the handler running for cleanup after the end.
   *
   * @example
   * ```ts
   * const unsubscribe = bus.on('order', (o) => es.send({ event: 'order', data: o }));
   * await es.closed; // the handler waits here until the stream ends
   * unsubscribe();
   * ```
   */
  get closed(): Promise<void> {
    if (this.closedPromise === undefined) {
      this.closedPromise = this.ended
        ? Promise.resolve()
        : new Promise((resolve) => {
            this.resolveClosed = resolve;
          });
    }
    return this.closedPromise;
  }

  /**
   * @internal Runs `fn` once when the stream ends (at once if it has). A plain
   * callback, not a listener on `signal`, so a channel subscriber costs no
   * AbortController; an object is told by its `streamEnded()`, so it needs no closure either.
   */
  onEnd(fn: EndListener): void {
    if (this.ended) {
      callEndListener(fn);
      return;
    }
    const list = this.endListeners;
    if (list === undefined) this.endListeners = fn;
    else if (Array.isArray(list)) list.push(fn);
    else this.endListeners = [list, fn];
  }

  /**
   * @internal The first end listener `match` accepts: a channel finds its subscriber of this
   * stream here, rather than in a map of its own that cost every subscribed stream an entry.
   */
  endListener<T extends EndListener>(match: (fn: EndListener) => fn is T): T | undefined {
    const list = this.endListeners;
    if (list === undefined || list === ENDED) return undefined;
    if (!Array.isArray(list)) return match(list) ? list : undefined;
    for (const fn of list) if (match(fn)) return fn;
    return undefined;
  }

  /**
   * @internal Events written to the socket (not counting comments, heartbeats or the retry frame),
   * its channels' deliveries included.
   */
  get eventsSent(): number {
    this.settleCounts();
    return this.sent;
  }

  /**
   * @internal Has the end listeners that count their own writes (a channel's subscribers, which
   * write to the socket without touching the stream) add them to {@link eventsSent} and the
   * response's `written`: called before either is read.
   */
  settleCounts(): void {
    const list = this.endListeners;
    if (list === undefined || typeof list === 'function') return;
    if (!Array.isArray(list)) list.settle?.();
    else for (const fn of list) if (typeof fn !== 'function') fn.settle?.();
  }

  /** @internal What an end listener wrote by itself, from its `settle()`. */
  countWrites(events: number, bytes: number): void {
    this.sent += events;
    this.response.written += bytes;
  }

  /** @internal Undoes {@link onEnd}. */
  offEnd(fn: EndListener): void {
    const list = this.endListeners;
    if (list === ENDED) return;
    if (list === fn) {
      this.endListeners = undefined;
      return;
    }
    if (!Array.isArray(list)) return;
    const i = list.indexOf(fn);
    if (i !== -1) list.splice(i, 1);
  }

  /** @internal The response closed: called by the request's 'close' listener (see `Request.watch`). */
  responseClosed(): void {
    this.end();
  }

  /**
   * @internal The request is gone: the client left (the response's 'close'
   * follows and ends the stream) or the server is stopping (end it cleanly).
   */
  requestGone(): void {
    if (this.response.node.destroyed) this.end();
    else this.close();
  }

  /**
   * Sends one event. Objects as `data` are sent as JSON; strings are split on
   * line breaks into several `data:` lines. An `event` or `id` containing
   * CR, LF or NUL throws {@link InvalidArgumentError} and nothing is written.
   * Resolves `true` once the socket accepted the bytes (after a `drain` when
   * it was full: await it and a slow client slows the producer down), and
   * `false`, never throwing, when the client is gone or the stream closed.
   *
   * @example
   * ```ts
   * for await (const row of rows) {
   *   if (!(await es.send({ event: 'row', id: row.id, data: row }))) break; // client gone
   * }
   * ```
   */
  send(event: SseEvent): Promise<boolean> {
    const framed = frameOf(event);
    if (this.ended) return FALSE;
    this.sent++;
    const socket = this.socket;
    const raw = this.response.node;
    // The channel's shortcut: one pre-built chunk to the socket instead of res.write's four parts. Not
    // once the response ended (raw.end() behind the stream's back): the socket may serve the next request.
    if (socket === null || raw.writableEnded || !socket.writable || !socketIsCaughtUp(raw)) {
      return this.writeFrame(framed.frame);
    }
    this.heartbeatTimer?.refresh();
    const response = this.response;
    response.written += framed.frame.length;
    this.writtenAtBeat = response.written;
    // Corked from its second write in a tick, as flush() is: see writeBuiltChunkTo.
    if (writeBuiltChunkTo(socket, framed.chunk)) return response.stopped ? FALSE : TRUE;
    return response.drained(socket);
  }

  /**
   * Sends a comment line (ignored by clients; useful as a keep-alive or for
   * debugging). Resolves like {@link send}.
   *
   * @example
   * ```ts
   * await es.comment(`connected to ${os.hostname()}`);
   * ```
   */
  comment(text: string): Promise<boolean> {
    return this.writeFrame(Buffer.from(formatComment(text)));
  }

  /**
   * Ends the stream cleanly. A `send()` still waiting for a client that
   * stopped reading resolves `false` now. A browser's `EventSource`
   * reconnects after its retry delay; tell it to stop with an event of your
   * own, or answer its reconnect with a status other than 200 (204 is the
   * usual one).
   *
   * @example
   * ```ts
   * await es.send({ event: 'done', data: '' });
   * es.close();
   * ```
   */
  close(): void {
    if (this.ended) return;
    const raw = this.response.node;
    if (!raw.writableEnded && !raw.destroyed) {
      const encoder = this.response.bodyEncoder;
      // An encoder ends the response itself, once its last bytes (a gzip trailer) are out.
      if (encoder === undefined) raw.end();
      else encoder.end();
      // Node has no write timeout: a client that never reads would hold the socket, and the
      // bytes queued for it, until shutdown. It gets a grace period to take them, then is cut.
      // Armed only while bytes wait for the client: a timer per close would keep every closed
      // response alive for the whole grace period.
      if (this.bufferedBytes > 0 || (raw.socket?.writableLength ?? 0) > 0) {
        setTimeout(cutUnfinished, CLOSE_GRACE_MS, raw).unref();
      }
    }
    // A client that stopped reading sends neither 'drain' nor 'close': release the writers now.
    this.response.stopWrites(undefined);
    this.end();
  }

  /**
   * @internal Writes bytes that are already framed (a channel frames an event
   * once for all subscribers). Resolves like {@link send}.
   */
  writeFrame(frame: Buffer): Promise<boolean> {
    if (this.ended) return Promise.resolve(false);
    this.heartbeatTimer?.refresh();
    const accepted = writeChunk(this.response, frame);
    this.writtenAtBeat = this.response.written;
    return accepted;
  }

  /**
   * @internal Synchronous write for fan-out: returns what `write()` returned
   * (`false`: the socket is full, check {@link bufferedBytes}), or `false` when closed.
   */
  writeFrameSync(frame: Buffer): boolean {
    if (this.ended) return false;
    const raw = this.response.node;
    if (raw.destroyed || raw.writableEnded) return false;
    this.heartbeatTimer?.refresh();
    this.response.written += frame.length;
    this.writtenAtBeat = this.response.written;
    const encoder = this.response.bodyEncoder;
    if (encoder !== undefined) return encoder.writeSync(frame);
    // The shortcut, as for events: a stream's own frames (a channel's cursor or notice, a heartbeat)
    // through res.write would cost a cork, a four-part writev and a write callback on the socket,
    // and Node's stream code stays dearer for every later write to a socket that has seen them.
    const socket = this.socket;
    // Never an empty frame: as a chunk it would end the response.
    if (socket !== null && frame.length !== 0 && socket.writable && socketIsCaughtUp(raw)) {
      return socket.write(chunkOf(frame).chunk);
    }
    return raw.write(frame);
  }

  /** @internal Bytes written to this stream that the socket has not yet taken (the slow-client measure). */
  get bufferedBytes(): number {
    const encoder = this.response.bodyEncoder;
    const raw = this.response.node.writableLength;
    return encoder === undefined ? raw : raw + encoder.pendingBytes;
  }

  /** @internal Resolves when the socket has room again (or `false` when the stream ended first). */
  drained(): Promise<boolean> {
    if (this.ended) return FALSE;
    return this.response.drained();
  }

  /** @internal Aborts the connection without a clean end (a subscriber dropped by policy, an internal error). */
  destroy(): void {
    this.response.stopWrites('error');
    this.response.node.destroy();
    this.end();
  }

  /**
   * @internal Reports an error thrown after the stream began, in-band as
   * `event: error` with `{ "message": ... }` (the real message only for an
   * exposed {@link HttpError}), never as text appended to the stream, then
   * ends it. Logging is the caller's job (the core logs once per request).
   */
  fail(err: unknown): void {
    if (this.ended) return;
    const message = err instanceof HttpError && err.expose ? err.message : GENERIC_ERROR;
    const raw = this.response.node;
    if (!raw.destroyed && !raw.writableEnded) {
      // Its return value only reports a full socket; end() below still delivers the frame.
      this.writeFrameSync(encodeEvent({ event: 'error', data: { message } }));
      this.sent++;
    }
    this.response.stopWrites('error');
    this.close();
  }

  private beat(): void {
    if (this.ended) return;
    // Not idle: bytes still queued for the socket (a slow client), or bytes written by a path that
    // does not refresh the timer (a channel writing straight to the socket, which skips the
    // per-write refresh to stay cheap). Either way a comment adds nothing; look again later.
    this.settleCounts();
    const written = this.response.written;
    if (this.bufferedBytes > 0 || written !== this.writtenAtBeat) {
      this.writtenAtBeat = written;
      this.heartbeatTimer?.refresh();
      return;
    }
    // Writing refreshes the timer, which re-arms it: the next beat comes one interval later.
    this.writeFrameSync(HEARTBEAT_FRAME);
  }

  private end(): void {
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    const listeners = this.endListeners;
    if (listeners === ENDED) return;
    this.endListeners = ENDED;
    this.controller?.abort();
    this.resolveClosed?.();
    if (listeners === undefined) return;
    if (!Array.isArray(listeners)) callEndListener(listeners);
    else for (const fn of listeners) callEndListener(fn);
  }
}

// The last event object send() framed, the field values it held then, and the frame. The same
// object sent to many streams in a row (a fan-out loop) is framed once. Only when every field is a
// primitive: equal primitives frame to equal bytes, while an object or bytes as `data` may have
// been changed in place since, which no comparison short of framing again can tell.
let lastEvent: SseEvent | undefined;
let lastData: unknown;
let lastName: unknown;
let lastId: unknown;
let lastRetry: unknown;
let lastComment: unknown;
let lastFrame: ChunkedFrame = chunkOf('');

/** The frame of `ev`, each of its properties read once; reused when `ev` is the last event framed, unchanged. */
function frameOf(ev: SseEvent): ChunkedFrame {
  if (typeof ev !== 'object' || ev === null || Array.isArray(ev)) return chunkOf(formatEvent(ev));
  const { data, event, id, retry, comment } = ev;
  if (
    ev === lastEvent &&
    data === lastData &&
    event === lastName &&
    id === lastId &&
    retry === lastRetry &&
    comment === lastComment
  ) {
    return lastFrame;
  }
  const framed = chunkOf(formatFields(data, event, id, retry, comment));
  if (typeof data === 'object' && data !== null) {
    lastEvent = undefined;
  } else {
    lastEvent = ev;
    lastData = data;
    lastName = event;
    lastId = id;
    lastRetry = retry;
    lastComment = comment;
    lastFrame = framed;
  }
  return framed;
}

/** How long a closed stream's client may take to read what it was sent before the socket is cut. */
const CLOSE_GRACE_MS = 10_000;

function cutUnfinished(raw: ServerResponse): void {
  if (!raw.writableFinished && !raw.destroyed) raw.destroy();
}

function readLastEventId(
  header: string | string[] | undefined,
  queryName: string | undefined,
  r: { getQuery(name: string): unknown },
): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value !== undefined && value !== '') return value;
  if (queryName === undefined) return undefined;
  const q = r.getQuery(queryName);
  return typeof q === 'string' && q !== '' ? q : undefined;
}
