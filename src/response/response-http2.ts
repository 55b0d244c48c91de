/**
 * The HTTP/2 side of a response. Node's compatibility API (`Http2ServerResponse`) lets the same
 * `Request`/`Response` serve both protocols, but it differs from `ServerResponse` where sluice
 * relies on it; {@link Http2Response} closes those gaps in one place, so the HTTP/1.1 path stays
 * exactly as it was:
 *
 * - Connection-specific headers (RFC 9113 §8.2.2) are dropped as they are set, whoever sets them
 *   (a handler, middleware, `rawWriter()`, sluice itself asking for `Connection: close`). Node
 *   drops `Connection` with a process-wide warning, and lets `Transfer-Encoding` or `Keep-Alive`
 *   through to throw at the first write, leaving the client hanging.
 * - `statusMessage`, which HTTP/2 has no place for, reads `''` and ignores writes silently
 *   instead of printing a warning.
 * - `destroyed` and `writableNeedDrain` exist (they are the stream's), so the one write path's
 *   backpressure and stop rules hold.
 * - A stream cut after an error ends with RST_STREAM (see {@link Http2Response.cut}), the
 *   HTTP/2 way to say a body is truncated.
 */

import type { ServerResponse } from 'node:http';
import { constants, Http2ServerResponse, type ServerHttp2Stream } from 'node:http2';

const EMPTY = Buffer.alloc(0);

/**
 * Whether a response header is connection-specific, which HTTP/2 forbids (RFC 9113 §8.2.2):
 * `TE` is allowed only as `trailers`. `name` must be lower case.
 *
 * @example
 * ```ts
 * isConnectionSpecific('keep-alive', 'timeout=5'); // true
 * isConnectionSpecific('te', 'trailers');          // false
 * ```
 */
export function isConnectionSpecific(name: string, value: unknown): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
    case 'http2-settings':
      return true;
    case 'te':
      return value !== 'trailers';
    default:
      return false;
  }
}

function lower(name: unknown): string {
  return typeof name === 'string' ? name.trim().toLowerCase() : '';
}

/**
 * The response class sluice's HTTP/2 listeners create (passed to Node as `Http2ServerResponse`).
 * Only the header entry points and a few getters differ from Node's; see the module comment.
 *
 * @example
 * ```ts
 * http2.createSecureServer({ allowHTTP1: true, Http2ServerResponse: Http2Response, key, cert });
 * ```
 */
export class Http2Response extends Http2ServerResponse {
  /** Set by {@link cut}: the body is truncated, so nothing may end it cleanly any more. */
  private isCut = false;

  override setHeader(name: string, value: number | string | readonly string[]): this {
    if (!isConnectionSpecific(lower(name), value)) super.setHeader(name, value);
    return this;
  }

  override appendHeader(name: string, value: string | string[]): this {
    if (!isConnectionSpecific(lower(name), value)) super.appendHeader(name, value);
    return this;
  }

  override writeHead(statusCode: number, ...rest: unknown[]): this {
    // Headers given here bypass setHeader inside Node, so they are filtered here too.
    const last = rest.length > 0 ? rest[rest.length - 1] : undefined;
    if (last !== null && typeof last === 'object') {
      if (Array.isArray(last)) {
        const tuples = last.length > 0 && Array.isArray(last[0]);
        const kept: unknown[] = [];
        if (tuples) {
          for (const pair of last as [string, unknown][]) {
            if (!isConnectionSpecific(lower(pair[0]), pair[1])) kept.push(pair);
          }
        } else {
          for (let i = 0; i + 1 < last.length; i += 2) {
            if (!isConnectionSpecific(lower(last[i]), last[i + 1])) kept.push(last[i], last[i + 1]);
          }
        }
        rest[rest.length - 1] = kept;
      } else {
        const kept: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(last)) if (!isConnectionSpecific(lower(k), v)) kept[k] = v;
        rest[rest.length - 1] = kept;
      }
    }
    // A status message has no place in HTTP/2: dropped here rather than warned about by Node.
    if (typeof rest[0] === 'string') rest.shift();
    return (super.writeHead as (code: number, ...args: unknown[]) => this)(statusCode, ...rest);
  }

  override end(...args: unknown[]): this {
    if (this.isCut) return this;
    const first = !this.finished;
    (super.end as (...a: unknown[]) => this)(...args);
    const stream = this.stream;
    // An error answer leaves the request body unread (a 413 above all); without a reset the
    // client would go on sending it, or stall on a full window with the stream held open.
    if (first && this.statusCode >= 400 && !stream.endAfterHeaders && !stream.destroyed)
      stream.once('finish', stopUpload);
    return this;
  }

  /**
   * Ends the stream as truncated: RST_STREAM (INTERNAL_ERROR) once every byte written before
   * has been handed to the session. A reset sent at once would overtake the DATA frames still
   * queued and lose them; an `end()` would tell the client the body is complete.
   */
  cut(): void {
    if (this.isCut) return;
    this.isCut = true;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    const reset = () => stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    if (stream.writableEnded || !stream.headersSent) reset();
    // Writes complete in order: this callback runs after every earlier chunk was sent.
    else stream.write(EMPTY, reset);
  }
}

/**
 * Ends an answered stream whose request body is still arriving with RST_STREAM NO_ERROR, as
 * RFC 9113 §8.1 lets a server do once its response is complete: the client stops sending and
 * keeps the response. Node does the same for a body nobody began to read, but not for one a
 * body parser read into and then refused. Runs a turn after the stream's 'finish', as Node's
 * own does: a reset in the same packet as the last DATA frame makes Node's client (and any
 * that reads as it does) drop the reset until the response is consumed, with writes pending.
 */
function stopUpload(this: ServerHttp2Stream): void {
  setImmediate(resetUnfinished, this);
}

function resetUnfinished(stream: ServerHttp2Stream): void {
  if (!stream.closed && !stream.destroyed && stream.state.remoteClose === 0)
    stream.close(constants.NGHTTP2_NO_ERROR);
}

// Accessors the parent declares as plain properties in @types/node, so they are defined here.
Object.defineProperties(Http2Response.prototype, {
  statusMessage: {
    get: () => '',
    set: () => {},
    configurable: true,
  },
  destroyed: {
    get(this: Http2Response) {
      return this.stream.destroyed;
    },
    configurable: true,
  },
  writableNeedDrain: {
    get(this: Http2Response) {
      return this.stream.writableNeedDrain;
    },
    configurable: true,
  },
  writableFinished: {
    get(this: Http2Response) {
      // A client's reset ends the stream's writable side too, which would read as a response
      // sent in full (the access log's `ended=complete`): a reset with an error code is not.
      const stream = this.stream;
      return stream.writableFinished && (stream.rstCode ?? 0) === constants.NGHTTP2_NO_ERROR;
    },
    configurable: true,
  },
  writableEnded: {
    get(this: Http2Response) {
      // `finished` is Node's own writableEnded (the response's end() was called).
      return (this as unknown as { isCut: boolean }).isCut || this.finished;
    },
    configurable: true,
  },
});

/**
 * @internal The HTTP/2 stream behind a response, or `undefined` on HTTP/1.1 (the common case,
 * one prototype check).
 */
export function http2ResponseOf(raw: ServerResponse): Http2Response | undefined {
  return raw instanceof Http2Response ? raw : undefined;
}

/** @internal The stream of an HTTP/2 response; see {@link http2ResponseOf}. */
export function http2StreamOf(raw: ServerResponse): ServerHttp2Stream | undefined {
  return raw instanceof Http2Response ? raw.stream : undefined;
}
