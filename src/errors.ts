import { STATUS_CODES } from 'node:http';

/**
 * Every error sluice throws on purpose lives here, each with a stable `code`,
 * so callers can branch on `err.code` instead of parsing messages.
 */

/**
 * An error that carries an HTTP status. Thrown from a handler or middleware,
 * it becomes a response with that status; its message reaches the client only
 * when `expose` is true (the default for 4xx), so internal details of a 5xx
 * never leak.
 *
 * @example
 * ```ts
 * s.bindHandler('/user/{id}', (r) => {
 *   if (!r.get('id')) throw new HttpError(400, 'id is required');
 * });
 * ```
 */
export class HttpError extends Error {
  readonly status: number;
  readonly expose: boolean;
  readonly code: string;

  constructor(
    status: number,
    message?: string,
    options?: { expose?: boolean; code?: string; cause?: unknown },
  ) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new InvalidArgumentError('status', 'must be an integer from 400 to 599', status);
    }
    super(
      message ?? defaultMessage(status),
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'HttpError';
    this.status = status;
    this.expose = options?.expose ?? status < 500;
    this.code = options?.code ?? `HTTP_${status}`;
  }
}

/**
 * A bad argument passed to a sluice API. The message names the argument and
 * the rule it broke, so the mistake can be fixed without reading our source.
 *
 * @example
 * ```ts
 * try { es.send({ event: 'a\nb' }); }
 * catch (e) { if (e instanceof InvalidArgumentError) console.log(e.argument); } // 'event'
 * ```
 */
export class InvalidArgumentError extends TypeError {
  readonly code = 'SLUICE_INVALID_ARGUMENT';
  readonly argument: string;
  readonly rule: string;

  constructor(argument: string, rule: string, value?: unknown) {
    super(`Invalid argument "${argument}": ${rule}${value === undefined ? '' : ` (got ${describe(value)})`}`);
    this.name = 'InvalidArgumentError';
    this.argument = argument;
    this.rule = rule;
  }
}

/**
 * Thrown when code tries to change what was already sent: a header or the
 * status after `flush()`/`sse()` committed the response. Silently dropping
 * the change (as GoFrame and Node's raw writer can) hides bugs.
 *
 * @example
 * ```ts
 * await r.response.flush();
 * r.response.header.set('X-Late', '1'); // throws ResponseCommittedError
 * ```
 */
export class ResponseCommittedError extends Error {
  readonly code = 'SLUICE_RESPONSE_COMMITTED';
  readonly attempted: string;

  constructor(attempted: string) {
    super(
      `Cannot ${attempted}: the response was already committed (headers sent by flush(), sse() or the raw writer)`,
    );
    this.name = 'ResponseCommittedError';
    this.attempted = attempted;
  }
}

/**
 * Thrown by `publish()` on a closed channel.
 *
 * @example
 * ```ts
 * try { channel.publish({ data: 1 }); } catch (e) { if (e instanceof ChannelClosedError) ... }
 * ```
 */
export class ChannelClosedError extends Error {
  readonly code = 'SLUICE_CHANNEL_CLOSED';
  constructor(name: string) {
    super(`Channel "${name}" is closed`);
    this.name = 'ChannelClosedError';
  }
}

function defaultMessage(status: number): string {
  return STATUS_TEXT[status] ?? 'Error';
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object' && value !== null) return Object.prototype.toString.call(value);
  return String(value);
}

const STATUS_TEXT: Record<number, string | undefined> = STATUS_CODES;
