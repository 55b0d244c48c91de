import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { socketIsCaughtUp } from '../response/chunked-socket.ts';
import type { SharedFrameWriter } from '../response/response-encoder.ts';
import type { EventStream } from '../sse/event-stream.ts';
import { type ChannelRecord, compareIds, type ReplayResult, type Wire } from './channel-adapter.ts';
import { cursorFrame, resetFrame, wireOf } from './channel-wire.ts';

/**
 * What happens to a subscriber whose pending output passes `maxBuffered`:
 * - `'disconnect'` (the default): its connection is closed. An `EventSource`
 *   reconnects with `Last-Event-ID` and catches up from the history, so
 *   nothing is lost unless it stays away longer than the history lasts.
 * - `'drop-oldest'`: it stays connected; the oldest events waiting for it are
 *   dropped and, once it catches up, it gets an `event: reset` with
 *   `reason: "dropped"` and the count, so the loss is never silent. Suits
 *   feeds where only the latest state matters (tickers, gauges).
 *
 * @example
 * ```ts
 * const prices = new Channel({ overflow: 'drop-oldest', maxBuffered: 256 * 1024 });
 * ```
 */
export type OverflowPolicy = 'disconnect' | 'drop-oldest';

/**
 * Why a subscription ended, the value its promise resolves to:
 * `'closed'` the stream ended (client gone, `es.close()`, server shutdown);
 * `'unsubscribed'` by `channel.unsubscribe()`, the stream stays open;
 * `'overflow'` disconnected for falling behind (by the `'disconnect'`
 * policy, or under either policy while its replay was still being fetched
 * or written);
 * `'channel-closed'` by `channel.close()`;
 * `'error'` its filter threw, or its replay failed.
 *
 * @example
 * ```ts
 * const why = await channel.subscribe(es);
 * if (why === 'overflow') metrics.slowClients++;
 * ```
 */
export type SubscriptionEnd = 'closed' | 'unsubscribed' | 'overflow' | 'channel-closed' | 'error';

/**
 * Decides per subscriber whether an event is sent to it. It runs once per
 * event per subscriber, on the publishing call, so keep it cheap; the frame
 * is still shared. A filter that throws ends that subscriber's stream with
 * `event: error` and leaves the others untouched.
 *
 * @example
 * ```ts
 * await channel.subscribe(es, { filter: (rec) => (rec.data as Order).region === region });
 * ```
 */
export type ChannelFilter = (record: ChannelRecord) => boolean;

/** @internal The part of the channel a subscriber reports to. */
export interface SubscriberOwner {
  remove(sub: Subscriber, reason: SubscriptionEnd): void;
  /** Set while a second event is published in the same tick: sockets are corked until the tick ends. */
  readonly batching: boolean;
  /** Takes a socket this subscriber just corked, to uncork it when the tick ends. */
  corked(sub: Subscriber): void;
  /** Asks for {@link Subscriber.judge} once the current turn of the event loop is over. */
  suspect(sub: Subscriber): void;
  droppedEvents: number;
  overflowed: number;
  /** Frames written straight to a socket, for `stats()`. */
  socketWrites: number;
  /** The channel's `maxBuffered` and `overflow: 'drop-oldest'`: read from it, not copied into each subscriber. */
  readonly maxBuffered: number;
  readonly dropOldest: boolean;
}

/** Settings fixed when a subscriber joins (copied into it: the object is not kept). */
export interface SubscriberSettings {
  readonly filter: ChannelFilter | undefined;
  readonly socket: Socket | null;
  /**
   * Its body encoder's side of the channel's shared encoding (compress()), when it joined one;
   * only when `socket` is `null` (a compressed stream never takes the socket shortcut).
   */
  readonly shared: SharedFrameWriter | null;
  /** Resolves the promise `subscribe()` returned: the subscriber keeps this, not the promise too. */
  readonly resolveDone: (reason: SubscriptionEnd) => void;
}

