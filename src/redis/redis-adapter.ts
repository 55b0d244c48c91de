import type { RedisClientOptions, RedisClusterOptions } from 'redis';
import {
  type ChannelAdapter,
  type ChannelLogOptions,
  type ChannelMessage,
  type ChannelRecord,
  compareIds,
  parseId,
  type ReplayResult,
} from '../channel/channel-adapter.ts';
import { InvalidArgumentError, RedisUnavailableError } from '../errors.ts';
import type { Logger } from '../server/server-logger.ts';
import { decodeDoorbell, decodeStreamEntry, encodePayload } from './redis-entry.ts';
import { ClusterLink, type LinkEvents, type RedisLink, ServerLink } from './redis-link.ts';
import { RedisLog, type StreamReader } from './redis-log.ts';
import { OPEN_SCRIPT, PROBE_SCRIPT, PUBLISH_SCRIPT, type Script } from './redis-scripts.ts';

/**
 * Options of a {@link RedisAdapter}.
 *
 * @example
 * ```ts
 * const adapter = new RedisAdapter({ url: process.env.REDIS_URL, keyPrefix: 'myapp:sse:' });
 * ```
 */
export interface RedisAdapterOptions {
  /** `redis://[[user]:password@]host[:port][/db]`. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** More options for node-redis's `createClient` (TLS, credentials, reconnect strategy). */
  client?: RedisClientOptions;
  /**
   * A Redis Cluster instead of one server: node-redis's `createCluster`
   * options (`rootNodes`, `defaults`). Doorbells then always use sharded
   * Pub/Sub, so each stays on its channel's shard.
   */
  cluster?: RedisClusterOptions;
  /** Put before every key and Pub/Sub channel. No `{` or `}`: the channel name is the hash tag. Default `sluice:`. */
  keyPrefix?: string;
  /** Where connection trouble and refused entries are reported. Default `console`. */
  logger?: Logger;
  /**
   * How often (ms) each channel checks the stream for events its Pub/Sub
   * feed missed (a reconnect, a dropped message with nothing after it).
   * Default 1000; one `XRANGE` per channel per interval.
   */
  catchUpInterval?: number;
  /** A command that gets no answer within this many ms fails. Default 5000. */
  commandTimeout?: number;
  /** Ring doorbells with `SPUBLISH`/`SSUBSCRIBE` (Redis 7+, needed to scale Pub/Sub on a Cluster). Default `false`. */
  sharded?: boolean;
  /** Entries read per `XRANGE` when replaying or catching up. Default 500. */
  pageSize?: number;
}

/**
 * A {@link ChannelAdapter} on Redis, for channels shared by several processes
 * or machines: every process that opens a channel of the same name on the
 * same Redis is part of one channel, with one global order of events.
 *
 * - History is a Redis Stream per channel, trimmed by Redis (by count on
 *   every publish, by age a few entries per publish), so replay with
 *   `Last-Event-ID` works against any process and across restarts.
 * - A publish is one Lua script, one round trip: it assigns the id, appends
 *   to the stream, trims, and rings the channel's Pub/Sub doorbell.
 * - Pub/Sub only says "there is something new": each process tracks the last
 *   id it delivered and reads the stream whenever a doorbell does not follow
 *   on, after every reconnect, and every `catchUpInterval`. A lost Pub/Sub
 *   message delays an event; it cannot drop, repeat or reorder one.
 * - Ids are `<epoch>-<seq>`. The epoch changes when Redis lost the channel
 *   (restart without persistence) or is another instance than the one that
 *   issued it (its `run_id` differs: a restart, a promoted replica), so an id
 *   is never issued twice; a client holding an id Redis no longer has gets
 *   `event: reset`, never another event under an id it saw.
 * - Redis unreachable: `publish()` rejects at once with
 *   {@link RedisUnavailableError} (nothing is queued), replays fail (the
 *   client reconnects later), subscribers stay connected and get what was
 *   published once Redis is back. Nothing crashes the process.
 * - Entries read from Redis are validated; a bad one is skipped and logged.
 * - On a Cluster (`cluster` option) a channel's keys and doorbell share one
 *   hash tag, so its script runs on one shard, and doorbells use sharded
 *   Pub/Sub on that shard.
 *
 * Filters in other processes see `data` as it came through JSON (a `Date`
 * arrives as its string). Every process opening a channel should give it the
 * same `history`: the bounds in force are those of the latest publisher.
 *
 * @example
 * ```ts
 * import { ChannelHub } from 'sluice';
 * import { RedisAdapter } from 'sluice/redis';
 *
 * const adapter = new RedisAdapter({ url: process.env.REDIS_URL });
 * const hub = new ChannelHub({ adapter, history: { count: 10_000, maxAge: 3_600_000 } });
 * // ... on shutdown, after the server stopped:
 * await hub.close();
 * await adapter.quit();
 * ```
 */
