import type { ApiStream } from './client-api-stream.ts';
import type { SseClient } from './client-connect.ts';
import type { ConnectOptions, Dynamic, FetchFunction } from './client-request.ts';

/*
 * The types of the typed API client, read from the server's route definitions (`defineRoute` in
 * `sluice/schema`) by their shape alone: the client never imports server code, not even its types,
 * since those name Node's. A route is anything with `method` and `path`; its schemas are read
 * through Standard Schema's `~standard.types`, the same types the server validates with, so the
 * client's argument and answer types cannot drift from what the server checks.
 */

/** The part of a Standard Schema the client reads: its declared types, never its code. */
interface TypedSchema {
  readonly '~standard': {
    readonly types?: { readonly input: unknown; readonly output: unknown } | undefined;
  };
}

type SchemaTypes<S> = S extends { readonly '~standard': { readonly types?: infer T } }
  ? NonNullable<T>
  : never;
type In<S> = SchemaTypes<S> extends { readonly input: infer I } ? I : unknown;
type Out<S> = SchemaTypes<S> extends { readonly output: infer O } ? O : unknown;

/** The schema at `K` of route `R`, or `never` when the route has none there. */
type SchemaAt<R, K extends string> = R extends { readonly [P in K]?: infer S }
  ? NonNullable<S> extends TypedSchema
    ? NonNullable<S>
    : never
  : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** A route as the client sees it at the type level: what `defineRoute` returns has this shape. */
interface RouteShape {
  readonly method: string;
  readonly path: string;
}

