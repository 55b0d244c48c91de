import { InvalidArgumentError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import { type Handler, isExitSignal } from '../request/request-middleware.ts';
import { MemorySessionStore } from './memory-session-store.ts';
import { Session, type SessionConfig, type SessionCookieOptions } from './session.ts';
import type { SessionStore } from './session-store.ts';

/**
 * Options of {@link session}.
 *
 * @example
 * ```ts
 * s.use(session({ maxAge: 30 * 60, rolling: true, cookie: { sameSite: 'strict' } }));
 * ```
 */
export interface SessionOptions {
  /** Where sessions live. Default: a {@link MemorySessionStore} of this middleware's own. */
  store?: SessionStore;
  /** The cookie's name. Default `sluice.sid`. */
  name?: string;
  /**
   * Lifetime in seconds, as cookies count it: from the session's creation, or, when `rolling`,
   * from the client's latest request (an idle timeout). It is the cookie's `Max-Age` and the
   * store's TTL. Default 86 400 (one day).
   */
  maxAge?: number;
  /**
   * Every request of a client with a session moves its end to `maxAge` from now: the cookie is
   * sent again and the store entry touched (one store write per request). Default `false`.
   */
  rolling?: boolean;
  /**
   * Signs the cookie with the server's cookie secret (`s.setCookieSecret()`), so a value not
   * issued by the server is refused before the store is asked. Default: signed when the server
   * has a secret. The id is 192 random bits either way.
   */
  signed?: boolean;
  /**
   * The cookie's attributes. Defaults: `Path=/`, `HttpOnly`, `SameSite=Lax`, and `Secure` when
   * the request came over HTTPS (directly or through a trusted proxy).
   */
  cookie?: SessionCookieOptions;
}

/**
 * Sessions, as GoFrame's `r.Session` and express-session: installs `r.session` on every request
 * the middleware runs for. Register it with `s.use()` before the routes that read it.
 *
 * - The cookie holds only a random 192-bit id; values stay in the store (memory by default,
 *   Redis with `RedisSessionStore` from `sluice/redis`).
 * - No session is created, stored or sent as a cookie until a handler writes a value.
 * - A cookie with an unknown, expired, forged or malformed id is ignored: the request has no
 *   session, and a write issues a new id. `await r.session.regenerate()` at login gives a new
 *   id; `await r.session.destroy()` at logout deletes the session and the cookie.
 * - The session is read when the request starts (only when it brings a cookie) and saved once,
 *   if it changed, when the handler chain ends or the response commits, whichever is first. So
 *   a handler that writes to the session and then streams (`flush()`, `sse()`) still sends the
 *   cookie, and a long-lived stream holds no lock and keeps nothing unsaved.
 * - A store failure is a 500 ({@link SessionStoreError}), logged; a handler that throws leaves
 *   the stored session as it was.
 *
 * @example
 * ```ts
 * import { session, server } from 'sluice';
 *
 * const s = server();
 * s.setCookieSecret(process.env.COOKIE_SECRET!); // the session cookie is then signed
 * s.use(session({ maxAge: 7 * 86_400 }));
 * s.post('/login', async (r) => {
 *   await r.session.regenerate();
 *   r.session.set('user', await userIdFor(r));
 * });
 * s.get('/events', (r) => {
 *   if (!r.session.has('user')) throw new HttpError(401); // EventSource sends the cookie
 *   feed.subscribe(r.response.sse());
 * });
 * ```
 */
export function session(options: SessionOptions = {}): Handler {
  const config = resolve(options);
  return async (r: Request) => {
    // A second session() on the same route (global and group, say) must not replace the first.
    if (r.sessionState !== undefined) return r.middleware.next();
    const state = new Session(r, config);
    r.sessionState = state;
    // A request without the cookie cannot have a session: no store call, no await.
    if (r.headers.cookie !== undefined) await state.load();
    try {
      await r.middleware.next();
    } catch (e) {
      if (!isExitSignal(e)) {
        state.discard();
        throw e;
      }
      await state.finish();
      throw e;
    }
    const saving = state.finish();
    if (saving !== undefined) await saving;
  };
}

function resolve(options: SessionOptions): SessionConfig {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'must be an object of session options', options);
  }
  const store = options.store ?? new MemorySessionStore();
  for (const method of ['get', 'set', 'touch', 'destroy'] as const) {
    if (typeof store?.[method] !== 'function') {
      throw new InvalidArgumentError('store', `must be a SessionStore with a ${method}() method`, store);
    }
  }
  const name = options.name ?? 'sluice.sid';
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    throw new InvalidArgumentError(
      'name',
      "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~",
      name,
    );
  }
  const maxAge = options.maxAge ?? 86_400;
  if (!Number.isSafeInteger(maxAge) || maxAge <= 0) {
    throw new InvalidArgumentError('maxAge', 'must be a positive integer number of seconds', maxAge);
  }
  const cookie = options.cookie ?? {};
  if (typeof cookie !== 'object' || cookie === null) {
    throw new InvalidArgumentError('cookie', 'must be an object of cookie attributes', cookie);
  }
  if ('maxAge' in cookie || 'expires' in cookie || 'signed' in cookie) {
    throw new InvalidArgumentError(
      'cookie',
      'must not set maxAge, expires or signed: use the session options maxAge and signed',
    );
  }
  if (options.signed !== undefined && typeof options.signed !== 'boolean') {
    throw new InvalidArgumentError('signed', 'must be a boolean', options.signed);
  }
  return {
    store,
    name,
    maxAgeMs: maxAge * 1000,
    maxAgeSeconds: maxAge,
    rolling: options.rolling === true,
    signed: options.signed,
    cookie: { ...cookie },
  };
}

/** RFC 6265 cookie-name: an RFC 9110 token (as `r.cookie.set` checks it). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
