import { NextCalledTwiceError } from '../errors.ts';
import { isStreamable, pipeReturned } from '../sse/pipe-returned.ts';
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
  /** The position of the middleware whose own promise {@link Middleware.run} returned, until it settled. */
  private outerAt = -1;

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
    // Not awaited, a rejection would crash the process; run() reports the error instead. The
    // shared settled promise of a synchronous step cannot reject, and a middleware's followed
    // promise guards itself when it rejects (see `step`): neither needs a handler made now.
    if (done !== DONE && done !== lastFollowed) done.catch(noop);
    lastFollowed = undefined;
    return done;
  }

  /**
   * @internal Runs the whole chain; settles when the handlers awaited along it have. Then
   * {@link Middleware.settled} tells about a handler still running because a middleware called
   * `next()` without awaiting it (GoFrame's `Next()` is synchronous, and the habit carries over):
   * the response must not end while it runs, and an error it threw must still be answered. Two
   * calls rather than one async wrapper: the server's own async frame awaits both, so a request
   * pays for one frame, not two.
   *
   * The first middleware's own promise comes back as it is, where a `next()` gets it followed
   * (see `follow`): the server awaits it and then calls {@link Middleware.ran} or
   * {@link Middleware.runFailed}, which do what the followed promise's callbacks would. A request
   * with middleware is spared a promise, two closures and a microtask turn.
   */
  run(): Promise<unknown> {
    const done = this.step(true);
    // Awaited by the server; not kept either, lest it hold this request until the next one.
    lastFollowed = undefined;
    return done;
  }

  /** @internal {@link Middleware.run}'s promise fulfilled: the first middleware has finished. */
  ran(): void {
    const i = this.outerAt;
    if (i < 0) return;
    this.outerAt = -1;
    this.left(i);
  }

  /**
   * @internal {@link Middleware.run}'s promise rejected with `e`: thrown on, as a followed promise
   * would have rejected, unless it is an `exit()` of the first middleware alone, which ends only it.
   */
  runFailed(e: unknown): void {
    const i = this.outerAt;
    if (i < 0) throw e;
    this.outerAt = -1;
    this.failed(i, e);
  }

  /**
   * @internal After {@link Middleware.run} settled: `undefined` when every handler has finished,
   * else a promise of the moment they have. Throws what a handler no one awaited threw.
   */
  settled(): Promise<void> | undefined {
    if (this.open > 0)
      return new Promise<void>((resolve) => (this.idle = resolve)).then(() => this.settled());
    if (this.orphanError !== undefined) throw this.orphanError;
    return undefined;
  }

  /**
   * @internal Moves the cursor past the first handler without running it: the server ran it
   * itself (`readBodyFirst`), and the chain's own run() starts at the second.
   */
  skipFirst(): void {
    this.index = 0;
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

  /**
   * Starts the next handler. One that returns synchronously (no promise, nothing to stream) is
   * finished here and gets the shared settled {@link DONE}: no async frame, no promise made. A
   * middleware's promise is followed with `then()`; the handler's promise, a value to stream or
   * an open event stream takes `stepAsync`, the same steps awaited.
   */
  private step(outer = false): Promise<void> {
    if (this.lastReturned) return Promise.reject(new NextCalledTwiceError(this.index, this.chain.length));
    const r = this.request;
    const i = ++this.index;
    const fn = this.chain[i];
    if (fn === undefined || r.isExitedAll()) {
      this.lastReturned = true;
      return DONE;
    }
    this.open++;
    let out: unknown;
    try {
      out = fn(r);
    } catch (e) {
      try {
        this.failed(i, e);
      } catch (thrown) {
        return Promise.reject(thrown);
      }
      return DONE;
    }
    const last = i === this.chain.length - 1;
    // A middleware's own promise, followed with then(): no async frame of ours around the user's.
    if (!last && out instanceof Promise) {
      if (!outer) return this.follow(i, out);
      this.outerAt = i;
      return out as Promise<void>;
    }
    if (isThenable(out) || (last && (isStreamable(out) || r.response.openStream() !== undefined)))
      return this.stepAsync(i, out);
    if (last) r.handlerResult = out;
    this.left(i);
    return DONE;
  }

  /**
   * `step()` for a middleware's own promise, followed with then(): no async frame of ours around
   * the user's. A function of its own, so that only this path makes the context its callbacks share.
   */
  private follow(i: number, out: Promise<unknown>): Promise<void> {
    const followed: Promise<void> = out.then(
      () => this.left(i),
      (e: unknown) => {
        // It rejects only from here: handled now, before it does, a next() that no one awaited
        // is no unhandled rejection, and every next() that settles fine (all but a few) is
        // spared a catch() of its own, a promise and a microtask turn.
        followed.catch(noop);
        this.failed(i, e);
      },
    );
    lastFollowed = followed;
    return followed;
  }

  /** `step()` for a handler that returned a promise, a value to stream, or left a stream open. */
  private async stepAsync(i: number, out: unknown): Promise<void> {
    const r = this.request;
    try {
      // Only a promise (or thenable) is awaited: a synchronous handler then costs no extra microtask turn.
      const result = isThenable(out) ? await out : out;
      if (i === this.chain.length - 1) {
        r.handlerResult = result;
        if (isStreamable(result)) await pipeReturned(r, result);
        // An event stream the handler opened stays open after it returns (see `Response.sse`): the
        // middleware around it resumes when the stream ends, as if the handler had awaited it.
        const es = r.response.openStream();
        if (es !== undefined) await es.closed;
      }
    } catch (e) {
      this.caught(i, e);
    } finally {
      this.left(i);
    }
  }

  /** The rejection handler of a middleware's promise: `stepAsync`'s catch and finally, in one call. */
  private failed(i: number, e: unknown): void {
    try {
      this.caught(i, e);
    } finally {
      this.left(i);
    }
  }

  /** What a handler's error does: kept when no one awaits it, swallowed for `exit()`, else thrown on. */
  private caught(i: number, e: unknown): void {
    if (i === this.detachedAt && (!(e instanceof ExitSignal) || e.all)) {
      // Whoever called next() for this handler has returned already: no one else will see this.
      this.orphanError ??= e;
      return;
    }
    if (!(e instanceof ExitSignal)) throw e;
    if (e.all) throw e;
  }

  /** The bookkeeping once the handler at `i` has finished, however it did. */
  private left(i: number): void {
    if (this.index === i) this.lastReturned = true;
    // Returning while the handler after this one still runs: that one was not awaited.
    else if (!this.lastReturned && this.detachedAt === -1) this.detachedAt = i + 1;
    if (--this.open === 0) this.idle?.();
  }
}

/** The settled result of a step that finished synchronously, shared by every such step. */
const DONE: Promise<void> = Promise.resolve();

/**
 * The promise `step()` made last to follow a middleware's own, for the `next()` that called it
 * to tell from the others, which do need a handler. Set and read in one synchronous call.
 */
let lastFollowed: Promise<void> | undefined;

/** @internal A promise or another thenable: what a handler's result is awaited for. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

function noop(): void {}
