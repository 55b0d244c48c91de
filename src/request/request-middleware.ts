import { pipeReturned } from '../sse/pipe-returned.ts';
import type { Request } from './request.ts';

/**
 * A handler or middleware. Middleware calls `await r.middleware.next()` to run
 * the rest of the chain; a handler's return value is kept for
 * {@link handlerResponse} or streamed when it is an iterable.
 *
 * @example
 * ```ts
 * const timing: Handler = async (r) => {
 *   const t = performance.now();
 *   await r.middleware.next();
 *   console.log(r.path, performance.now() - t);
 * };
 * ```
 */
export type Handler = (r: Request) => unknown;

/** Thrown by `r.exit()`; unwinds the current handler only. */
class ExitSignal {
  readonly all: boolean;
  constructor(all: boolean) {
    this.all = all;
  }
}

const EXIT = new ExitSignal(false);
const EXIT_ALL = new ExitSignal(true);

/** The sentinel `r.exit()` throws. Shared: it carries no state, so no stack trace is paid for. */
export function exitSignal(all: boolean): ExitSignal {
  return all ? EXIT_ALL : EXIT;
}

/**
 * Tells whether a caught value is sluice's exit signal. Middleware that
 * wraps `next()` in try/catch must rethrow it, or `exitAll()` would stop at
 * that middleware instead of ending the whole chain.
 *
 * @example
 * ```ts
 * try { await r.middleware.next(); }
 * catch (e) { if (isExitSignal(e)) throw e; report(e); }
 * ```
 */
export function isExitSignal(value: unknown): boolean {
  return value instanceof ExitSignal;
}

/**
 * The cursor through one request's handler chain. The chain array is built
 * once per route at registration; per request only this small object and an
 * index exist.
 *
 * @example
 * ```ts
 * s.use(async (r) => {
 *   r.response.header.set('X-Powered-By', 'sluice');
 *   await r.middleware.next();
 * });
 * ```
 */
export class Middleware {
  /** @internal */ readonly request: Request;
  /** @internal */ chain: readonly Handler[];
  /** @internal */ index = -1;

  constructor(request: Request, chain: readonly Handler[]) {
    this.request = request;
    this.chain = chain;
  }

  /**
   * Runs the rest of the chain and resolves when it has finished. An
   * `exit()` in the next handler ends only that handler; an `exitAll()`
   * propagates so that the code after this `next()` does not run either.
   */
  async next(): Promise<void> {
    const r = this.request;
    const i = ++this.index;
    const fn = this.chain[i];
    if (fn === undefined || r.isExitedAll()) return;
    try {
      const out = fn(r);
      // Only a promise (or thenable) is awaited: a synchronous handler then costs no extra microtask turn.
      const result =
        typeof out === 'object' && out !== null && typeof (out as PromiseLike<unknown>).then === 'function'
          ? await out
          : out;
      if (i === this.chain.length - 1) {
        r.handlerResult = result;
        // Objects only: a string or undefined can never be a stream to pipe.
        if (typeof result === 'object' && result !== null) await pipeReturned(r, result);
      }
    } catch (e) {
      if (!(e instanceof ExitSignal)) throw e;
      if (e.all) throw e;
    }
  }
}