/** The same names `sluice/schema` reads from a GoFrame path: `{id}`, `:id`, and a last `*rest`. */
type ParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}`
  ? Name | ParamNames<Rest>
  : P extends `${string}/:${infer Name}/${infer Rest}`
    ? Name | ParamNames<`/${Rest}`>
    : P extends `${string}/:${infer Name}`
      ? Name
      : P extends `${string}*${infer Name}`
        ? Name extends ''
          ? '*'
          : Name
        : never;

/**
 * A path param's value: what the params schema accepts for it, or, where the schema takes anything
 * (zod's `coerce`) or there is no schema, any scalar (it is sent as text in the path anyway).
 */
type ParamValue<R, K extends string> = [SchemaAt<R, 'params'>] extends [never]
  ? PathScalar
  : In<SchemaAt<R, 'params'>> extends { readonly [P in K]?: infer V }
    ? unknown extends V
      ? PathScalar
      : V
    : PathScalar;

/**
 * A scalar that goes into a URL as its text (`String(value)`).
 *
 * @example
 * ```ts
 * const id: PathScalar = 7;
 * ```
 */
export type PathScalar = string | number | boolean | bigint;

/**
 * A query value the client serialises: a scalar, a `Date` (ISO text), or an array of them (the key
 * repeated, which the server parses back into an array). `undefined` and `null` leave the key out.
 *
 * @example
 * ```ts
 * const query: Record<string, QueryValue> = { tag: ['a', 'b'], limit: 10, since: new Date() };
 * ```
 */
export type QueryValue = PathScalar | Date | null | undefined | readonly (PathScalar | Date)[];

type ParamsOf<R> = R extends { readonly path: infer P extends string }
  ? [ParamNames<P>] extends [never]
    ? never
    : { readonly [K in ParamNames<P>]: ParamValue<R, K> }
  : never;

type QueryOf<R> = [SchemaAt<R, 'query'>] extends [never]
  ? Record<string, QueryValue> | undefined
  : QueryFields<In<SchemaAt<R, 'query'>>>;

/** A field the schema takes as anything (zod's `coerce`) still travels as URL text: a {@link QueryValue}. */
type QueryFields<Q> = Q extends object
  ? { [K in keyof Q]: unknown extends Q[K] ? NonNullable<QueryValue> : Q[K] }
  : Q;

type HeadersOf<R> = [SchemaAt<R, 'headers'>] extends [never]
  ? Record<string, string> | undefined
  : In<SchemaAt<R, 'headers'>>;

type BodyOf<R> = [SchemaAt<R, 'body'>] extends [never] ? never : In<SchemaAt<R, 'body'>>;

/** A key the request must have, may have, or may not have (`never`: the route takes no such part). */
type Part<K extends string, T> = [T] extends [never]
  ? { readonly [P in K]?: never }
  : undefined extends T
    ? { readonly [P in K]?: T }
    : {} extends T
      ? { readonly [P in K]?: T }
      : { readonly [P in K]: T };

/**
 * What a call to route `R` sends: path params (required when the path has any), query, headers and
 * a JSON body, each typed by the input type of the route's schema for it.
 *
 * @example
 * ```ts
 * type Req = ApiRequest<typeof getUser>; // { readonly params: { readonly id: string | number }; ... }
 * ```
 */
export type ApiRequest<R> = Simplify<
  Part<'params', ParamsOf<R>> &
    Part<'query', QueryOf<R>> &
    Part<'headers', HeadersOf<R>> &
    Part<'body', BodyOf<R>>
>;

/**
 * What a JSON route answers, as the client receives it: the output type of its `response` schema
 * (the server sends the schema's output), or `unknown` for a route without one.
 *
 * @example
 * ```ts
 * type User = ApiResponse<typeof getUser>; // { id: number; name: string }
 * ```
 */
export type ApiResponse<R> = [SchemaAt<R, 'response'>] extends [never]
  ? unknown
  : Out<SchemaAt<R, 'response'>>;

/**
 * A streaming route's events as the client's event map: event name → the output type of its
 * schema (the data the server sends after validation).
 *
 * @example
 * ```ts
 * type Ticks = ApiEvents<typeof ticker>; // { tick: { n: number }; done: { total: number } }
 * ```
 */
export type ApiEvents<R> = R extends { readonly events?: infer E }
  ? [NonNullable<E>] extends [never]
    ? never
    : { [K in keyof NonNullable<E> & string]: Out<NonNullable<E>[K]> }
  : never;

/**
 * Per-call options of a JSON route.
 *
 * @example
 * ```ts
 * await api.users.get({ params: { id: 7 } }, { signal: AbortSignal.timeout(5000) });
 * ```
 */
export interface ApiCallOptions {
  /** Extra headers for this call (after the client's and the request's). */
  headers?: HeadersInit;
  /** Aborts the call: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Per-call options of a streaming route: those of `connect()` except what the route decides
 * (method, body).
 *
 * @example
 * ```ts
 * api.ticker.events(undefined, { lastEventId: saved, readTimeout: 45_000 });
 * ```
 */
export type ApiStreamOptions = Omit<ConnectOptions, 'method' | 'body' | 'fetch'>;

/**
 * What one item of a byte-stream route is, as the client receives it: the output type of an
 * NDJSON route's item schema, a string chunk of a text route; `never` for any other route.
 *
 * @example
 * ```ts
 * type Row = ApiStreamItem<typeof rows>; // { id: number; name: string }
 * ```
 */
export type ApiStreamItem<R> = R extends { readonly stream: infer S }
  ? S extends { readonly ndjson: infer I }
    ? I extends TypedSchema
      ? Out<I>
      : unknown
    : S extends { readonly text: true }
      ? string
      : never
  : never;

type CallArgs<R, O> =
  {} extends ApiRequest<R> ? [request?: ApiRequest<R>, options?: O] : [request: ApiRequest<R>, options?: O];

/**
 * The client's function for one route: a JSON route resolves with its typed answer (or rejects
 * with an `ApiError`); an SSE route returns `connect()`'s reconnecting client, typed by the
 * route's events; an NDJSON or text route returns an `ApiStream` of its items.
 *
 * @example
 * ```ts
 * const call: ApiRoute<typeof getUser> = api.users.get;
 * ```
 */
export type ApiRoute<R> = [ApiEvents<R>] extends [never]
  ? [ApiStreamItem<R>] extends [never]
    ? (...args: CallArgs<R, ApiCallOptions>) => Promise<ApiResponse<R>>
    : (...args: CallArgs<R, ApiCallOptions>) => ApiStream<ApiStreamItem<R>>
  : (...args: CallArgs<R, ApiStreamOptions>) => SseClient<ApiEvents<R>>;

type Depth = [unknown, unknown, unknown, unknown];

/** Whether a property is a route, or a controller that holds one (a database handle is neither). */
type Keeps<V, D extends unknown[]> = V extends RouteShape
  ? true
  : V extends (...args: never[]) => unknown
    ? false
    : V extends object
      ? D extends [unknown, ...infer Rest]
        ? keyof ApiClient<V, Rest> extends never
          ? false
          : true
        : false
      : false;

/**
 * The typed client of an API: the same tree as the controllers and routes it was made from, each
 * route a function (see {@link ApiRoute}). Controllers nest up to four levels.
 *
 * @example
 * ```ts
 * const api: ApiClient<typeof routes> = createApiClient<typeof routes>('/api', manifest);
 * const user = await api.users.get({ params: { id: 7 } });
 * ```
 */
export type ApiClient<T, D extends unknown[] = Depth> = {
  readonly [K in keyof T as Keeps<T[K], D> extends true ? K : never]: T[K] extends RouteShape
    ? ApiRoute<T[K]>
    : D extends [unknown, ...infer Rest]
      ? ApiClient<T[K], Rest>
      : never;
};

/**
 * One route of a manifest: what the client needs at run time. A route definition has this shape
 * already; `apiManifest()` reduces one to it, as JSON a browser can load: each event of a
 * streaming route with how its data travels (`'text'` for a string schema, sent as it is).
 *
 * @example
 * ```ts
 * const route: ManifestRoute = { method: 'GET', path: '/ticker', events: { tick: 'json', note: 'text' } };
 * const rows: ManifestRoute = { method: 'GET', path: '/rows', stream: 'ndjson' };
 * ```
 */
export interface ManifestRoute {
  readonly method: string;
  readonly path: string;
  /** Present on a streaming route: event name → `'json'` or `'text'` (or the route's schemas). */
  readonly events?: object | undefined;
  /** Present on a byte-stream route: `'ndjson'` or `'text'` (or the route's `{ ndjson }` / `{ text }`). */
  readonly stream?: object | string | undefined;
}

/**
 * The run-time half of a typed client: for each route of `T`, its method and path, in the same
 * tree. The routes themselves fit (in Node), or `apiManifest(routes)`'s JSON (in a browser).
 *
 * @example
 * ```ts
 * const manifest: ApiManifest<typeof routes> = await (await fetch('/api/manifest.json')).json();
 * ```
 */
export type ApiManifest<T, D extends unknown[] = Depth> = {
  readonly [K in keyof T as Keeps<T[K], D> extends true ? K : never]: T[K] extends RouteShape
    ? ManifestRoute
    : D extends [unknown, ...infer Rest]
      ? ApiManifest<T[K], Rest>
      : never;
};

/**
 * Options of `createApiClient`.
 *
 * @example
 * ```ts
 * createApiClient<typeof routes>('/api', manifest, {
 *   envelope: true,                                               // the API is behind handlerResponse
 *   headers: () => ({ authorization: `Bearer ${session.token}` }), // evaluated for every call
 * });
 * ```
 */
export interface ApiClientOptions {
  /** Headers of every call and stream (a function is called again each time, so a token stays fresh). */
  headers?: Dynamic<HeadersInit>;
  /**
   * The API answers `{ code, message, data }` (`handlerResponse`): calls resolve with `data`, and an
   * answer whose `code` is not 0 rejects with an `ApiError`. Default false.
   */
  envelope?: boolean;
  /** The transport, for calls and streams. Default: the global `fetch`. */
  fetch?: FetchFunction;
  /** Other `fetch` options for every call and stream (`credentials`, `mode`...). */
  init?: Omit<RequestInit, 'method' | 'headers' | 'body' | 'signal'>;
  /** Defaults for every stream (`readTimeout`, `backoff`...); a call's own options win. */
  stream?: ApiStreamOptions;
}
