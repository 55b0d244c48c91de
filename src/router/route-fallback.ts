/**
 * The chains of requests that match no route but fall under a group's prefix.
 *
 * A 404 or 405 under `/api` belongs to the API: its envelope middleware should
 * wrap it, its CORS middleware should answer it, its guard should refuse it
 * before saying which paths exist. So such a miss runs the middleware of the
 * deepest group whose prefix covers the path (with that group's ancestors'),
 * then the not-found terminal. The chains are composed at registration, as
 * route chains are; a miss costs one radix-tree lookup over the prefixes,
 * O(path depth), and nothing at all while no group has middleware.
 */
import FindMyWay from 'find-my-way';
import type { Handler } from '../request/request-middleware.ts';
import { parsePattern } from './route-pattern.ts';

/** What a group must offer to get a fallback chain (`RouteGroup` does; kept narrow to avoid a cycle). */
export interface FallbackGroup {
  /** The full prefix, in GoFrame syntax (`/api`, `/user/{id}`); `''` for the server itself. */
  readonly prefix: string;
  /** The group and its parents, outermost first, each with its middleware. */
  readonly ancestry: readonly { readonly middlewares: readonly Handler[] }[];
}

interface Entry {
  readonly group: FallbackGroup;
  /** Global middleware + the ancestry's middleware + the terminal; unset when the ancestry has none. */
  chain: readonly Handler[] | undefined;
}

/**
 * @internal The prefix table of one router. The first group registered under a prefix speaks for
 * it: two `s.group('/api', ...)` blocks share a prefix, and a miss can run only one of their
 * middleware lists without guessing which routes it "would have" matched.
 *
 * @example
 * ```ts
 * const fallbacks = new GroupFallbacks();
 * fallbacks.add(apiGroup);
 * fallbacks.compose(globalMiddleware, notFound);
 * fallbacks.find('/api/nope'); // [...globalMiddleware, ...apiGroup middleware, notFound]
 * ```
 */
export class GroupFallbacks {
  private readonly table = FindMyWay({ ignoreTrailingSlash: true, maxParamLength: 500, onBadUrl: noop });
  private readonly entries: Entry[] = [];
  private readonly paths = new Set<string>();
  /** Whether any group's chain has middleware; while none has, a miss skips the lookup. */
  private any = false;

  /** Registers a group's prefix (the root, a wildcard prefix or a repeated prefix is skipped). */
  add(group: FallbackGroup): void {
    if (group.prefix === '') return;
    let path: string;
    try {
      path = parsePattern(group.prefix).path;
    } catch {
      // A prefix the route syntax refuses fails when a route is bound under it, with the reason.
      return;
    }
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    if (path.includes('*') || this.paths.has(path)) return;
    const entry: Entry = { group, chain: undefined };
    try {
      this.table.on('GET', path, noop, entry);
    } catch {
      return;
    }
    try {
      this.table.on('GET', `${path}/*`, noop, entry);
    } catch {
      // find-my-way refuses some layouts (two parameter names at one place): that group's misses
      // then take an enclosing group's chain, which is still better than none.
      this.table.off('GET', path);
      return;
    }
    this.paths.add(path);
    this.entries.push(entry);
  }

  /** Composes every group's chain again: called whenever middleware is added anywhere. */
  compose(global: readonly Handler[], terminal: Handler): void {
    let any = false;
    for (const entry of this.entries) {
      const own: Handler[] = [];
      for (const g of entry.group.ancestry) own.push(...g.middlewares);
      entry.chain = own.length === 0 ? undefined : [...global, ...own, terminal];
      if (own.length > 0) any = true;
    }
    this.any = any;
  }

  /** The chain for a miss at `url`, or `undefined` when no group with middleware covers it. */
  find(url: string): readonly Handler[] | undefined {
    if (!this.any) return undefined;
    const found = this.table.find('GET', url);
    if (found === null) return undefined;
    return (found.store as Entry | null)?.chain;
  }
}

function noop(): void {}
