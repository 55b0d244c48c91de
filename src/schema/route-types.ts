import type { IncomingHttpHeaders } from 'node:http';
import type { Request } from '../request/request.ts';
import type { RouteOptions } from '../request/request-body-options.ts';
import type { BindableRoute } from '../router/router.ts';
import type { EventStream, EventStreamOptions } from '../sse/event-stream.ts';
import type { InferInput, InferOutput, StandardSchemaV1 } from './standard-schema.ts';

/*
 * The types that travel with a route definition. They are the contract the typed client
 * (`sluice/client`) can build on: `RouteEvents<typeof route>`, `RouteResponse<typeof route>` and
 * `RouteRequest<typeof route>` name what goes over the wire, from the same schemas the server
 * validates with, so the two cannot drift apart.
 */

/**
 * Any schema of a Standard Schema library (zod 4, valibot, arktype...). sluice reads only its
 * `~standard` property, so no schema library is a dependency.
 *
 * @example
 * ```ts
 * const Id: Schema = z.coerce.number().int();
 * ```
 */
export type Schema = StandardSchemaV1;

/**
 * The events a streaming route sends: event name → the schema of its `data`.
 *
 * @example
 * ```ts
 * const events = { tick: z.object({ n: z.number() }), done: z.object({}) } satisfies EventMap;
 * ```
 */
export type EventMap = { readonly [event: string]: StandardSchemaV1 };

/** The methods a route definition may use. */
export type RouteMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';

type MaybePromise<T> = T | Promise<T>;
type InputOf<S> = S extends StandardSchemaV1 ? InferInput<S> : never;
type OutputOr<S, Fallback> = [S] extends [StandardSchemaV1] ? InferOutput<S> : Fallback;

type ParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}`
  ? Name | ParamNames<Rest>
  : P extends `${string}*${infer Name}`
    ? Name extends ''
      ? '*'
      : Name
    : never;

/**
 * The path params a GoFrame-style path names, all strings: what a route without a `params`
 * schema receives.
 *
 * @example
 * ```ts
 * type P = PathParams<'/user/{id}/files/*path'>; // { id: string; path: string }
 * ```
 */
export type PathParams<P extends string> = string extends P
  ? Record<string, string>
  : { readonly [K in ParamNames<P>]: string };

/**
 * One event a handler yields or sends: a name of the route's event map and the data its schema
 * accepts. A wrong name, or data of the wrong shape, does not compile.
 *
 * @example
 * ```ts
 * const ev: EventItem<{ tick: typeof Tick }> = { event: 'tick', data: { n: 1 }, id: 1 };
 * ```
 */
export type EventItem<E extends EventMap> = {
  [K in keyof E & string]: {
    readonly event: K;
    readonly data: InputOf<E[K]>;
    readonly id?: string | number;
    readonly retry?: number;
  };
}[keyof E & string];

/**
 * An event as a client receives it: the name and the data after the schema (its output type).
 *
 * @example
 * ```ts
 * for await (const ev of events) if (ev.event === 'tick') ev.data.n; // number
 * ```
 */
export type ReceivedEvent<E extends EventMap> = {
  [K in keyof E & string]: { readonly event: K; readonly data: InferOutput<E[K]> };
}[keyof E & string];

/** The input a handler of a JSON or byte-stream route receives: each part as its schema outputs it. */
type HandlerInput<P extends string, TParams, TQuery, THeaders, TBody> = RouteInput<
  OutputOr<TParams, PathParams<P>>,
  OutputOr<TQuery, Record<string, unknown>>,
  OutputOr<THeaders, IncomingHttpHeaders>,
  OutputOr<TBody, unknown>
>;

/**
 * The parsed, typed input a handler receives. A place without a schema is passed as sluice has
 * it: path params as strings, the query as parsed, the headers as Node has them, the body as
 * parsed (`unknown`).
 *
 * @example
 * ```ts
 * handler: ({ params, body }: RouteInput<{ id: number }, {}, {}, { name: string }>) => ...
 * ```
 */
export interface RouteInput<TParams, TQuery, THeaders, TBody> {
  readonly params: TParams;
  readonly query: TQuery;
  readonly headers: THeaders;
  readonly body: TBody;
}

/**
 * An event stream that only sends the route's events, each checked against its schema before it
 * is framed. Made by `input.sse()` in a streaming route's handler.
 *
 * @example
 * ```ts
 * const es = input.sse();
 * await es.send('tick', { n: 1 }, { id: 1 });
 * await es.closed;
 * ```
 */
export interface TypedEventStream<E extends EventMap> {
  /**
   * Checks the data against the event's schema (when event validation is on), then sends it.
   * Resolves `false`, as a send to a client that left does, when the event failed its schema:
   * the stream then got `event: error` and is closed, and the error is logged.
   */
  send<K extends keyof E & string>(
    event: K,
    data: InputOf<E[K]>,
    options?: { readonly id?: string | number; readonly retry?: number },
  ): Promise<boolean>;
  /** A comment line, which the client ignores (see `EventStream.comment`). */
  comment(text: string): Promise<boolean>;
  close(): void;
  readonly signal: AbortSignal;
  readonly closed: Promise<void>;
  readonly lastEventId: string | undefined;
  /** The untyped stream underneath. */
  readonly stream: EventStream;
}

/**
 * The input of a streaming route's handler: the typed input plus the `Last-Event-ID` the client
 * resumes from and `sse()` for a typed stream (or yield {@link EventItem}s instead).
 *
 * @example
 * ```ts
 * handler: async (input) => { const es = input.sse(); await es.send('tick', { n: 1 }); }
 * ```
 */
export interface EventRouteInput<TParams, TQuery, THeaders, TBody, E extends EventMap>
  extends RouteInput<TParams, TQuery, THeaders, TBody> {
  readonly lastEventId: string | undefined;
  sse(options?: EventStreamOptions): TypedEventStream<E>;
}

/**
 * What every route definition has, streaming or not: see {@link defineRoute}. The body settings
 * (`bodyLimit`, `bodyFieldLimit`, `bodyFileLimit`, `uploads`) are those of {@link RouteOptions}.
 */
export interface RouteBase<P extends string, TParams, TQuery, THeaders, TBody> extends RouteOptions {
  readonly method: RouteMethod;
  /** GoFrame syntax: `/user/{id}`, `/files/*path`. */
  readonly path: P;
  readonly tags?: readonly string[];
  readonly summary?: string;
  readonly description?: string;
  readonly operationId?: string;
  readonly deprecated?: boolean;
  readonly params?: TParams;
  readonly query?: TQuery;
  /** Header names in lower case, as Node gives them. */
  readonly headers?: THeaders;
  /** The parsed body (JSON, form or text) a request must carry. */
  readonly body?: TBody;
}

