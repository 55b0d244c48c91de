import { type ApiStream, ByteStream, type ByteStreamKind } from './client-api-stream.ts';
import type {
  ApiCallOptions,
  ApiClient,
  ApiClientOptions,
  ApiManifest,
  ApiStreamOptions,
  ManifestRoute,
} from './client-api-types.ts';
import { connect, type SseClient } from './client-connect.ts';
import { type ApiProblem, InvalidArgumentError, problemsOf } from './client-errors.ts';
import type { FetchFunction } from './client-request.ts';

/**
 * A JSON call that did not get its answer: a non-2xx status, an envelope whose `code` is not 0,
 * or an answer that is not what was promised (`status` 2xx, `code` -1). `problems` lists a
 * validation failure's problems (a 400 from a route's schemas), empty otherwise.
 *
 * @example
 * ```ts
 * try { await api.users.get({ params: { id: 0 } }); }
 * catch (e) {
 *   if (e instanceof ApiError && e.status === 400) for (const p of e.problems) mark(p.path, p.message);
 * }
 * ```
 */
export class ApiError extends Error {
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The envelope's `code` (an application code, or the status); the status when there was none. */
  readonly code: number;
  /** The problems of a refused request (`data.problems`), each with its path and message. */
  readonly problems: readonly ApiProblem[];
  /** The answer's `data` (enveloped) or body, as parsed. */
  readonly data: unknown;

  constructor(status: number, code: number, message: string, data: unknown, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.data = data;
    this.problems = problemsOf(data);
  }
}

/**
 * Makes a typed client of an API from its route definitions. The types come from `T`, the
 * routes' type (`import type`), so no server code reaches a browser bundle; at run time the client
 * needs only each route's method and path: the routes themselves (in Node), or the manifest
 * `apiManifest(routes)` makes, served as JSON or written at build time (in a browser).
 *
 * A JSON route is an async function: path params substituted and encoded, query serialised,
 * body sent as JSON; it resolves with the typed answer or rejects with an {@link ApiError}
 * (status, envelope code, the validation problems). An SSE route returns `connect()`'s
 * client: typed events, reconnects with `Last-Event-ID`, `break` closes it; a refusal's problems
 * are on the `ConnectError`. An NDJSON route returns an {@link ApiStream} of its typed items,
 * each line parsed as it arrives; a text route one of string chunks. Routes' paths are joined to
 * `baseUrl`: give it the prefix of the group the routes are bound in.
 *
 * @example
 * ```ts
 * import type { routes } from '../server/api.ts';        // types only: nothing of the server is bundled
 * import { createApiClient } from 'sluice/client';
 *
 * const manifest = await (await fetch('/api/manifest.json')).json();
 * const api = createApiClient<typeof routes>('/api', manifest, { envelope: true });
 * const user = await api.users.get({ params: { id: 7 } });     // { id: number; name: string; ... }
 * for await (const ev of api.prices.stream({ query: { symbol: 'ACME' } })) {
 *   if (ev.type === 'price') draw(ev.json().price);           // typed by the route's events
 * }
 * for await (const row of api.reports.rows({ query: { limit: 100 } })) table.append(row.id); // NDJSON
 * ```
 */
export function createApiClient<T>(
  baseUrl: string | URL,
  manifest: T | ApiManifest<T>,
  options: ApiClientOptions = {},
): ApiClient<T> {
  if (typeof baseUrl !== 'string' && !(baseUrl instanceof URL)) {
    throw new InvalidArgumentError('baseUrl', 'must be a string or a URL, such as "/api"', baseUrl);
  }
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'must be an object', options);
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw new InvalidArgumentError('fetch', 'must be a function', options.fetch);
  }
  const context = new ClientContext(String(baseUrl).replace(/\/+$/, ''), options);
  const tree = build(manifest, context, 'manifest', 0);
  if (tree === undefined) {
    throw new InvalidArgumentError(
      'manifest',
      'must hold at least one route { method, path }: the routes, or apiManifest(routes)',
      manifest,
    );
  }
  return tree as ApiClient<T>;
}

