import { InvalidArgumentError } from '../errors.ts';

/** HTTP methods a route can be bound to. `ALL` binds every method in {@link METHODS}. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** One HTTP method that sluice routes. */
export type Method = (typeof METHODS)[number];

/** A route pattern after GoFrame's syntax was turned into find-my-way's. */
export interface ParsedPattern {
  /** The methods the pattern binds (all of them when the pattern had no `METHOD:` prefix). */
  methods: readonly Method[];
  /** The path in find-my-way syntax: `:id` params, a trailing `*` wildcard. */
  path: string;
  /** find-my-way names the wildcard `*`; GoFrame users name it (`*path`), so we rename it on lookup. */
  wildcardName: string | undefined;
}

const METHOD_PREFIX = /^([A-Za-z]+):(\/.*)$/;

/**
 * Parses `[METHOD:]/path` in GoFrame's syntax: `/user/{id}`, `/user/:id`,
 * `/files/*path`, `GET:/x`. Rejects what find-my-way would misread, so a typo
 * fails at registration rather than at the first request.
 *
 * @example
 * ```ts
 * parsePattern('GET:/user/{id}'); // { methods: ['GET'], path: '/user/:id', wildcardName: undefined }
 * ```
 */
export function parsePattern(pattern: string, prefix = ''): ParsedPattern {
  if (typeof pattern !== 'string' || pattern.length === 0) {
    throw new InvalidArgumentError('pattern', 'must be a non-empty string such as "/user/{id}"', pattern);
  }
  let methods: readonly Method[] = METHODS;
  let path = pattern;
  const m = METHOD_PREFIX.exec(pattern);
  if (m) {
    const method = m[1]!.toUpperCase();
    path = m[2]!;
    if (method !== 'ALL') {
      if (!(METHODS as readonly string[]).includes(method)) {
        throw new InvalidArgumentError(
          'pattern',
          `method must be one of ${METHODS.join(', ')} or ALL`,
          pattern,
        );
      }
      methods = [method as Method];
    }
  }
  path = joinPaths(prefix, path);
  if (!path.startsWith('/')) {
    throw new InvalidArgumentError('pattern', 'path must start with "/"', pattern);
  }
  return toFindMyWay(path, methods, pattern);
}

/** Joins a group prefix and a path without doubling or dropping the slash between them. */
export function joinPaths(prefix: string, path: string): string {
  if (prefix === '' || prefix === '/') return path;
  const head = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (path === '/' || path === '') return head;
  return path.startsWith('/') ? head + path : `${head}/${path}`;
}

function toFindMyWay(path: string, methods: readonly Method[], original: string): ParsedPattern {
  const segments = path.split('/');
  let wildcardName: string | undefined;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg.startsWith('*')) {
      if (i !== segments.length - 1) {
        throw new InvalidArgumentError('pattern', 'a "*name" wildcard must be the last segment', original);
      }
      wildcardName = seg.length > 1 ? seg.slice(1) : '*';
      segments[i] = '*';
    } else if (seg.startsWith('{') && seg.endsWith('}')) {
      const name = seg.slice(1, -1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new InvalidArgumentError(
          'pattern',
          'a "{name}" parameter needs a name of letters, digits and _',
          original,
        );
      }
      segments[i] = `:${name}`;
    } else if (seg.includes('{') || seg.includes('}')) {
      throw new InvalidArgumentError('pattern', 'a "{name}" parameter must fill a whole segment', original);
    }
  }
  return { methods, path: segments.join('/'), wildcardName };
}
