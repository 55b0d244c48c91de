import {
  InvalidArgumentError,
  type Problem,
  RequestValidationError,
  ResponseValidationError,
} from '../errors.ts';
import type { Request } from '../request/request.ts';
import { pickRouteOptions } from '../request/request-body-options.ts';
import type { Handler } from '../request/request-middleware.ts';
import { routeBinding } from '../router/router.ts';
import type { EventStreamOptions } from '../sse/event-stream.ts';
import type {
  EventMap,
  EventRouteConfig,
  EventRouteInput,
  JsonRouteConfig,
  RouteConfig,
  RouteDefinition,
  RouteMethod,
  Schema,
  StreamDeclaration,
  StreamRouteConfig,
  TypedEventStream,
} from './route-types.ts';
import { assertSchema, type Checked, check } from './standard-schema.ts';
import { CompiledEvents, TypedEvents } from './typed-events.ts';
import { CompiledStream } from './typed-stream.ts';

const METHODS: readonly RouteMethod[] = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];

/** Output checks cost a validation per response: on while developing, off in production unless asked. */
const CHECK_OUTPUT_BY_DEFAULT = process.env.NODE_ENV !== 'production';

/**
 * Defines a typed route: method, GoFrame path, OpenAPI words (tags, summary, description) and a
 * Standard Schema (zod 4, valibot, arktype...) for each input place, the response, or the events
 * of a streaming route. The handler receives the parsed, typed input and the request:
 * `(input, r) => ...`. Bind it with `s.bind({ route })` or a whole controller with `g.bind(users)`.
 *
 * Per request: params, query, headers and body are checked (all problems gathered, then one 400
 * {@link RequestValidationError}); what the handler returns is checked against `response` (a
 * failure is a 500 {@link ResponseValidationError}, never a wrong answer) and the schema's output
 * is sent, so fields the schema does not know are not leaked. A streaming route (`events`) answers
 * `text/event-stream`: its handler yields `{ event, data, id? }` items, or sends them through
 * `input.sse()`, and each event is checked before it is framed; an invalid one ends the stream
 * with `event: error` instead of being sent.
 *
 * Everything is compiled here, once: the handler bound is one closure over the checked schemas.
 * The body settings of {@link RouteOptions} (`bodyLimit`, `bodyFieldLimit`, `bodyFileLimit`,
 * `uploads`) apply to this route as `s.post(path, handler, options)` would apply them.
 *
 * @example
 * ```ts
 * const getUser = defineRoute({
 *   method: 'GET', path: '/user/{id}', tags: ['users'], summary: 'One user',
 *   params: z.object({ id: z.coerce.number().int() }),
 *   response: z.object({ id: z.number(), name: z.string() }),
 *   handler: ({ params }) => ({ id: params.id, name: 'Ann' }),
 * });
 * const ticker = defineRoute({
 *   method: 'GET', path: '/ticker', events: { tick: z.object({ n: z.number() }) },
 *   async *handler() { for (let n = 0; n < 3; n++) yield { event: 'tick', data: { n } }; },
 * });
 * const upload = defineRoute({
 *   method: 'POST', path: '/upload', bodyLimit: 100 * 2 ** 20, uploads: { storage: 'disk' },
 *   handler: async (_input, r) => ({ saved: await r.getFiles()[0]?.save('/srv/uploads') }),
 * });
 * s.bind({ getUser, ticker, upload });
 * ```
 */
export function defineRoute<
  const P extends string,
  TEvents extends EventMap,
  TParams extends Schema | undefined = undefined,
  TQuery extends Schema | undefined = undefined,
  THeaders extends Schema | undefined = undefined,
  TBody extends Schema | undefined = undefined,
>(
  config: EventRouteConfig<P, TParams, TQuery, THeaders, TBody, TEvents>,
): RouteDefinition<EventRouteConfig<P, TParams, TQuery, THeaders, TBody, TEvents>>;
export function defineRoute<
  const P extends string,
  TParams extends Schema | undefined = undefined,
  TQuery extends Schema | undefined = undefined,
  THeaders extends Schema | undefined = undefined,
  TBody extends Schema | undefined = undefined,
  TResponse extends Schema | undefined = undefined,
>(
  config: JsonRouteConfig<P, TParams, TQuery, THeaders, TBody, TResponse>,
): RouteDefinition<JsonRouteConfig<P, TParams, TQuery, THeaders, TBody, TResponse>>;
export function defineRoute<
  const P extends string,
  TStream extends StreamDeclaration,
  TParams extends Schema | undefined = undefined,
  TQuery extends Schema | undefined = undefined,
  THeaders extends Schema | undefined = undefined,
  TBody extends Schema | undefined = undefined,
