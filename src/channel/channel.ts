import { ChannelClosedError, InvalidArgumentError } from '../errors.ts';
import { chunkedSocketOf } from '../response/chunked-socket.ts';
import type { EncodingGroup } from '../response/response-encoder.ts';
import type { EventStream } from '../sse/event-stream.ts';
import {
  type ChannelAdapter,
  type ChannelRecord,
  type MaybePromise,
  MemoryAdapter,
  type ReplayResult,
} from './channel-adapter.ts';
import { type HistoryOption, historyLimits } from './channel-history.ts';
import {
  type ChannelFilter,
  ENDED,
  type OverflowPolicy,
  PENDING,
  Subscriber,
  type SubscriptionEnd,
} from './channel-subscriber.ts';
import { type ChannelEvent, toMessage } from './channel-wire.ts';

/**
 * Options of `new Channel()` (and the defaults of a `ChannelHub`).
 *
 * @example
 * ```ts
 * const alerts = new Channel({ name: 'alerts', history: { count: 500, maxAge: 60_000 }, maxBuffered: 256 * 1024 });
 * ```
 */
export interface ChannelOptions {
  /** The channel's name in its adapter (shared adapters key their logs by it). Default `channel-<n>`. */
  name?: string;
  /** Events kept for `Last-Event-ID` replay: a count, `{ count, maxAge }` (ms), or `false`. Default 1000. */
  history?: HistoryOption;
  /**
   * Bytes a subscriber may have pending (socket backlog plus its queue)
   * before `overflow` applies. Default 1 MiB. Checked once per turn of the
   * event loop, once the turn's writes had their chance to reach the kernel,
   * so pending bytes may pass it by what one turn publishes and by the
   * largest event; keep it well above your largest event. A replay never
   * passes it: it is written a slice at a time, as the client reads (one
   * socket high-water mark at most), so asking for the whole history and
   * never reading costs the server nothing; live events that wait behind a
   * replay do count.
   */
  maxBuffered?: number;
  /** What happens to a subscriber past `maxBuffered`. Default `'disconnect'`. */
  overflow?: OverflowPolicy;
  /** Carries events, assigns ids, keeps history. Default: a new {@link MemoryAdapter}. */
  adapter?: ChannelAdapter;
  /**
   * Write each event, already framed as an HTTP/1.1 chunk, straight to the
   * socket when nothing can tell the difference (chunked HTTP/1.1, no
   * content encoding, `write` not wrapped); `false` sends every frame
   * through `res.write`. Default `true`: the bytes on the wire are the same,
   * at about 20% less CPU per delivery than `res.write`.
   */
  socketWrites?: boolean;
}

/**
 * Options of `channel.subscribe()`.
 *
 * @example
 * ```ts
 * await channel.subscribe(es, { lastEventId: r.getQuery('since') as string, filter: (rec) => rec.event === 'order' });
 * ```
 */
export interface SubscribeOptions {
  /**
   * Replay what came after this id before going live. Default: the stream's
   * own `lastEventId` (the client's `Last-Event-ID`); `null` starts live.
   */
  lastEventId?: string | null;
  /** Sends only the events it accepts (evaluated per subscriber, the frame is still shared). */
  filter?: ChannelFilter;
}

/**
 * Counters of a channel since it was created.
 *
 * @example
 * ```ts
 * s.get('/metrics/ticker', () => ticker.channel.stats()); // { subscribers, published, droppedEvents, overflowed, socketWrites }
 * ```
 */
export interface ChannelStats {
  /** Subscribers right now. */
  subscribers: number;
  /** Events delivered to this process by the adapter (published here or elsewhere). */
  published: number;
  /** Events dropped for slow subscribers under `drop-oldest`. */
  droppedEvents: number;
  /** Subscribers disconnected because they fell too far behind. */
  overflowed: number;
  /**
   * Events written straight to a socket by the chunked shortcut (see
   * `socketWrites` in {@link ChannelOptions}); every other delivery went
   * through `res.write`. Zero on a server where the shortcut never applies
   * (HTTP/1.0, compression, a wrapped `write`).
   */
  socketWrites: number;
}