// States as small integers: the hot path compares one field with a constant. Not exported: TurboFan
// folds a module's own constant into the code, where an exported one is read from its cell and
// checked for the hole on every use.
/** Writing as events come. */
const LIVE = 0;
/** Socket full under `drop-oldest`: events wait in the queue until `drain`. */
const CONGESTED = 1;
/** Joining: its replay (or the adapter) is not ready yet; live events wait in the queue. */
export const PENDING = 2;
/** Removed: ignores everything. */
export const ENDED = 3;
/**
 * Joined from a log that is ahead of this process's live feed: live events
 * up to `skipThrough` were replayed already and are dropped as they arrive.
 */
const CATCHING_UP = 4;
/** Writing its replay a slice at a time; live events wait in the queue, as while joining. */
const REPLAYING = 5;

/**
 * Records a replay writes per turn of the event loop. At about 2 µs each, a
 * slice blocks the loop for half a millisecond, where a 100k-record history
 * written at once blocked it for a quarter of a second.
 */
const REPLAY_SLICE = 256;

/** A replay being written: its records, the next one to write, and where it ends. */
interface Replay {
  readonly records: readonly ChannelRecord[];
  at: number;
  readonly last: string;
  readonly head: string;
}

/**
 * What a subscriber needs only once it falls behind, joins while events arrive, replays or
 * catches up: one object made then. An idle subscriber in a broadcast holds none, and each of
 * these as a field of its own cost every subscriber 8 bytes for as long as it lives.
 */
class Backlog {
  queue: (ChannelRecord | undefined)[] | null = null;
  queueHead = 0;
  /** Bytes in the queue. */
  queued = 0;
  droppedSince = 0;
  lastDroppedId = '';
  skipThrough: string | undefined = undefined;
  onDrain: (() => void) | undefined = undefined;
  /** The largest frame that filled the socket since the last judgement: it does not count against the cap. */
  largestPending = 0;
  /** Its replay while {@link REPLAYING}. */
  replay: Replay | null = null;
}

// Bits of Subscriber.flags, above its state (the three lowest).
const STATE_MASK = 7;
/** Its socket is corked until the channel's tick ends. */
const CORKED = 8;
/** Waiting for {@link Subscriber.judge}. */
const SUSPECTED = 16;
/** A `drain` listener is waiting. */
const DRAIN_WAITING = 32;
/** Two bits for why it is being ended: the index into {@link END_REASONS}. */
const END_SHIFT = 6;
const END_MASK = 3 << END_SHIFT;
/** Its output is a body encoder's side of the channel's shared encoding, not a socket. */
const VIA_SHARED = 256;
const END_REASONS: readonly (SubscriptionEnd | undefined)[] = [
  undefined,
  'overflow',
  'error',
  'channel-closed',
];

/**
 * @internal One stream subscribed to a channel: its write path, its queue and
 * its overflow policy. Nothing here allocates per event on the fast path,
 * and nothing holds a timer; a listener (on the socket's `drain`) exists
 * only while a `drop-oldest` subscriber is congested.
 */
export class Subscriber {
  // A delivery reads the fields declared first, and V8 lays them out in this order: together they
  // span fewer cache lines of the subscriber, which at thousands of subscribers are each a miss.
  /** The state, {@link CORKED}, {@link SUSPECTED}, {@link DRAIN_WAITING} and the end reason: one field, not six. */
  private flags: number = PENDING;
  /**
   * The socket frames go straight to, or (with {@link VIA_SHARED}) its body encoder's side of the
   * channel's shared encoding, or `null`: the channel never gives it both, so one field holds either.
   */
  private readonly out: Socket | SharedFrameWriter | null;
  /**
   * Its stream's Node response, which every write checks. Held here, with the counts below, so
   * that a delivery reads the subscriber, this response and the socket, and not the stream and
   * sluice's response on the way.
   */
  private readonly raw: ServerResponse;
  private readonly filter: ChannelFilter | undefined;
  private readonly owner: SubscriberOwner;
  /** Events it wrote that its stream does not count yet (see {@link settle}). */
  private unsettledEvents = 0;
  /** Bytes it wrote straight to the socket that its response does not count yet. */
  private unsettledBytes = 0;
  readonly stream: EventStream;
  /** Position in the channel's array, for O(1) removal. */
  index = -1;
  private readonly resolveDone: (reason: SubscriptionEnd) => void;
  /** Made the first time it is needed (see {@link Backlog}); kept from then on. */
  private backlog: Backlog | null = null;