/**
 * Reduces route definitions (and controllers of them, nested) to what a client needs at run time:
 * `{ method, path }`, plus the event names of an SSE route or the kind of a byte stream
 * (`stream: 'ndjson' | 'text'`). Plain JSON, for the server to
 * serve or a build to write; no schema, no handler.
 *
 * @example
 * ```ts
 * const routes = { users: new Users(), prices };
 * s.group('/api', (g) => {
 *   g.bind(routes.users).bind({ prices });
 *   g.get('/manifest.json', () => apiManifest(routes));
 * });
 * ```
 */
export function apiManifest<T>(routes: T): ApiManifest<T> {
  const out = reduce(routes, 0);
  if (out === undefined) {
    throw new InvalidArgumentError('routes', 'must hold at least one route { method, path }', routes);
  }
  return out as ApiManifest<T>;
}

/** Deeper than this, a manifest is taken to be a cycle or something that is not one. */
const MAX_DEPTH = 8;

function isRoute(value: unknown): value is ManifestRoute {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ManifestRoute).method === 'string' &&
    typeof (value as ManifestRoute).path === 'string'
  );
}

/** How an event's data is written on the wire: JSON text, or the string itself. */
type EventData = 'json' | 'text';

function isStream(route: ManifestRoute): boolean {
  return typeof route.events === 'object' && route.events !== null;
}

/**
 * A byte-stream route's kind: from a definition's `stream: { ndjson }` / `{ text: true }`, or a
 * manifest's `stream: 'ndjson'` / `'text'`.
 */
function byteStreamOf(route: ManifestRoute): ByteStreamKind | undefined {
  const stream = route.stream;
  if (stream === 'ndjson' || stream === 'text') return stream;
  if (typeof stream !== 'object' || stream === null) return undefined;
  if ((stream as { ndjson?: unknown }).ndjson !== undefined) return 'ndjson';
  return (stream as { text?: unknown }).text === true ? 'text' : undefined;
}

function reduce(value: unknown, depth: number): object | undefined {
  if (isRoute(value)) {
    const route: {
      method: string;
      path: string;
      events?: Record<string, EventData>;
      stream?: ByteStreamKind;
    } = { method: value.method, path: value.path };
    if (isStream(value)) route.events = eventKinds(value.events);
    const stream = byteStreamOf(value);
    if (stream !== undefined) route.stream = stream;
    return route;
  }
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH) return undefined;
  let out: Record<string, object> | undefined;
  for (const key of Object.keys(value)) {
    const child = reduce((value as Record<string, unknown>)[key], depth + 1);
    if (child === undefined) continue;
    out ??= {};
    out[key] = child;
  }
  return out;
}

/**
 * How each event's data travels. sluice frames string data as it is and anything else as JSON, so
 * an event whose schema describes a string arrives as text (the rule `sluice/openapi` documents).
 * A manifest says it outright; a route's schemas say it through their JSON Schema form, and one
 * that has none is taken for JSON.
 */
function eventKinds(events: unknown): Record<string, EventData> {
  const kinds: Record<string, EventData> = {};
  if (typeof events !== 'object' || events === null) return kinds;
  for (const [name, value] of Object.entries(events)) {
    kinds[name] = value === 'text' || value === 'json' ? value : describesString(value) ? 'text' : 'json';
  }
  return kinds;
}

function describesString(schema: unknown): boolean {
  const convert = (schema as { '~standard'?: { jsonSchema?: { output?: unknown } } } | null)?.['~standard']
    ?.jsonSchema?.output;
  if (typeof convert !== 'function') return false;
  for (const target of ['draft-2020-12', 'draft-07']) {
    try {
      return (convert({ target }) as { type?: unknown } | null)?.type === 'string';
    } catch {
      // The library cannot express this schema for that target: try the next.
    }
  }
  return false;
}

function build(value: unknown, context: ClientContext, where: string, depth: number): unknown {
  if (isRoute(value)) return routeFunction(value, context, where);
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH) return undefined;
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const child = build((value as Record<string, unknown>)[key], context, `${where}.${key}`, depth + 1);
    if (child === undefined) continue;
    out ??= {};
    out[key] = child;
  }
  return out === undefined ? undefined : Object.freeze(out);
}

