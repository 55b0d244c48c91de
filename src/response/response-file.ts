import { basename, dirname, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type send from 'send';
import { HttpError, InvalidArgumentError, ResponseCommittedError } from '../errors.ts';
import type { Response } from './response.ts';

/**
 * How a file is sent: caching headers, ranges, dotfiles. The file work itself (conditional GET,
 * `Range`, MIME types, traversal checks) is the `send` package's, the one Express's
 * `serve-static` stands on; sluice only hands it the socket and keeps its own commit state right.
 *
 * @example
 * ```ts
 * await r.response.serveFile('report.pdf', { root: './reports', maxAge: '1h' });
 * ```
 */
export interface ServeFileOptions {
  /**
   * The directory the path is resolved in. With a root, the path may come from the request:
   * `..`, encoded or not, is refused with 403 and nothing outside the root is ever opened.
   * Without one, the path is the server's own choice of file (never build it from input).
   */
  root?: string;
  /** `Cache-Control: max-age` in milliseconds, or a string such as `'1d'`; default 0. */
  maxAge?: number | string;
  /** Adds `immutable` to `Cache-Control` (for file names that carry a content hash). */
  immutable?: boolean;
  /** Sends `Cache-Control` (default true); false leaves it to the handler. */
  cacheControl?: boolean;
  /** Sends a weak `ETag` and answers `If-None-Match` with 304 (default true). */
  etag?: boolean;
  /** Sends `Last-Modified` and answers `If-Modified-Since` with 304 (default true). */
  lastModified?: boolean;
  /** Answers `Range` with 206 or 416 and sends `Accept-Ranges: bytes` (default true). */
  acceptRanges?: boolean;
  /**
   * Paths with a segment starting with a dot (`.env`, `.git/config`) below the root: `'deny'`
   * (403, the default), `'ignore'` (404) or `'allow'`.
   */
  dotfiles?: 'allow' | 'deny' | 'ignore';
}

const DOTFILES = new Set(['allow', 'deny', 'ignore']);

/** @internal The `send` options for sluice's options: only known keys pass, so `start`/`end` stay ours to refuse. */
export function sendOptions(options: ServeFileOptions | undefined, root: string): send.SendOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError('options', 'must be an object', options);
  }
  const o = options ?? {};
  const dotfiles = o.dotfiles ?? 'deny';
  if (!DOTFILES.has(dotfiles)) {
    throw new InvalidArgumentError('dotfiles', "must be 'allow', 'deny' or 'ignore'", dotfiles);
  }
  const maxAge = o.maxAge ?? 0;
  if (
    !(typeof maxAge === 'number' && Number.isFinite(maxAge) && maxAge >= 0) &&
    !(typeof maxAge === 'string' && maxAge.length > 0)
  ) {
    throw new InvalidArgumentError(
      'maxAge',
      "must be a non-negative number of milliseconds or a duration such as '1d'",
      maxAge,
    );
  }
  return {
    root,
    maxAge,
    immutable: o.immutable ?? false,
    cacheControl: o.cacheControl ?? true,
    etag: o.etag ?? true,
    lastModified: o.lastModified ?? true,
    acceptRanges: o.acceptRanges ?? true,
    dotfiles,
    // A directory is never listed, and its index is the static middleware's business.
    index: false,
  };
}

/**
 * @internal What the file sender does when the path is a directory: the static middleware redirects to
 * the slash form (where index files apply); a single file request answers 404.
 */
export type OnDirectory = (res: Response) => void;

const notAFile: OnDirectory = () => {
  throw new HttpError(404);
};

/**
 * @internal Sends one file through `send` onto the response and resolves once the response has
 * ended (or the client left). `urlPath` is URL-encoded, as `send` decodes it before its checks.
 *
 * What `send` refuses (a missing file 404, a traversal 403, an unsatisfiable range 416) rejects
 * as an {@link HttpError} before any byte is written, so it takes sluice's normal error path:
 * `handlerResponse`, the access log and the logger see it like any other error. The response is
 * committed just before the first body byte; 304 and HEAD answers are ended by `send` itself.
 * Node's `pipe` carries the backpressure: the file is read as fast as the client takes it.
 */
export function pipeFile(
  res: Response,
  urlPath: string,
  options: send.SendOptions,
  onDirectory: OnDirectory = notAFile,
  disposition?: string,
): Promise<void> {
  if (res.isCommitted()) return Promise.reject(new ResponseCommittedError('serve a file'));
  // The file is the whole body: whatever was written before would be lost at the end anyway.
  res.clearBuffer();
  // `send` pipes the file into the response itself, past any encoder: files go out as they are
  // (compress() leaves them alone; precompress assets, most binary ones are compressed already).
  res.bodyEncoder = undefined;
  if (res.node.destroyed) return Promise.resolve();
  const pipe = (sendFile: typeof send) =>
    startPipe(sendFile, res, urlPath, options, onDirectory, disposition);
  const sending = loadedSend !== undefined ? pipe(loadedSend) : loadSend().then(pipe);
  // Not awaited and failed while the handler still ran, it would be an unhandled rejection, which
  // ends the process; awaited, the handler still gets the error.
  sending.catch(ignore);
  res.filePending = sending;
  return sending;
}

let loadedSend: typeof send | undefined;
let loadingSend: Promise<typeof send> | undefined;

/**
 * @internal Loads `send` on first use: with its MIME database it takes about 100 ms to load, which
 * an app that serves no files should not pay at start-up. `serveStatic()` starts it early.
 */
