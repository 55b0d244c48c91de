import { InvalidArgumentError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import { isExitSignal } from '../request/request-middleware.ts';
import type { EndReason } from '../response/response.ts';
import { describeThrown, type Logger, loggable } from '../server/server-logger.ts';

/**
 * One finished request or stream, as {@link accessLog} reports it.
 *
 * @example
 * ```ts
 * s.use(accessLog({ format: (e: AccessEntry) => JSON.stringify(e) })); // one JSON line per request
 * ```
 */
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
   * (the connection closed first), `shutdown` (the server's shutdown stopped
   * it), or `error` (the server cut it short after a handler error).
   */
  ended: EndReason;
  /**
   * The message of the error thrown past the access log (a 404, a 413 naming
   * the limit, a handler's failure), or `undefined` when none was. With an
   * access log installed the core does not warn about a 4xx, so this is
   * where its reason is kept.
   */
  error: string | undefined;
}

/**
 * Options of {@link accessLog}.
 *
 * @example
 * ```ts
 * const options: AccessLogOptions = { logger: pino(), format: (e) => `${e.status} ${e.path}` };
 * s.use(accessLog(options));
 * ```
 */
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
 * Where it runs, a 4xx is this one line: the core's warning about it is
 * left out (a 5xx is still logged as an error, with its stack).
 *
 * @example
 * ```ts
 * s.use(accessLog());
 * // GET /ticker 200 4.1KiB 12.03s sse events=60 ended=client
 * ```
 */
export function accessLog(options: AccessLogOptions = {}): (r: Request) => Promise<void> {
  // Checked here: a bad option found only when the first response closes would throw from a
  // socket event, where nothing can catch it.
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'must be an object { logger?, format? }', options);
  }
  if (options.format !== undefined && typeof options.format !== 'function') {
    throw new InvalidArgumentError('format', 'must be a function (entry) => string', options.format);
  }
  if (options.logger !== undefined && typeof options.logger?.info !== 'function') {
    throw new InvalidArgumentError('logger', 'must have an info method', options.logger);
  }
  const format = options.format ?? formatEntry;
  return async (r) => {
    const logger = options.logger ?? r.server.getLogger();
    r.accessLogged = true;
    // Timed from here, not from the request's arrival: only logged requests pay for the clock.
    const startedAt = performance.now();
    let error: string | undefined;
    // Logged on 'close' rather than after next(): a handler may return while its response streams on.
    r.response.node.once('close', () => {
      // This runs from a socket event: a throwing format or logger would be an uncaught exception
      // and bring the whole server down over one log line.
      try {
        logger.info(format(entryOf(r, startedAt, error)));
      } catch (e) {
        r.server.getLogger().error('sluice: accessLog failed to log a request', e);
      }
    });
    try {
      await r.middleware.next();
    } catch (e) {
      // Kept for the line, then passed on untouched: the core still answers and logs a 5xx.
      if (!isExitSignal(e)) error = describeThrown(e);
      throw e;
    }
  };
}

function entryOf(r: Request, startedAt: number, error: string | undefined): AccessEntry {
  const res = r.response;
  return {
    method: r.method,
    path: r.path,
    status: res.node.statusCode,
    bytes: res.bytesWritten(),
    durationMs: performance.now() - startedAt,
    events: res.eventStream?.eventsSent,
    // Recorded by the response where the decision was made; a closed socket alone cannot tell a
    // client leaving from a server cutting the stream after an error.
    ended: res.endedBecause(),
    error,
  };
}

/**
 * The default line: `GET /path 200 1.2KiB 35ms` plus `sse events=N`, why a stream ended and
 * the error's message, quoted as a JSON string so a message quoting the client cannot break the line.
 * Exported so a custom format can decorate it rather than rebuild it.
 *
 * @example
 * ```ts
 * s.use(accessLog({ format: (e) => `[api] ${formatEntry(e)}` }));
 * ```
 */
export function formatEntry(e: AccessEntry): string {
  const time = e.durationMs >= 1000 ? `${(e.durationMs / 1000).toFixed(2)}s` : `${e.durationMs.toFixed(1)}ms`;
  const size = e.bytes >= 1024 ? `${(e.bytes / 1024).toFixed(1)}KiB` : `${e.bytes}B`;
  const sse = e.events === undefined ? '' : ` sse events=${e.events}`;
  const ended = e.ended === 'complete' && e.events === undefined ? '' : ` ended=${e.ended}`;
  const error = e.error === undefined ? '' : ` error=${JSON.stringify(e.error)}`;
  return `${e.method} ${loggable(e.path)} ${e.status} ${size} ${time}${sse}${ended}${error}`;
}