/** What every route function of one client shares. */
class ClientContext {
  readonly base: string;
  readonly options: ApiClientOptions;
  readonly fetcher: FetchFunction;

  constructor(base: string, options: ApiClientOptions) {
    this.base = base;
    this.options = options;
    // Called on the global object: a browser's fetch stored and called as a method throws "Illegal invocation".
    this.fetcher = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The client's headers, then the request's, then the call's: later ones win. */
  async headers(request: RequestParts, extra: HeadersInit | undefined): Promise<Headers> {
    const own = this.options.headers;
    const headers = new Headers(typeof own === 'function' ? await own() : own);
    if (request.headers !== undefined && request.headers !== null) {
      for (const [k, v] of Object.entries(request.headers)) {
        if (v !== undefined) headers.set(k, String(v));
      }
    }
    if (extra !== undefined)
      new Headers(extra).forEach((v, k) => {
        headers.set(k, v);
      });
    if (request.body !== undefined && !headers.has('content-type')) {
      headers.set('content-type', 'application/json');
    }
    return headers;
  }
}

/** A call's first argument, as it arrives at run time. */
interface RequestParts {
  readonly params?: Record<string, unknown>;
  readonly query?: Record<string, unknown>;
  readonly headers?: Record<string, unknown> | null;
  readonly body?: unknown;
}

function routeFunction(route: ManifestRoute, context: ClientContext, where: string): unknown {
  const method = route.method.toUpperCase();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) {
    throw new InvalidArgumentError(`${where}.method`, 'must be an HTTP method name', route.method);
  }
  if (!route.path.startsWith('/')) {
    throw new InvalidArgumentError(`${where}.path`, 'must start with "/"', route.path);
  }
  const path = route.path;
  if (isStream(route)) {
    const kinds = eventKinds(route.events);
    const text = Object.keys(kinds).filter((name) => kinds[name] === 'text');
    return (request: RequestParts = {}, options: ApiStreamOptions = {}): SseClient => {
      checkRequest(request);
      // Built now, so a missing param throws at the call rather than on the first attempt.
      const url = urlOf(context.base, path, request);
      const body = request.body === undefined ? undefined : JSON.stringify(request.body);
      const defaults = context.options.stream ?? {};
      return connect(url, {
        ...defaults,
        ...options,
        method,
        headers: async () => context.headers(request, await streamHeaders(defaults.headers, options.headers)),
        body,
        text,
        fetch: context.fetcher,
        init: { ...context.options.init, ...defaults.init, ...options.init },
      });
    };
  }
  const stream = byteStreamOf(route);
  if (stream !== undefined) {
    const accept = stream === 'ndjson' ? 'application/x-ndjson' : 'text/plain';
    return (request: RequestParts = {}, options: ApiCallOptions = {}): ApiStream<unknown> => {
      checkRequest(request);
      const url = urlOf(context.base, path, request);
      return new ByteStream({
        kind: stream,
        signal: options.signal,
        open: async (signal) => {
          const headers = await context.headers(request, options.headers);
          if (!headers.has('accept')) headers.set('accept', accept);
          const init: RequestInit = { ...context.options.init, method, headers, signal };
          if (request.body !== undefined) init.body = JSON.stringify(request.body);
          return context.fetcher(url, init);
        },
        refuse: (response) =>
          answerOf(response, context.options.envelope === true).then(
            () => new ApiError(response.status, -1, `HTTP ${response.status}`, undefined),
            (e: unknown) => e as Error,
          ),
        broken: (status, message, cause) => new ApiError(status, -1, message, undefined, cause),
      });
    };
  }
  return async (request: RequestParts = {}, options: ApiCallOptions = {}): Promise<unknown> => {
    checkRequest(request);
    const url = urlOf(context.base, path, request);
    const headers = await context.headers(request, options.headers);
    if (!headers.has('accept')) headers.set('accept', 'application/json');
    const init: RequestInit = { ...context.options.init, method, headers };
    if (request.body !== undefined) init.body = JSON.stringify(request.body);
    if (options.signal !== undefined) init.signal = options.signal;
    const response = await context.fetcher(url, init);
    return answerOf(response, context.options.envelope === true);
  };
}

