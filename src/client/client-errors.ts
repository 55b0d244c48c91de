/**
 * The client's coded errors. Browser-safe: `src/errors.ts` imports
 * `node:http`, so the client cannot share its classes; `InvalidArgumentError`
 * here carries the same `code`, so `err.code === 'SLUICE_INVALID_ARGUMENT'`
 * works for both.
 */

/**
 * A bad argument passed to the client. The message names the argument and
 * the rule it broke.
 *
 * @example
 * ```ts
 * try { connect('/feed', { readTimeout: -1 }); }
 * catch (e) { if (e instanceof InvalidArgumentError) console.log(e.argument); } // 'readTimeout'
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
 * One problem of a refused request, as sluice's route validation lists them: where (the input
 * place, then the keys) and what.
 *
 * @example
 * ```ts
 * const p: ApiProblem = { path: ['params', 'id'], message: 'Expected number' };
 * ```
 */
export interface ApiProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** @internal The well-formed problems of an answer's data (`{ problems: [...] }`), the rest dropped. */
export function problemsOf(data: unknown): readonly ApiProblem[] {
  const list = (data as { problems?: unknown } | null | undefined)?.problems;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (p): p is ApiProblem =>
      typeof p === 'object' && p !== null && Array.isArray(p.path) && typeof p.message === 'string',
  );
}

/**
 * Why a connection attempt failed or a stream stopped:
 * - `'network'`: the request or the body failed (refused, reset, DNS...);
 * - `'status'`: the response was not 2xx (`status`, and `retryAfter` when it said);
 * - `'content-type'`: 2xx but not `text/event-stream`;
 * - `'read-timeout'`: no byte at all, heartbeats included, for `readTimeout` ms;
 * - `'ended'`: the server ended the stream (an `EventSource` reconnects then too);
 * - `'setup'`: a `url`, `headers` or `body` function threw.
 *
 * @example
 * ```ts
 * const retryAuth = (e: ConnectError) => e.kind === 'status' && e.status === 401;
 * ```
 */
export type FailureKind = 'network' | 'status' | 'content-type' | 'read-timeout' | 'ended' | 'setup';

/**
 * A failed attempt, given to `onerror`, to the `shouldRetry` policy, and
 * thrown by the iterator when the client gives up.
 *
 * @example
 * ```ts
 * client.onerror = (e: ConnectError) => {
 *   console.warn(e.kind, e.status ?? '', e.retryIn === undefined ? 'giving up' : `retry in ${e.retryIn} ms`);
 * };
 * ```
 */
export class ConnectError extends Error {
  readonly code = 'SLUICE_CONNECT_FAILED';
  readonly kind: FailureKind;
  /** The response status, for `'status'` and `'content-type'`. */
  readonly status: number | undefined;
  /** What the server's `Retry-After` asked for, in ms, when it sent one. */
  readonly retryAfter: number | undefined;
  /** Which request of this client failed, counting from 1. */
  readonly attempt: number;
  /** In how many ms the client tries again; `undefined` when it gave up. Set before `onerror` runs. */
  retryIn: number | undefined = undefined;
  /**
   * For `'status'`: the problems of a refused request (a route's 400, read from its JSON answer),
   * each with its path and message, as an `ApiError` has them; empty otherwise.
   */
  problems: readonly ApiProblem[] = [];
  /** For `'status'`: the JSON answer's `data` (enveloped) or body, when it was JSON. */
  data: unknown = undefined;

  constructor(
    kind: FailureKind,
    message: string,
    details: { status?: number; retryAfter?: number; attempt: number; cause?: unknown },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ConnectError';
    this.kind = kind;
    this.status = details.status;
    this.retryAfter = details.retryAfter;
    this.attempt = details.attempt;
  }
}

/**
 * The default policy: retry what a later attempt can fix (the network, a
 * stall, an ended stream, 5xx, 408, 429), give up on what it cannot (other
 * 4xx, a response that is not an event stream), as `EventSource` does.
 *
 * @example
 * ```ts
 * connect('/feed', { shouldRetry: (e) => (e.status === 401 ? true : defaultShouldRetry(e)) });
 * ```
 */
export function defaultShouldRetry(error: ConnectError): boolean {
  switch (error.kind) {
    case 'network':
    case 'read-timeout':
    case 'ended':
      return true;
    case 'status': {
      const status = error.status ?? 0;
      return status >= 500 || status === 408 || status === 429;
    }
    default:
      return false;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object' && value !== null) return Object.prototype.toString.call(value);
  return String(value);
}
