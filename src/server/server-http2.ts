import { Server as HttpServer, type ServerOptions as HttpServerOptions } from 'node:http';
import {
  constants,
  createServer as createH2cServer,
  createSecureServer,
  type Http2SecureServer,
  type Http2Server,
  type SecureServerOptions,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { ServerOptions as HttpsOptions } from 'node:https';
import { InvalidArgumentError } from '../errors.ts';
import { Http2Response } from '../response/response-http2.ts';

/**
 * HTTP/2 settings of {@link Server.setHttp2}. The defaults suit many long-lived streams (SSE) on
 * one connection, which is what HTTP/2 is for here: a browser's tabs share one connection per
 * host instead of six HTTP/1.1 connections in all.
 *
 * How {@link Server.setTimeouts} applies to HTTP/2 connections: `keepAlive` closes (GOAWAY) a
 * connection without an open stream, including one that never completes a request head, so a
 * slow-header client is cut after `keepAlive` rather than `headers`; `request` resets (CANCEL)
 * a stream whose body is still arriving that long after its head; `headers` has no HTTP/2
 * counterpart, since a head arrives as whole frames whose size `setMaxHeaderSize()` bounds
 * (SETTINGS_MAX_HEADER_LIST_SIZE) and Node bounds floods of CONTINUATION frames. As on
 * HTTP/1.1, nothing limits how long a response streams.
 *
 * @example
 * ```ts
 * s.setHttps({ key, cert }).setHttp2({ maxConcurrentStreams: 2000, maxSessionMemory: 64 });
 * ```
 */
export interface Http2Options {
  /**
   * Streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). Default 1000:
   * every open EventSource holds one, so Node's unbounded default would let one client hold any
   * number, and the 100 many servers choose is too few for a dashboard of streams.
   */
  maxConcurrentStreams?: number;
  /**
   * Bytes a client may send on one stream before the server reads them (SETTINGS_INITIAL_WINDOW_SIZE),
   * 65535 to 2^31−1. Default 1 MiB, so uploads are not throttled to one window per round trip.
   * The window for what the *server* sends is the client's to set (browsers use several MiB).
   */
  initialWindowSize?: number;
  /**
   * Bytes all streams of a connection may send before the server reads them: the connection
   * window, at least 65535. Default 16 MiB, enough for the stream windows of many uploads.
   */
  connectionWindowSize?: number;
  /**
   * Memory in MiB one connection may use for its streams' state and queued frames before Node
   * refuses new streams (ENHANCE_YOUR_CALM). Default 32, where Node's 10 starts refusing streams
   * with a few hundred SSE streams each holding a little unsent data.
   */
  maxSessionMemory?: number;
}

/** @internal Every HTTP/2 option resolved. */
export type ResolvedHttp2 = Required<Http2Options>;

const DEFAULT_HTTP2: ResolvedHttp2 = {
  maxConcurrentStreams: 1000,
  initialWindowSize: 1024 * 1024,
  connectionWindowSize: 16 * 1024 * 1024,
  maxSessionMemory: 32,
};

const MAX_WINDOW = 2 ** 31 - 1;

/** @internal Checks what `setHttp2()` was given and fills in the defaults. */
export function resolveHttp2(options: boolean | Http2Options): ResolvedHttp2 | undefined {
  if (options === false) return undefined;
  if (options === true) return DEFAULT_HTTP2;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(
      'options',
      'must be true, false or { maxConcurrentStreams?, initialWindowSize?, connectionWindowSize?, maxSessionMemory? }',
      options,
    );
  }
  return {
    maxConcurrentStreams: integer(
      'maxConcurrentStreams',
      options.maxConcurrentStreams ?? DEFAULT_HTTP2.maxConcurrentStreams,
      1,
      2 ** 32 - 1,
    ),
    initialWindowSize: integer(
      'initialWindowSize',
      options.initialWindowSize ?? DEFAULT_HTTP2.initialWindowSize,
      65_535,
      MAX_WINDOW,
    ),
    connectionWindowSize: integer(
      'connectionWindowSize',
      options.connectionWindowSize ?? DEFAULT_HTTP2.connectionWindowSize,
      65_535,
      MAX_WINDOW,
    ),
    maxSessionMemory: integer(
      'maxSessionMemory',
      options.maxSessionMemory ?? DEFAULT_HTTP2.maxSessionMemory,
      1,
      1 << 20,
    ),
  };
}

function integer(name: string, value: unknown, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw new InvalidArgumentError(name, `must be an integer from ${min} to ${max}`, value);
  }
  return value as number;
}

/** @internal What a listener calls per request; Node's HTTP/2 and HTTP/1.1 classes both reach it. */
// biome-ignore lint/suspicious/noExplicitAny: Node's request classes differ per protocol; handleRequest reads their common part.
export type Http2RequestListener = (req: any, res: any) => void;

/** @internal One HTTP/2 listener and the sessions (connections) it holds, for the shutdown. */
export interface Http2Listener {
  readonly server: Http2SecureServer | Http2Server;
  readonly sessions: Set<ServerHttp2Session>;
  /** Whether HTTP/1.1 is served too (TLS with ALPN), whose connections Node tracks apart. */
  readonly http1: boolean;
}