  constructor(owner: SubscriberOwner, stream: EventStream, settings: SubscriberSettings) {
    this.owner = owner;
    this.stream = stream;
    this.raw = stream.response.node;
    this.filter = settings.filter;
    if (settings.shared !== null) {
      this.out = settings.shared;
      this.flags |= VIA_SHARED;
    } else this.out = settings.socket;
    this.resolveDone = settings.resolveDone;
    // The subscriber itself is the stream's end listener (streamEnded): no closure per subscriber.
    stream.onEnd(this);
  }

  /** {@link LIVE}, {@link PENDING}, {@link ENDED} or one of the other states. */
  get state(): number {
    return this.flags & STATE_MASK;
  }

  set state(state: number) {
    this.flags = (this.flags & ~STATE_MASK) | state;
  }

  private get socket(): Socket | null {
    return (this.flags & VIA_SHARED) === 0 ? (this.out as Socket | null) : null;
  }

  private get shared(): SharedFrameWriter | null {
    return (this.flags & VIA_SHARED) !== 0 ? (this.out as SharedFrameWriter) : null;
  }

  /** Why it is being ended, when the channel or policy ends it (set before the stream closes). */
  get endReason(): SubscriptionEnd | undefined {
    return END_REASONS[(this.flags & END_MASK) >> END_SHIFT];
  }

  set endReason(reason: 'overflow' | 'error' | 'channel-closed') {
    this.flags = (this.flags & ~END_MASK) | (END_REASONS.indexOf(reason) << END_SHIFT);
  }

  /** Its {@link Backlog}, made now if it has none. */
  private get slow(): Backlog {
    this.backlog ??= new Backlog();
    return this.backlog;
  }

  /** Whether it is `owner`'s and not removed yet. */
  ownedBy(owner: SubscriberOwner): boolean {
    return this.owner === owner && this.state !== ENDED;
  }

  /** The stream ended (client gone, `es.close()`, shutdown, or the policy's destroy): leave the channel. */
  streamEnded(): void {
    this.owner.remove(this, this.endReason ?? 'closed');
  }

  /** Bytes waiting in its queue. */
  private get queued(): number {
    return this.backlog === null ? 0 : this.backlog.queued;
  }

  /** Bytes written to it that its client has not taken yet, plus what waits in its queue. */
  pendingBytes(): number {
    return this.queued + this.stream.bufferedBytes;
  }

  /** Applies the filter, then sends or queues the record. */
  offer(record: ChannelRecord): void {
    if (!this.accepts(record)) return;
    if (this.shared === null || this.state !== LIVE) {
      this.push(record);
      return;
    }
    // Live fan-out, in publish order: the one place its encoder may use the event encoded for everyone.
    const shared = this.shared;
    shared.expect(record);
    this.push(record);
    shared.expect(undefined);
  }

