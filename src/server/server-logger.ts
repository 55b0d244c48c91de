/**
 * Where sluice reports errors and access lines. Anything with these three
 * methods works: `console`, pino, winston.
 *
 * @example
 * ```ts
 * import pino from 'pino';
 * server().setLogger(pino());
 * ```
 */
export interface Logger {
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  info(...args: unknown[]): void;
}

/**
 * A logger that drops everything, for tests and benchmarks that assert
 * on output of their own.
 *
 * @example
 * ```ts
 * server('test').setLogger(silentLogger);
 * ```
 */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
};

/**
 * @internal Wraps a user's logger so that a throwing one can never take the server down: the
 * core logs from error paths, promise handlers and socket events, where a second throw would be
 * an unhandled rejection or an uncaught exception. What the logger could not take goes to
 * stderr with the reason, so the failure is still seen.
 */
export function guardLogger(logger: Logger): Logger {
  return {
    error: guard(logger, 'error'),
    warn: guard(logger, 'warn'),
    info: guard(logger, 'info'),
  };
}

function guard(logger: Logger, level: keyof Logger): (...args: unknown[]) => void {
  return (...args) => {
    try {
      logger[level](...args);
    } catch (e) {
      try {
        process.stderr.write(`sluice: the logger threw in ${level}(): ${describeThrown(e)}\n`);
      } catch {
        // stderr itself is gone: there is nowhere left to say it.
      }
    }
  };
}

/**
 * @internal A one-line description of any thrown value that cannot itself throw: a value may be
 * an object without a prototype, or have a `message` getter or `toString` that throws.
 */
export function describeThrown(e: unknown): string {
  try {
    if (e instanceof Error) return e.message;
    if (typeof e === 'object' && e !== null) return Object.prototype.toString.call(e);
    return String(e);
  } catch {
    return 'an unprintable value';
  }
}