/**
 * @internal An HTTP/2 listener: over TLS with HTTP/1.1 accepted on the same port (ALPN picks),
 * or, without TLS, cleartext h2c with prior knowledge. Node's h2c server does not accept
 * HTTP/1.1 (nor the `Upgrade: h2c` dance): a proxy in front must speak HTTP/2 to it.
 */
export function createHttp2Listener(
  settings: ResolvedHttp2,
  tls: HttpsOptions | undefined,
  http1: HttpServerOptions,
  onRequest: Http2RequestListener,
  stopping: () => boolean,
): Http2Listener {
  const options: SecureServerOptions = {
    allowHTTP1: tls !== undefined,
    maxSessionMemory: settings.maxSessionMemory,
    settings: {
      maxConcurrentStreams: settings.maxConcurrentStreams,
      initialWindowSize: settings.initialWindowSize,
      maxHeaderListSize: http1.maxHeaderSize,
    },
    Http2ServerResponse: Http2Response as SecureServerOptions['Http2ServerResponse'],
  };
  const server = tls !== undefined ? createSecureServer({ ...tls, ...options }) : createH2cServer(options);
  server.on('request', onRequest);
  if (tls !== undefined) {
    // The HTTP/1.1 connections of this port run Node's HTTP/1.1 server code, which reads its
    // limits from these fields: the same ones a plain listener gets.
    const h1 = server as unknown as HttpServer;
    h1.headersTimeout = http1.headersTimeout ?? h1.headersTimeout;
    h1.requestTimeout = http1.requestTimeout ?? h1.requestTimeout;
    h1.keepAliveTimeout = http1.keepAliveTimeout ?? h1.keepAliveTimeout;
    (h1 as unknown as { maxHeaderSize: number | undefined }).maxHeaderSize = http1.maxHeaderSize;
    const interval = http1.connectionsCheckingInterval;
    if (interval !== undefined)
      (h1 as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval = interval;
  }
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session: ServerHttp2Session) => {
    if (stopping()) {
      session.close();
      return;
    }
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    closeWhenIdle(session, http1.keepAliveTimeout ?? 5000);
    const requestTimeout = http1.requestTimeout ?? 0;
    if (requestTimeout > 0) session.on('stream', (stream) => limitUpload(stream, requestTimeout));
    // Only the server's receive window is ours to open (a WINDOW_UPDATE on stream 0).
    if (settings.connectionWindowSize > 65_535) session.setLocalWindowSize(settings.connectionWindowSize);
  });
  // A TLS, protocol or stream error concerns one connection or stream, never the process;
  // Node destroys what failed, and without a listener here nothing else is needed.
  server.on('sessionError', () => {});
  return { server, sessions, http1: tls !== undefined };
}

/**
 * Closes a connection that has had no open stream for `ms` (the keep-alive timeout), as an idle
 * HTTP/1.1 keep-alive connection is closed: Node's HTTP/2 server keeps one for good. A quiet
 * stream is never cut: only a connection without streams counts as idle.
 */
function closeWhenIdle(session: ServerHttp2Session, ms: number): void {
  if (ms <= 0) return;
  let open = 0;
  const timer = setTimeout(() => {
    if (open === 0 && !session.closed) session.close();
  }, ms);
  timer.unref();
  const ended = () => {
    if (--open === 0 && !session.closed) timer.refresh();
  };
  session.on('stream', (stream) => {
    open++;
    stream.once('close', ended);
  });
  session.once('close', () => clearTimeout(timer));
}

/**
 * The request timeout on HTTP/2: a stream whose request body is still arriving `ms` after its
 * headers is reset (CANCEL), as HTTP/1.1 cuts a slow request. Only streams with a body pay for
 * a timer; a stream whose body arrived in time, or that has none, is never cut, however long
 * its response streams.
 */
function limitUpload(stream: ServerHttp2Stream, ms: number): void {
  if (stream.endAfterHeaders) return;
  const timer = setTimeout(cutSlowUpload, ms, stream);
  timer.unref();
  stream.once('close', () => clearTimeout(timer));
}

function cutSlowUpload(stream: ServerHttp2Stream): void {
  if (!stream.closed && !stream.destroyed && stream.state.remoteClose === 0)
    stream.close(constants.NGHTTP2_CANCEL);
}

/** @internal Stops new streams: GOAWAY on every connection; open streams go on until they end. */
export function goAway(listener: Http2Listener): void {
  for (const session of listener.sessions) if (!session.closed) session.close();
  // Idle HTTP/1.1 keep-alive connections of a TLS port, as a plain listener closes them.
  if (listener.http1)
    HttpServer.prototype.closeIdleConnections.call(listener.server as unknown as HttpServer);
}

/** @internal Cuts what is still open after the shutdown's grace period. */
export function destroyAll(listener: Http2Listener): void {
  for (const session of listener.sessions) session.destroy();
  if (listener.http1) HttpServer.prototype.closeAllConnections.call(listener.server as unknown as HttpServer);
}
