import FindMyWay from 'find-my-way';
import { InvalidArgumentError } from '../errors.ts';
import { readBodyStep } from '../request/request-body.ts';
import { checkRouteOptions, mergeRouteOptions, type RouteOptions } from '../request/request-body-options.ts';
import type { Handler } from '../request/request-middleware.ts';
import { GroupFallbacks } from './route-fallback.ts';
import { joinPaths, METHODS, type Method, type ParsedPattern, parsePattern } from './route-pattern.ts';

/** No params, no query: shared by every match without them. No prototype, as find-my-way's own. */
const NONE: Record<string, never> = Object.freeze(Object.create(null));

/** What the route table stores for one bound route. */
export interface Route {
  readonly pattern: string;
  readonly handler: Handler;
  /** The middleware of the groups the route was bound in, outermost first. */
  readonly groups: readonly RouteGroup[];
  readonly wildcardName: string | undefined;
  /** Global middleware + group middleware + handler, composed once (again only when middleware is added). */
  chain: readonly Handler[];
  /**
   * The same with the body read between the global and the group middleware, for requests that
   * carry a body sluice parses. Two chains rather than a step that checks: a request without a
   * body, the common case, then costs no extra step at all.
   */
  bodyChain: readonly Handler[];
  /** The methods it was bound for, as written (`ALL` expanded; not the HEAD a GET answers too). */
  readonly methods: readonly string[];
  /**
   * @internal The names find-my-way gives this route's params (`*` for a wildcard), learnt from
   * its first match: find-my-way makes every params object of a route with the same keys, so a
   * match checks them by name rather than enumerating the object with `for...in`.
   */
  paramNames: readonly string[] | undefined;
  /** What a {@link BindableRoute} carried (sluice/schema's definition), for `sluice/openapi` to walk. */
  readonly meta: unknown;
  /**
   * The body settings of the route and its groups, merged at registration (innermost wins);
   * `undefined` when none has any, and the server's settings apply as they are at request time.
   */
  readonly bodyOptions: RouteOptions | undefined;
}

/**
 * The key under which a route definition tells {@link RouteGroup.bind} how to bind it. The core
 * only knows this shape; `defineRoute` in `sluice/schema` makes such objects, and nothing in the
 * core imports that module.
 */
export const routeBinding: unique symbol = Symbol('sluice.routeBinding');

/**
 * @internal The `meta` of routes that serve an API's description (the OpenAPI document, its docs
 * page): `sluice/openapi` leaves them out of the document. Here, so the core can bind such routes
 * (`s.setOpenApiPath`) without importing that module.
 */
export const undocumented: unique symbol = Symbol('sluice.undocumented');

/**
 * What `g.bind(controller)` binds: an object with a `routeBinding` entry, as made by
 * `defineRoute` in `sluice/schema`.
 *
 * @example
 * ```ts
 * const ping: BindableRoute = { [routeBinding]: { pattern: 'GET:/ping', handler: () => 'pong' } };
 * s.bind({ ping });
 * ```
 */
export interface BindableRoute {
  readonly [routeBinding]: {
    readonly pattern: string;
    readonly handler: Handler;
    readonly meta?: unknown;
    /** Body settings of this route, checked (see `RouteOptions`). */
    readonly options?: RouteOptions | undefined;
  };
}

/** A match: the route, its decoded path params and the parsed query. */
export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
  query: Record<string, unknown>;
}

/** The outcome of a lookup that did not find a route. */
export type RouteMiss =
  | { kind: 'not-found' }
  | { kind: 'method-not-allowed'; allow: string }
  | { kind: 'bad-url' };

/**
 * The route table, on find-my-way (a radix tree proven in Fastify). GoFrame
 * pattern syntax is translated at registration; lookups are find-my-way's.
 */
export class Router {
  private readonly fmw = FindMyWay({
    ignoreTrailingSlash: true,
    maxParamLength: 500,
    onBadUrl: () => {},
  });
  private readonly routes: Route[] = [];
  /** method + path already bound, to give a clear error instead of find-my-way's. */
  private readonly bound = new Set<string>();
  /** Paths whose HEAD route was added for a GET route, so an explicit HEAD may replace it. */
  private readonly implicitHead = new Set<string>();
  private globalMiddleware: Handler[] = [];
  /** The chains of misses under a group's prefix; see {@link GroupFallbacks}. */
  private readonly fallbacks = new GroupFallbacks();
  /** What answers a miss: the server's not-found handler. */
  private readonly terminal: Handler;
  /**
   * @internal Set for the named singleton `server()` returns, so a second binding can say why a
   * route is already there: the same server came back, routes and all.
   */
  shared = false;