/** A JSON route's definition: see {@link defineRoute}. */
export interface JsonRouteConfig<
  P extends string,
  TParams extends Schema | undefined,
  TQuery extends Schema | undefined,
  THeaders extends Schema | undefined,
  TBody extends Schema | undefined,
  TResponse extends Schema | undefined,
> extends RouteBase<P, TParams, TQuery, THeaders, TBody> {
  /** The schema of what the handler returns; what is sent is the schema's output. */
  readonly response?: TResponse;
  readonly events?: undefined;
  /** Check what the handler returns against `response`; a failure is a 500. Default: on unless NODE_ENV=production. */
  readonly validateResponse?: boolean;
  readonly handler: (
    input: HandlerInput<P, TParams, TQuery, THeaders, TBody>,
    r: Request,
  ) => [TResponse] extends [Schema] ? MaybePromise<InputOf<TResponse>> : unknown;
}

/** A streaming route's definition: see {@link defineRoute}. */
export interface EventRouteConfig<
  P extends string,
  TParams extends Schema | undefined,
  TQuery extends Schema | undefined,
  THeaders extends Schema | undefined,
  TBody extends Schema | undefined,
  TEvents extends EventMap,
> extends RouteBase<P, TParams, TQuery, THeaders, TBody> {
  /** Event name → schema of its data. The route answers `text/event-stream`. */
  readonly events: TEvents;
  readonly response?: undefined;
  /** Whether a client may resume with `Last-Event-ID` (documented in OpenAPI). */
  readonly resumable?: boolean;
  /** Check each event against its schema before it is framed. Default: on unless NODE_ENV=production. */
  readonly validateEvents?: boolean;
  readonly handler: (
    input: EventRouteInput<
      OutputOr<TParams, PathParams<P>>,
      OutputOr<TQuery, Record<string, unknown>>,
      OutputOr<THeaders, IncomingHttpHeaders>,
      OutputOr<TBody, unknown>,
      TEvents
    >,
    r: Request,
  ) => AsyncIterable<EventItem<TEvents>> | Iterable<EventItem<TEvents>> | MaybePromise<void>;
}

