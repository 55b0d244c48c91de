import type { Readable } from 'node:stream';
import type { Request } from '../request/request.ts';
import { writeChunk } from '../response/response-writer.ts';
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
 * @internal Streams what a handler returned when it is an async iterable, a
 * generator or a stream; anything else is left to the envelope /
 * end-of-chain logic. Items are pulled one at a time and only after the
 * previous one was accepted by the socket, so a slow client never makes the
 * producer run ahead. A handler that opened `r.response.sse(options)` itself
 * and then returns an iterable gets it streamed into that stream, which is
 * how a returned generator gets a `retry` or a heartbeat interval.
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
  const iterator = asyncIteratorOf(value) ?? (isGenerator(value) ? iteratorOf(value) : undefined);
  if (iterator !== undefined) await pipeSse(r, iterator);
}

async function pipeSse(r: Request, iterator: AsyncIterator<unknown>): Promise<void> {
  const es = r.response.eventStream ?? r.response.sse();
  await drive(iterator, es.signal, (item) => {
    const event = isSseEventItem(item) ? item[SSE_EVENT] : { data: item };
    return es.send(event);
  });
  es.close();
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
  await res.flush();
  // HEAD gets the head only; pulling an endless source into a body nobody sends would never stop.
  const signal = r.method === 'HEAD' ? AbortSignal.abort() : r.signal;
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
