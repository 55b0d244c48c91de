import type { Readable } from 'node:stream';
import { RawWriteAfterSseError, UnsupportedReturnValueError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import { carriesBody, writeChunk } from '../response/response-writer.ts';
import { assertEventFields, type SseEvent } from './encoder.ts';

const STREAM_BODY = Symbol('sluice.streamBody');
const SSE_EVENT = Symbol('sluice.sseEvent');

type Source<T> = AsyncIterable<T> | Iterable<T> | ReadableStream<T> | Readable;

/** What {@link ndjson} and {@link textStream} return: a source tagged with how to write it. */
interface StreamBody {
  readonly [STREAM_BODY]: 'ndjson' | 'text';
  readonly source: Source<unknown>;
}

/**
 * An item of a returned iterable that carries a full event (name, id, retry), not only data.
 *
 * @example
 * ```ts
 * const item: SseEventItem = sseEvent({ event: 'done', data: '' });
 * ```
 */
export interface SseEventItem {
  readonly [SSE_EVENT]: SseEvent;
}

/**
 * Marks an item of a returned iterable as a complete SSE event, for control
 * of `event`, `id` and `retry`; plain items are sent as `data` only (objects
 * as JSON). The event is validated here, where the mistake is, so a bad
 * `event` or `id` throws from the line that built it.
 *
 * @example
 * ```ts
 * s.bindHandler('/feed', async function* () {
 *   yield sseEvent({ event: 'greeting', id: '1', data: 'hi' });
 *   yield { n: 2 }; // data: {"n":2}
 * });
 * ```
 */
export function sseEvent(event: SseEvent): SseEventItem {
  assertEventFields(event);
  return { [SSE_EVENT]: event };
}

/**
 * Streams a returned iterable (or web `ReadableStream`, or Node `Readable`)
 * as newline-delimited JSON (`application/x-ndjson`): one
 * `JSON.stringify(item)` line per item. An error thrown after the first
 * bytes aborts the connection, so the client sees a truncated response
 * instead of a clean end.
 *
 * @example
 * ```ts
 * s.bindHandler('/rows', () => ndjson(db.cursor('SELECT * FROM t')));
 * ```
 */
export function ndjson(source: Source<unknown>): StreamBody {
  return { [STREAM_BODY]: 'ndjson', source };
}

/**
 * Streams a returned iterable as plain text (`text/plain; charset=utf-8`
 * unless a type was set): strings and bytes as they are, nothing added
 * between items. Errors mid-stream abort the connection, as for {@link ndjson}.
 *
 * @example
 * ```ts
 * s.bindHandler('/log', () => textStream(tail('/var/log/app.log')));
 * ```
 */
export function textStream(source: Source<unknown>): StreamBody {
  return { [STREAM_BODY]: 'text', source };
}

/**
 * @internal Streams what a handler returned when it is a stream of some kind;
 * anything else is left to the envelope / end-of-chain logic. Bytes stay
 * bytes: a Fetch `Response` is sent with its status, headers and body; a
 * `Blob`, a Node `Readable` (not in object mode) and a web `ReadableStream`
 * whose first chunk is bytes stream as they are, with the handler's content
 * type (`application/octet-stream` when it set none). Only values become
 * SSE events: async iterables, generators, object-mode `Readable`s and
 * `ReadableStream`s of strings or objects.
 *
 * Items are pulled one at a time and only after the previous one was
 * accepted by the socket, so a slow client never makes the producer run
 * ahead; when the client leaves, the source is stopped (`return()`, which
 * destroys a `Readable` and cancels a `ReadableStream` or a fetch body). A
 * handler that opened `r.response.sse(options)` itself and then returns an
 * iterable gets it streamed into that stream, which is how a returned
 * generator gets a `retry` or a heartbeat interval.
 */
export async function pipeReturned(r: Request, value: unknown): Promise<void> {
  if (typeof value !== 'object' || value === null) return;
  if (STREAM_BODY in value) {
    const body = value as StreamBody;
    const iterator = iteratorOf(body.source);
    if (iterator !== undefined) await pipeBytes(r, iterator, body[STREAM_BODY]);
    return;
  }
  if (value instanceof Uint8Array || Array.isArray(value)) return;
  if (value instanceof FetchResponse) return pipeResponse(r, value);
  if (value instanceof Blob) {
    return pipeBody(r, blobChunks(value), value.type || OCTET_STREAM, value.size);
  }
  if (isNodeReadable(value)) {
    const iterator = readableIterator(value);
    if (value.readableObjectMode) return pipeSse(r, iterator);
    return pipeBody(r, iterator, OCTET_STREAM, undefined);
  }
  if (value instanceof ReadableStream) return pipeWebStream(r, value);
  const iterator = asyncIteratorOf(value) ?? (isGenerator(value) ? iteratorOf(value) : undefined);
  if (iterator !== undefined) await pipeSse(r, iterator);
}

/**
 * @internal Whether {@link pipeReturned} would stream `value`, told without calling it (it is
 * async, and would cost a returned `{ ... }` a microtask turn). Left alone: anything not an
 * object, an array, bytes, and a plain object that is no tagged stream body and not iterable.
 * `in` rather than listing the symbol keys: the list would be an array made per returned object.
 */
export function isStreamable(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value) || value instanceof Uint8Array) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return true;
  return STREAM_BODY in value || Symbol.asyncIterator in value || Symbol.iterator in value;
}

