import zlib from 'node:zlib';
import { InvalidArgumentError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import { type CompressConfig, CompressEncoder, varyOnlyEncoder } from './compress-encoder.ts';
import { CODINGS, type Coding, NegotiationCache } from './compress-negotiate.ts';

/**
 * Options of {@link compress}.
 *
 * @example
 * ```ts
 * s.use(compress({ encodings: ['gzip', 'br'], threshold: 2048 }));
 * ```
 */
export interface CompressOptions {
  /** The codings offered, in the server's order of preference (it breaks q-value ties); default `['br', 'gzip', 'deflate']`. */
  encodings?: readonly Coding[];
  /** Buffered bodies smaller than this many bytes are sent as they are; default 1024. Streams are always compressed. */
  threshold?: number;
  /**
   * Which content types are compressed, replacing the default test (text, JSON, JavaScript,
   * XML, SVG, NDJSON, event streams). A response without a `Content-Type` is never compressed.
   */
  filter?: (contentType: string, r: Request) => boolean;
  /** zlib options of buffered gzip/deflate bodies; default level 6, zlib's own. */
  zlib?: zlib.ZlibOptions;
  /** Brotli options of buffered bodies; default quality 4 (brotli's own 11 is far too slow per request). */
  brotli?: zlib.BrotliOptions;
  /**
   * zlib options of gzip/deflate streams, one compressor per stream for as long as it lives;
   * default `{ windowBits: 12, memLevel: 5 }`, a few dozen KiB per stream instead of ~200.
   */
  streamZlib?: zlib.ZlibOptions;
  /** Brotli options of streams; default quality 5 and a 64 KiB window (`lgwin` 16). */
  streamBrotli?: zlib.BrotliOptions;
}

const { constants } = zlib;
const DEFAULT_THRESHOLD = 1024;
/** Above this, a buffered body is compressed in the thread pool rather than on the event loop. */
const SYNC_LIMIT = 64 * 1024;
/** The compressor's output buffer per stream: zlib's 16 KiB default is mostly idle for events. */
const STREAM_CHUNK = 4096;

/**
 * The types worth compressing: text, and the structured text formats served under
 * `application/` or `image/` (JSON and its `+json` kin, JavaScript, XML and `+xml`, SVG, NDJSON).
 */
const COMPRESSIBLE =
  /^\s*(?:text\/|application\/(?:json|javascript|ecmascript|x-javascript|xml|x-ndjson|ndjson|jsonl|x-www-form-urlencoded|graphql|manifest\+json|[\w.+-]*\+(?:json|xml))|image\/svg\+xml)/i;

/**
 * Compression by `Accept-Encoding` (brotli, gzip, deflate) that never holds
 * an event back. A buffered body above `threshold` is compressed in one
 * shot and sent with its compressed `Content-Length`. A stream — `flush()`,
 * `sse()`, a returned iterable or byte stream, a channel subscriber — gets
 * a compressor of its own that is flushed after every write, so each event,
 * each `flush()` and each heartbeat decodes on arrival; `flush()` and
 * `es.send()` still resolve once the socket took the compressed bytes.
 *
 * Left as they are: HEAD, 204 and 304 answers, 206 ranges, responses that
 * already have a `Content-Encoding`, ones whose `Cache-Control` says
 * `no-transform` (set it before `sse()`: the `no-transform` that `sse()`
 * adds is for proxies, not for this middleware), types not worth it, files
 * sent by `serveFile`/`serveStatic` (precompress those), and whatever goes
 * through `rawWriter()`. `Vary: Accept-Encoding` is added to every response
 * of a compressible type, compressed or not.
 *
 * A stream's compressor holds memory for as long as the stream lives (about
 * 100 KiB of RSS for gzip with the stream defaults, 300 for brotli; see
 * `bench/compress.ts`). A channel's gzip and deflate subscribers share one
 * compressor instead: each event is compressed once for all of them (about
 * plain CPU and memory per subscriber, some 15% more bytes than a stream of
 * its own), as long as the stream wrote nothing before it subscribed (a
 * `retry` in `sse()` counts), else it keeps its own; brotli subscribers
 * always have their own. Register it before the routes it should cover.
 *
 * @example
 * ```ts
 * const s = server();
 * s.use(compress());
 * s.get('/ticker', (r) => ticker.subscribe(r.response.sse())); // gzip/br per event, decodable at once
 * s.get('/report', () => bigJson);                             // compressed with Content-Length
 * ```
 */
export function compress(options: CompressOptions = {}): (r: Request) => Promise<void> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(
      'options',
      'must be an object { encodings?, threshold?, filter?, ... }',
      options,
    );
  }
  const encodings = checkEncodings(options.encodings ?? CODINGS);
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  if (!Number.isSafeInteger(threshold) || threshold < 0) {
    throw new InvalidArgumentError('threshold', 'must be a non-negative integer number of bytes', threshold);
  }
  const filter = options.filter ?? defaultFilter;
  if (typeof filter !== 'function') {
    throw new InvalidArgumentError('filter', 'must be a function (contentType, r) => boolean', filter);
  }
  const config: CompressConfig = {
    threshold,
    filter: safeFilter(filter),
    syncLimit: SYNC_LIMIT,
    wholeZlib: { ...checkObject('zlib', options.zlib) },
    wholeBrotli: {
      ...checkObject('brotli', options.brotli),
      params: { [constants.BROTLI_PARAM_QUALITY]: 4, ...options.brotli?.params },
    },
    streamZlib: {
      windowBits: 12,
      memLevel: 5,
      chunkSize: STREAM_CHUNK,
      ...checkObject('streamZlib', options.streamZlib),
      // Every write is a point the client must be able to decode up to.
      flush: constants.Z_SYNC_FLUSH,
    },
    streamBrotli: {
      chunkSize: STREAM_CHUNK,
      ...checkObject('streamBrotli', options.streamBrotli),
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 5,
        [constants.BROTLI_PARAM_LGWIN]: 16,
        ...options.streamBrotli?.params,
      },
      // Without it brotli sends nothing until the end. Never Z_FINISH on brotli (nodejs/node#63701).
      flush: constants.BROTLI_OPERATION_FLUSH,
    },
  };
  // Bad zlib options (a windowBits of 99) throw here, at start-up, not on the first request.
  tryOptions(config);
  const negotiation = new NegotiationCache(encodings);
  const varyOnly = varyOnlyEncoder(config);

  return async (r) => {
    // A HEAD answer has no body to compress; its headers stay those the handler chose.
    if (r.method !== 'HEAD') {
      const header = r.raw.headers['accept-encoding'];
      const coding = typeof header === 'string' && header !== '' ? negotiation.choose(header) : undefined;
      r.response.bodyEncoder =
        coding === undefined ? varyOnly : new CompressEncoder(r.response, coding, config);
    }
    await r.middleware.next();
  };
}