>(
  config: StreamRouteConfig<P, TParams, TQuery, THeaders, TBody, TStream>,
): RouteDefinition<StreamRouteConfig<P, TParams, TQuery, THeaders, TBody, TStream>>;
export function defineRoute(config: RouteConfig): RouteDefinition<RouteConfig> {
  if (typeof config !== 'object' || config === null) {
    throw new InvalidArgumentError('config', 'must be an object { method, path, handler, ... }', config);
  }
  if (!METHODS.includes(config.method)) {
    throw new InvalidArgumentError('method', `must be one of ${METHODS.join(', ')}`, config.method);
  }
  if (typeof config.path !== 'string' || !config.path.startsWith('/')) {
    throw new InvalidArgumentError(
      'path',
      'must be a string starting with "/", such as "/user/{id}"',
      config.path,
    );
  }
  if (typeof config.handler !== 'function') {
    throw new InvalidArgumentError('handler', 'must be a function (input, r) => ...', config.handler);
  }
  for (const place of ['params', 'query', 'headers', 'body', 'response'] as const) {
    assertSchema(place, config[place]);
  }
  if (config.events !== undefined) assertEvents(config.events, config.response);
  // Checked here, where the mistake is written, as `s.post(path, h, options)` checks its own.
  const options = pickRouteOptions(config);
  if (config.stream !== undefined) assertStream(config.stream, config);
  const compiled = new CompiledRoute(config);
  const handler: Handler = (r) => compiled.run(r);
  const definition = {
    ...config,
    [routeBinding]: { pattern: `${config.method}:${config.path}`, handler, meta: config, options },
  };
  return Object.freeze(definition);
}

/** A stream declaration is one of two shapes, and excludes the other kinds of answer. */
function assertStream(stream: unknown, config: RouteConfig): void {
  const s = stream as { ndjson?: unknown; text?: unknown } | null;
  const ok = typeof s === 'object' && s !== null && (s.ndjson !== undefined) !== (s.text === true);
  if (!ok)
    throw new InvalidArgumentError('stream', 'must be { ndjson: ItemSchema } or { text: true }', stream);
  if (s.ndjson !== undefined) assertSchema('stream.ndjson', s.ndjson);
  if (config.events !== undefined || config.response !== undefined) {
    throw new InvalidArgumentError('stream', 'a route answers a stream, events or a response: one of them');
  }
}

/** @internal An event map is checked whole at definition, so a typo fails at startup, not on the first event. */
export function assertEvents(events: unknown, response: unknown): void {
  if (typeof events !== 'object' || events === null || Object.keys(events).length === 0) {
    throw new InvalidArgumentError(
      'events',
      'must be an object of event name → schema, with at least one event',
      events,
    );
  }
  if (response !== undefined) {
    throw new InvalidArgumentError('events', 'a route answers either events or a response, not both');
  }
  for (const [name, schema] of Object.entries(events)) {
    // The names the SSE framing refuses, refused here where the mistake is.
    if (name === '' || /[\r\n\0]/.test(name)) {
      throw new InvalidArgumentError('events', 'event names must be non-empty, without CR, LF or NUL', name);
    }
    assertSchema(`events.${name}`, schema);
  }
}

/** The route's checks, built once at definition; `run` is what every request of the route goes through. */
class CompiledRoute {
  /** The input places that have a schema, in the order their problems are listed. */
  private readonly places: { readonly name: Place; readonly schema: Schema }[] = [];
  private readonly response: Schema | undefined;
  private readonly events: CompiledEvents | undefined;
  private readonly stream: CompiledStream | undefined;
  private readonly userHandler: (input: never, r: Request) => unknown;

  constructor(config: RouteConfig) {
    for (const name of ['params', 'query', 'headers', 'body'] as const) {
      const schema = config[name];
      if (schema !== undefined) this.places.push({ name, schema });
    }
    this.response = (config.validateResponse ?? CHECK_OUTPUT_BY_DEFAULT) ? config.response : undefined;
    this.events =
      config.events === undefined
        ? undefined
        : new CompiledEvents(config.events, config.validateEvents ?? CHECK_OUTPUT_BY_DEFAULT);
    this.stream =
      config.stream === undefined
        ? undefined
        : new CompiledStream(config.stream, config.validateEvents ?? CHECK_OUTPUT_BY_DEFAULT);
    this.userHandler = config.handler as (input: never, r: Request) => unknown;
  }

  /**
   * One request. Synchronous all the way when the schemas and the handler are (the usual case):
   * a promise is made only where something is really asynchronous, so a validated route costs
   * the checks themselves and little else.
   */
  run(r: Request): unknown {
    const input = new RouteInputValues(r, this.events);
    if (this.places.length > 0) {
      const pending = this.readInput(r, input);
      if (pending !== undefined) return pending.then(() => this.answer(r, input));
    }
    return this.answer(r, input);
  }