  constructor(terminal: Handler = noop) {
    this.terminal = terminal;
  }

  /** Binds a handler; `groups` carries the middleware and body settings of enclosing groups. */
  add(
    pattern: string,
    handler: Handler,
    groups: readonly RouteGroup[] = [],
    prefix = '',
    meta: unknown = undefined,
    options: RouteOptions | undefined = undefined,
  ): void {
    if (typeof handler !== 'function') {
      throw new InvalidArgumentError('handler', 'must be a function (r) => ...', handler);
    }
    const parsed = parsePattern(pattern, prefix);
    const route: Route = {
      pattern: parsed.path,
      handler,
      groups,
      wildcardName: parsed.wildcardName,
      chain: [],
      bodyChain: [],
      methods: parsed.methods,
      paramNames: undefined,
      meta,
      bodyOptions: mergeRouteOptions([...groups.map((g) => g.bodyOptions), options]),
    };
    this.composeInto(route);
    const methods: Method[] = [...parsed.methods];
    // Every conflict is found before anything is registered, so a refused call leaves the table as it was.
    this.assertFree(parsed, pattern);
    const shape = shapeOf(parsed.path);
    for (const m of methods) {
      if (m === 'HEAD' && this.implicitHead.delete(parsed.path)) this.fmw.off('HEAD', parsed.path);
      this.bound.add(`${m} ${shape}`);
      this.fmw.on(m, parsed.path, noop, route);
    }
    // GET routes answer HEAD too (headers, no body), as HTTP expects.
    if (methods.includes('GET') && !methods.includes('HEAD') && !this.bound.has(`HEAD ${shape}`)) {
      this.bound.add(`HEAD ${shape}`);
      this.implicitHead.add(parsed.path);
      this.fmw.on('HEAD', parsed.path, noop, route);
    }
    this.routes.push(route);
  }

  /**
   * Checks that every pattern of a batch (a controller's routes) can be bound, against the table
   * and against each other, before one is: a clash throws and leaves the table as it was, never
   * half a controller bound.
   */
  assertBatch(patterns: readonly string[], prefix: string): void {
    const batch = new Map<string, string>();
    for (const pattern of patterns) {
      const parsed = parsePattern(pattern, prefix);
      this.assertFree(parsed, pattern);
      for (const m of parsed.methods) {
        const key = `${m} ${shapeOf(parsed.path)}`;
        const other = batch.get(key);
        if (other !== undefined) {
          throw new InvalidArgumentError(
            'controller',
            `two of its routes would both answer ${m} ${parsed.path} ("${other}" and "${pattern}")`,
            pattern,
          );
        }
        batch.set(key, pattern);
      }
    }
  }

  /** Throws when a method of the pattern is already bound to a route of the same shape. */
  private assertFree(parsed: ParsedPattern, pattern: string): void {
    const shape = shapeOf(parsed.path);
    for (const m of parsed.methods) {
      if (!this.bound.has(`${m} ${shape}`)) continue;
      // An explicit HEAD wins over the implicit one that a GET route registered.
      if (m === 'HEAD' && this.implicitHead.has(parsed.path)) continue;
      throw new InvalidArgumentError(
        'pattern',
        `a route for ${m} ${parsed.path} is already bound${this.shared ? SHARED_HINT : ''}`,
        pattern,
      );
    }
  }

  /** The bound routes in the order they were bound, for `sluice/openapi` to describe. */
  list(): readonly Route[] {
    return this.routes;
  }

  /** Appends global middleware and recomposes every route's chain. */
  addGlobalMiddleware(middleware: readonly Handler[]): void {
    this.globalMiddleware.push(...middleware);
    this.recompose();
  }

  /** Recomposes every chain; called when middleware is added after routes were bound. */
  recompose(): void {
    for (const route of this.routes) this.composeInto(route);
    this.fallbacks.compose(this.globalMiddleware, this.terminal);
  }

  /** Registers a group, so a miss under its prefix runs its middleware (see {@link GroupFallbacks}). */
  addGroup(group: RouteGroup): void {
    this.fallbacks.add(group);
    this.fallbacks.compose(this.globalMiddleware, this.terminal);
  }

  /** The chain of a request that matched no route: its group's, or `undefined` for the server's own. */
  missChain(url: string): readonly Handler[] | undefined {
    return this.fallbacks.find(url);
  }

  /** The chain for requests that match no route, so global middleware (CORS, logs) still sees them. */
  fallbackChain(terminal: Handler): readonly Handler[] {
    return [...this.globalMiddleware, terminal];
  }