const FetchResponse = globalThis.Response;
const OCTET_STREAM = 'application/octet-stream';

/**
 * Connection-level headers of the response a `fetch()` received: they describe that hop, not
 * this one, and Node sets its own.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

async function pipeSse(r: Request, iterator: AsyncIterator<unknown>): Promise<void> {
  const es = r.response.eventStream ?? r.response.sse();
  await drive(iterator, es.signal, (item) => es.send(toEvent(item)));
  es.close();
}

function toEvent(item: unknown): SseEvent {
  return isSseEventItem(item) ? item[SSE_EVENT] : { data: item };
}

/**
 * A Fetch `Response` as Hono or a Worker would send it: its status, its headers (every
 * `Set-Cookie` on its own line, after the handler's own cookies), its body streamed. A fetched
 * response's body was already decompressed by `fetch`, so its `Content-Encoding` and
 * `Content-Length` no longer describe it and are dropped.
 */
async function pipeResponse(r: Request, fetched: globalThis.Response): Promise<void> {
  if (fetched.bodyUsed) {
    throw new UnsupportedReturnValueError(
      'Response',
      'a Response whose body was already read',
      'return a new Response, or the one you got before reading it',
    );
  }
  const res = r.response;
  // Throws ResponseCommittedError after a flush() or sse(), where the status can no longer change.
  res.status = fetched.status;
  const raw = res.raw;
  if (fetched.statusText !== '') raw.statusMessage = fetched.statusText;
  const decoded = fetched.type !== 'default';
  fetched.headers.forEach((value, name) => {
    if (name === 'set-cookie' || HOP_BY_HOP.has(name)) return;
    if (decoded && (name === 'content-encoding' || name === 'content-length')) return;
    raw.setHeader(name, value);
  });
  const cookies = fetched.headers.getSetCookie();
  if (cookies.length > 0) raw.appendHeader('Set-Cookie', cookies);
  const body = fetched.body;
  if (body === null) {
    // Answered, with no body: committed so that no envelope or JSON of the Response follows.
    res.commit();
    return;
  }
  await pipeBody(r, streamIterator(body), OCTET_STREAM, undefined);
}

/**
 * A web `ReadableStream` is bytes or values, and only its chunks tell: the first one decides.
 * Its head therefore goes out with the first chunk, not before.
 */
async function pipeWebStream(r: Request, stream: ReadableStream<unknown>): Promise<void> {
  const iterator = streamIterator(stream);
  if (r.response.eventStream !== undefined) return pipeSse(r, iterator);
  const first = await pull(iterator, r.signal);
  if (first === undefined) {
    // The client left before the first chunk: nothing to send, and no JSON of the stream object.
    r.response.commit();
    return;
  }
  if (first.done || first.value instanceof Uint8Array) {
    return pipeBody(r, prepend(first, iterator), OCTET_STREAM, undefined);
  }
  return pipeSse(r, prepend(first, iterator));
}

