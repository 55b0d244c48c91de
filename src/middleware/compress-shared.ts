/**
 * A channel's events compressed once for all its gzip and deflate
 * subscribers, instead of once per subscriber.
 *
 * gzip and HTTP's deflate are both a raw deflate stream in a wrapper: a
 * header, then blocks, then a checksum of the plain bytes. The blocks are
 * what costs; the wrapper is a few bytes. So a channel keeps one raw deflate
 * stream ({@link SharedDeflate}), fed each event once and sync-flushed after
 * it, and each subscriber's encoder ({@link SharedDeflateWriter}) writes its
 * own header and checksum around the blocks it sends.
 *
 * A decoder can take a block only if its history (the last 4 KiB it
 * decoded) is the compressor's: a subscriber must have received every event
 * since the compressor last forgot its history (a full flush, a keyframe)
 * and nothing else in between. One that joined late, skipped an event by its
 * filter, or was sent a frame of its own (its cursor, a heartbeat, a replay)
 * gets events as stored blocks (the plain bytes in deflate framing, no
 * compression cost) until the next keyframe, where it is in sync again.
 * Keyframes come every {@link KEYFRAME_MAX} events, or after
 * {@link KEYFRAME_MIN} when a subscriber waits for one: compressing each
 * event alone (a full flush per event) would make small events larger than
 * plain (bench/compress.ts, `keyframes`).
 *
 * The compressor works in the thread pool, so a shared event reaches the
 * socket when its bytes are ready; a subscriber's own writes queue behind
 * it, so each stream keeps the order it was written in.
 */