function defaultFilter(contentType: string): boolean {
  return COMPRESSIBLE.test(contentType);
}

/** A filter that throws must not take the response with it: its body goes out as it is. */
function safeFilter(filter: (contentType: string, r: Request) => boolean): CompressConfig['filter'] {
  if (filter === defaultFilter) return filter;
  return (type, r) => {
    try {
      return filter(type, r) === true;
    } catch (err) {
      r.server.logger.error('sluice: the compress() filter threw; the response is sent uncompressed', err);
      return false;
    }
  };
}

function checkEncodings(list: readonly Coding[]): readonly Coding[] {
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError(
      'encodings',
      "must be a non-empty list of 'br', 'gzip' and 'deflate'",
      list,
    );
  }
  for (const coding of list) {
    if (!CODINGS.includes(coding)) {
      throw new InvalidArgumentError('encodings', "may hold only 'br', 'gzip' and 'deflate'", coding);
    }
  }
  return [...new Set(list)];
}

function checkObject<T extends object>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new InvalidArgumentError(name, 'must be an object of node:zlib options', value);
  }
  return value;
}

function tryOptions(config: CompressConfig): void {
  const probe = Buffer.from('sluice');
  for (const [name, make] of [
    ['zlib', () => zlib.gzipSync(probe, config.wholeZlib)],
    ['brotli', () => zlib.brotliCompressSync(probe, config.wholeBrotli)],
    ['streamZlib', () => zlib.createGzip(config.streamZlib).destroy()],
    ['streamBrotli', () => zlib.createBrotliCompress(config.streamBrotli).destroy()],
  ] as const) {
    try {
      make();
    } catch (err) {
      throw new InvalidArgumentError(name, `must be valid node:zlib options (${(err as Error).message})`);
    }
  }
}
