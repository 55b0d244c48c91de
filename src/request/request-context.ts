import { AsyncLocalStorage } from 'node:async_hooks';
import type { Request } from './request.ts';

const REQUEST = Symbol('sluice.request');

/**
 * The request context handed to service code, like GoFrame's `ctx`: it can
 * be passed down through layers that should not depend on `Request`, and
 * {@link requestFromCtx} gives the request back where it is needed.
 *
 * @example
 * ```ts
 * async function loadUser(ctx: Context) { return db.user(requestFromCtx(ctx)?.get('id')); }
 * s.bindHandler('/user/{id}', (r) => loadUser(r.ctx));
 * ```
 */
export interface Context {
  readonly [REQUEST]: Request;
  /** Values that middleware attaches for code further down (user, trace id, ...). */
  readonly values: Map<unknown, unknown>;
}

/** @internal Creates the context of a request; called once, lazily, by `r.ctx`. */
export function createContext(r: Request): Context {
  return { [REQUEST]: r, values: new Map() };
}

/**
 * Gives back the request a context belongs to, as GoFrame's
 * `g.RequestFromCtx(ctx)`. Returns `undefined` for anything that is not a
 * sluice context, so it is safe on values of unknown origin.
 *
 * @example
 * ```ts
 * const r = requestFromCtx(ctx);
 * r?.response.writeln('hello from deep inside');
 * ```
 */
export function requestFromCtx(ctx: unknown): Request | undefined {
  if (typeof ctx !== 'object' || ctx === null) return undefined;
  return (ctx as Partial<Context>)[REQUEST];
}

const storage = new AsyncLocalStorage<Request>();
let tracking = false;

/** @internal Called by `server.enableCurrentRequest()`: from then on {@link currentRequest} works. */
export function enableTracking(): void {
  tracking = true;
}

/** @internal Runs the chain of a request with it as the current request. */
export function runWithRequest<T>(r: Request, fn: () => T): T {
  return storage.run(r, fn);
}

/**
 * The request being handled by the current async call chain, for code deep
 * below a handler that was given neither `r` nor `ctx` (a logger, an ORM
 * hook); `undefined` outside a request. Prefer passing `r.ctx`.
 *
 * It rests on AsyncLocalStorage, which on Node 20 slows every promise in the
 * process, so a server turns it on with `s.enableCurrentRequest()`; calling
 * this before any server did throws, rather than quietly returning
 * `undefined` inside a request.
 *
 * @example
 * ```ts
 * s.enableCurrentRequest();
 * function log(msg: string) { console.log(currentRequest()?.path ?? '-', msg); }
 * ```
 */
export function currentRequest(): Request | undefined {
  if (!tracking) {
    throw new Error(
      'currentRequest() needs server.enableCurrentRequest() first (it costs every request an AsyncLocalStorage scope)',
    );
  }
  return storage.getStore();
}