import type { ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import type { Response } from '../response/response.ts';
import type { EncodingGroup, SharedFrameWriter } from '../response/response-encoder.ts';
import { FALSE } from '../response/response-writer.ts';
import { adler32, crc32 } from './compress-checksum.ts';

/** Events between two keyframes at most. */
const KEYFRAME_MAX = 32;
/** Events since the last keyframe before one is made early for a subscriber out of sync. */
const KEYFRAME_MIN = 8;
/** Events compressed before their subscribers are woken, at most (see `onWritten`). */
const WAKE_BATCH = 64;
/** A deflate stored block holds at most this many bytes. */
const STORED_MAX = 0xffff;
/** Marks a writer that is out of sync with the shared stream (seq + 1 never matches a slot). */
const OUT_OF_SYNC = -2;

/** One event of the shared stream: its compressed bytes once the thread pool returns them. */
class Slot {
  readonly seq: number;
  readonly keyframe: boolean;
  readonly frame: Buffer;
  bytes: Buffer | null = null;
  /** The frame as stored blocks, for subscribers out of sync; built on first use. */
  private storedBytes: Buffer | null = null;
  waiters: SharedDeflateWriter[] = [];

  constructor(seq: number, keyframe: boolean, frame: Buffer) {
    this.seq = seq;
    this.keyframe = keyframe;
    this.frame = frame;
  }

  stored(): Buffer {
    this.storedBytes ??= storedBlocks(this.frame);
    return this.storedBytes;
  }
}

/**
 * @internal The raw deflate stream a channel shares among its gzip and
 * deflate subscribers (held in the channel's {@link EncodingGroup}).
 */
export class SharedDeflate {
  private readonly options: zlib.ZlibOptions;
  private compressor: zlib.DeflateRaw | undefined = undefined;
  private seq = 0;
  private sinceKeyframe = 0;
  private keyframeWanted = false;
  private lastKey: object | undefined = undefined;
  private last: Slot | undefined = undefined;
  private output: Buffer[] = [];
  /** Slots written to the compressor whose bytes have not come back, oldest first. */
  private inFlight: Slot[] = [];
  private inFlightHead = 0;
  private closed = false;
  private readonly onData = (chunk: Buffer): void => {
    this.output.push(chunk);
  };
  /** Slots whose bytes came back while others were still in flight: their waiters wake together. */
  private done: Slot[] = [];
  private readonly onWritten = (): void => {
    const slot = this.inFlight[this.inFlightHead] as Slot;
    this.inFlight[this.inFlightHead++] = undefined as unknown as Slot;
    const idle = this.inFlightHead === this.inFlight.length;
    if (idle) {
      this.inFlight = [];
      this.inFlightHead = 0;
    }
    const out = this.output;
    this.output = [];
    slot.bytes = out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
    this.done.push(slot);
    // A burst (several events in one turn) wakes each subscriber once, when its last event is
    // ready: one write, one syscall per subscriber, as the plain path's cork gives. Bounded, so a
    // publisher that never pauses does not hold events back.
    if (idle || this.done.length >= WAKE_BATCH) this.wake();
  };

  constructor(options: zlib.ZlibOptions) {
    this.options = { ...options, flush: zlib.constants.Z_SYNC_FLUSH };
  }

  /** The slot of the event `key` (framed as `frame`), fed to the compressor on first use. */
  slotFor(key: object, frame: Buffer): Slot {
    if (this.lastKey === key) return this.last as Slot;
    const keyframe =
      this.seq === 0 ||
      this.sinceKeyframe >= KEYFRAME_MAX ||
      (this.keyframeWanted && this.sinceKeyframe >= KEYFRAME_MIN);
    const slot = new Slot(++this.seq, keyframe, frame);
    this.lastKey = key;
    this.last = slot;
    if (keyframe) {
      this.sinceKeyframe = 0;
      this.keyframeWanted = false;
    }
    this.sinceKeyframe++;
    if (this.closed) {
      // Nothing compresses after close: whoever still writes gets the plain bytes in deflate framing.
      slot.bytes = slot.stored();
      return slot;
    }
    let compressor = this.compressor;
    if (compressor === undefined) {
      compressor = zlib.createDeflateRaw(this.options);
      compressor.on('data', this.onData);
      // Compressing in memory fails only on a bug or exhausted memory: every later slot goes stored.
      compressor.on('error', () => this.close());
      this.compressor = compressor;
    } else if (keyframe) {
      // Its output (an empty block) goes to this slot, ahead of the event: it carries no history.
      compressor.flush(zlib.constants.Z_FULL_FLUSH);
    }
    this.inFlight.push(slot);
    compressor.write(frame, this.onWritten);
    return slot;
  }

  private wake(): void {
    const done = this.done;
    this.done = [];
    for (let i = 0; i < done.length; i++) {
      const slot = done[i] as Slot;
      const waiters = slot.waiters;
      slot.waiters = [];
      for (let j = 0; j < waiters.length; j++) (waiters[j] as SharedDeflateWriter).pump();
    }
  }

  /** A subscriber out of sync asks for the next keyframe to come early. */
  wantKeyframe(): void {
    this.keyframeWanted = true;
  }

  /** Releases the compressor's memory; events still in flight go out stored. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.compressor?.destroy();
    this.compressor = undefined;
    const pending = this.inFlight;
    const head = this.inFlightHead;
    this.inFlight = [];
    this.inFlightHead = 0;
    this.output = [];
    for (let i = head; i < pending.length; i++) {
      const slot = pending[i] as Slot;
      slot.bytes = slot.stored();
      this.done.push(slot);
    }
    this.wake();
  }
}

/** gzip's header: no name, no time, unknown OS (RFC 1952). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
/** zlib's header (RFC 1950): deflate, a 32 KiB window at most (the stream uses 4 KiB), default level. */
const ZLIB_HEADER = Buffer.from([0x78, 0x9c]);
/** The last block: stored and empty, with BFINAL set. */
const FINAL_BLOCK = Buffer.from([1, 0, 0, 0xff, 0xff]);

/**
 * @internal One stream's encoder once a channel shared its compressor with
 * it: the header, the blocks (shared, or stored for its own frames), the
 * checksum and the trailer, written in order.
 */
export class SharedDeflateWriter implements SharedFrameWriter {
  private readonly res: Response;
  private readonly raw: ServerResponse;
  private readonly gzip: boolean;
  private readonly group: SharedDeflate;
  private key: object | undefined = undefined;
  /** The last slot it was sent from the shared stream, or {@link OUT_OF_SYNC}. */
  private seq = OUT_OF_SYNC;
  private started = false;
  private check: number;
  private size = 0;
  /** Bytes waiting behind a slot still in the thread pool, oldest first. */
  private queue: (Slot | Buffer)[] = [];
  private queueHead = 0;
  private queued = 0;
  private waitingOn: Slot | undefined = undefined;
  private resolvers: (() => void)[] | null = null;
  private ending = false;
  private finished = false;

  constructor(res: Response, gzip: boolean, group: SharedDeflate) {
    this.res = res;
    this.raw = res.raw;
    this.gzip = gzip;
    this.group = group;
    this.check = gzip ? 0 : 1;
  }

  /** The channel's shared state in `group`, made by the first subscriber that joins. */
  static groupOf(group: EncodingGroup, options: zlib.ZlibOptions): SharedDeflate | undefined {
    const shared = group.shared;
    if (shared === undefined) {
      const made = new SharedDeflate(options);
      group.shared = made;
      return made;
    }
    return shared instanceof SharedDeflate ? shared : undefined;
  }

  expect(key: object | undefined): void {
    this.key = key;
  }

  /** Whether `group` holds the compressor it shares. */
  sharesWith(group: EncodingGroup): boolean {
    return group.shared === this.group;
  }

  get pendingBytes(): number {
    return this.queued;
  }

  writeSync(chunk: Buffer | string): boolean {
    const raw = this.raw;
    const key = this.key;
    this.key = undefined;
    if (this.ending || raw.destroyed || raw.writableEnded) return false;
    const frame = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (frame.length === 0) return !raw.writableNeedDrain;
    this.check = this.gzip ? crc32(frame, this.check) : adler32(frame, this.check);
    this.size = (this.size + frame.length) >>> 0;
    if (key === undefined) {
      this.seq = OUT_OF_SYNC;
      this.group.wantKeyframe();
      this.emit(storedBlocks(frame), frame.length);
    } else {
      const slot = this.group.slotFor(key, frame);
      if (slot.keyframe || slot.seq === this.seq + 1) {
        this.seq = slot.seq;
        this.emit(slot, frame.length);
      } else {
        this.seq = OUT_OF_SYNC;
        this.group.wantKeyframe();
        this.emit(slot.stored(), frame.length);
      }
    }
    return !raw.writableNeedDrain;
  }

  write(chunk: Buffer | string): Promise<boolean> {
    if (this.ending || this.raw.destroyed) return FALSE;
    this.writeSync(chunk);
    if (this.queueHead === this.queue.length) return Promise.resolve(this.afterWrite());
    this.resolvers ??= [];
    const resolvers = this.resolvers;
    return new Promise((resolve) => {
      resolvers.push(() => resolve(this.afterWrite()));
    });
  }

  end(chunk?: Buffer | string): void {
    if (this.ending) return;
    if (chunk !== undefined && chunk.length > 0) this.writeSync(chunk);
    this.ending = true;
    if (this.queueHead === this.queue.length) this.finish();
  }

  /** Writes what waited, up to the first slot still in the thread pool. */
  pump(): void {
    const raw = this.raw;
    if (raw.destroyed || raw.writableEnded) {
      this.queue = [];
      this.queueHead = 0;
      this.queued = 0;
      this.settle();
      return;
    }
    const queue = this.queue;
    // What is ready goes out as one chunk: one res.write per wake, not one per event.
    const parts: Buffer[] = [];
    let stopped = false;
    while (this.queueHead < queue.length) {
      const item = queue[this.queueHead] as Slot | Buffer;
      let bytes: Buffer;
      if (item instanceof Slot) {
        if (item.bytes === null) {
          this.wait(item);
          stopped = true;
          break;
        }
        bytes = item.bytes;
        this.queued -= item.frame.length;
      } else {
        bytes = item;
        this.queued -= item.length;
      }
      queue[this.queueHead++] = undefined as unknown as Buffer;
      parts.push(bytes);
    }
    if (parts.length > 0) this.out(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
    if (stopped) return;
    queue.length = 0;
    this.queueHead = 0;
    this.queued = 0;
    this.waitingOn = undefined;
    this.settle();
    if (this.ending) this.finish();
  }

  private emit(item: Slot | Buffer, plainLength: number): void {
    if (this.queueHead === this.queue.length) {
      if (!(item instanceof Slot)) {
        this.out(item);
        return;
      }
      if (item.bytes !== null) {
        this.out(item.bytes);
        return;
      }
      this.wait(item);
    }
    this.queue.push(item);
    this.queued += plainLength;
  }

  private wait(slot: Slot): void {
    if (this.waitingOn === slot) return;
    this.waitingOn = slot;
    slot.waiters.push(this);
  }

  private out(bytes: Buffer): void {
    const raw = this.raw;
    if (!this.started) {
      this.started = true;
      raw.write(this.gzip ? GZIP_HEADER : ZLIB_HEADER);
    }
    raw.write(bytes);
  }

  /** The last block and the trailer, then the end of the response. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const raw = this.raw;
    if (raw.destroyed || raw.writableEnded) return;
    this.out(FINAL_BLOCK);
    const trailer = Buffer.allocUnsafe(this.gzip ? 8 : 4);
    if (this.gzip) {
      trailer.writeUInt32LE(this.check, 0);
      trailer.writeUInt32LE(this.size, 4);
    } else trailer.writeUInt32BE(this.check, 0);
    raw.end(trailer);
  }

  private settle(): void {
    const resolvers = this.resolvers;
    if (resolvers === null) return;
    this.resolvers = null;
    for (let i = 0; i < resolvers.length; i++) (resolvers[i] as () => void)();
  }

  /** As the per-stream encoder: the socket's turn now, with the response's own rule. */
  private afterWrite(): boolean | Promise<boolean> {
    const res = this.res;
    const raw = this.raw;
    if (raw.destroyed) return false;
    if (raw.writableNeedDrain) return res.drained();
    return !res.stopped;
  }
}

/** `data` in deflate stored blocks: framing only, nothing a decoder must remember to read it. */
function storedBlocks(data: Buffer): Buffer {
  const blocks = Math.max(1, Math.ceil(data.length / STORED_MAX));
  const out = Buffer.allocUnsafe(data.length + blocks * 5);
  let at = 0;
  for (let from = 0; from < data.length || at === 0; from += STORED_MAX) {
    const length = Math.min(STORED_MAX, data.length - from);
    out[at] = 0;
    out.writeUInt16LE(length, at + 1);
    out.writeUInt16LE(~length & 0xffff, at + 3);
    data.copy(out, at + 5, from, from + length);
    at += 5 + length;
  }
  return out;
}