const DEFAULT_MAX_BUFFERED = 1024 * 1024;
let unnamed = 0;

/**
 * Broadcasts events to many SSE streams. Each event is framed once and the
 * same bytes go to every subscriber; a bounded history lets a client that
 * reconnects with `Last-Event-ID` receive exactly what it missed, then the
 * live events, with no gap and no duplicate.
 *
 * Ids are assigned by the channel's adapter, increase with every publish and
 * are opaque to clients (the in-memory adapter writes `<epoch>-<seq>`).
 *
 * When a `Last-Event-ID` cannot be honoured the client first receives:
 * ```
 * event: reset
 * id: <where it resumes>
 * data: {"reason":"unknown-id"|"expired","lastEventId":"<what it sent>","resumeId":"<where it resumes>"}
 * ```
 * and then the live events. `unknown-id`: the id is malformed, from another
 * channel, or from before a restart of an in-memory channel; `expired`: the
 * events after it are no longer kept. Either way the client should reload its
 * state (for example from a REST endpoint): the history is not resent, since
 * a client whose gap is unknown needs a snapshot, not a partial log. Under
 * the `drop-oldest` policy the same event, with `reason: "dropped"` and a
 * `dropped` count, announces events lost to slowness.
 *
 * A client that connects without `Last-Event-ID` gets an id-only block
 * (`id: <newest>`), which fires no listener but gives a browser a position,
 * so even a drop before its first event is replayed on reconnect.
 *
 * @example
 * ```ts
 * const news = new Channel({ history: 1000 });
 * s.bindHandler('/news', async (r) => {
 *   const es = r.response.sse();
 *   await news.subscribe(es); // replays from Last-Event-ID; resolves when the client leaves
 * });
 * news.publish({ event: 'headline', data: { title: 'Streams everywhere' } });
 * ```
 */
export class Channel {
  /**
   * Its name in the adapter (the key of its log there).
   *
   * @example
   * ```ts
   * logger.info(`${channel.name}: ${channel.size} subscribers`);
   * ```
   */
  readonly name: string;
  /**
   * Carries its events and keeps its history.
   *
   * @example
   * ```ts
   * const sibling = new Channel({ name: 'audit', adapter: channel.adapter });
   * ```
   */
  readonly adapter: ChannelAdapter;
  /** @internal Counters the subscribers report to. */
  droppedEvents = 0;
  /** @internal True from the second event published in one tick until the tick ends. */
  batching = false;
  /** @internal */ overflowed = 0;
  /** @internal */ socketWrites = 0;
  /** @internal Read by its subscribers. */ readonly maxBuffered: number;
  /** @internal Read by its subscribers. */ readonly dropOldest: boolean;
  private readonly socketShortcut: boolean;
  // A dense array for the fan-out loop; the map finds a stream's subscriber.
  private readonly subs: Subscriber[] = [];
  /** Subscribers not yet removed (`subs` may still hold removed ones during a fan-out). */
  private count = 0;
  private headId = '';
  private published = 0;
  private opened = false;
  private readonly ready: Promise<void> | undefined;
  private waitingPublishes = 0;
  private fanning = false;
  private needsCompaction = false;
  /** Records delivered while a fan-out was running (a publish from a filter or an abort listener). */
  private deferred: ChannelRecord[] | null = null;
  /** An event was published in this tick already (reset by `endTick`). */
  private inTick = false;
  private corkedSubs: Subscriber[] = [];
  private suspects: Subscriber[] = [];
  private judging = false;
  private closed = false;
  /** What its subscribers' body encoders share (one compressor for every gzip/deflate subscriber). */
  private readonly encodingGroup: EncodingGroup = { shared: undefined };

