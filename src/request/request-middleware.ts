import { NextCalledTwiceError } from '../errors.ts';
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
  /** @internal The position of the handler started last. */
  index = -1;
  /**
   * @internal Whether the handler started last has returned. Only it may call next(): every
   * handler before it already did. A next() after it returned is a second call from further out
   * (after a guard declined or exited, say), and would run what that guard refused.
   */
  lastReturned = false;
  /** @internal Handlers started and not finished: the chain is done only when none is left. */
  open = 0;
  /**
   * The first position whose caller returned without awaiting it (`next()` not awaited): an
   * error thrown there has no one to reach, so it is kept for {@link Middleware.run}.
   */
  private detachedAt = -1;
  private orphanError: unknown = undefined;
  private idle: (() => void) | undefined = undefined;

  constructor(request: Request, chain: readonly Handler[]) {
    this.request = request;
    this.chain = chain;
  }

  /**
   * Runs the rest of the chain and resolves when it has finished. An
   * `exit()` in the next handler ends only that handler; an `exitAll()`
   * propagates so that the code after this `next()` does not run either.
   * A second call from the same middleware throws {@link NextCalledTwiceError}:
   * the rest of the chain runs once, and a guard further down that declined
   * (or called `exit()`) cannot be walked past. Not awaiting it works too
   * (the response ends when the handler does), but then code after it runs
   * before the handler.
   */
  next(): Promise<void> {
    const done = this.step();
    // Not awaited, a rejection would crash the process; run() reports the error instead.
    done.catch(noop);
    return done;
  }

  /**
   * @internal Runs the whole chain and resolves once every handler in it has finished, also
   * when a middleware called `next()` without awaiting it (GoFrame's `Next()` is synchronous,
   * and the habit carries over): the response must not end while the handler still runs, and
   * an error the handler threw must still be answered.
   */
  async run(): Promise<void> {
    await this.step();
    if (this.open > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    if (this.orphanError !== undefined) throw this.orphanError;
  }

  /** @internal The server's path for a chain of one handler: that handler starts (`step()`'s bookkeeping). */
  enterOnly(): void {
    this.index = 0;
    this.open = 1;
  }

  /** @internal ...and has finished: a `next()` from now on is a second call. */
  leaveOnly(): void {
    this.lastReturned = true;
    this.open = 0;
  }

  private async step(): Promise<void> {
    if (this.lastReturned) throw new NextCalledTwiceError(this.index, this.chain.length);
    const r = this.request;
    const i = ++this.index;
    const fn = this.chain[i];
    if (fn === undefined || r.isExitedAll()) {
      this.lastReturned = true;
      return;
    }
    this.open++;
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
        // An event stream the handler opened stays open after it returns (see `Response.sse`): the
        // middleware around it resumes when the stream ends, as if the handler had awaited it.
        const es = r.response.eventStream;
        if (es !== undefined && !es.isClosed) await es.closed;
      }
    } catch (e) {
      if (i === this.detachedAt && (!(e instanceof ExitSignal) || e.all)) {
        // Whoever called next() for this handler has returned already: no one else will see this.
        this.orphanError ??= e;
        return;
      }
      if (!(e instanceof ExitSignal)) throw e;
      if (e.all) throw e;
    } finally {
      if (this.index === i) this.lastReturned = true;
      // Returning while the handler after this one still runs: that one was not awaited.
      else if (!this.lastReturned && this.detachedAt === -1) this.detachedAt = i + 1;
      if (--this.open === 0) this.idle?.();
    }
  }
}

function noop(): void {}
