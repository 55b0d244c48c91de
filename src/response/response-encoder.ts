/**
 * The seam between a response and the socket for a transformation of its
 * body (compression): one explicit extension point instead of a wrapper
 * around `res.write`. Middleware sets `r.response.bodyEncoder` before the
 * response commits; the response then asks it once, at commit (a stream) or
 * at the end of the chain (a buffered body), whether it takes the body. When
 * it declines it is dropped, so a plain response pays one field check.
 */
import type { Response } from './response.ts';

/**
 * What a body encoder does for a response. Every streaming write of sluice
 * (`flush()`, `es.send()`, heartbeats, channel fan-out, returned iterables)
 * goes through it once it has taken the stream; the channel's socket
 * shortcut is never taken while one is set.
 *
 * @example
 * ```ts
 * // How compress() plugs in (sketch): set before the handler runs, consulted at commit.
 * s.use(async (r) => {
 *   r.response.bodyEncoder = myEncoder(r);
 *   await r.middleware.next();
 * });
 * ```
 */
export interface BodyEncoder {
  /**
   * The response commits as a stream and its head has not left yet: set the
   * headers the encoding needs and answer `true` to take every body byte
   * from now on, or `false` to step aside (the encoder is then dropped).
   */
  startStream(res: Response): boolean;
  /**
   * The chain ended without a commit: `body` is the whole response. Returns
   * the bytes to send (headers, `Content-Length` above all, set to match),
   * or `body` itself to leave it alone. May be async for a large body.
   */
  encodeWhole(res: Response, body: Buffer | string): Buffer | string | Promise<Buffer | string>;
  /** Writes stream bytes; resolves like `writeChunk`: `true` once the socket took the encoded bytes. */
  write(chunk: Buffer | string): Promise<boolean>;
  /** Writes stream bytes without a promise; `false` when the socket is full (or the stream is over). */
  writeSync(chunk: Buffer | string): boolean;
  /** Ends the encoded body after `chunk`; the encoder ends the response once its last bytes are out. */
  end(chunk?: Buffer | string): void;
  /** Bytes handed to the encoder that have not reached the response yet. */
  readonly pendingBytes: number;
  /**
   * A channel subscribes this stream: may the encoder take the events it
   * shares with the channel's other subscribers encoded once for all of them?
   * Returns its writer, or `undefined` to encode every event itself.
   */
  joinGroup?(group: EncodingGroup): SharedFrameWriter | undefined;
}

/**
 * What several streams encode together: a channel holds one, and the first
 * body encoder that joins puts its shared state there (one compressor for
 * every subscriber). The channel closes it when it closes.
 *
 * @example
 * ```ts
 * // An encoder's joinGroup (sketch): the first subscriber makes the shared state.
 * group.shared ??= { close: () => sharedCompressor.destroy() };
 * ```
 */
export interface EncodingGroup {
  shared: { close(): void } | undefined;
}

/**
 * A stream's side of an {@link EncodingGroup}: before a shared
 * frame is written through the stream (`writeFrameSync`), `expect(key)` says
 * which event it is, so the encoder may send the bytes encoded once for all
 * the streams that get the same event; `expect(undefined)` after it.
 *
 * @example
 * ```ts
 * writer.expect(record); // what the channel does around each live fan-out write
 * stream.writeFrameSync(frame);
 * writer.expect(undefined);
 * ```
 */
export interface SharedFrameWriter {
  expect(key: object | undefined): void;
}
