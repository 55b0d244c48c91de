import { createHmac, timingSafeEqual } from 'node:crypto';
import { type Cookies, parseCookie, stringifySetCookie } from 'cookie';
import { InvalidArgumentError, ResponseCommittedError } from '../errors.ts';
import type { Request } from './request.ts';

/**
 * Attributes of a cookie set by {@link RequestCookie.set}. Unset ones take safe defaults:
 * `Path=/`, `HttpOnly`, `SameSite=Lax`, and `Secure` when the request came over HTTPS (directly,
 * or through a trusted proxy that says so, see {@link Server.setTrustProxy}).
 *
 * @example
 * ```ts
 * r.cookie.set('theme', 'dark', { maxAge: 365 * 24 * 3600, httpOnly: false });
 * ```
 */
export interface CookieOptions {
  /** Lifetime in seconds (`Max-Age`), as the header counts it. Without it (or `expires`) the cookie ends with the browser session. */
  maxAge?: number;
  /** Expiry date (`Expires`); `maxAge` wins where a browser sees both. */
  expires?: Date;
  /** `Domain`: by default the cookie goes back only to the host that set it, which is safest. */
  domain?: string;
  /** `Path`; default `/`. */
  path?: string;
  /** Hides the cookie from page scripts (`HttpOnly`); default `true`. */
  httpOnly?: boolean;
  /** Sent only over HTTPS (`Secure`); default: whether this request came over HTTPS, and always with `sameSite: 'none'`. */
  secure?: boolean;
  /**
   * `SameSite`: `'lax'` (default: sent on top-level navigation and same-site requests),
   * `'strict'`, or `'none'` (sent cross-site too; needs `secure`, as browsers drop it otherwise).
   */
  sameSite?: 'lax' | 'strict' | 'none';
  /** `Partitioned` (CHIPS): a cross-site cookie kept per top-level site. */
  partitioned?: boolean;
  /** `Priority`, a Chromium extension. */
  priority?: 'low' | 'medium' | 'high';
  /** Signs the value with the server's cookie secret (see {@link Server.setCookieSecret}). */
  signed?: boolean;
}

/**
 * The cookies of one request and the `Set-Cookie` headers of its response, as GoFrame's
 * `r.Cookie`. Reached as `r.cookie`; the `Cookie` header is parsed the first time a cookie is
 * read, so a request that never looks pays nothing.
 *
 * Reads see what the client sent: a cookie set during this request is not read back by `get`.
 *
 * @example
 * ```ts
 * s.setCookieSecret(process.env.COOKIE_SECRET!);
 * s.post('/login', (r) => {
 *   r.cookie.set('session', userId, { signed: true, maxAge: 7 * 24 * 3600 });
 * });
 * s.get('/me', (r) => {
 *   const userId = r.cookie.get('session', { signed: true }); // undefined when forged or missing
 *   if (userId === undefined) throw new HttpError(401);
 * });
 * ```
 */
export class RequestCookie {
  private readonly request: Request;
  private parsed: Cookies | undefined = undefined;

  constructor(request: Request) {
    this.request = request;
  }

  /**
   * The value of a cookie the client sent, percent-decoded; `undefined` when it has none. With
   * `{ signed: true }` only a value whose signature verifies against one of the server's
   * secrets, without its signature; a tampered, unsigned or expired-secret value reads as
   * `undefined`.
   */
  get(name: string, options?: { signed?: boolean }): string | undefined {
    this.parsed ??= parseCookie(headerOf(this.request.raw.headers.cookie));
    const value = this.parsed[name];
    if (options?.signed !== true || value === undefined) return value;
    return unsign(name, value, secretsOf(this.request));
  }

