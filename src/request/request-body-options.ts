import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { InvalidArgumentError } from '../errors.ts';

/**
 * Where the files of a multipart body go while the request runs: `'memory'` (the default) keeps
 * each as a `Buffer`, within the body limit; `'disk'` streams each to its own temp file, with
 * backpressure, so a large upload never sits in memory.
 *
 * @example
 * ```ts
 * const storage: UploadStorage = 'disk';
 * s.post('/video', handler, { bodyLimit: 2 ** 30, uploads: { storage } });
 * ```
 */
export type UploadStorage = 'memory' | 'disk';

/**
 * How the files of a multipart body are received. A key left out keeps the value of the
 * enclosing group, then of the server (`s.setUploads()`).
 *
 * @example
 * ```ts
 * s.setUploads({ storage: 'disk', dir: '/var/tmp/uploads', maxFileSize: 50 * 2 ** 20 });
 * ```
 */
export interface UploadOptions {
  /** `'memory'` (default) or `'disk'`; see {@link UploadStorage}. */
  readonly storage?: UploadStorage;
  /**
   * The directory of the temp files when `storage` is `'disk'`; default `os.tmpdir()`, read when
   * a file arrives. It must exist. Temp files are named by sluice (`sluice-upload-<random hex>`),
   * never after what the client sent, created exclusively with mode 0o600.
   */
  readonly dir?: string;
  /** The largest single file, in bytes; a larger one is a 413 that names this limit. Default: the body limit. */
  readonly maxFileSize?: number;
}

/**
 * Body settings of one route or of a group's routes (`s.post(path, handler, options)`,
 * `s.group(prefix, fn, options)`, `defineRoute({ ..., bodyLimit })`). Each key left out keeps
 * the enclosing group's value, then the server's (`setBodyLimit`, `setBodyFieldLimit`,
 * `setBodyFileLimit`, `setUploads`), so one upload route can take 1 GiB while the rest of the
 * API keeps the server's 8 MiB. As with Fastify's `bodyLimit` route option, the route's value
 * wins; past a limit the answer is a 413 naming it.
 *
 * @example
 * ```ts
 * s.post('/upload', saveUpload, {
 *   bodyLimit: 100 * 2 ** 20,
 *   bodyFileLimit: 1,
 *   uploads: { storage: 'disk', maxFileSize: 100 * 2 ** 20 },
 * });
 * s.group('/import', (g) => g.post('/csv', importCsv), { bodyLimit: 20 * 2 ** 20 });
 * ```
 */
export interface RouteOptions {
  /** Bytes of the whole body as it arrives, part headers and boundaries included (server: `setBodyLimit`). */
  readonly bodyLimit?: number;
  /** Fields of a urlencoded or multipart body, repeats of a name included (server: `setBodyFieldLimit`). */
  readonly bodyFieldLimit?: number;
  /** Files of a multipart body (server: `setBodyFileLimit`). */
  readonly bodyFileLimit?: number;
  /** Where multipart files go, and their size limit (server: `setUploads`). */
  readonly uploads?: UploadOptions;
}

/** @internal Upload settings as the parser reads them: every key set. */
export interface ResolvedUploads {
  readonly storage: UploadStorage;
  /** An absolute directory, or `undefined` for `os.tmpdir()` at the time a file arrives. */
  readonly dir: string | undefined;
  readonly maxFileSize: number | undefined;
}

/** @internal What a server starts with: files in memory, no size limit of their own. */
export const DEFAULT_UPLOADS: ResolvedUploads = Object.freeze({
  storage: 'memory',
  dir: undefined,
  maxFileSize: undefined,
});

const ROUTE_KEYS: readonly string[] = ['bodyLimit', 'bodyFieldLimit', 'bodyFileLimit', 'uploads'];
const UPLOAD_KEYS: readonly string[] = ['storage', 'dir', 'maxFileSize'];

/**
 * @internal Checks a route's or group's options where they are given, so a typo (`fieldLimit`)
 * or a bad value fails at registration, not on the first upload. Returns a frozen copy (later
 * changes to the caller's object change nothing), or `undefined` when nothing is set.
 */
export function checkRouteOptions(options: unknown): RouteOptions | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(
      'options',
      `must be an object with any of ${ROUTE_KEYS.join(', ')}`,
      options,
    );
  }
  for (const key of Object.keys(options)) {
    if (!ROUTE_KEYS.includes(key)) {
      throw new InvalidArgumentError(
        `options.${key}`,
        `is not a route option; the options are ${ROUTE_KEYS.join(', ')}`,
      );
    }
  }
  return pickRouteOptions(options as RouteOptions);
}

