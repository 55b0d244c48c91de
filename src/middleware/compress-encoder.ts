/**
 * The body encoder `compress()` puts on a response: it decides once whether
 * the body is compressed, then compresses a buffered body in one shot, or a
 * stream through one zlib/brotli stream of its own that is flushed after
 * every write. Every write sluice makes to a stream is a point where the
 * client must be able to read what it got (a `flush()`, an SSE event, a
 * heartbeat), so the compressor's default flush is a sync flush
 * (`Z_SYNC_FLUSH`, `BROTLI_OPERATION_FLUSH`): each write comes out as bytes
 * that decode on arrival, in one pass through the thread pool.
 */
import type { ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import type { Request } from '../request/request.ts';
import type { Response } from '../response/response.ts';
import type { BodyEncoder, EncodingGroup, SharedFrameWriter } from '../response/response-encoder.ts';
import { carriesBody, FALSE } from '../response/response-writer.ts';
import type { Coding } from './compress-negotiate.ts';
import { SharedDeflateWriter } from './compress-shared.ts';
import { appendVary } from './cors.ts';

/** @internal What `compress()` settled from its options, shared by every response it encodes. */
export interface CompressConfig {
  readonly threshold: number;
  readonly filter: (contentType: string, r: Request) => boolean;
  /** Bodies up to this size are compressed on the event loop; larger ones in the thread pool. */
  readonly syncLimit: number;
  readonly wholeZlib: zlib.ZlibOptions;
  readonly wholeBrotli: zlib.BrotliOptions;
  readonly streamZlib: zlib.ZlibOptions;
  readonly streamBrotli: zlib.BrotliOptions;
}

/** What the response allows: not at all, only `Vary` (it could have been), or compress it. */
const SKIP = 0;
const VARY_ONLY = 1;
const COMPRESS = 2;

/**
 * Whether this response may be compressed, from what it says about itself. Adds
 * `Vary: Accept-Encoding` whenever the answer depended on the request's header, which is
 * whenever the type is one we compress, compressed or not: a cache must not hand a gzip body
 * to a client that did not ask for one, nor the plain body to every client that did.
 */
function judge(res: Response, config: CompressConfig): number {
  const raw = res.raw;
  if (raw.headersSent || !carriesBody(raw)) return SKIP;
  // A range of the plain bytes (206) cannot be compressed without breaking what it is a range of.
  if (raw.statusCode === 206 || raw.hasHeader('content-range')) return SKIP;
  if (isEncoded(raw)) return SKIP;
  const type = raw.getHeader('content-type');
  if (typeof type !== 'string' || !config.filter(type, res.request)) return SKIP;
  appendVary(raw, 'Accept-Encoding');
  if (NO_TRANSFORM.test(headerText(raw.getHeader('cache-control')))) return VARY_ONLY;
  return COMPRESS;
}

const NO_TRANSFORM = /(?:^|,)\s*no-transform\s*(?:,|$)/i;

function isEncoded(raw: ServerResponse): boolean {
  const value = raw.getHeader('content-encoding');
  return value !== undefined && headerText(value).trim().toLowerCase() !== 'identity';
}

function headerText(value: string | number | readonly string[] | undefined): string {
  if (value === undefined) return '';
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/** The headers of an encoded body. A strong ETag names the plain bytes, so it is weakened. */
function markEncoded(raw: ServerResponse, coding: Coding): void {
  raw.setHeader('Content-Encoding', coding);
  const etag = raw.getHeader('etag');
  if (typeof etag === 'string' && etag.startsWith('"')) raw.setHeader('ETag', `W/${etag}`);
}

/**
 * @internal Answers every response of a request that accepts no coding we offer: only `Vary`.
 * Stateless, so such requests cost no allocation.
 */
export function varyOnlyEncoder(config: CompressConfig): BodyEncoder {
  return {
    startStream(res) {
      judge(res, config);
      return false;
    },
    encodeWhole(res, body) {
      judge(res, config);
      return body;
    },
    write: () => FALSE,
    writeSync: () => false,
    end() {},
    pendingBytes: 0,
  };
}

type Compressor = zlib.Gzip | zlib.Deflate | zlib.BrotliCompress;

/**
 * @internal The encoder of one response whose request accepts `coding`. Holds a compressor
 * only once a stream was started: buffered bodies use the one-shot API.
 */
export class CompressEncoder implements BodyEncoder {
  private readonly res: Response;
  private readonly coding: Coding;
  private readonly config: CompressConfig;
  private compressor: Compressor | undefined = undefined;
  /** Set once a channel shares its compressor with this stream: it then writes every byte. */
  private shared: SharedDeflateWriter | undefined = undefined;
  private started = false;
  private ending = false;
  private readonly onData = (chunk: Buffer): void => {
    const raw = this.res.raw;
    if (!raw.destroyed && !raw.writableEnded) raw.write(chunk);
  };
  private readonly onEnd = (): void => {
    const raw = this.res.raw;
    if (!raw.destroyed && !raw.writableEnded) raw.end();
  };
  private readonly onError = (err: unknown): void => {
    // Compressing bytes in memory does not fail short of a bug or exhausted memory; the body is
    // unusable then, so the client gets a truncated response rather than a hang.
    this.res.request.server.logger.error('sluice: compress() failed on a stream', err);
    this.res.stopWrites('error');
    this.res.raw.destroy();
  };
  // The compressor's memory (a window, hash tables) is native: released the moment the response
  // is over, however it ended, not when the garbage collector finds the object.
  private readonly onClose = (): void => {
    this.compressor?.destroy();
  };

  constructor(res: Response, coding: Coding, config: CompressConfig) {
    this.res = res;
    this.coding = coding;
    this.config = config;
  }

  get pendingBytes(): number {
    if (this.shared !== undefined) return this.shared.pendingBytes;
    return this.compressor?.writableLength ?? 0;
  }

  /**
   * A channel subscribes this stream. gzip and deflate streams that have sent
   * nothing yet take the channel's shared compressor (see compress-shared.ts);
   * brotli, and a stream whose own compressor has started, keep their own.
   */
  joinGroup(group: EncodingGroup): SharedFrameWriter | undefined {
    // Subscribed to another channel's group already: this one's events go out stored (uncompressed).
    if (this.shared !== undefined) return this.shared.sharesWith(group) ? this.shared : undefined;
    if (!this.started || this.compressor !== undefined || this.ending || this.coding === 'br')
      return undefined;
    const shared = SharedDeflateWriter.groupOf(group, this.config.streamZlib);
    if (shared === undefined) return undefined;
    this.shared = new SharedDeflateWriter(this.res, this.coding === 'gzip', shared);
    return this.shared;
  }

  startStream(res: Response): boolean {
    const raw = res.raw;
    // Gone already: its 'close' has fired, and nothing would ever release a compressor made now.
    if (raw.destroyed || judge(res, this.config) !== COMPRESS) return false;
    raw.removeHeader('Content-Length');
    markEncoded(raw, this.coding);
    this.started = true;
    return true;
  }

  /**
   * The stream's own compressor, made at its first byte rather than at its
   * start: until then a channel may still share its compressor with it.
   */
  private ownCompressor(): Compressor | undefined {
    const existing = this.compressor;
    if (existing !== undefined) return existing.destroyed ? undefined : existing;
    if (!this.started || this.res.raw.destroyed) return undefined;
    const compressor = createStreamCompressor(this.coding, this.config);
    compressor.on('data', this.onData);
    compressor.once('end', this.onEnd);
    compressor.on('error', this.onError);
    this.res.raw.once('close', this.onClose);
    this.compressor = compressor;
    return compressor;
  }

  encodeWhole(res: Response, body: Buffer | string): Buffer | string | Promise<Buffer | string> {
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (judge(res, this.config) !== COMPRESS || size < this.config.threshold) return body;
    const input = typeof body === 'string' ? Buffer.from(body) : body;
    // Small bodies on the event loop: a thread-pool round trip costs more than it spares (see bench/compress.ts).
    if (size <= this.config.syncLimit)
      return this.encoded(res, body, compressSync(this.coding, input, this.config));
    return new Promise((resolve) => {
      compressAsync(this.coding, input, this.config, (err, out) => {
        resolve(err === null ? this.encoded(res, body, out) : body);
      });
    });
  }

  write(chunk: Buffer | string): Promise<boolean> {
    if (this.shared !== undefined) return this.shared.write(chunk);
    if (this.ending) return FALSE;
    const compressor = this.ownCompressor();
    if (compressor === undefined) return FALSE;
    return new Promise((resolve) => {
      compressor.write(chunk, (err) => resolve(err == null ? this.afterWrite() : false));
    });
  }

  writeSync(chunk: Buffer | string): boolean {
    if (this.shared !== undefined) return this.shared.writeSync(chunk);
    if (this.ending) return false;
    const compressor = this.ownCompressor();
    if (compressor === undefined) return false;
    compressor.write(chunk);
    return !this.res.raw.writableNeedDrain;
  }

  end(chunk?: Buffer | string): void {
    if (this.shared !== undefined) {
      this.shared.end(chunk);
      return;
    }
    if (this.ending) return;
    // Ended before its first byte: the compressor is made now, for the coding's header and trailer.
    const compressor = this.ownCompressor();
    this.ending = true;
    if (compressor === undefined) return;
    if (chunk !== undefined && chunk.length > 0) compressor.end(chunk);
    else compressor.end();
  }

  /**
   * The compressor has passed this write's bytes to the response (its output is pushed before
   * the write's callback runs): now it is the socket's turn, with the response's own rule.
   */
  private afterWrite(): boolean | Promise<boolean> {
    const res = this.res;
    const raw = res.raw;
    if (raw.destroyed) return false;
    if (raw.writableNeedDrain) return res.drained();
    return !res.stopped;
  }

  private encoded(res: Response, plain: Buffer | string, out: Buffer): Buffer | string {
    const raw = res.raw;
    // Incompressible after all (already packed data under a text type): the plain bytes are smaller.
    if (out.length >= (typeof plain === 'string' ? Buffer.byteLength(plain) : plain.length)) return plain;
    if (raw.headersSent) return plain;
    markEncoded(raw, this.coding);
    raw.setHeader('Content-Length', out.length);
    return out;
  }
}

function createStreamCompressor(coding: Coding, config: CompressConfig): Compressor {
  if (coding === 'br') return zlib.createBrotliCompress(config.streamBrotli);
  if (coding === 'gzip') return zlib.createGzip(config.streamZlib);
  return zlib.createDeflate(config.streamZlib);
}

function compressSync(coding: Coding, input: Buffer, config: CompressConfig): Buffer {
  if (coding === 'br') return zlib.brotliCompressSync(input, config.wholeBrotli);
  if (coding === 'gzip') return zlib.gzipSync(input, config.wholeZlib);
  return zlib.deflateSync(input, config.wholeZlib);
}

function compressAsync(
  coding: Coding,
  input: Buffer,
  config: CompressConfig,
  done: (err: Error | null, out: Buffer) => void,
): void {
  if (coding === 'br') zlib.brotliCompress(input, config.wholeBrotli, done);
  else if (coding === 'gzip') zlib.gzip(input, config.wholeZlib, done);
  else zlib.deflate(input, config.wholeZlib, done);
}
