import { InvalidArgumentError } from './client-errors.ts';

/**
 * The reconnect delays. The server's `retry:` field, when it sent one,
 * replaces `initialDelay` as the base; every reconnect that follows a short
 * connection doubles the delay, up to `maxDelay`; jitter spreads a crowd of
 * clients that lost the same server so they do not all come back in the same
 * millisecond; a connection that stayed up for `resetAfter` ms starts the
 * doubling over.
 *
 * @example
 * ```ts
 * connect('/feed', { backoff: { initialDelay: 500, maxDelay: 10_000, jitter: 0.3, resetAfter: 30_000 } });
 * ```
 */
export interface BackoffOptions {
  /** The first delay in ms, unless the server sent `retry:`. Default 1000. */
  initialDelay?: number;
  /** The longest delay in ms (a server's `retry:` above it wins). Default 30 000. */
  maxDelay?: number;
  /** The fraction of each delay taken off at random, 0 to 1. Default 0.5. */
  jitter?: number;
  /** A connection open at least this long (ms) resets the doubling. Default 60 000. */
  resetAfter?: number;
}

const DEFAULTS: Required<BackoffOptions> = {
  initialDelay: 1000,
  maxDelay: 30_000,
  jitter: 0.5,
  resetAfter: 60_000,
};

/**
 * Exponential backoff with jitter and a cap, reset after a healthy period.
 * One per client.
 *
 * @example
 * ```ts
 * const backoff = new Backoff({ initialDelay: 100 });
 * backoff.next(undefined); // 50..100
 * backoff.next(undefined); // 100..200
 * backoff.connected(Date.now() - 120_000, Date.now()); // a long, healthy connection
 * backoff.next(undefined); // 50..100 again
 * ```
 */
export class Backoff {
  private readonly initialDelay: number;
  private readonly maxDelay: number;
  private readonly jitter: number;
  private readonly resetAfter: number;
  private readonly random: () => number;
  /** Reconnects since the last healthy connection. */
  private failures = 0;

  constructor(options: BackoffOptions = {}, random: () => number = Math.random) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('backoff', 'must be an object', options);
    }
    this.initialDelay = ms('backoff.initialDelay', options.initialDelay, DEFAULTS.initialDelay);
    this.maxDelay = ms('backoff.maxDelay', options.maxDelay, DEFAULTS.maxDelay);
    this.resetAfter = ms('backoff.resetAfter', options.resetAfter, DEFAULTS.resetAfter);
    const jitter = options.jitter ?? DEFAULTS.jitter;
    if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
      throw new InvalidArgumentError('backoff.jitter', 'must be a number from 0 to 1', jitter);
    }
    this.jitter = jitter;
    this.random = random;
  }

  /**
   * The delay before the next attempt, in ms. `serverRetry` is the last
   * `retry:` the server sent, if any.
   */
  next(serverRetry: number | undefined): number {
    const base = serverRetry ?? this.initialDelay;
    const cap = Math.max(this.maxDelay, base);
    // 2 ** 31 overflows nothing, and any larger exponent is past every cap anyway.
    const delay = Math.min(cap, base * 2 ** Math.min(this.failures, 31));
    this.failures++;
    return Math.round(delay - delay * this.jitter * this.random());
  }

  /** A connection that opened at `openedAt` ended at `now`: if it lasted, start the doubling over. */
  connected(openedAt: number, now: number): void {
    if (now - openedAt >= this.resetAfter) this.failures = 0;
  }
}

/**
 * Reads `Retry-After` (seconds, or an HTTP date) as ms from `now`;
 * `undefined` when absent or unreadable. A 503 or 429 that says when to
 * come back overrides the backoff: the server knows, the client only guesses.
 *
 * @example
 * ```ts
 * parseRetryAfter('120', Date.now()); // 120000
 * parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT', Date.now()); // ms until then, 0 if past
 * ```
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^[0-9]+$/.test(text)) return Number.parseInt(text, 10) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function ms(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(name, 'must be a non-negative number of milliseconds', value);
  }
  return value;
}