  /** Whether the client sent a cookie of this name (signed or not, valid or not). */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /**
   * Adds a `Set-Cookie` header to the response. Throws {@link ResponseCommittedError} once the
   * headers were sent (after `flush()` or `sse()`): set cookies before the stream starts.
   */
  set(name: string, value: string, options: CookieOptions = {}): this {
    const res = this.request.response;
    if (res.isCommitted()) throw new ResponseCommittedError(`set cookie "${name}"`);
    if (typeof name !== 'string' || !TOKEN.test(name)) {
      throw new InvalidArgumentError(
        'name',
        "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~",
        name,
      );
    }
    if (typeof value !== 'string') throw new InvalidArgumentError('value', 'must be a string', value);
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'must be an object of cookie attributes', options);
    }
    const sameSite = options.sameSite ?? 'lax';
    if (sameSite !== 'lax' && sameSite !== 'strict' && sameSite !== 'none') {
      throw new InvalidArgumentError('sameSite', "must be 'lax', 'strict' or 'none'", sameSite);
    }
    if (sameSite === 'none' && options.secure === false) {
      throw new InvalidArgumentError(
        'secure',
        "must not be false with sameSite: 'none': browsers drop such a cookie",
      );
    }
    if (options.maxAge !== undefined && !Number.isSafeInteger(options.maxAge)) {
      throw new InvalidArgumentError('maxAge', 'must be an integer number of seconds', options.maxAge);
    }
    const secure = options.secure ?? (sameSite === 'none' || this.request.protocol === 'https');
    const sent =
      options.signed === true ? `${value}.${signature(name, value, secretsOf(this.request)[0]!)}` : value;
    let header: string;
    try {
      header = stringifySetCookie({
        name,
        value: sent,
        maxAge: options.maxAge,
        expires: options.expires,
        domain: options.domain,
        path: options.path ?? '/',
        httpOnly: options.httpOnly ?? true,
        secure,
        sameSite,
        partitioned: options.partitioned,
        priority: options.priority,
      });
    } catch (e) {
      // The cookie package says which attribute is wrong (a domain with a space, a bad date).
      throw new InvalidArgumentError('options', (e as Error).message, options);
    }
    res.header.append('Set-Cookie', header);
    return this;
  }

  /**
   * Tells the browser to delete a cookie: an empty value that expired in 1970. Give the same
   * `path` and `domain` it was set with, or the browser keeps the original.
   */
  remove(
    name: string,
    options: Pick<CookieOptions, 'path' | 'domain' | 'secure' | 'sameSite' | 'partitioned'> = {},
  ): this {
    return this.set(name, '', { ...options, expires: new Date(0), maxAge: undefined, signed: false });
  }
}

/** RFC 6265 cookie-name: an RFC 9110 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function headerOf(value: string | undefined): string {
  return value ?? '';
}

function secretsOf(r: Request): readonly Buffer[] {
  const secrets = r.server.cookieSecrets;
  if (secrets.length === 0) {
    throw new InvalidArgumentError('signed', 'needs a cookie secret: call s.setCookieSecret(secret) first');
  }
  return secrets;
}

/**
 * HMAC-SHA256 over `name=value`, base64url: the name is signed too, so a value signed for one
 * cookie cannot be replayed as another.
 */
function signature(name: string, value: string, secret: Buffer): string {
  return createHmac('sha256', secret).update(`${name}=${value}`).digest('base64url');
}

/** The value without its signature when one of the secrets signed it, else `undefined`. */
function unsign(name: string, signed: string, secrets: readonly Buffer[]): string | undefined {
  const dot = signed.lastIndexOf('.');
  if (dot === -1) return undefined;
  const value = signed.slice(0, dot);
  const given = Buffer.from(signed.slice(dot + 1), 'base64url');
  // A SHA-256 MAC is 32 bytes; timingSafeEqual needs equal lengths, and a short MAC is no MAC.
  if (given.length !== 32) return undefined;
  let valid = false;
  // Every secret is tried, whichever matches, so the time taken does not tell which one did.
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(`${name}=${value}`).digest();
    if (timingSafeEqual(expected, given)) valid = true;
  }
  return valid ? value : undefined;
}
