import { InvalidArgumentError } from '../errors.ts';
import { ChannelHistory, type HistoryLimits } from './channel-history.ts';

/**
 * A value, or a promise of it: in-process adapters answer synchronously, networked ones cannot.
 *
 * @example
 * ```ts
 * const id: MaybePromise<string> = channel.publish({ data: 1 });
 * console.log(await id); // works for both
 * ```
 */
export type MaybePromise<T> = T | Promise<T>;

/**
 * What a channel hands its adapter to publish: the event as given (for
 * subscriber filters) and its SSE framing without the `id:` line.
 *
 * @example
 * ```ts
 * // channel.publish({ event: 'tick', data: { p: 1 } }) hands the adapter:
 * const m: ChannelMessage = { event: 'tick', data: { p: 1 }, body: 'event: tick\ndata: {"p":1}\n\n' };
 * ```
 *
 * An adapter that carries events between processes sends `event`, `data` (as
 * JSON, or as the string it is) and `body`; receivers frame nothing again,
 * they only put `id: <id>` in front of `body`.
 */
export interface ChannelMessage {
  /** The event type (`undefined`: "message"). */
  readonly event: string | undefined;
  /** The data as published (what a subscriber's `filter` sees). */
  readonly data: unknown;
  /** Complete SSE fields of the event except `id`, ending with the blank line that dispatches it. */
  readonly body: string;
}

/**
 * One published event as the channel's log holds it: the message plus the id
 * the adapter assigned and the time it was stored.
 *
 * @example
 * ```ts
 * channel.subscribe(es, { filter: (rec) => rec.event === 'trade' });
 * ```
 */
export interface ChannelRecord extends ChannelMessage {
  /** Assigned by the adapter; increases with every publish on the channel. Opaque to clients. */
  readonly id: string;
  /** When it was stored, in epoch milliseconds (history age is measured from it). */
  readonly time: number;
  /**
   * @internal The bytes written to subscribers, set by the channel the first
   * time the record is delivered or replayed, so it is framed once. Adapters
   * create records with `wire: undefined` and never read it.
   */
  wire: Wire | undefined;
}

/** @internal One framed event: an HTTP/1.1 chunk holding the SSE frame, and a view of the frame alone. */
export interface Wire {
  readonly chunk: Buffer;
  readonly frame: Buffer;
  /** `frame.length`, read once per event: a typed array's length costs more than a field's. */
  readonly size: number;
}

/**
 * Why a replay could not be served: the client must reload its state (see `Channel`'s reset event).
 *
 * @example
 * ```ts
 * es.addEventListener('reset', (e) => { if (JSON.parse(e.data).reason === 'expired') reloadState(); });
 * ```
 */
export type ResetReason = 'unknown-id' | 'expired';

/**
 * The answer to "what came after this id?". `lastId` is the newest id the log
 * had when it answered: after a reset it is where the client starts again.
 *
 * @example
 * ```ts
 * const r = adapter.replay('ticker', lastEventId);
 * if (r.reset === undefined) console.log(`${r.records.length} events to replay`);
 * ```
 */
export type ReplayResult =
  | { readonly records: readonly ChannelRecord[]; readonly lastId: string; readonly reset?: undefined }
  | { readonly reset: ResetReason; readonly lastId: string; readonly records?: undefined };

/**
 * What a channel asks of its adapter when it opens its log.
 *
 * @example
 * ```ts
 * adapter.open('ticker', { history: historyLimits(1000) }, (record) => fanOut(record));
 * ```
 */
export interface ChannelLogOptions {
  readonly history: HistoryLimits;
}

/**
 * Carries a channel's events: assigns ids, keeps the history, and delivers
 * every event to every process that opened the channel. The in-memory
 * {@link MemoryAdapter} is the default; `RedisAdapter` from `sluice/redis`
 * shares channels between processes (a Stream per channel is the history,
 * Pub/Sub only rings a doorbell). `test/helpers/adapter-conformance.ts`
 * checks an adapter against this contract with real clients.
 *
 * Contract, which the channel relies on for replay without gap or duplicate:
 * 1. Ids are `<major>-<minor>`, two non-negative decimal integers, ordered by
 *    major then minor ({@link compareIds}), strictly increasing per channel.
 * 2. `deliver` is called once per event, in id order, and only after
 *    `replay` can return that event (store first, then deliver).
 * 3. Calls for one channel are carried out in the order they were made.
 *
 * Methods may answer synchronously (the channel then needs no buffering
 * during a replay hand-over) or with a promise.
 *
 * @example
 * ```ts
 * const adapter = new MemoryAdapter();
 * const hub = new ChannelHub({ adapter });   // every channel of the hub shares it
 * ```
 */