export class RedisAdapter implements ChannelAdapter, StreamReader {
  /** Publishes go straight to Redis, which orders them; they need not wait for `open`. */
  readonly publishesBeforeOpen = true;
  /** @internal */ readonly logger: Logger;
  /** @internal */ readonly pageSize: number;
  private readonly prefix: string;
  private readonly sharded: boolean;
  private readonly timeout: number;
  private readonly link: RedisLink;
  private readonly logs = new Map<string, RedisLog>();
  private readonly timer: NodeJS.Timeout;
  /** Connections that are away right now, so an outage is reported once, not per retry. */
  private readonly down = new Set<string>();
  private quitting = false;

  constructor(options: RedisAdapterOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'must be an object', options);
    }
    const prefix = options.keyPrefix ?? 'sluice:';
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      throw new InvalidArgumentError('keyPrefix', 'must be a string without { or }', prefix);
    }
    const interval = positive('catchUpInterval', options.catchUpInterval ?? 1000);
    this.timeout = positive('commandTimeout', options.commandTimeout ?? 5000);
    this.pageSize = positive('pageSize', options.pageSize ?? 500);
    this.prefix = prefix;
    this.sharded = options.sharded === true || options.cluster !== undefined;
    this.logger = options.logger ?? console;
    if (options.cluster !== undefined) {
      this.link = new ClusterLink(options.cluster, this.linkEvents);
    } else {
      const base: RedisClientOptions = { ...options.client };
      if (options.url !== undefined) base.url = options.url;
      this.link = new ServerLink(base, this.linkEvents);
    }
    this.timer = setInterval(this.catchUpAll, interval);
    this.timer.unref();
  }

  /**
   * Whether the command connection is up right now (publishes can succeed).
   *
   * @example
   * ```ts
   * s.get('/healthz', () => ({ redis: adapter.connected }));
   * ```
   */
  get connected(): boolean {
    return this.link.ready;
  }

  /**
   * Subscribes to the channel's doorbell and reads its newest id. While Redis
   * is unreachable it keeps trying (subscribers wait, connected); it rejects
   * only if the adapter is closed meanwhile.
   */
  async open(
    name: string,
    options: ChannelLogOptions,
    deliver: (record: ChannelRecord) => void,
  ): Promise<string> {
    if (this.quitting) throw new RedisUnavailableError('open', name, 'the adapter was closed');
    if (this.logs.has(name)) throw new InvalidArgumentError('name', 'is already open on this adapter', name);
    const log = new RedisLog(name, this.prefix, options.history, deliver, this, this.onBell);
    this.logs.set(name, log);
    // The first connection is usually a moment away: waiting for it spares a failed attempt and its warning.
    if (!this.link.everReady) await this.link.waitReady(this.timeout);
    for (let attempt = 0; ; attempt++) {
      try {
        // Closed while waiting: the connections are gone, and a command on them might never settle.
        if (log.closed || this.quitting) throw new Error('closed while opening');
        if (!log.subscribed) {
          await this.link.subscribe(log.bell, log.listener, this.sharded);
          log.subscribed = true;
        }
        const head = await this.run(OPEN_SCRIPT, log, [String(log.floor())]);
        if (typeof head !== 'string' || parseId(head) === undefined) {
          throw new Error(`the newest id read is malformed: ${String(head)}`);
        }
        if (log.closed) throw new Error('closed while opening');
        log.last = head;
        // Doorbells that rang before the head was known were ignored: read what followed it.
        log.catchUp();
        return head;
      } catch (err) {
        if (log.closed || this.quitting) throw new RedisUnavailableError('open', name, err);
        if (attempt === 0) this.logger.warn(`sluice/redis: opening channel "${name}" waits for Redis`, err);
        await sleep(Math.min(100 * 2 ** attempt, 2000));
      }
    }
  }

  /**
   * Stores the message under a new id and rings the doorbell, in one script.
   *
   * @throws {RedisUnavailableError} (as a rejection) when Redis cannot be
   * reached or does not answer within `commandTimeout`; nothing is queued.
   */
  async publish(name: string, message: ChannelMessage): Promise<string> {
    const log = this.log(name);
    if (!this.link.ready) await this.firstConnection(name);
    const limits = log.limits;
    const args = [
      encodePayload(message),
      // One entry more than the history: the oldest only marks where the kept events begin, so a client
      // that saw it replays from there, as with the memory adapter, while replays never include it.
      limits.count === Number.POSITIVE_INFINITY ? '-1' : String(limits.count + 1),
      limits.maxAge === Number.POSITIVE_INFINITY ? '-1' : String(limits.maxAge),
      String(log.floor()),
      log.bell,
      this.sharded ? '1' : '0',
    ];
    let reply: unknown;
    try {
      reply = await this.run(PUBLISH_SCRIPT, log, args);
    } catch (err) {
      throw new RedisUnavailableError('publish', name, err);
    }
    const [id, time] = Array.isArray(reply) ? reply : [];
    if (typeof id !== 'string' || parseId(id) === undefined) {
      throw new RedisUnavailableError('publish', name, `unexpected reply ${JSON.stringify(reply)}`);
    }
    const record: ChannelRecord = {
      id,
      event: message.event,
      data: message.data,
      body: message.body,
      time: Number(time),
      wire: undefined,
    };
    log.offer(record);
    return id;
  }

  /**
   * Replays from `afterId` only if Redis still holds that very id (or it is
   * the newest): `expired` when it is older than what is kept, `unknown-id`
   * when it is malformed, from before Redis lost the channel, or never
   * existed. Reads in pages of `pageSize`.
   */
  async replay(name: string, afterId: string): Promise<ReplayResult> {
    const log = this.log(name);
    try {
      return await this.replayFrom(log, afterId);
    } catch (err) {
      throw new RedisUnavailableError('replay', name, err);
    }
  }

  /** Stops delivery of `name` here; its stream stays in Redis for the other processes. */
  async close(name: string): Promise<void> {
    const log = this.logs.get(name);
    if (log === undefined) return;
    this.logs.delete(name);
    log.closed = true;
    if (!log.subscribed) return;
    try {
      await this.link.unsubscribe(log.bell, log.listener, this.sharded);
    } catch {
      // The connection went away meanwhile, and the subscription with it.
    }
  }

  /**
   * Closes every channel's log here and both Redis connections. Close the
   * channels (or the hub) first, so their subscribers end cleanly.
   *
   * @example
   * ```ts
   * await hub.close();
   * await adapter.quit();
   * ```
   */
  async quit(): Promise<void> {
    if (this.quitting) return;
    this.quitting = true;
    clearInterval(this.timer);
    for (const log of this.logs.values()) log.closed = true;
    this.logs.clear();
    await this.link.close();
  }

  /**
   * A publish made while the adapter is still making its first connection
   * waits for it (at most `commandTimeout`); once Redis was up, a publish
   * while it is away fails at once.
   */
  private async firstConnection(name: string): Promise<void> {
    if (this.link.everReady || this.quitting)
      throw new RedisUnavailableError('publish', name, 'not connected');
    await this.link.waitReady(this.timeout);
    if (!this.link.ready) throw new RedisUnavailableError('publish', name, 'not connected');
  }

  /** @internal */
  async readAfter(log: RedisLog, afterId: string, count: number): Promise<unknown[]> {
    const args = ['XRANGE', log.stream, `(${afterId}`, '+', 'COUNT', String(count)];
    const reply = await this.link.send(log.stream, args, this.timeout);
    return Array.isArray(reply) ? reply : [];
  }

  /** @internal */
  readFailed(_log: RedisLog, err: unknown): void {
    this.noteDown(err);
  }

  private async replayFrom(log: RedisLog, afterId: string): Promise<ReplayResult> {
    const parsed = parseId(afterId);
    // A zero id (`<epoch>-0`, a cursor given before the epoch's first event) is a position if that event is kept.
    const probe = parsed === undefined ? '0-1' : parsed[1] === 0 ? `${parsed[0]}-1` : afterId;
    const reply = await this.run(PROBE_SCRIPT, log, [probe, String(log.floor())]);
    const [epoch, last, origin, hit, firstId, now] = (Array.isArray(reply) ? reply : []) as unknown[];
    const head = typeof last === 'string' && last !== '' ? last : `${String(epoch)}-0`;
    if (parseId(head) === undefined) throw new Error(`the newest id read is malformed: ${head}`);
    if (parsed === undefined) return { reset: 'unknown-id', lastId: head };
    if (afterId === head) return { records: [], lastId: head };
    if (compareIds(afterId, head) > 0 || parsed[0] < Number(origin))
      return { reset: 'unknown-id', lastId: head };
    if (Number(hit) === 0) {
      const older = typeof firstId !== 'string' || firstId === '' || compareIds(afterId, firstId) < 0;
      return { reset: older ? 'expired' : 'unknown-id', lastId: head };
    }
    const oldest = Number(now) - log.limits.maxAge;
    const records: ChannelRecord[] = [];
    let from = afterId;
    for (let first = true; ; first = false) {
      const page = await this.readAfter(log, from, this.pageSize);
      for (const entry of page) {
        const { id, record } = decodeStreamEntry(entry);
        if (id !== undefined && parseId(id) !== undefined && compareIds(id, from) > 0) from = id;
        if (typeof record === 'string') {
          this.logger.error(`sluice/redis: skipped an entry of channel "${log.name}": ${record}`);
          continue;
        }
        // The event right after the client's is past the age bound: what follows would hide a gap.
        if (first && records.length === 0 && record.time < oldest) return { reset: 'expired', lastId: head };
        records.push(record);
      }
      if (page.length < this.pageSize) break;
    }
    return { records, lastId: compareIds(from, head) > 0 ? from : head };
  }

  /** A doorbell rang: deliver the event if it follows on, otherwise read the stream. */
  private readonly onBell = (log: RedisLog, message: string): void => {
    const record = decodeDoorbell(message);
    if (typeof record === 'string') {
      this.logger.error(`sluice/redis: ignored a doorbell of channel "${log.name}": ${record}`);
      log.catchUp();
      return;
    }
    log.offer(record);
  };

  private readonly catchUpAll = (): void => {
    if (!this.link.ready) return;
    for (const log of this.logs.values()) log.catchUp();
  };

  private log(name: string): RedisLog {
    const log = this.logs.get(name);
    if (log === undefined) throw new InvalidArgumentError('name', 'is not an open channel', name);
    return log;
  }

  /** Runs a script by its SHA, loading it when Redis does not know it (after a restart or a failover). */
  private async run(script: Script, log: RedisLog, args: string[]): Promise<unknown> {
    const keys = [log.stream, log.meta];
    try {
      return await this.link.send(log.stream, ['EVALSHA', script.sha, '2', ...keys, ...args], this.timeout);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await this.link.send(log.stream, ['EVAL', script.source, '2', ...keys, ...args], this.timeout);
    }
  }

  /** Connection news: outages are reported once, never thrown; every return means a catch-up. */
  private readonly linkEvents: LinkEvents = {
    ready: (role) => {
      if (this.down.delete(role)) this.logger.info(`sluice/redis: the ${role} connection is back`);
      // A reconnect may have lost doorbells (and subscriptions): catch up from the streams.
      for (const log of this.logs.values()) log.catchUp();
    },
    error: (role, err) => this.noteDown(err, role),
  };

  private noteDown(err: unknown, role = 'commands'): void {
    if (this.down.has(role) || this.quitting) return;
    this.down.add(role);
    this.logger.error(`sluice/redis: lost the ${role} connection; retrying`, err);
  }
}

function positive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidArgumentError(name, 'must be a positive integer', value);
  }
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
