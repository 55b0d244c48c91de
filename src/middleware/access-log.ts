import type { Request } from '../request/request.ts';
import type { Logger } from '../server/server-logger.ts';

/** One finished request or stream, as {@link accessLog} reports it. */
export interface AccessEntry {
  method: string;
  path: string;
  status: number;
  /** Body bytes handed to the socket. */
  bytes: number;
  /** Milliseconds from the request's arrival to the end of its response. */
  durationMs: number;
  /** Set for SSE responses: the events sent. */
  events: number | undefined;
  /**
   * Why the response ended: `complete` (the handler finished it), `client`
   * (the connection closed first), `shutdown`, or `error`.
   */
  ended: 'complete' | 'client' | 'shutdown' | 'error';
}

/** Options of {@link accessLog}. */
export interface AccessLogOptions {
  /** Where lines go; the server's logger (`info`) by default. */
  logger?: Logger;
  /** Formats one entry; the default is a single human-readable line. */
  format?: (entry: AccessEntry) => string;
}

/**
 * Logs one line per request when its response ends — for a stream that is
 * when the stream ends, with its duration, the events sent and why it
 * ended, which is what you want to know about a long-lived SSE connection.
 *
 * @example
 * ```ts
 * s.use(accessLog());
 * // GET /ticker 200 4.1KiB 12.03s sse events=60 ended=client
 * ```
 */
export function accessLog(options: AccessLogOptions = {}): (r: Request) => Promise<void> {
  const format = options.format ?? formatEntry;
  return async (r) => {
    const logger = options.logger ?? r.server.getLogger();
    // Logged on 'close' rather than after next(): a handler may return while its response streams on.
    r.response.raw.once('close', () => logger.info(format(entryOf(r))));
    await r.middleware.next();
  };
}

function entryOf(r: Request): AccessEntry {
  const res = r.response;
  const es = res.eventStream;
  let ended: AccessEntry['ended'] = res.raw.writableFinished ? 'complete' : 'client';
  if (es?.endReason === 'error') ended = 'error';
  else if (es?.endReason === 'shutdown') ended = 'shutdown';
  else if (es?.endReason === 'client') ended = 'client';
  return {
    method: r.method,
    path: r.path,
    status: res.raw.statusCode,
    bytes: res.bytesWritten(),
    durationMs: performance.now() - r.startedAt,
    events: es?.eventsSent,
    ended,
  };
}

/** The default line: `GET /path 200 1.2KiB 35ms` plus `sse events=N` and why a stream ended. */
export function formatEntry(e: AccessEntry): string {
  const time = e.durationMs >= 1000 ? `${(e.durationMs / 1000).toFixed(2)}s` : `${e.durationMs.toFixed(1)}ms`;
  const size = e.bytes >= 1024 ? `${(e.bytes / 1024).toFixed(1)}KiB` : `${e.bytes}B`;
  const sse = e.events === undefined ? '' : ` sse events=${e.events}`;
  const ended = e.ended === 'complete' && e.events === undefined ? '' : ` ended=${e.ended}`;
  return `${e.method} ${e.path} ${e.status} ${size} ${time}${sse}${ended}`;
}
