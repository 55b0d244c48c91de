import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { HttpError, InvalidArgumentError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import type { Handler } from '../request/request-middleware.ts';
import {
  encodePath,
  loadSend,
  type OnDirectory,
  pipeFile,
  type ServeFileOptions,
  sendOptions,
} from '../response/response-file.ts';

/**
 * Options of {@link serveStatic}: those of `serveFile` (caching, ranges, dotfiles) and how a
 * directory is answered.
 *
 * @example
 * ```ts
 * s.get('/assets/*path', serveStatic('./public', { maxAge: '365d', immutable: true }));
 * ```
 */
export interface ServeStaticOptions extends Omit<ServeFileOptions, 'root'> {
  /** Files tried, in order, for a path ending in `/`; default `['index.html']`, `false` for none. */
  index?: string | readonly string[] | false;
  /** Extensions tried for a path without one (`['html']` serves `/about` from `about.html`). */
  extensions?: readonly string[];
  /**
   * The URL prefix the files live under, for the middleware form (`s.use(serveStatic(root,
   * { prefix: '/assets' }))`): other paths pass on, and the prefix is cut before the lookup.
   */
  prefix?: string;
}

/**
 * Serves the files under `root`, on the `send` package (conditional GET with 304, `Range` with
 * 206/416, MIME types, traversal refused with 403), streamed with backpressure.
 *
 * Two shapes, told apart by where the handler sits in the chain:
 * - as a route's handler, the file is the route's wildcard (`*path`) — or the whole path for a
 *   route without one — and a missing file is a 404 through the normal error path;
 * - as middleware (`s.use()`, a group's `middleware()`), the file is the request path (after
 *   `prefix`), and a miss, or a method other than GET and HEAD, passes on to the next handler.
 *
 * Dotfiles are refused (403) unless `dotfiles: 'allow'`. A directory without its trailing
 * slash is redirected (301) to it, where its index file is served; no directory is listed.
 *
 * @example
 * ```ts
 * s.get('/assets/*path', serveStatic('./public'));          // GET /assets/app.js -> ./public/app.js
 * s.use(serveStatic('./site', { extensions: ['html'] }));  // GET /about -> ./site/about.html, else routes
 * ```
 */
export function serveStatic(root: string, options?: ServeStaticOptions): Handler {
  if (typeof root !== 'string' || root.length === 0) {
    throw new InvalidArgumentError('root', 'must be a non-empty directory path', root);
  }
  const dir = resolve(root);
  // A typo in the root would otherwise show only as 404s for every file.
  if (!isDirectory(dir)) throw new InvalidArgumentError('root', 'must be an existing directory', root);
  const base = sendOptions(options, dir);
  const index = indexList(options?.index);
  const extensions = options?.extensions;
  if (extensions !== undefined && !Array.isArray(extensions)) {
    throw new InvalidArgumentError('extensions', "must be an array such as ['html']", extensions);
  }
  const fileOptions = { ...base, index, extensions: extensions === undefined ? false : [...extensions] };
  const prefix = prefixOf(options?.prefix);
  // Loaded now, while the app starts, so the first request does not wait for it. A failure is
  // not lost: each request that needs the package meets it again and answers 500 with it.
  loadSend().catch(ignore);

  return async function serveStaticFiles(r: Request): Promise<void> {
    const m = r.middleware;
    const terminal = m.index === m.chain.length - 1;
    if (r.method !== 'GET' && r.method !== 'HEAD') {
      if (!terminal) return m.next();
      r.response.header.set('Allow', 'GET, HEAD');
      throw new HttpError(405);
    }
    const path = terminal ? routePath(r, prefix) : underPrefix(urlPath(r.url), prefix);
    if (path === undefined) return m.next();
    try {
      await pipeFile(r.response, path, fileOptions, redirectToSlash);
    } catch (e) {
      // As middleware, a file that is not there is someone else's route.
      if (terminal || !(e instanceof HttpError) || e.status !== 404 || r.response.isCommitted()) throw e;
      return m.next();
    }
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function indexList(index: ServeStaticOptions['index']): string[] | false {
  if (index === undefined) return ['index.html'];
  if (index === false) return false;
  const list = typeof index === 'string' ? [index] : index;
  if (!Array.isArray(list) || list.some((n) => typeof n !== 'string' || n.length === 0 || n.includes('/'))) {
    throw new InvalidArgumentError('index', 'must be a file name, a list of them, or false', index);
  }
  return [...list];
}

function prefixOf(prefix: string | undefined): string {
  if (prefix === undefined) return '';
  if (typeof prefix !== 'string' || !prefix.startsWith('/')) {
    throw new InvalidArgumentError('prefix', 'must be a path starting with "/"', prefix);
  }
  return prefix.replace(/\/+$/, '');
}

/** The path part of an origin-form URL, still encoded: `send` decodes it once, after its checks. */
function urlPath(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The encoded path below `prefix`, or `undefined` when the request is not under it. */
function underPrefix(path: string, prefix: string): string | undefined {
  if (prefix === '') return path;
  if (path === prefix) return '/';
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : undefined;
}

/**
 * The file a route asked for: its wildcard, which the router has decoded (so it is encoded again
 * for `send`), or the request path for a route without a wildcard.
 */
function routePath(r: Request, prefix: string): string | undefined {
  const wildcard = r.params['*'];
  const path = urlPath(r.url);
  if (wildcard === undefined) return underPrefix(path, prefix);
  // The router ignores a trailing slash, but it is what asks for a directory's index file.
  const slash = path.endsWith('/') && !wildcard.endsWith('/') && wildcard !== '' ? '/' : '';
  return `/${encodePath(wildcard)}${slash}`;
}

/**
 * A directory asked for without its trailing slash: redirect to the slash form, which relative
 * links in its index page need. Leading slashes are collapsed, so `//evil.example/dir` can never
 * become a protocol-relative `Location` to another host.
 */
const redirectToSlash: OnDirectory = (res) => {
  const url = res.request.url;
  const path = urlPath(url);
  if (path.endsWith('/')) throw new HttpError(404);
  res.status = 301;
  res.header.set('Location', `${path.replace(/^\/+/, '/')}/${url.slice(path.length)}`);
};

function ignore(): void {}