  constructor(options: ChannelOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'must be an object', options);
    }
    const name = options.name ?? `channel-${++unnamed}`;
    if (typeof name !== 'string' || name === '') {
      throw new InvalidArgumentError('name', 'must be a non-empty string', name);
    }
    const maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    if (!Number.isSafeInteger(maxBuffered) || maxBuffered <= 0) {
      throw new InvalidArgumentError('maxBuffered', 'must be a positive integer of bytes', maxBuffered);
    }
    const overflow = options.overflow ?? 'disconnect';
    if (overflow !== 'disconnect' && overflow !== 'drop-oldest') {
      throw new InvalidArgumentError('overflow', "must be 'disconnect' or 'drop-oldest'", overflow);
    }
    this.name = name;
    this.maxBuffered = maxBuffered;
    this.dropOldest = overflow === 'drop-oldest';
    this.socketShortcut = options.socketWrites ?? true;
    this.adapter = options.adapter ?? new MemoryAdapter();
    const head = this.adapter.open(name, { history: historyLimits(options.history) }, this.onRecord);
    if (isPromise(head)) {
      this.ready = head.then((id) => {
        if (this.headId === '') this.headId = id;
        this.opened = true;
      });
      // Failure reaches whoever waits on it (publish callers, joining subscribers), not the process.
      this.ready.catch(() => {});
    } else {
      this.headId = head;
      this.opened = true;
    }
  }

  /**
   * Subscribers right now.
   *
   * @example
   * ```ts
   * if (channel.size === 0) stopPolling();
   * ```
   */
  get size(): number {
    return this.count;
  }

  /**
   * The id of the newest event this process has seen (the log's zero id before the first).
   *
   * @example
   * ```ts
   * s.get('/state', () => ({ state: snapshot(), resumeFrom: channel.lastId }));
   * ```
   */
  get lastId(): string {
    return this.headId;
  }

  /**
   * Whether `close()` was called.
   *
   * @example
   * ```ts
   * if (!channel.isClosed) channel.publish({ data: 'still open' });
   * ```
   */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Publishes an event to every subscriber and into the history. Returns the
   * id it was given: a string with a synchronous adapter (the default), a
   * promise of it with an asynchronous one (`await` works for both).
   *
   * @throws {InvalidArgumentError} when the event breaks the SSE rules, has
   * an `id`, or has neither `data`, `event` nor `retry`.
   * @throws {ChannelClosedError} after `close()`.
   * @example
   * ```ts
   * const id = await channel.publish({ event: 'price', data: { symbol: 'SLC', price: 101.5 } });
   * ```
   */
  publish(event: ChannelEvent): MaybePromise<string> {
    if (this.closed) throw new ChannelClosedError(this.name);
    const message = toMessage(event);
    if (this.opened && this.waitingPublishes === 0) return this.adapter.publish(this.name, message);
    // An adapter that orders publishes itself takes them now: while its store is unreachable they
    // fail at once instead of piling up behind an open that waits for it.
    if (this.adapter.publishesBeforeOpen === true) return this.adapter.publish(this.name, message);
    // Queued behind the adapter's open, in call order.
    this.waitingPublishes++;
    return (this.ready as Promise<void>).then(() => {
      this.waitingPublishes--;
      return this.adapter.publish(this.name, message);
    });
  }

  /**
   * Subscribes a stream: replays what it missed, then sends every event until
   * it leaves. Resolves (never rejects) when the subscription ends, with why;
   * a handler awaits it so the response stays open exactly as long.
   *
   * @throws {InvalidArgumentError} when the stream is already subscribed here.
   * @example
   * ```ts
   * s.bindHandler('/feed', async (r) => {
   *   const es = r.response.sse();
   *   await channel.subscribe(es, { filter: (rec) => rec.event !== 'debug' });
   * });
   * ```
   */
  subscribe(stream: EventStream, options: SubscribeOptions = {}): Promise<SubscriptionEnd> {
    if (this.subscriberOf(stream) !== undefined) {
      throw new InvalidArgumentError('stream', 'is already subscribed to this channel');
    }
    const filter = options.filter;
    if (filter !== undefined && typeof filter !== 'function') {
      throw new InvalidArgumentError('filter', 'must be a function (record) => boolean', filter);
    }
    const lastEventId =
      options.lastEventId === undefined ? stream.lastEventId : (options.lastEventId ?? undefined);
    if (this.closed) {
      stream.close();
      return Promise.resolve('channel-closed');
    }
    if (stream.isClosed) return Promise.resolve('closed');
    const socket = this.socketShortcut ? chunkedSocketOf(stream.response) : null;
    let resolveDone!: (reason: SubscriptionEnd) => void;
    const done = new Promise<SubscriptionEnd>((resolve) => {
      resolveDone = resolve;
    });
    const sub = new Subscriber(this, stream, {
      filter,
      socket,
      shared: socket === null ? (stream.response.bodyEncoder?.joinGroup?.(this.encodingGroup) ?? null) : null,
      resolveDone,
    });
    this.count++;
    sub.index = this.subs.push(sub) - 1;
    if (this.opened) this.join(sub, lastEventId);
    else
      (this.ready as Promise<void>).then(
        () => this.join(sub, lastEventId),
        (err: unknown) => sub.fail(err),
      );
    return done;
  }

  /**
   * Stops sending to a stream without closing it; its `subscribe()` promise
   * resolves with `'unsubscribed'`. Returns whether it was subscribed.
   *
   * @example
   * ```ts
   * channel.unsubscribe(es); // e.g. the user switched rooms
   * await other.subscribe(es, { lastEventId: null });
   * ```
   */
  unsubscribe(stream: EventStream): boolean {
    const sub = this.subscriberOf(stream);
    if (sub === undefined) return false;
    this.remove(sub, 'unsubscribed');
    return true;
  }

  /**
   * Whether the stream is subscribed here.
   *
   * @example
   * ```ts
   * if (!lobby.has(es)) void lobby.subscribe(es, { lastEventId: null });
   * ```
   */
  has(stream: EventStream): boolean {
    return this.subscriberOf(stream) !== undefined;
  }

  /**
   * Its subscriber of `stream`, found among the stream's end listeners: a map from stream to
   * subscriber cost every subscribed stream an entry (~30-60 B with the table's slack).
   */
  private subscriberOf(stream: EventStream): Subscriber | undefined {
    return stream.endListener((fn): fn is Subscriber => fn instanceof Subscriber && fn.ownedBy(this));
  }

  /**
   * Bytes waiting for this subscriber (socket backlog plus its queue), or
   * `undefined` when it is not subscribed. It stays within `maxBuffered`,
   * plus the largest event and what one turn of the event loop publishes:
   * past that the overflow policy acts when the turn ends.
   *
   * @example
   * ```ts
   * if ((channel.pendingBytes(es) ?? 0) > 512 * 1024) console.warn('slow client');
   * ```
   */
  pendingBytes(stream: EventStream): number | undefined {
    return this.subscriberOf(stream)?.pendingBytes();
  }

  /**
   * Counters since creation.
   *
   * @example
   * ```ts
   * const { subscribers, overflowed } = channel.stats();
   * ```
   */
  stats(): ChannelStats {
    return {
      subscribers: this.count,
      published: this.published,
      droppedEvents: this.droppedEvents,
      overflowed: this.overflowed,
      socketWrites: this.socketWrites,
    };
  }

  /**
   * Ends every subscriber's stream (their promises resolve with
   * `'channel-closed'`) and releases the channel's log in its adapter.
   * Publishing afterwards throws; subscribing closes the stream at once.
   *
   * @example
   * ```ts
   * await channel.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const sub of [...this.subs]) {
      if (sub.state === ENDED) continue;
      sub.endReason = 'channel-closed';
      sub.stream.close();
      // A stream that was already closing is removed here rather than by its abort.
      this.remove(sub, 'channel-closed');
    }
    this.encodingGroup.shared?.close();
    // An open that never succeeded has nothing to release in the adapter beyond what close() does.
    if (this.ready !== undefined) await this.ready.catch(() => {});
    await this.adapter.close(this.name);
  }

  /** @internal Removes a subscriber; safe during a fan-out (the array is compacted after it). */
  remove(sub: Subscriber, reason: SubscriptionEnd): void {
    if (sub.state === ENDED) return;
    sub.release(reason);
    this.count--;
    if (this.fanning) {
      this.needsCompaction = true;
      return;
    }
    const subs = this.subs;
    const last = subs.pop() as Subscriber;
    if (last !== sub) {
      subs[sub.index] = last;
      last.index = sub.index;
    }
    sub.index = -1;
  }

  /** Replays (or resets, or sends the cursor), then lets the subscriber go live. */
  private join(sub: Subscriber, lastEventId: string | undefined): void {
    if (sub.state !== PENDING) return;
    if (lastEventId === undefined) {
      sub.handOver(undefined, this.headId, undefined);
      return;
    }
    let result: MaybePromise<ReplayResult>;
    try {
      result = this.adapter.replay(this.name, lastEventId);
    } catch (err) {
      sub.fail(err);
      return;
    }
    if (!isPromise(result)) {
      sub.handOver(result, this.headId, lastEventId);
      return;
    }
    result.then(
      (r) => sub.handOver(r, this.headId, lastEventId),
      (err: unknown) => sub.fail(err),
    );
  }

  /** The adapter's delivery: one record, to every subscriber, framed once. */
  private readonly onRecord = (record: ChannelRecord): void => {
    this.headId = record.id;
    this.published++;
    if (this.closed) return;
    // The first event of a tick is written at once: nothing else may follow. From the second on, sockets
    // stay corked until the tick ends, so a burst costs each client one syscall, not one per event.
    if (!this.inTick) {
      this.inTick = true;
      process.nextTick(this.endTick);
    } else {
      this.batching = true;
    }
    if (this.fanning) {
      // Delivered from inside a fan-out: it goes out after the current record reached everyone, in order.
      if (this.deferred === null) this.deferred = [record];
      else this.deferred.push(record);
      return;
    }
    this.fanning = true;
    try {
      this.fanOut(record);
      const deferred = this.deferred;
      if (deferred !== null) {
        for (let i = 0; i < deferred.length; i++) this.fanOut(deferred[i] as ChannelRecord);
      }
    } finally {
      this.deferred = null;
      this.fanning = false;
      if (this.needsCompaction) this.compact();
    }
  };

  /** @internal */
  corked(sub: Subscriber): void {
    this.corkedSubs.push(sub);
  }

  /** @internal */
  suspect(sub: Subscriber): void {
    this.suspects.push(sub);
    if (this.judging) return;
    this.judging = true;
    // setImmediate: after this turn's nextTick uncorks (ours and res.write's), once the kernel took what it could.
    setImmediate(this.judgeAll);
  }

  private readonly judgeAll = (): void => {
    this.judging = false;
    const subs = this.suspects;
    this.suspects = [];
    for (let i = 0; i < subs.length; i++) (subs[i] as Subscriber).judge();
  };

  private readonly endTick = (): void => {
    this.inTick = false;
    this.batching = false;
    const subs = this.corkedSubs;
    if (subs.length === 0) return;
    this.corkedSubs = [];
    // Removed subscribers too: a socket left corked would never send again, even to the next request.
    for (let i = 0; i < subs.length; i++) (subs[i] as Subscriber).uncork();
  };

  private fanOut(record: ChannelRecord): void {
    const subs = this.subs;
    // Captured: a subscriber added during the loop (from a filter) already has this record by replay or cursor.
    const n = subs.length;
    for (let i = 0; i < n; i++) (subs[i] as Subscriber).offer(record);
  }

  private compact(): void {
    this.needsCompaction = false;
    const subs = this.subs;
    let j = 0;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i] as Subscriber;
      if (sub.state === ENDED) {
        sub.index = -1;
        continue;
      }
      sub.index = j;
      subs[j++] = sub;
    }
    subs.length = j;
  }
}

function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
