import type { ServerResponse } from 'node:http';
import { InvalidArgumentError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import type { ResponseHeader } from '../response/response-header.ts';

/**
 * Which origins may read responses: `'*'` (any, without credentials), one origin
 * (`'https://app.example'`), a RegExp, a list of both, or a function of the request's `Origin`
 * that answers `true` (allow it), `false` (refuse) or the exact value to send. The function may
 * be async (a database of tenants, say).
 *
 * @example
 * ```ts
 * const origin: CorsOrigin = ['https://app.example', /^https:\/\/[a-z0-9-]+\.preview\.example$/];
 * ```
 */
export type CorsOrigin =
  | string
  | RegExp
  | readonly (string | RegExp)[]
  | ((origin: string, r: Request) => boolean | string | Promise<boolean | string>);

/**
 * Options of {@link cors}.
 *
 * @example
 * ```ts
 * s.use(cors({ origin: 'https://app.example', credentials: true, exposeHeaders: ['X-Request-Id'] }));
 * ```
 */
export interface CorsOptions {
  /** Allowed origins; default `'*'`. */
  origin?: CorsOrigin;
  /** Lets the browser send cookies and read the answer (`Access-Control-Allow-Credentials`). Needs explicit origins. */
  credentials?: boolean;
  /** Methods a preflight allows; default GET, HEAD, PUT, PATCH, POST, DELETE. */
  methods?: readonly string[];
  /** Request headers a preflight allows; default: the ones the browser asks for. */
  allowHeaders?: readonly string[];
  /** Response headers beyond the CORS-safelisted ones that page scripts may read. */
  exposeHeaders?: readonly string[];
  /** Seconds a browser may cache a preflight answer; default 600 (Chromium caps at 7200). 0 sends none. */
  maxAge?: number;
}

const DEFAULT_METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'];
const DEFAULT_MAX_AGE = 600;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

type OriginCheck = (origin: string, r: Request) => boolean | string | Promise<boolean | string>;

/**
 * Cross-origin resource sharing, as Hono's `cors()` and `@fastify/cors`. Register it with
 * `s.use()`: global middleware also runs for unmatched requests, so a preflight (`OPTIONS` with
 * `Access-Control-Request-Method`) is answered `204` here even for a route bound only for GET
 * or POST, where the router would say 405, and 404s and errors carry the CORS headers the
 * browser needs to let the page read them. The headers are set before the handler runs, so an
 * SSE stream (`EventSource` with `withCredentials`) commits with them.
 *
 * `Vary: Origin` is added (never replacing a `Vary` already set) whenever the answer depends on
 * the origin. `'*'` is never sent together with credentials: `cors({ credentials: true })`
 * without explicit origins throws.
 *
 * @example
 * ```ts
 * s.use(cors({ origin: ['https://app.example'], credentials: true, maxAge: 3600 }));
 * s.get('/events', (r) => r.response.sse()); // EventSource(url, { withCredentials: true }) works
 * ```
 */
export function cors(options: CorsOptions = {}): (r: Request) => Promise<void> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(
      'options',
      'must be an object { origin?, credentials?, methods?, ... }',
      options,
    );
  }
  const credentials = options.credentials ?? false;
  if (typeof credentials !== 'boolean')
    throw new InvalidArgumentError('credentials', 'must be a boolean', credentials);
  const origin = options.origin ?? '*';
  if (origin === '*' && credentials) {
    throw new InvalidArgumentError(
      'origin',
      "must name the allowed origins (a list, a RegExp or a function) when credentials is true: browsers refuse '*' with credentials",
    );
  }
  const check = compileOrigin(origin);
  // A fixed '*' answers every origin alike; anything else must tell caches the answer varies.
  const varies = origin !== '*';
  const methods = tokenList('methods', options.methods ?? DEFAULT_METHODS).join(', ');
  const allowHeaders =
    options.allowHeaders === undefined
      ? undefined
      : tokenList('allowHeaders', options.allowHeaders).join(', ');
  const exposeHeaders =
    options.exposeHeaders === undefined ? '' : tokenList('exposeHeaders', options.exposeHeaders).join(', ');
  const maxAge = options.maxAge ?? DEFAULT_MAX_AGE;
  if (!Number.isSafeInteger(maxAge) || maxAge < 0) {
    throw new InvalidArgumentError('maxAge', 'must be a non-negative integer number of seconds', maxAge);
  }

  return async (r) => {
    const requestOrigin = r.raw.headers.origin;
    // Through the header view, not Node's response: a buffered answer's head then goes to Node in
    // one writeHead (see ResponseHeader), and a handler's own headers join these in order.
    const res = r.response.header;
    if (varies) varyOn(res, 'Origin');
    // No Origin: not a CORS request (same-origin, curl, a server), so nothing more to say.
    if (requestOrigin === undefined) return passOn(r, varies);
    const allowed = await allowedOrigin(check, requestOrigin, r, credentials);
    const preflight = r.method === 'OPTIONS' && r.raw.headers['access-control-request-method'] !== undefined;
    if (allowed !== undefined) {
      res.set('Access-Control-Allow-Origin', allowed);
      if (credentials) res.set('Access-Control-Allow-Credentials', 'true');
    }
    if (!preflight) {
      if (allowed !== undefined && exposeHeaders !== '')
        res.set('Access-Control-Expose-Headers', exposeHeaders);
      return passOn(r, varies);
    }
    // A preflight is answered here, never passed on: the route may not accept OPTIONS at all.
    // A refused origin gets the same 204 without the Allow headers, which the browser reads as no.
    if (allowed !== undefined) {
      res.set('Access-Control-Allow-Methods', methods);
      const headers = allowHeaders ?? echoHeaders(r.raw.headers['access-control-request-headers']);
      if (allowHeaders === undefined) varyOn(res, 'Access-Control-Request-Headers');
      if (headers !== '') res.set('Access-Control-Allow-Headers', headers);
      if (maxAge > 0) res.set('Access-Control-Max-Age', String(maxAge));
    }
    r.response.writeStatus(204);
  };
}