export function loadSend(): Promise<typeof send> {
  loadingSend ??= import('send').then((m) => {
    loadedSend = m.default;
    return m.default;
  });
  return loadingSend;
}

function startPipe(
  sendFile: typeof send,
  res: Response,
  urlPath: string,
  options: send.SendOptions,
  onDirectory: OnDirectory,
  disposition: string | undefined,
): Promise<void> {
  const raw = res.raw;
  // Gone while `send` was loading: 'close' has fired already and would never settle the pipe.
  if (raw.destroyed) {
    res.filePending = undefined;
    return Promise.resolve();
  }
  return new Promise<void>((resolvePipe, rejectPipe) => {
    const file = sendFile(res.request.raw, urlPath, options);
    const settle = (error: unknown) => {
      raw.off('finish', ended);
      raw.off('close', ended);
      res.filePending = undefined;
      if (error === undefined) resolvePipe();
      else rejectPipe(error);
    };
    const ended = () => settle(undefined);
    raw.on('finish', ended);
    raw.on('close', ended);
    // Listening is what keeps `send` from writing its own HTML error page behind sluice's back.
    file.on('error', (e: unknown) => {
      // A 404 or 416 must not be saved by the browser as if it were the file.
      if (disposition !== undefined && !raw.headersSent) raw.removeHeader('Content-Disposition');
      settle(toHttpError(e));
    });
    // Set once the file is known to exist, like the other headers `send` sets.
    if (disposition !== undefined)
      file.on('headers', () => raw.setHeader('Content-Disposition', disposition));
    file.on('directory', () => {
      try {
        onDirectory(res);
        settle(undefined);
      } catch (e) {
        settle(e);
      }
    });
    file.on('stream', (stream: Readable) => {
      res.commit();
      stream.on('data', (chunk: Buffer) => {
        res.written += chunk.length;
      });
    });
    file.pipe(raw);
  });
}

/** `send` rejects with http-errors objects; sluice answers with its own coded errors. */
function toHttpError(e: unknown): HttpError {
  const status = (e as { status?: unknown } | null)?.status;
  const code = typeof status === 'number' && status >= 400 && status <= 599 ? status : 500;
  return new HttpError(code, undefined, { cause: e });
}

/**
 * @internal Encodes a decoded path (a route parameter, a name the handler chose) for `send`, which decodes
 * it again: each segment on its own, so a `%` in a file name stays a `%` and never starts an
 * escape, and `/` stays the only separator.
 */
export function encodePath(path: string): string {
  try {
    return path.split('/').map(encodeURIComponent).join('/');
  } catch {
    throw new InvalidArgumentError('path', 'must be well-formed Unicode (a lone surrogate was found)', path);
  }
}

/** @internal The `send` root and URL path for `serveFile(path, options)`. */
export function fileTarget(path: string, options: ServeFileOptions | undefined): [root: string, url: string] {
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidArgumentError('path', 'must be a non-empty string', path);
  }
  const root = options?.root;
  if (root !== undefined) {
    if (typeof root !== 'string' || root.length === 0) {
      throw new InvalidArgumentError('root', 'must be a non-empty directory path', root);
    }
    return [resolve(root), `/${encodePath(path.replace(/^\/+/, ''))}`];
  }
  // The server's own path: its directory becomes the root, so only the name is checked for dots.
  const absolute = resolve(path);
  return [dirname(absolute), `/${encodePath(basename(absolute))}`];
}

/**
 * The `Content-Disposition` value that makes a browser save the response as `name` (RFC 6266):
 * a quoted ASCII fallback for old clients, and `filename*` with the exact UTF-8 name when the
 * fallback had to change it. Quotes, backslashes, control characters and `%` never reach the
 * quoted form, so a name cannot end the parameter early or be decoded twice.
 *
 * @example
 * ```ts
 * contentDisposition('Résumé "final".pdf');
 * // attachment; filename="R_sum_ _final_.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.pdf
 * ```
 */
export function contentDisposition(name: string): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError('name', 'must be a non-empty string', name);
  }
  // A name is a name: a browser would cut at a separator anyway, and a fallback must not carry one.
  const fallback = name.replace(/[^\x20-\x7e]|["\\%/]/g, '_');
  if (fallback === name) return `attachment; filename="${name}"`;
  let encoded: string;
  try {
    encoded = encodeURIComponent(name);
  } catch {
    throw new InvalidArgumentError('name', 'must be well-formed Unicode (a lone surrogate was found)', name);
  }
  // RFC 8187 attr-char leaves out ' ( ) *, which encodeURIComponent keeps.
  encoded = encoded.replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/**
 * @internal `r.response.serveFile()`: one file, named by the server (or by the request when a
 * `root` confines it).
 */
export function serveFile(res: Response, path: string, options?: ServeFileOptions): Promise<void> {
  const [root, url] = fileTarget(path, options);
  return pipeFile(res, url, sendOptions(options, root));
}

/**
 * @internal `r.response.serveFileDownload()`: the file as an attachment under `name` (default:
 * the file's own name).
 */
export function serveFileDownload(
  res: Response,
  path: string,
  name?: string,
  options?: ServeFileOptions,
): Promise<void> {
  const [root, url] = fileTarget(path, options);
  const sendOpts = sendOptions(options, root);
  return pipeFile(res, url, sendOpts, notAFile, contentDisposition(name ?? basename(path)));
}

function ignore(): void {}
