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

// Control characters, spaces and Unicode line breaks. `r.path` is decoded, so `/a%0D%0AGET%20/admin`
// arrives with a line break in it, and an error message may quote what the client sent.
const UNSAFE_IN_FIELD = /[\x00-\x20\x7f-\x9f\u2028\u2029]/;
const UNSAFE_IN_FIELD_ALL = new RegExp(UNSAFE_IN_FIELD.source, 'g');
const LINE_BREAK = /[\r\n\x85\u2028\u2029]/;
const LINE_BREAK_ALL = new RegExp(LINE_BREAK.source, 'g');

/**
 * @internal `text` as one field of a log line (a path): what a client chose can neither start a
 * forged line nor split the field, so the characters above go back to their percent form.
 */
export function loggable(text: string): string {
  return UNSAFE_IN_FIELD.test(text) ? text.replace(UNSAFE_IN_FIELD_ALL, encodeURIComponent) : text;
}

/** @internal `text` (a message, spaces kept) on one line: line breaks go back to their percent form. */
export function oneLine(text: string): string {
  return LINE_BREAK.test(text) ? text.replace(LINE_BREAK_ALL, encodeURIComponent) : text;
}