  /** Its filter's verdict; a filter that throws ends the subscriber. */
  private accepts(record: ChannelRecord): boolean {
    const filter = this.filter;
    if (filter === undefined) return true;
    // Removed earlier in this fan-out or replay, yet still in the loop: its filter belongs to a
    // subscription that is over, and must not see (or act on) another record.
    if (this.state === ENDED) return false;
    try {
      return filter(record);
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  /** The fan-out hot path: one shared Buffer to the socket, no promise, no closure, no copy. */
  push(record: ChannelRecord): void {
    if (this.state !== LIVE) {
      this.pushSlow(record);
      return;
    }
    // Framed by the first subscriber; the others read the cached Wire without a call.
    const wire = record.wire ?? wireOf(record);
    if (!this.write(wire)) this.full(wire.size);
  }

  /** Writes one event, straight to the socket when nothing can tell; `false`: the socket is full. */
  private write(wire: Wire): boolean {
    const raw = this.raw;
    // The response was ended (close(), shutdown): the socket may already serve the next request.
    if (raw.writableEnded) return true;
    // Counted before the write: after a call into Node's stream code the compiler must load every
    // field afresh, so bookkeeping left until then costs its loads and checks twice.
    this.unsettledEvents++;
    const socket = this.socket;
    // Bytes the response still holds (a notice, a heartbeat, the handler's own send) go first.
    if (socket === null || !socketIsCaughtUp(raw)) return this.stream.writeFrameSync(wire.frame);
    const owner = this.owner;
    // Several events in one tick: one syscall for all of them, as res.write's own cork gives.
    if (owner.batching && (this.flags & CORKED) === 0) {
      socket.cork();
      this.flags |= CORKED;
      owner.corked(this);
    }
    this.unsettledBytes += wire.size;
    owner.socketWrites++;
    return socket.write(wire.chunk);
  }

  /**
   * Finishes joining: writes the replay (or the reset, or the cursor when
   * there is nothing to replay), then what was published meanwhile, skipping
   * whatever the replay already covered, then goes live. A replay is written
   * in slices (see {@link replaySlice}); until it ends, live events wait.
   */
  handOver(result: ReplayResult | undefined, headId: string, lastEventId: string | undefined): void {
    if (this.state !== PENDING) return;
    if (result === undefined) {
      this.goLive(headId, headId, cursorFrame(headId));
    } else if (result.reset !== undefined) {
      this.goLive(result.lastId, headId, resetFrame(result.reset, result.lastId, lastEventId));
    } else if (result.records.length === 0) {
      this.goLive(result.lastId, headId, undefined);
    } else {
      this.state = REPLAYING;
      this.slow.replay = { records: result.records, at: 0, last: result.lastId, head: headId };
      this.replaySlice();
    }
  }

  /**
   * Writes the next slice of the replay, then yields to the event loop, so a
   * long replay never blocks the server; when the socket is full it waits
   * for `drain` instead, so a client that asks for the whole history and
   * never reads holds one high-water mark of it, not all of it.
   */
  private replaySlice(): void {
    const replay = this.backlog?.replay ?? null;
    if (replay === null || this.state !== REPLAYING) return;
    const records = replay.records;
    const end = Math.min(records.length, replay.at + REPLAY_SLICE);
    let ok = true;
    // One syscall for the slice, not one per record (res.write corks by itself).
    const socket = this.socket;
    socket?.cork();
    try {
      while (ok && replay.at < end) {
        const record = records[replay.at++] as ChannelRecord;
        if (this.accepts(record)) ok = this.write(wireOf(record));
        // Its filter threw, or the stream ended under it.
        if (this.state !== REPLAYING) return;
      }
    } finally {
      socket?.uncork();
    }
    if (replay.at >= records.length) {
      this.slow.replay = null;
      this.goLive(replay.last, replay.head, undefined);
    } else if (ok) setImmediate(Subscriber.nextSlice, this);
    else this.waitForDrain();
  }

  /**
   * `replaySlice` for `setImmediate`, which passes the subscriber: a function per subscriber (a
   * class-field arrow) costs every idle subscriber a closure and its context, and under tsx, whose
   * esbuild names such functions with defineProperty, a 256-byte property dictionary besides.
   */
  private static nextSlice(sub: Subscriber): void {
    sub.replaySlice();
  }

  /**
   * Goes live after joining: writes its own frame (cursor, reset), then what
   * was held meanwhile and came after `last`, the newest event the client has.
   */
  private goLive(last: string, headId: string, frame: Buffer | undefined): void {
    const held = this.backlog?.queue ?? null;
    const heldFrom = this.backlog?.queueHead ?? 0;
    this.clearQueue();
    this.state = LIVE;
    if (frame !== undefined) this.writeOwn(frame);
    // A networked log can answer ahead of this process's own feed: the live
    // copies of what was just replayed are still on their way.
    let head = headId;
    const newest = held === null || held.length === heldFrom ? undefined : (held.at(-1) as ChannelRecord);
    if (newest !== undefined && compareIds(newest.id, head) > 0) head = newest.id;
    if (compareIds(last, head) > 0) {
      this.slow.skipThrough = last;
      if (this.state === LIVE) this.state = CATCHING_UP;
    }
    if (held === null) return;
    for (let i = heldFrom; i < held.length; i++) {
      const record = held[i] as ChannelRecord;
      if (compareIds(record.id, last) > 0) this.push(record);
    }
  }

  /** Called when the tick that corked its socket ends, whether or not it is still subscribed. */
  uncork(): void {
    this.flags &= ~CORKED;
    this.socket?.uncork();
  }

  /** Ends it because something failed for it alone (a throwing filter, a failed replay). */
  fail(err: unknown): void {
    if (this.state === ENDED) return;
    this.endReason = 'error';
    this.stream.response.request.server.logger.error('sluice: a channel subscriber failed', err);
    this.stream.fail(err);
  }

  /**
   * Adds what it wrote to its stream's and response's counts. Called by the stream before it or
   * its response reads them (`EventStream.settleCounts`), and when the subscriber leaves.
   */
  settle(): void {
    if (this.unsettledEvents === 0) return;
    this.stream.countWrites(this.unsettledEvents, this.unsettledBytes);
    this.unsettledEvents = 0;
    this.unsettledBytes = 0;
  }

  /** Called by the channel once, when it removes the subscriber: drops every reference it holds. */
  release(reason: SubscriptionEnd): void {
    this.settle();
    this.state = ENDED;
    this.clearQueue();
    const backlog = this.backlog;
    if (backlog !== null) {
      backlog.replay = null;
      if ((this.flags & DRAIN_WAITING) !== 0 && this.socket !== null && backlog.onDrain !== undefined) {
        this.socket.off('drain', backlog.onDrain);
      }
    }
    this.stream.offEnd(this);
    this.flags &= ~DRAIN_WAITING;
    this.resolveDone(reason);
  }

  /** Every state but LIVE: skip what was replayed already, then write or queue. */
  private pushSlow(record: ChannelRecord): void {
    const skip = this.backlog?.skipThrough;
    if (skip !== undefined && this.state !== ENDED) {
      if (compareIds(record.id, skip) <= 0) return;
      this.slow.skipThrough = undefined;
      if (this.state === CATCHING_UP) this.state = LIVE;
    }
    if (this.state === LIVE) this.push(record);
    else this.hold(record);
  }

  /**
   * A write returned false: the socket holds at least its high-water mark.
   * Whether that is slowness cannot be told yet: bytes written in this turn
   * may still be corked (by the channel, or by `res.write` itself) and never
   * had a chance to reach the kernel. So the verdict waits for {@link judge};
   * `drop-oldest` only stops writing until `drain`.
   */
  private full(frameLength: number): void {
    // Closed or closing: the abort listener removes it; nothing to decide.
    if (this.stream.isClosed || this.stream.response.node.destroyed || this.socket?.destroyed === true)
      return;
    const backlog = this.slow;
    if (frameLength > backlog.largestPending) backlog.largestPending = frameLength;
    if (this.owner.dropOldest && this.state !== CONGESTED) {
      this.state = CONGESTED;
      this.waitForDrain();
    }
    this.suspectMe();
  }

  private suspectMe(): void {
    if ((this.flags & SUSPECTED) !== 0) return;
    this.flags |= SUSPECTED;
    this.owner.suspect(this);
  }

  /**
   * The overflow policy, applied once per turn of the event loop to a
   * subscriber whose socket filled up, after every cork was released: what
   * the socket still holds is what the kernel refused, the true measure of a
   * slow client. The largest event of the turn does not count, so an event
   * bigger than `maxBuffered` cannot disconnect a client that keeps up.
   */
  judge(): void {
    this.flags &= ~SUSPECTED;
    const slow = this.slow;
    const slack = slow.largestPending;
    slow.largestPending = 0;
    if (this.state === ENDED || this.stream.isClosed) return;
    const max = this.owner.maxBuffered + slack;
    // A replay keeps at most one high-water mark in the socket by itself (it waits for drain):
    // only the live events queued behind it count.
    if (this.state === REPLAYING) {
      if (this.queued > max) this.overflow();
      return;
    }
    const pending = this.stream.bufferedBytes + this.queued;
    if (!this.owner.dropOldest || this.state === PENDING) {
      if (pending > max) this.overflow();
      return;
    }
    const backlog = pending - this.queued;
    // The newest record always stays: a gap is better than a client that never sees the present.
    while (this.queued + backlog > max && this.heldCount() > 1) this.dropFirst();
  }

  /** Queues a record while congested or joining; the queue alone never passes the cap, even within a turn. */
  private hold(record: ChannelRecord): void {
    if (this.state === ENDED) return;
    const length = wireOf(record).size;
    const backlog = this.slow;
    let queue = backlog.queue;
    if (queue === null) {
      queue = [];
      backlog.queue = queue;
    }
    queue.push(record);
    backlog.queued += length;
    const max = this.owner.maxBuffered;
    if (backlog.queued - length > max) {
      // While joining, the queue must stay whole: the hand-over de-duplicates
      // it against the replay, and a gap cut into it could not be reported in
      // order. A join that falls that far behind starts over instead.
      if (!this.owner.dropOldest || this.state === PENDING || this.state === REPLAYING) {
        this.overflow();
        return;
      }
      while (backlog.queued > max && this.heldCount() > 1) this.dropFirst();
    }
    this.suspectMe();
  }

  private heldCount(): number {
    const backlog = this.backlog;
    return backlog === null || backlog.queue === null ? 0 : backlog.queue.length - backlog.queueHead;
  }

  /** Drops the oldest queued record (compacting the array now and then, so keep no reference to it). */
  private dropFirst(): void {
    const backlog = this.slow;
    const queue = backlog.queue as (ChannelRecord | undefined)[];
    const old = queue[backlog.queueHead] as ChannelRecord;
    queue[backlog.queueHead++] = undefined;
    backlog.queued -= wireOf(old).size;
    backlog.lastDroppedId = old.id;
    backlog.droppedSince++;
    this.owner.droppedEvents++;
    if (backlog.queueHead >= 1024 && backlog.queueHead * 2 >= queue.length) {
      backlog.queue = queue.slice(backlog.queueHead);
      backlog.queueHead = 0;
    }
  }

  private waitForDrain(): void {
    if ((this.flags & DRAIN_WAITING) !== 0) return;
    this.flags |= DRAIN_WAITING;
    const backlog = this.slow;
    backlog.onDrain ??= () => {
      this.flags &= ~DRAIN_WAITING;
      if (this.state === CONGESTED) this.flush();
      else if (this.state === REPLAYING) this.replaySlice();
    };
    if (this.socket !== null) this.socket.once('drain', backlog.onDrain);
    else void this.stream.drained().then(backlog.onDrain);
  }

  /** The socket drained: tell the client what it lost, then send what waited, until full again. */
  private flush(): void {
    const backlog = this.slow;
    const held = backlog.queue;
    const heldFrom = backlog.queueHead;
    const dropped = backlog.droppedSince;
    this.clearQueue();
    this.state = backlog.skipThrough === undefined ? LIVE : CATCHING_UP;
    backlog.droppedSince = dropped;
    this.noticeDrops();
    if (held === null) return;
    // push() re-queues everything from the first write that fills the socket again.
    for (let i = heldFrom; i < held.length; i++) this.push(held[i] as ChannelRecord);
  }

  /**
   * Tells the client how many events it lost, before the ones that follow
   * the gap. If the socket is full the count stays, and the next flush sends it.
   */
  private noticeDrops(): void {
    const backlog = this.backlog;
    if (backlog === null) return;
    const dropped = backlog.droppedSince;
    if (dropped === 0 || !this.writable()) return;
    backlog.droppedSince = 0;
    this.writeOwn(resetFrame('dropped', backlog.lastDroppedId, undefined, dropped));
  }

  /** Writes a frame of its own (cursor, reset) through the stream, subject to the same policy. */
  private writeOwn(frame: Buffer): void {
    if (!this.writable()) return;
    if (!this.stream.writeFrameSync(frame)) this.full(frame.length);
  }

  private writable(): boolean {
    return this.state === LIVE || this.state === CATCHING_UP;
  }

  private overflow(): void {
    if (this.state === ENDED) return;
    this.endReason = 'overflow';
    this.owner.overflowed++;
    this.clearQueue();
    // Synchronously aborts the stream's signal, which removes this subscriber.
    this.stream.destroy();
  }

  private clearQueue(): void {
    const backlog = this.backlog;
    if (backlog === null) return;
    backlog.queue = null;
    backlog.queueHead = 0;
    backlog.queued = 0;
    backlog.droppedSince = 0;
  }
}