/**
 * What a byte-stream route sends: newline-delimited JSON items of a schema (`application/x-ndjson`,
 * each item checked before it is written), or plain text (`text/plain`, strings or bytes).
 *
 * @example
 * ```ts
 * const rows: StreamDeclaration = { ndjson: z.object({ id: z.number() }) };
 * const log: StreamDeclaration = { text: true };
 * ```
 */
export type StreamDeclaration =
  | { readonly ndjson: Schema; readonly text?: undefined }
  | { readonly text: true; readonly ndjson?: undefined };

/** What a stream route's handler yields: items of the NDJSON schema, or text (strings or bytes). */
export type StreamItem<S extends StreamDeclaration> = S extends { readonly ndjson: infer I }
  ? InputOf<I>
  : string | Uint8Array;

/** A streaming route that is not SSE (NDJSON or text): see {@link defineRoute}. */
export interface StreamRouteConfig<
  P extends string,
  TParams extends Schema | undefined,
  TQuery extends Schema | undefined,
  THeaders extends Schema | undefined,
  TBody extends Schema | undefined,
  TStream extends StreamDeclaration,
> extends RouteBase<P, TParams, TQuery, THeaders, TBody> {
  /** `{ ndjson: ItemSchema }` or `{ text: true }`. The handler returns (or is) an iterable of items. */
  readonly stream: TStream;
  readonly events?: undefined;
  readonly response?: undefined;
  /** Check each NDJSON item against its schema before it is written. Default: on unless NODE_ENV=production. */
  readonly validateEvents?: boolean;
  readonly handler: (
    input: HandlerInput<P, TParams, TQuery, THeaders, TBody>,
    r: Request,
  ) => MaybePromise<AsyncIterable<StreamItem<TStream>> | Iterable<StreamItem<TStream>>>;
}

/** Any kind of definition, as sluice reads it at runtime (and `sluice/openapi` describes it). */
export interface RouteConfig
  extends RouteBase<string, Schema | undefined, Schema | undefined, Schema | undefined, Schema | undefined> {
  readonly response?: Schema | undefined;
  readonly events?: EventMap | undefined;
  readonly stream?: StreamDeclaration | undefined;
  readonly resumable?: boolean;
  readonly validateResponse?: boolean;
  readonly validateEvents?: boolean;
  readonly handler: (input: never, r: Request) => unknown;
}

/**
 * A route made by {@link defineRoute}: its configuration (schemas included, for `sluice/openapi`
 * and for the types) and what `g.bind()` needs to bind it.
 */
export type RouteDefinition<C> = C & BindableRoute;

/**
 * The events a streaming route's client receives, from its definition: the type hook for the
 * typed client (`sluice/client`).
 *
 * @example
 * ```ts
 * type TickerEvents = RouteEvents<typeof ticker>; // { event: 'tick'; data: { n: number } } | ...
 * ```
 */
export type RouteEvents<R> = R extends { readonly events?: infer E }
  ? [NonNullable<E>] extends [EventMap]
    ? ReceivedEvent<NonNullable<E>>
    : never
  : never;

/**
 * What a JSON route answers, from its definition (the `response` schema's output).
 *
 * @example
 * ```ts
 * type User = RouteResponse<typeof getUser>; // { id: number; name: string }
 * ```
 */
export type RouteResponse<R> = R extends { readonly response?: infer S }
  ? OutputOr<NonNullable<S>, unknown>
  : unknown;

/**
 * What a client sends to a route, from its definition (each schema's input type).
 *
 * @example
 * ```ts
 * type Req = RouteRequest<typeof createUser>; // { params: ...; query: ...; body: { name: string } }
 * ```
 */
export type RouteRequest<R> =
  R extends RouteBase<infer P, infer TParams, infer TQuery, infer THeaders, infer TBody>
    ? {
        params: [TParams] extends [Schema] ? InputOf<TParams> : PathParams<P>;
        query: [TQuery] extends [Schema] ? InputOf<TQuery> : Record<string, unknown>;
        headers: [THeaders] extends [Schema] ? InputOf<THeaders> : Record<string, string>;
        body: [TBody] extends [Schema] ? InputOf<TBody> : undefined;
      }
    : never;
