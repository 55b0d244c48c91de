/**
 * One channel's delivery in one process, kept in order by a single rule:
 * the stream is the truth, Pub/Sub only rings a bell. The log remembers the
 * id it delivered last; an event that is its direct successor is delivered
 * at once, anything else (a gap after a lost message, a new epoch, a
 * doorbell that came in while a read was running) makes it read the stream
 * from that id on. So a lost, late or duplicated Pub/Sub message can delay
 * an event, never drop, repeat or reorder it.
 */
import type { ChannelRecord } from '../channel/channel-adapter.ts';
import { compareIds, parseId } from '../channel/channel-adapter.ts';
import type { HistoryLimits } from '../channel/channel-history.ts';
import type { Logger } from '../server/server-logger.ts';
import { decodeStreamEntry } from './redis-entry.ts';

/** What a log needs from its adapter: a stream read. */
export interface StreamReader {
  /** `XRANGE <stream> (<afterId> + COUNT <count>`, raw. */
  readAfter(log: RedisLog, afterId: string, count: number): Promise<unknown[]>;
  /** Told when a read failed: Redis is away, the periodic catch-up tries again. */
  readFailed(log: RedisLog, err: unknown): void;
  readonly logger: Logger;
  readonly pageSize: number;
}

/** @internal The Redis side of one open channel in this process. */
export class RedisLog {
  readonly name: string;
  readonly stream: string;
  readonly meta: string;
  /** The Pub/Sub channel of its doorbell (same hash tag as the keys). */
  readonly bell: string;
  readonly limits: HistoryLimits;
  /** Newest id delivered here; '' until the log is open. */
  last = '';
  closed = false;
  subscribed = false;
  readonly listener: (message: string) => void;
  private readonly deliver: (record: ChannelRecord) => void;
  private readonly reader: StreamReader;
  private reading = false;
  private again = false;

  constructor(
    name: string,
    prefix: string,
    limits: HistoryLimits,
    deliver: (record: ChannelRecord) => void,
    reader: StreamReader,
    onBell: (log: RedisLog, message: string) => void,
  ) {
    this.name = name;
    // Everything between the first '{' and the next '}' is the hash tag: all of a channel's keys share it.
    this.bell = `${prefix}{${name}}`;
    this.stream = `${this.bell}:s`;
    this.meta = `${this.bell}:m`;
    this.limits = limits;
    this.deliver = deliver;
    this.reader = reader;
    this.listener = (message: string) => onBell(this, message);
  }

  /** The newest epoch this process has seen: a new epoch must start above it. */
  floor(): number {
    return this.last === '' ? 0 : (parseId(this.last)?.[0] ?? 0);
  }

  /** An event from a doorbell or from this process's own publish. */
  offer(record: ChannelRecord): void {
    if (this.last === '' || this.closed || compareIds(record.id, this.last) <= 0) return;
    if (this.reading) {
      // Delivering it now could overtake what the read is about to deliver: the read goes on past it.
      this.again = true;
      return;
    }
    if (follows(this.last, record.id)) this.accept(record);
    else this.catchUp();
  }

  /** Reads the stream after the last delivered id until it is exhausted (one reader at a time). */
  catchUp(): void {
    if (this.last === '' || this.closed) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    void this.read();
  }

  private async read(): Promise<void> {
    const reader = this.reader;
    try {
      do {
        this.again = false;
        for (;;) {
          const page = await reader.readAfter(this, this.last, reader.pageSize);
          if (this.closed) return;
          for (const entry of page) this.take(entry);
          if (page.length < reader.pageSize) break;
        }
      } while (this.again && !this.closed);
    } catch (err) {
      reader.readFailed(this, err);
    } finally {
      this.reading = false;
    }
  }

  /** One entry of a stream read: delivered if valid, skipped (and logged) if not. */
  private take(entry: unknown): void {
    const { id, record } = decodeStreamEntry(entry);
    if (typeof record !== 'string') {
      if (compareIds(record.id, this.last) > 0) this.accept(record);
      return;
    }
    this.reader.logger.error(`sluice/redis: skipped an entry of channel "${this.name}": ${record}`);
    // Past it, or it would be read again on every catch-up.
    if (id !== undefined && parseId(id) !== undefined && compareIds(id, this.last) > 0) this.last = id;
  }

  private accept(record: ChannelRecord): void {
    this.last = record.id;
    try {
      this.deliver(record);
    } catch (err) {
      // The channel's fan-out does not throw; if it ever did, the next event must still arrive.
      this.reader.logger.error(`sluice/redis: delivering on channel "${this.name}" failed`, err);
    }
  }
}

/** Whether `next` is the very next id after `prev` in the same epoch. */
function follows(prev: string, next: string): boolean {
  const a = parseId(prev);
  const b = parseId(next);
  return a !== undefined && b !== undefined && a[0] === b[0] && b[1] === a[1] + 1;
}
