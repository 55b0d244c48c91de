import { InvalidArgumentError } from '../errors.ts';
import type { ChannelRecord } from './channel-adapter.ts';

/**
 * How much of a channel's past is kept for replay: the newest `count` events,
 * and of those only the ones younger than `maxAge` milliseconds.
 * `Infinity` turns a bound off (but not both: history must be bounded).
 *
 * @example
 * ```ts
 * const limits: HistoryLimits = { count: 1000, maxAge: Infinity }; // what historyLimits(1000) returns
 * ```
 */
export interface HistoryLimits {
  readonly count: number;
  readonly maxAge: number;
}

/**
 * The `history` option of a channel: a number is a count
 * (`{ history: 1000 }` keeps the last 1,000 events), an object may add an age
 * in milliseconds, and `0` or `false` keeps nothing (every reconnect with a
 * `Last-Event-ID` then gets a reset, except one that is already up to date).
 *
 * @example
 * ```ts
 * new Channel({ history: 1000 });                           // the last 1,000 events
 * new Channel({ history: { count: 10_000, maxAge: 60_000 } }); // at most 10,000, none older than a minute
 * ```
 */
export type HistoryOption = number | false | { count?: number; maxAge?: number };

/** @internal Kept when a channel is created without a `history` option. */
export const DEFAULT_HISTORY: HistoryLimits = { count: 1000, maxAge: Number.POSITIVE_INFINITY };

/**
 * Validates a `history` option into limits.
 *
 * @throws {InvalidArgumentError} for a negative or fractional count or age,
 * or when neither bound is finite (memory would grow with every publish).
 * @example
 * ```ts
 * historyLimits(50);                 // { count: 50, maxAge: Infinity }
 * historyLimits({ maxAge: 30_000 }); // { count: Infinity, maxAge: 30000 }
 * ```
 */
export function historyLimits(option: HistoryOption | undefined): HistoryLimits {
  if (option === undefined) return DEFAULT_HISTORY;
  if (option === false) return { count: 0, maxAge: Number.POSITIVE_INFINITY };
  if (typeof option === 'number')
    return { count: bound('history', option), maxAge: Number.POSITIVE_INFINITY };
  if (typeof option !== 'object' || option === null) {
    throw new InvalidArgumentError('history', 'must be a count, false, or { count, maxAge }', option);
  }
  const count = option.count === undefined ? Number.POSITIVE_INFINITY : bound('history.count', option.count);
  const maxAge =
    option.maxAge === undefined ? Number.POSITIVE_INFINITY : bound('history.maxAge', option.maxAge);
  if (count === Number.POSITIVE_INFINITY && maxAge === Number.POSITIVE_INFINITY) {
    throw new InvalidArgumentError('history', 'needs a finite count or maxAge, or it grows forever', option);
  }
  return { count, maxAge };
}

function bound(name: string, value: unknown): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(name, 'must be a non-negative integer (or Infinity)', value);
  }
  return value;
}

/**
 * The replay log of one channel in one process: records in publish order,
 * addressed by their sequence number, trimmed by count on every push and by
 * age whenever it is touched. Age is enforced lazily, on purpose: a timer per
 * channel would keep idle processes awake and is one more thing to leak, and
 * the count bound already caps the memory an idle channel can hold.
 *
 * Sequence numbers are contiguous (the adapter assigns `last + 1` on each
 * push), so finding the events after a given one is index arithmetic, not a
 * search.
 *
 * @example
 * ```ts
 * const h = new ChannelHistory({ count: 3, maxAge: Infinity });
 * for (const r of records) h.push(r);  // keeps the newest three
 * h.after(h.lastSeq - 2);              // the two newest records
 * ```
 */
export class ChannelHistory {
  readonly limits: HistoryLimits;
  /** Sequence number of the newest record ever pushed (0 before the first). */
  lastSeq = 0;
  // A deque on a plain array: `head` counts evicted slots at the front, which
  // are cleared (so the records can be collected) and compacted away in bulk.
  private items: (ChannelRecord | undefined)[] = [];
  private head = 0;

  constructor(limits: HistoryLimits) {
    this.limits = limits;
  }

  /** Records kept right now (after trimming by age). */
  size(now = Date.now()): number {
    this.trimAge(now);
    return this.items.length - this.head;
  }

  /** Sequence number of the oldest record kept (`lastSeq + 1` when none is kept). */
  firstSeq(): number {
    return this.lastSeq - (this.items.length - this.head) + 1;
  }

  /** Appends the record with the next sequence number and trims to the limits. */
  push(record: ChannelRecord): void {
    this.lastSeq++;
    if (this.limits.count === 0) return;
    this.items.push(record);
    if (this.items.length - this.head > this.limits.count) this.evictOne();
    this.trimAge(record.time);
  }

  /** The records after `seq`, oldest first; the caller has checked that they are all kept. */
  after(seq: number): ChannelRecord[] {
    const from = this.head + (seq - this.firstSeq() + 1);
    return this.items.slice(Math.max(from, this.head)) as ChannelRecord[];
  }

  /** Drops records older than `maxAge` (relative to `now`). */
  trimAge(now: number): void {
    const maxAge = this.limits.maxAge;
    if (maxAge === Number.POSITIVE_INFINITY) return;
    const oldest = now - maxAge;
    while (this.head < this.items.length && (this.items[this.head] as ChannelRecord).time < oldest) {
      this.evictOne();
    }
  }

  private evictOne(): void {
    this.items[this.head++] = undefined;
    // Compacting when half the array is dead keeps push amortized O(1).
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