  /** Looks a request up. */
  find(method: string, url: string): RouteMatch | RouteMiss {
    const found = this.fmw.find(method as Method, url);
    if (found !== null) {
      const route = found.store as Route | null;
      if (route === null) return { kind: 'bad-url' };
      const params = found.params as Record<string, string>;
      route.paramNames ??= Object.keys(params);
      const names = route.paramNames;
      for (let i = 0; i < names.length; i++) {
        if (params[names[i] as string] === undefined) return { kind: 'bad-url' };
      }
      if (route.wildcardName !== undefined && route.wildcardName !== '*' && params['*'] !== undefined) {
        params[route.wildcardName] = params['*'];
      }
      // The request keeps both for its life, an idle stream's too: empty ones are shared, not kept.
      return {
        route,
        params: names.length > 0 ? params : NONE,
        query: url.indexOf('?') === -1 ? NONE : (found.searchParams as Record<string, unknown>),
      };
    }
    const allow: string[] = [];
    for (const m of METHODS) {
      if (m === method) continue;
      const other = this.fmw.find(m, url);
      if (other !== null) {
        if (other.store === null) return { kind: 'bad-url' };
        allow.push(m);
      }
    }
    if (allow.length > 0) return { kind: 'method-not-allowed', allow: allow.join(', ') };
    return { kind: 'not-found' };
  }

  private composeInto(route: Route): void {
    const rest: Handler[] = [];
    for (const g of route.groups) rest.push(...g.middlewares);
    rest.push(route.handler);
    route.chain = [...this.globalMiddleware, ...rest];
    // After the global middleware: a guard there refuses an upload before it is read, and the
    // access log times it. Before the group middleware: that and the handler find it parsed.
    route.bodyChain = [...this.globalMiddleware, readBodyStep, ...rest];
  }
}

function noop(): void {}

/**
 * A path as find-my-way tells routes apart: a param's name does not count (`/u/:id` and
 * `/u/:name` are one route to it, and it throws on the second), its pattern does, and a trailing
 * slash does not (`ignoreTrailingSlash`).
 */
function shapeOf(path: string): string {
  return path.replace(/\/:[A-Za-z0-9_]+/g, '/:').replace(/(.)\/$/, '$1');
}

const SHARED_HINT =
  '; server() returns the same named server on every call — use createServer() for a fresh one (tests, buildApp())';

/**
 * A group of routes under a common prefix with their own middleware, as
 * GoFrame's `s.Group`. Groups nest; a group's middleware runs after the
 * server's and its parent group's, before the handler.
 *
 * @example
 * ```ts
 * s.group('/api', (g) => {
 *   g.middleware(handlerResponse);
 *   g.bindHandler('GET:/user/{id}', (r) => ({ id: r.get('id') }));
 *   g.group('/admin', (admin) => admin.middleware(requireAdmin).bindHandler('/stats', stats));
 * });
 * ```
 */
export class RouteGroup {
  /** @internal */ readonly middlewares: Handler[] = [];
  /** @internal */ readonly router: Router;
  /** The full prefix of this group. */
  readonly prefix: string;
  /** @internal */ readonly ancestry: readonly RouteGroup[];
  /** @internal Body settings for every route of this group and its subgroups. */
  readonly bodyOptions: RouteOptions | undefined;

  constructor(
    router: Router,
    prefix: string,
    parents: readonly RouteGroup[],
    bodyOptions: RouteOptions | undefined = undefined,
  ) {
    this.router = router;
    this.prefix = prefix;
    this.ancestry = [...parents, this];
    this.bodyOptions = bodyOptions;
  }

  /** Adds middleware to every route of this group and its subgroups. */
  middleware(...middleware: Handler[]): this {
    assertMiddleware(middleware);
    this.middlewares.push(...middleware);
    this.router.recompose();
    return this;
  }

  /**
   * Binds a handler under the group's prefix; the pattern may start with `METHOD:`. `options`
   * sets this route's body limits and upload storage over its groups' and the server's (see
   * {@link RouteOptions}); they are checked here, so a typo fails at startup.
   *
   * @example
   * ```ts
   * s.bindHandler('POST:/upload', saveUpload, { bodyLimit: 100 * 2 ** 20, uploads: { storage: 'disk' } });
   * ```
   */
  bindHandler(pattern: string, handler: Handler, options?: RouteOptions): this {
    this.router.add(pattern, handler, this.ancestry, this.prefix, undefined, checkRouteOptions(options));
    return this;
  }

