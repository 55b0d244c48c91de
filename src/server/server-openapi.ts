import { InvalidArgumentError } from '../errors.ts';
import type { OpenApiOptions } from '../openapi/openapi-document.ts';
import type { Handler } from '../request/request-middleware.ts';
import { type RouteGroup, undocumented } from '../router/router.ts';

/*
 * `s.setOpenApiPath()` and `s.setSwaggerPath()`, GoFrame's names for serving an API's description.
 * `sluice/openapi` is optional, so the core never imports it statically: these bind routes whose
 * handler imports the module on its first request (one `import()` per server, then a plain call),
 * and an app that never sets the paths never loads it.
 */

/**
 * Options of `s.setOpenApiPath()`: those of `openApiDocument` (`version` '3.1' by default, '3.2'
 * for event streams with `itemSchema`; `info`, `servers`, `envelope`, `untyped`).
 *
 * @example
 * ```ts
 * s.setOpenApiPath('/api.json', { version: '3.2', info: { title: 'Shop', version: '1.0.0' } });
 * ```
 */
export type OpenApiPathOptions = OpenApiOptions;

/** The document path each server serves, for its docs page to fetch (whichever is set first). */
const documentPaths = new WeakMap<RouteGroup, string>();

function assertPath(argument: string, path: unknown, example: string): asserts path is string {
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
    throw new InvalidArgumentError(argument, `must be a path starting with "/", such as "${example}"`, path);
  }
}

/** Loads `sluice/openapi` once, on first use. */
let loaded: Promise<typeof import('../openapi/openapi-serve.ts')> | undefined;
function openApiModule(): Promise<typeof import('../openapi/openapi-serve.ts')> {
  loaded ??= import('../openapi/openapi-serve.ts');
  return loaded;
}

/** Binds `path` to a handler made by `make` from `sluice/openapi`, made once on the first request. */
function bindLazily(
  s: RouteGroup,
  path: string,
  make: (m: Awaited<ReturnType<typeof openApiModule>>) => Handler,
): void {
  let handler: Handler | undefined;
  s.router.add(
    `GET:${path}`,
    async (r) => {
      handler ??= make(await openApiModule());
      return handler(r);
    },
    s.ancestry,
    s.prefix,
    undocumented,
  );
}

/** @internal What `s.setOpenApiPath()` does. */
export function bindOpenApiPath(s: RouteGroup, path: string, options: OpenApiPathOptions = {}): void {
  assertPath('path', path, '/api.json');
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'must be an object such as { version: "3.2" }', options);
  }
  const version = options.version ?? '3.1';
  if (version !== '3.1' && version !== '3.2') {
    throw new InvalidArgumentError('options.version', 'must be "3.1" or "3.2"', version);
  }
  if (documentPaths.has(s)) {
    throw new InvalidArgumentError(
      'path',
      `the OpenAPI document is already served at ${documentPaths.get(s)}`,
      path,
    );
  }
  bindLazily(s, path, (m) => m.documentHandler(s, { ...options, version }));
  documentPaths.set(s, path);
}

/** @internal What `s.setSwaggerPath()` does. */
export function bindSwaggerPath(s: RouteGroup, path: string): void {
  assertPath('path', path, '/swagger');
  bindLazily(s, path, (m) => {
    const spec = documentPaths.get(s);
    // Known only at the first request, so the two setters may come in either order.
    if (spec === undefined) {
      throw new InvalidArgumentError(
        'setSwaggerPath',
        'the docs page needs a document: call s.setOpenApiPath() too',
      );
    }
    return m.docsPageHandler(spec);
  });
}