export interface ChannelAdapter {
  /**
   * Opens (or creates) the log of channel `name` and starts delivering its
   * events to `deliver`. Resolves to the id of the newest event, or to the
   * log's zero id when there is none yet.
   */
  open(
    name: string,
    options: ChannelLogOptions,
    deliver: (record: ChannelRecord) => void,
  ): MaybePromise<string>;
  /** Stores the message with a new id and delivers it; resolves to the id. */
  publish(name: string, message: ChannelMessage): MaybePromise<string>;
  /** The records after `afterId`, oldest first, or why they cannot be had. */
  replay(name: string, afterId: string): MaybePromise<ReplayResult>;
  /** Stops delivery for `name` in this process and releases what it holds for it here. */
  close(name: string): MaybePromise<void>;
  /**
   * `true` when `publish` may be called before `open` has settled (the
   * adapter keeps the calls in order itself). The channel then passes
   * publishes straight through instead of queueing them behind the open, so
   * a networked adapter whose store is unreachable can reject them at once.
   */
  readonly publishesBeforeOpen?: boolean;
}

const ID_PATTERN = /^(\d{1,16})-(\d{1,16})$/;

/**
 * Parses an id of the `<major>-<minor>` form, or `undefined` when it is
 * malformed (anything a client sends is untrusted).
 *
 * @example
 * ```ts
 * parseId('1732420000000-42'); // [1732420000000, 42]
 * parseId('42');               // undefined
 * ```
 */
export function parseId(id: string): [number, number] | undefined {
  const m = ID_PATTERN.exec(id);
  if (m === null) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return Number.isSafeInteger(major) && Number.isSafeInteger(minor) ? [major, minor] : undefined;
}

/**
 * Orders two well-formed ids: negative when `a` came first. Malformed ids
 * sort before every well-formed one, so they never win a comparison.
 *
 * @example
 * ```ts
 * compareIds('5-9', '5-10') < 0;  // true: numbers, not strings
 * ```
 */
export function compareIds(a: string, b: string): number {
  const pa = parseId(a);
  const pb = parseId(b);
  if (pa === undefined || pb === undefined) return (pa === undefined ? 0 : 1) - (pb === undefined ? 0 : 1);
  return pa[0] - pb[0] || pa[1] - pb[1];
}

// Epochs are unique within the process, so two logs opened in the same
// millisecond cannot accept each other's ids.
let lastEpoch = 0;

function nextEpoch(): number {
  lastEpoch = Math.max(Date.now(), lastEpoch + 1);
  return lastEpoch;
}

interface MemoryLog {
  readonly epoch: number;
  readonly prefix: string;
  readonly history: ChannelHistory;
  readonly deliver: (record: ChannelRecord) => void;
}

/**
 * The default adapter: one process, everything synchronous. Ids are
 * `<epoch>-<seq>`, where the epoch is the time the log was opened (unique
 * within the process) and seq counts publishes from 1. An id from another
 * log, or from before a restart, carries another epoch and is answered
 * `unknown-id`, never mistaken for a position in this log.
 *
 * @example
 * ```ts
 * const channel = new Channel({ adapter: new MemoryAdapter() }); // what `new Channel()` does anyway
 * ```
 */
export class MemoryAdapter implements ChannelAdapter {
  private readonly logs = new Map<string, MemoryLog>();

  open(name: string, options: ChannelLogOptions, deliver: (record: ChannelRecord) => void): string {
    if (this.logs.has(name)) throw new InvalidArgumentError('name', 'is already open on this adapter', name);
    const epoch = nextEpoch();
    const log = { epoch, prefix: `${epoch}-`, history: new ChannelHistory(options.history), deliver };
    this.logs.set(name, log);
    return `${log.prefix}0`;
  }

  publish(name: string, message: ChannelMessage): string {
    const log = this.log(name);
    const id = log.prefix + (log.history.lastSeq + 1);
    const record: ChannelRecord = {
      id,
      event: message.event,
      data: message.data,
      body: message.body,
      time: Date.now(),
      wire: undefined,
    };
    log.history.push(record);
    log.deliver(record);
    return id;
  }

  replay(name: string, afterId: string): ReplayResult {
    const log = this.log(name);
    const history = log.history;
    const lastId = log.prefix + history.lastSeq;
    const parsed = parseId(afterId);
    if (parsed === undefined || parsed[0] !== log.epoch || parsed[1] > history.lastSeq) {
      return { reset: 'unknown-id', lastId };
    }
    const seq = parsed[1];
    if (seq === history.lastSeq) return { records: [], lastId };
    history.trimAge(Date.now());
    // The client needs seq + 1 onwards: if that one is gone, replaying the rest would hide a gap.
    if (seq + 1 < history.firstSeq()) return { reset: 'expired', lastId };
    return { records: history.after(seq), lastId };
  }

  close(name: string): void {
    this.logs.delete(name);
  }

  /**
   * Records kept for `name` right now (for tests and metrics).
   *
   * @example
   * ```ts
   * metrics.gauge('sse_history', adapter.historySize('ticker'));
   * ```
   */
  historySize(name: string): number {
    return this.logs.get(name)?.history.size() ?? 0;
  }

  private log(name: string): MemoryLog {
    const log = this.logs.get(name);
    if (log === undefined) throw new InvalidArgumentError('name', 'is not an open channel', name);
    return log;
  }
}