  private answer(r: Request, input: RouteInputValues): unknown {
    const out = this.userHandler(input as never, r);
    if (out instanceof Promise) return out.then((result) => this.finish(r, result));
    return this.finish(r, out);
  }

  private finish(r: Request, result: unknown): unknown {
    if (this.events !== undefined) return this.events.wrapReturned(result);
    if (this.stream !== undefined) return this.stream.wrapReturned(result);
    // A handler that wrote its answer itself returned nothing: only returned values are checked.
    if (this.response === undefined || result === undefined) return result;
    const checked = check(this.response, result, 'response');
    if (checked instanceof Promise) return checked.then((c) => responseOf(r, c));
    return responseOf(r, checked);
  }

  /**
   * Checks every place with a schema, gathering all problems before refusing, so one 400 lists
   * them all. Throws at once when every check was synchronous; else returns what to wait for.
   */
  private readInput(r: Request, input: RouteInputValues): Promise<void> | undefined {
    const problems: Problem[] = [];
    let pending: Promise<void>[] | undefined;
    for (const place of this.places) {
      const checked = check(place.schema, valueAt(r, place.name), place.name);
      if (checked instanceof Promise) {
        pending ??= [];
        pending.push(checked.then((c) => setAt(input, place.name, take(c, problems))));
      } else setAt(input, place.name, take(checked, problems));
    }
    if (pending === undefined) {
      if (problems.length > 0) throw new RequestValidationError(problems);
      return undefined;
    }
    return Promise.all(pending).then(() => {
      if (problems.length > 0) throw new RequestValidationError(problems);
    });
  }
}

type Place = 'params' | 'query' | 'headers' | 'body';

function valueAt(r: Request, place: Place): unknown {
  switch (place) {
    case 'params':
      return r.params;
    case 'query':
      return r.getQuery();
    case 'headers':
      return r.headers;
    case 'body':
      return r.getBody();
  }
}

function setAt(input: RouteInputValues, place: Place, value: unknown): void {
  if (place === 'headers') input.checkedHeaders = value;
  else input[place] = value;
}

function responseOf(r: Request, checked: Checked): unknown {
  if (!checked.ok) throw new ResponseValidationError(`${r.method} ${r.path}: the response`, checked.problems);
  return checked.value;
}

/**
 * Problems listed in one 400 at most. A body of ten thousand bad array items would otherwise be
 * answered with ten thousand problems: the client learns as much from the first ones.
 */
const MAX_PROBLEMS = 50;

function take(checked: Checked, problems: Problem[]): unknown {
  if (checked.ok) return checked.value;
  for (const p of checked.problems) {
    if (problems.length >= MAX_PROBLEMS) break;
    problems.push(p);
  }
  return undefined;
}

/**
 * The input object a handler receives. One class with every field set in the constructor, so
 * all routes' inputs share a shape; `sse()` and `lastEventId` live on the prototype.
 */
class RouteInputValues implements EventRouteInput<unknown, unknown, unknown, unknown, EventMap> {
  params: unknown;
  query: unknown;
  body: unknown;
  /** Set when a headers schema ran; else `headers` is Node's object, which is built only when read. */
  checkedHeaders: unknown = undefined;
  private readonly request: Request;
  private readonly events: CompiledEvents | undefined;

  constructor(r: Request, events: CompiledEvents | undefined) {
    this.request = r;
    this.events = events;
    this.params = r.params;
    this.query = r.getQuery();
    this.body = r.getBody();
  }

  get headers(): unknown {
    return this.checkedHeaders ?? this.request.headers;
  }

  get lastEventId(): string | undefined {
    const es = this.request.response.eventStream;
    if (es !== undefined) return es.lastEventId;
    const header = this.request.headers['last-event-id'];
    return typeof header === 'string' ? header : undefined;
  }

  sse(options?: EventStreamOptions): TypedEventStream<EventMap> {
    if (this.events === undefined) {
      throw new InvalidArgumentError(
        'sse',
        'is for routes that declare events: add events: { name: schema }',
      );
    }
    return new TypedEvents(this.request, this.request.response.sse(options), this.events);
  }
}

/** @internal Whether a route's `meta` is a route definition's configuration (for `sluice/openapi`). */
export function isRouteConfig(meta: unknown): meta is RouteConfig {
  return (
    typeof meta === 'object' &&
    meta !== null &&
    typeof (meta as { handler?: unknown }).handler === 'function' &&
    'method' in meta &&
    'path' in meta
  );
}

export type { RouteDefinition };
