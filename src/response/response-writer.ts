/**
 * The one place where a streaming body meets the socket. `flush()`, SSE
 * sends and piped iterables all go through `writeChunk`, so they share one
 * backpressure rule and one stop rule: resolve `true` once the bytes were
 * accepted, `false` once the producer should stop (the client is gone, or
 * the server ended or is stopping the stream), never throw.
 */
import type { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { BodyEncoder } from './response-encoder.ts';

/** @internal Shared settled results: the common case allocates no promise. */
export const TRUE = Promise.resolve(true);
/** @internal */
export const FALSE = Promise.resolve(false);

/** The parts of a Response that writing needs (kept narrow so SSE and channels can write too). */
export interface Writable {
  readonly raw: ServerResponse;
  written: number;
  commit(): void;
  /** Set once committed when the body is encoded (compressed): every byte then goes through it. */
  readonly bodyEncoder: BodyEncoder | undefined;
  /** Whether the producer should stop: the client left or the server is stopping the stream. */
  readonly stopped: boolean;
  /** Resolves `true` when the socket has room again, `false` once writing is over (see {@link Writable.stopped}). */
  drained(): Promise<boolean>;
}

/**
 * Writes bytes to a committed response and resolves when the socket took
 * them. Waits for `drain` only when `write()` said the socket is full,
 * which is the cheap common case for small events. Bytes written while the
 * server is stopping the stream still go out (they are the stream's last
 * words), but resolve `false`: the producer is to stop.
 */
export function writeChunk(target: Writable, chunk: Buffer | string): Promise<boolean> {
  const raw = target.raw;
  if (raw.destroyed || raw.writableEnded) return FALSE;
  target.commit();
  // Node silently drops the body of a HEAD, 204 or 304 response; counting it would misreport the access log.
  if (carriesBody(raw)) target.written += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
  const encoder = target.bodyEncoder;
  if (encoder !== undefined) return encoder.write(chunk);
  if (raw.write(chunk)) return target.stopped ? FALSE : TRUE;
  return target.drained();
}

/** Whether Node will send a body for this response at all: not for HEAD, 1xx, 204 or 304. */
export function carriesBody(raw: ServerResponse): boolean {
  const code = raw.statusCode;
  return raw.req?.method !== 'HEAD' && code >= 200 && code !== 204 && code !== 304;
}

/**
 * One wait for `drain`, shared by every write that is waiting on the same
 * response: resolves `true` on `drain` (of the response, or of its socket
 * when the write went straight to it) and `false` on `close` — or at once
 * when `settle(false)` is called, which is how `close()` and a shutdown
 * release a producer whose client stopped reading: neither event would ever
 * come then, and the producer would hang on its `await` for good.
 */
export class DrainWait {
  readonly promise: Promise<boolean>;
  /** Set by the first {@link settle}: the next blocked write needs a new wait. */
  settled = false;
  private readonly raw: ServerResponse;
  private readonly drainFrom: EventEmitter;
  private resolve!: (ok: boolean) => void;
  private readonly onDrain = () => this.settle(true);
  private readonly onClose = () => this.settle(false);

  /** `drainFrom`: the socket, when the blocked write bypassed the response (it sends no `drain` then). */
  constructor(raw: ServerResponse, drainFrom: EventEmitter = raw) {
    this.raw = raw;
    this.drainFrom = drainFrom;
    this.promise = new Promise((resolve) => {
      this.resolve = resolve;
    });
    drainFrom.once('drain', this.onDrain);
    raw.once('close', this.onClose);
  }

  /** Resolves the wait (only the first call counts) and lets go of the response's events. */
  settle(ok: boolean): void {
    this.settled = true;
    this.drainFrom.off('drain', this.onDrain);
    this.raw.off('close', this.onClose);
    this.resolve(ok);
  }
}
