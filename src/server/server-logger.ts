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