async function passOn(r: Request, varies: boolean): Promise<void> {
  await r.middleware.next();
  // Again after the handler, which may have replaced Vary with its own (Accept-Encoding, say).
  const res = r.response;
  if (!varies || res.headersSent) return;
  // Committed with its head not sent yet (a returned fetch Response without a body): the view
  // refuses changes then, and Node's response is where that head is.
  if (res.isCommitted()) appendVary(res.raw, 'Origin');
  else varyOn(res.header, 'Origin');
}

function compileOrigin(origin: CorsOrigin): OriginCheck {
  if (typeof origin === 'function') return origin;
  if (typeof origin === 'string') {
    if (origin === '*') return () => '*';
    checkOrigin(origin);
    return (o) => o === origin;
  }
  if (origin instanceof RegExp) return (o) => testRegExp(origin, o);
  if (!Array.isArray(origin) || origin.length === 0) {
    throw new InvalidArgumentError(
      'origin',
      "must be '*', an origin, a RegExp, a non-empty list of those or a function",
      origin,
    );
  }
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const o of origin) {
    if (o instanceof RegExp) patterns.push(o);
    else if (typeof o === 'string' && o !== '*') {
      checkOrigin(o);
      exact.add(o);
    } else
      throw new InvalidArgumentError(
        'origin',
        "list entries must be origins or RegExps ('*' stands alone)",
        o,
      );
  }
  return (o) => exact.has(o) || patterns.some((p) => testRegExp(p, o));
}

function testRegExp(pattern: RegExp, origin: string): boolean {
  // A global or sticky RegExp keeps lastIndex between calls and would refuse every other request.
  pattern.lastIndex = 0;
  return pattern.test(origin);
}

/** An origin as browsers serialize it: scheme://host[:port], no path, no trailing slash; or `null`. */
function checkOrigin(origin: string): void {
  if (origin === 'null') return;
  let parsed: URL | undefined;
  try {
    parsed = new URL(origin);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || parsed.origin !== origin) {
    throw new InvalidArgumentError(
      'origin',
      'must be an origin as a browser sends it: scheme://host[:port], lower case, without path or trailing slash',
      origin,
    );
  }
}

async function allowedOrigin(
  check: OriginCheck,
  origin: string,
  r: Request,
  credentials: boolean,
): Promise<string | undefined> {
  const verdict = await check(origin, r);
  if (verdict === true) return origin;
  if (verdict === false || verdict === '') return undefined;
  if (typeof verdict !== 'string') {
    throw new TypeError(`cors: the origin function must return a boolean or a string, got ${typeof verdict}`);
  }
  // '*' with credentials is refused by browsers; the function said "anyone", so the one asking is allowed.
  if (verdict === '*' && credentials) return origin;
  return verdict;
}

/** What the browser asked to send, cleaned: only header-name tokens, so nothing can be injected. */
function echoHeaders(requested: string | undefined): string {
  if (requested === undefined) return '';
  const names: string[] = [];
  for (const part of requested.split(',')) {
    const name = part.trim();
    if (name !== '' && TOKEN.test(name)) names.push(name);
  }
  return names.join(', ');
}

function tokenList(option: string, list: readonly string[]): string[] {
  if (!Array.isArray(list)) throw new InvalidArgumentError(option, 'must be an array of names', list);
  for (const v of list) {
    if (typeof v !== 'string' || !TOKEN.test(v)) {
      throw new InvalidArgumentError(option, 'must hold header or method names (RFC 9110 tokens)', v);
    }
  }
  return [...list];
}

/** Adds a field to `Vary` unless it is there already (or `*` is), keeping whatever was set. */
function varyOn(header: ResponseHeader, field: string): void {
  const vary = varyWith(header.get('Vary'), field);
  if (vary !== undefined) header.set('Vary', vary);
}

/** @internal {@link varyOn} on Node's response, for a response the header view no longer changes. */
export function appendVary(res: ServerResponse, field: string): void {
  const vary = varyWith(res.getHeader('Vary'), field);
  if (vary !== undefined) res.setHeader('Vary', vary);
}

/** The `Vary` value that adds `field` to `current`, or `undefined` when it is there already. */
function varyWith(current: unknown, field: string): string | undefined {
  const text = Array.isArray(current) ? current.join(', ') : current === undefined ? '' : String(current);
  if (text === '') return field;
  const lower = field.toLowerCase();
  for (const part of text.split(',')) {
    const v = part.trim().toLowerCase();
    if (v === '*' || v === lower) return undefined;
  }
  return `${text}, ${field}`;
}