/**
 * @internal The route options among other keys (a `defineRoute` configuration), checked:
 * `undefined` when none is set.
 */
export function pickRouteOptions(source: RouteOptions): RouteOptions | undefined {
  const picked: { -readonly [K in keyof RouteOptions]: RouteOptions[K] } = {};
  let any = false;
  if (source.bodyLimit !== undefined) {
    picked.bodyLimit = byteLimit('bodyLimit', source.bodyLimit);
    any = true;
  }
  if (source.bodyFieldLimit !== undefined) {
    picked.bodyFieldLimit = countLimit('bodyFieldLimit', source.bodyFieldLimit);
    any = true;
  }
  if (source.bodyFileLimit !== undefined) {
    picked.bodyFileLimit = countLimit('bodyFileLimit', source.bodyFileLimit);
    any = true;
  }
  if (source.uploads !== undefined) {
    picked.uploads = checkUploadOptions(source.uploads, 'uploads');
    any = true;
  }
  return any ? Object.freeze(picked) : undefined;
}

/** @internal Checks upload options; `dir` comes back absolute, so a later `chdir` cannot move it. */
export function checkUploadOptions(options: unknown, name = 'options'): UploadOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(name, `must be an object with any of ${UPLOAD_KEYS.join(', ')}`, options);
  }
  const o = options as UploadOptions;
  for (const key of Object.keys(o)) {
    if (!UPLOAD_KEYS.includes(key)) {
      throw new InvalidArgumentError(
        `${name}.${key}`,
        `is not an upload option; the options are ${UPLOAD_KEYS.join(', ')}`,
      );
    }
  }
  const checked: { -readonly [K in keyof UploadOptions]: UploadOptions[K] } = {};
  if (o.storage !== undefined) {
    if (o.storage !== 'memory' && o.storage !== 'disk') {
      throw new InvalidArgumentError(`${name}.storage`, "must be 'memory' or 'disk'", o.storage);
    }
    checked.storage = o.storage;
  }
  if (o.dir !== undefined) {
    if (typeof o.dir !== 'string' || o.dir.length === 0 || o.dir.includes('\0')) {
      throw new InvalidArgumentError(`${name}.dir`, 'must be a non-empty directory path', o.dir);
    }
    checked.dir = resolve(o.dir);
  }
  if (o.maxFileSize !== undefined) checked.maxFileSize = byteLimit(`${name}.maxFileSize`, o.maxFileSize);
  return Object.freeze(checked);
}

/**
 * @internal Merges options from the outermost group to the route: each key the innermost one
 * that sets it, `uploads` key by key. `undefined` when none sets anything, so a route with no
 * options of its own (the common case) reads the server's values directly.
 */
export function mergeRouteOptions(layers: readonly (RouteOptions | undefined)[]): RouteOptions | undefined {
  let merged: RouteOptions | undefined;
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (merged === undefined) {
      merged = layer;
      continue;
    }
    merged = Object.freeze({
      ...merged,
      ...layer,
      uploads:
        merged.uploads === undefined || layer.uploads === undefined
          ? (layer.uploads ?? merged.uploads)
          : Object.freeze({ ...merged.uploads, ...layer.uploads }),
    });
  }
  return merged;
}

/** @internal Upload settings merged over the server's, with the temp directory the one to use now. */
export function resolveUploads(server: ResolvedUploads, own: UploadOptions | undefined): ResolvedUploads {
  if (own === undefined) return server;
  return {
    storage: own.storage ?? server.storage,
    dir: own.dir ?? server.dir,
    maxFileSize: own.maxFileSize ?? server.maxFileSize,
  };
}

/** @internal The directory a temp file goes to: the configured one, else the system's. */
export function uploadDir(uploads: ResolvedUploads): string {
  return uploads.dir ?? tmpdir();
}

/** @internal Upload options as the server stores them (`s.setUploads()`): every key set. */
export function serverUploads(current: ResolvedUploads, options: unknown): ResolvedUploads {
  const checked = checkUploadOptions(options);
  return Object.freeze(resolveUploads(current, checked));
}

function byteLimit(name: string, bytes: unknown): number {
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) {
    throw new InvalidArgumentError(name, 'must be a non-negative integer of bytes', bytes);
  }
  return bytes;
}

function countLimit(name: string, count: unknown): number {
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    throw new InvalidArgumentError(name, 'must be a non-negative integer', count);
  }
  return count;
}
