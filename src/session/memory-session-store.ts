import { InvalidArgumentError } from '../errors.ts';
import type { SessionRecord, SessionStore } from './session-store.ts';

/**
 * Options of a {@link MemorySessionStore}.
 *
 * @example
 * ```ts
 * new MemorySessionStore({ maxEntries: 50_000, sweepInterval: 30_000 });
 * ```
 */
export interface MemorySessionStoreOptions {
  /**
   * The most sessions kept; when a new one would pass it, the least recently used is dropped
   * (its user starts a new session). Default 10 000.
   */
  maxEntries?: number;
  /** At most this often (ms) a write sweeps out every expired session. Default 60 000. */
  sweepInterval?: number;
}

/** One stored session: the record as JSON text (so what comes back is what JSON keeps), and its end. */
interface Entry {
  json: string;
  expiresAt: number;
}

/**
 * The default {@link SessionStore}: sessions in this process's memory. Bounded: at most
 * `maxEntries` sessions, the least recently used dropped first; expired ones are never returned
 * and are swept by the writes themselves (at most once per `sweepInterval`), so there is no timer
 * per session, nor one that keeps the process alive. Records are kept as JSON text: a value
 * comes back as it would from Redis, and changing an object after storing it changes nothing.
 *
 * Sessions end with the process and are not shared between processes: with several processes
 * or machines use `RedisSessionStore` from `sluice/redis`.
 *
 * @example
 * ```ts
 * import { MemorySessionStore, session } from 'sluice';
 * s.use(session({ store: new MemorySessionStore({ maxEntries: 1000 }) }));
 * ```
 */
export class MemorySessionStore implements SessionStore {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly sweepInterval: number;
  private lastSweep = Date.now();

  constructor(options: MemorySessionStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'must be an object', options);
    }
    this.maxEntries = positiveInteger('maxEntries', options.maxEntries ?? 10_000);
    this.sweepInterval = positiveInteger('sweepInterval', options.sweepInterval ?? 60_000);
  }

  /** How many sessions are held, expired ones not yet swept included. */
  get size(): number {
    return this.entries.size;
  }

  get(id: string): SessionRecord | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(id);
      return undefined;
    }
    this.refresh(id, entry);
    return JSON.parse(entry.json) as SessionRecord;
  }

  set(id: string, record: SessionRecord, ttl: number): void {
    const now = Date.now();
    const entry: Entry = { json: JSON.stringify(record), expiresAt: now + ttl };
    this.entries.delete(id);
    this.sweep(now);
    if (this.entries.size >= this.maxEntries) this.evict();
    this.entries.set(id, entry);
  }

  touch(id: string, ttl: number): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    const now = Date.now();
    if (entry.expiresAt <= now) {
      this.entries.delete(id);
      return;
    }
    entry.expiresAt = now + ttl;
    this.refresh(id, entry);
    this.sweep(now);
  }

  destroy(id: string): void {
    this.entries.delete(id);
  }

  /** Moves an entry to the end of the map's order, which is therefore least recently used first. */
  private refresh(id: string, entry: Entry): void {
    this.entries.delete(id);
    this.entries.set(id, entry);
  }

  /** Drops every expired entry, at most once per interval: one pass over the map, no timers. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.sweepInterval) return;
    this.lastSweep = now;
    for (const [id, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(id);
  }

  /**
   * Makes room for one more by dropping the least recently used, which is also where expired
   * entries gather: no scan of the whole map per write while a flood of new sessions keeps it full.
   */
  private evict(): void {
    for (const id of this.entries.keys()) {
      if (this.entries.size < this.maxEntries) break;
      this.entries.delete(id);
    }
  }
}

function positiveInteger(name: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    throw new InvalidArgumentError(name, 'must be a positive integer', value);
  }
  return value as number;
}