  /**
   * Binds every route definition found on a controller: an object, or a class instance, whose
   * properties are routes made by `defineRoute` (`sluice/schema`), as GoFrame's `group.Bind`.
   * Other properties (a database handle on a class) are skipped; a controller without a single
   * route is a mistake and throws. Each route's own path is bound under the group's prefix.
   *
   * @example
   * ```ts
   * const users = { list: defineRoute({ method: 'GET', path: '/users', handler: () => [] }) };
   * s.group('/api', (g) => g.bind(users)); // GET /api/users
   * ```
   */
  bind(controller: object): this {
    if (typeof controller !== 'object' || controller === null) {
      throw new InvalidArgumentError(
        'controller',
        'must be an object whose properties are routes from defineRoute()',
        controller,
      );
    }
    const found: BindableRoute[typeof routeBinding][] = [];
    for (const key of Object.keys(controller)) {
      const value = (controller as Record<string, unknown>)[key];
      if (typeof value === 'object' && value !== null && routeBinding in value) {
        found.push((value as BindableRoute)[routeBinding]);
      }
    }
    if (found.length === 0) {
      throw new InvalidArgumentError(
        'controller',
        'must have at least one property that is a route from defineRoute()',
        controller,
      );
    }
    // All or nothing: a clash found on the third route must not leave the first two bound.
    this.router.assertBatch(
      found.map((b) => b.pattern),
      this.prefix,
    );
    for (const b of found) {
      this.router.add(b.pattern, b.handler, this.ancestry, this.prefix, b.meta, b.options);
    }
    return this;
  }

  /** Binds a GET handler (HEAD is answered too); `options` as for {@link bindHandler}. */
  get(path: string, handler: Handler, options?: RouteOptions): this {
    return this.bindHandler(`GET:${path}`, handler, options);
  }

  /** Binds a POST handler; `options` as for {@link bindHandler}. */
  post(path: string, handler: Handler, options?: RouteOptions): this {
    return this.bindHandler(`POST:${path}`, handler, options);
  }

  /** Binds a PUT handler; `options` as for {@link bindHandler}. */
  put(path: string, handler: Handler, options?: RouteOptions): this {
    return this.bindHandler(`PUT:${path}`, handler, options);
  }

  /** Binds a DELETE handler; `options` as for {@link bindHandler}. */
  delete(path: string, handler: Handler, options?: RouteOptions): this {
    return this.bindHandler(`DELETE:${path}`, handler, options);
  }

  /** Binds a PATCH handler; `options` as for {@link bindHandler}. */
  patch(path: string, handler: Handler, options?: RouteOptions): this {
    return this.bindHandler(`PATCH:${path}`, handler, options);
  }

  /** Binds a handler for every method; `options` as for {@link bindHandler}. */
  all(path: string, handler: Handler, options?: RouteOptions): this {
    return this.bindHandler(`ALL:${path}`, handler, options);
  }

  /**
   * Opens a nested group under this one's prefix. `options` are body settings for every route
   * bound in it (see {@link RouteOptions}): a route's own options win, key by key.
   *
   * @example
   * ```ts
   * s.group('/uploads', (g) => {
   *   g.post('/photo', savePhoto);                          // 50 MiB, to disk
   *   g.post('/note', saveNote, { bodyLimit: 64 * 1024 }); // this one stays small
   * }, { bodyLimit: 50 * 2 ** 20, uploads: { storage: 'disk' } });
   * ```
   */
  group(prefix: string, fn: (g: RouteGroup) => void, options?: RouteOptions): this {
    if (typeof fn !== 'function') {
      throw new InvalidArgumentError('fn', 'must be a function (g) => { ... } that binds the routes', fn);
    }
    const child = new RouteGroup(
      this.router,
      joinPrefix(this.prefix, prefix),
      this.ancestry,
      checkRouteOptions(options),
    );
    this.router.addGroup(child);
    fn(child);
    return this;
  }
}

/** @internal */
export function joinPrefix(a: string, b: string): string {
  if (typeof b !== 'string') throw new InvalidArgumentError('prefix', 'must be a string such as "/api"', b);
  const joined = joinPaths(a, b === '' || b.startsWith('/') ? b : `/${b}`);
  // The root group's prefix is '', so a group at '/' is the root's twin, not a '/' that doubles slashes.
  return joined === '/' ? '' : joined;
}

/** @internal Checks middleware before it is added anywhere, so a bad one fails at registration. */
export function assertMiddleware(middleware: readonly unknown[]): void {
  for (const mw of middleware) {
    if (typeof mw !== 'function')
      throw new InvalidArgumentError('middleware', 'must be a function (r) => ...', mw);
  }
}