/** One pull that gives up (and stops the source) when `signal` aborts first; `undefined` then. */
async function pull(
  iterator: AsyncIterator<unknown>,
  signal: AbortSignal,
): Promise<IteratorResult<unknown> | undefined> {
  let step: IteratorResult<unknown> | undefined;
  await drive(
    {
      next: async () => {
        if (step !== undefined) return { done: true, value: undefined };
        step = await iterator.next();
        // Reported as an item, so that drive() neither stops the source nor treats it as over.
        return { done: false, value: step };
      },
      return: async () => {
        if (step === undefined) await iterator.return?.();
        return { done: true, value: undefined };
      },
    },
    signal,
    async () => true,
  );
  return step;
}

/** `first`, already pulled, then the rest of `iterator`. */
function prepend(first: IteratorResult<unknown>, iterator: AsyncIterator<unknown>): AsyncIterator<unknown> {
  let pending: IteratorResult<unknown> | undefined = first;
  return {
    next: async () => {
      const step = pending;
      pending = undefined;
      return step ?? iterator.next();
    },
    return: async () => (await iterator.return?.()) ?? { done: true, value: undefined },
  };
}

/**
 * Bytes as they are. The head waits for the first chunk (one write instead of two), so a source
 * that fails before it still gets a proper 500; a failure after it aborts the connection, as for
 * {@link ndjson}. `length`, when known (a Blob), becomes `Content-Length`; a stream of unknown
 * length is one nginx must not hold back to fill its buffers.
 */
async function pipeBody(
  r: Request,
  iterator: AsyncIterator<unknown>,
  defaultType: string,
  length: number | undefined,
): Promise<void> {
  const res = r.response;
  if (res.eventStream !== undefined) {
    stopSource(iterator);
    throw new RawWriteAfterSseError('return a byte stream');
  }
  if (!res.isCommitted()) {
    if (!res.header.has('content-type')) res.header.set('Content-Type', defaultType);
    if (length !== undefined) res.header.set('Content-Length', String(length));
    else if (!res.header.has('content-length')) res.header.set('X-Accel-Buffering', 'no');
  }
  if (!carriesBody(res.raw)) {
    // A HEAD, 204 or 304 gets its head when the chain ends; the source is not read at all.
    stopSource(iterator);
    res.commit();
    return;
  }
  await drive(iterator, r.signal, (chunk) => writeChunk(res, toBytes(chunk)));
  // An empty source is still an answer: an empty body, not JSON of the stream object.
  res.commit();
}