/** A stream's own headers may be functions too: evaluated again on each attempt, with the client's. */
async function streamHeaders(
  a: ApiStreamOptions['headers'],
  b: ApiStreamOptions['headers'],
): Promise<Headers> {
  const out = new Headers();
  for (const h of [a, b]) {
    const v = typeof h === 'function' ? await h() : h;
    if (v !== undefined && v !== null)
      new Headers(v).forEach((x, k) => {
        out.set(k, x);
      });
  }
  return out;
}

function checkRequest(request: unknown): asserts request is RequestParts {
  if (typeof request !== 'object' || request === null) {
    throw new InvalidArgumentError('request', 'must be an object { params, query, headers, body }', request);
  }
}

async function answerOf(response: Response, envelope: boolean): Promise<unknown> {
  const status = response.status;
  const text = await response.text();
  const type = (response.headers.get('content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  const json = type === 'application/json' || type.endsWith('+json');
  let payload: unknown = text;
  if (json && text !== '') {
    try {
      payload = JSON.parse(text);
    } catch {
      throw new ApiError(status, -1, `The answer claims JSON but is not: ${text.slice(0, 80)}`, text);
    }
  } else if (text === '') payload = undefined;
  if (status < 200 || status > 299) {
    // sluice answers errors that carry data (a 400's problems) as { code, message, data }.
    const e = asEnvelope(payload);
    if (e !== undefined) throw new ApiError(status, e.code, e.message, e.data);
    const message = typeof payload === 'string' && payload !== '' ? payload : `HTTP ${status}`;
    throw new ApiError(status, status, message, payload);
  }
  if (!envelope) return payload;
  const e = asEnvelope(payload);
  if (e === undefined)
    throw new ApiError(status, -1, 'The answer is not a { code, message, data } envelope', payload);
  if (e.code !== 0) throw new ApiError(status, e.code, e.message, e.data);
  return e.data;
}

function asEnvelope(value: unknown): { code: number; message: string; data: unknown } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { code, message, data } = value as Record<string, unknown>;
  if (typeof code !== 'number' || typeof message !== 'string' || !('data' in value)) return undefined;
  return { code, message, data };
}

/** The route's path with its params filled in, and the query, joined to the client's base. */
function urlOf(base: string, path: string, request: RequestParts): string {
  const params = request.params ?? {};
  if (typeof params !== 'object' || params === null) {
    throw new InvalidArgumentError('params', 'must be an object of path param values', params);
  }
  const segments = path.split('/').map((seg) => {
    if (seg.startsWith('{') && seg.endsWith('}')) return encodeParam(params, seg.slice(1, -1), path);
    if (seg.startsWith(':')) return encodeParam(params, seg.slice(1), path);
    if (seg.startsWith('*')) {
      // A wildcard spans segments: each one is encoded, the slashes between them are kept.
      const name = seg.length > 1 ? seg.slice(1) : '*';
      return text(params[name], `params.${name}`, path).split('/').map(encodeURIComponent).join('/');
    }
    return seg;
  });
  const query = queryOf(request.query);
  return `${base}${segments.join('/')}${query === '' ? '' : `?${query}`}`;
}

function encodeParam(params: Record<string, unknown>, name: string, path: string): string {
  return encodeURIComponent(text(params[name], `params.${name}`, path));
}

function text(value: unknown, argument: string, path: string): string {
  if (
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    typeof value === 'bigint'
  ) {
    return String(value);
  }
  throw new InvalidArgumentError(argument, `must be a string, number, boolean or bigint for ${path}`, value);
}

function queryOf(query: unknown): string {
  if (query === undefined || query === null) return '';
  if (typeof query !== 'object') {
    throw new InvalidArgumentError('query', 'must be an object of names and values', query);
  }
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === undefined || v === null) continue;
      search.append(key, v instanceof Date ? v.toISOString() : text(v, `query.${key}`, key));
    }
  }
  return search.toString();
}