function toBytes(chunk: unknown): Buffer | string {
  if (typeof chunk === 'string') return chunk;
  if (chunk instanceof Uint8Array) {
    return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  throw new UnsupportedReturnValueError(
    typeof chunk,
    `a byte stream with a chunk that is not bytes (${Object.prototype.toString.call(chunk)})`,
    'yield only Uint8Array or string chunks, or return an async iterable of values to send events',
  );
}

function stopSource(iterator: AsyncIterator<unknown>): void {
  Promise.resolve(iterator.return?.()).catch(() => {});
}

async function* blobChunks(blob: Blob): AsyncGenerator<Uint8Array> {
  // Small blobs (the common case: an image, a generated file) come in one read, not 64 KiB pieces.
  if (blob.size <= 1024 * 1024) {
    yield new Uint8Array(await blob.arrayBuffer());
    return;
  }
  yield* { [Symbol.asyncIterator]: () => streamIterator(blob.stream()) } as AsyncIterable<Uint8Array>;
}

/**
 * A web stream read through its reader, not its async iterator: the iterator's `return()` waits
 * for a pending read to settle, so a source that is silent when the client leaves would never be
 * cancelled; `reader.cancel()` ends the pending read at once.
 */
function streamIterator<T>(stream: ReadableStream<T>): AsyncIterator<T> {
  const reader = stream.getReader();
  return {
    next: () => reader.read() as Promise<IteratorResult<T>>,
    return: async () => {
      await reader.cancel();
      return { done: true, value: undefined };
    },
  };
}

/**
 * A Node `Readable` pulled through its async iterator, but stopped by `destroy()`: the iterator's
 * own `return()` waits for a pending read, so a silent source would outlive the client.
 */
function readableIterator(stream: Readable): AsyncIterator<unknown> {
  const it = stream[Symbol.asyncIterator]();
  return {
    next: () => it.next(),
    return: async () => {
      stream.destroy();
      return { done: true, value: undefined };
    },
  };
}

/** A Node `Readable` (or one from the `readable-stream` package), told apart from web streams. */
function isNodeReadable(value: object): value is Readable {
  return (
    typeof (value as Readable).readableObjectMode === 'boolean' &&
    typeof (value as Readable).pipe === 'function' &&
    Symbol.asyncIterator in value
  );
}

async function pipeBytes(
  r: Request,
  iterator: AsyncIterator<unknown>,
  kind: 'ndjson' | 'text',
): Promise<void> {
  const res = r.response;
  if (!res.isCommitted()) {
    if (!res.header.has('content-type')) {
      res.header.set(
        'Content-Type',
        kind === 'ndjson' ? 'application/x-ndjson' : 'text/plain; charset=utf-8',
      );
    }
    // nginx would otherwise hold the stream back to fill its buffers.
    res.header.set('X-Accel-Buffering', 'no');
  }
  // false: a HEAD got its head and is over, or the client already left. Pulling an endless source
  // into a body nobody gets would never stop, so the source is only given its return().
  const signal = (await res.flush()) ? r.signal : AbortSignal.abort();
  await drive(iterator, signal, (item) => {
    if (kind === 'ndjson') return writeChunk(res, `${JSON.stringify(item) ?? 'null'}\n`);
    return writeChunk(res, item instanceof Uint8Array ? Buffer.from(item) : String(item));
  });
}

/**
 * Pulls, writes, repeats; stops on the first write the client did not take
 * or when `signal` aborts, even while the iterator is still working on its
 * next item. Always gives an unfinished iterator a chance to clean up
 * (`return()`), so a generator's `finally` runs when the client leaves.
 */
async function drive(
  iterator: AsyncIterator<unknown>,
  signal: AbortSignal,
  write: (item: unknown) => Promise<boolean>,
): Promise<void> {
  // Set when the iterator itself says it is over (done, or it threw): return() is then pointless.
  let finished = false;
  // One listener wakes whichever pull is waiting. Racing each pull against one long-lived "aborted"
  // promise instead leaves a reaction on that promise per item, and each reaction keeps its item
  // reachable until the stream ends: a long stream would hold everything it ever sent.
  let wake: ((step: 'aborted') => void) | undefined;
  const onAbort = () => wake?.('aborted');
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    while (!signal.aborted) {
      let step: IteratorResult<unknown> | 'aborted';
      try {
        step = await new Promise<IteratorResult<unknown> | 'aborted'>((resolve, reject) => {
          wake = resolve;
          Promise.resolve(iterator.next()).then(resolve, reject);
        });
      } catch (e) {
        finished = true;
        throw e;
      } finally {
        wake = undefined;
      }
      if (step === 'aborted') break;
      if (step.done) {
        finished = true;
        break;
      }
      if (!(await write(step.value))) break;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    // Not awaited: a generator blocked in an await only finishes return() after that await settles,
    // and the response must not wait for it. Its rejection is not ours to report twice.
    if (!finished) Promise.resolve(iterator.return?.()).catch(() => {});
  }
}

function isSseEventItem(item: unknown): item is SseEventItem {
  return typeof item === 'object' && item !== null && SSE_EVENT in item;
}

/** A sync generator object: streamed like an async one, while arrays, Maps and Sets stay JSON. */
function isGenerator(value: object): boolean {
  return Object.prototype.toString.call(value) === '[object Generator]';
}

function asyncIteratorOf(value: object): AsyncIterator<unknown> | undefined {
  const asyncIt = (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator];
  if (typeof asyncIt === 'function') return asyncIt.call(value);
  return undefined;
}

function iteratorOf(source: object): AsyncIterator<unknown> | undefined {
  if (source instanceof ReadableStream) return streamIterator(source);
  if (isNodeReadable(source)) return readableIterator(source);
  const asyncIt = asyncIteratorOf(source);
  if (asyncIt !== undefined) return asyncIt;
  const syncIt = (source as Partial<Iterable<unknown>>)[Symbol.iterator];
  if (typeof syncIt !== 'function') return undefined;
  const it = syncIt.call(source) as Iterator<unknown>;
  return {
    next: async () => it.next(),
    return: async () => it.return?.() ?? { done: true, value: undefined },
  };
}
