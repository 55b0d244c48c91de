import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { HttpError } from '../errors.ts';
import type { Request } from './request.ts';
import {
  type ResolvedUploads,
  type RouteOptions,
  resolveUploads,
  uploadDir,
} from './request-body-options.ts';
import type { Handler } from './request-middleware.ts';
import { TempFiles, UploadedFile } from './request-upload.ts';

export { UploadedFile };

/**
 * What a parsed body yields: the fields, and the files of a multipart body.
 * A handler reads them through `r.getBody()` and `r.getFiles()`.
 *
 * @example
 * ```ts
 * const parsed: ParsedBody = { body: r.getBody(), files: [...r.getFiles()] };
 * ```
 */
export interface ParsedBody {
  body: unknown;
  files: UploadedFile[];
}

/**
 * @internal The limits a body is parsed under; the {@link Server} holds them (`setBodyLimit`,
 * `setBodyFieldLimit`, `setBodyFileLimit`, `setUploads`) and is passed as this, so a parse for a
 * route without options of its own allocates no options.
 */
export interface BodyLimits {
  /** Bytes of the whole body as it arrives, part headers and boundaries included. */
  readonly bodyLimit: number;
  /** Fields of a urlencoded or multipart body, repeats of a name included. */
  readonly bodyFieldLimit: number;
  /** Files of a multipart body. */
  readonly bodyFileLimit: number;
  /** Where multipart files go, and the largest one. */
  readonly uploads: ResolvedUploads;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;

/**
 * `JSON_TYPE.test(type)`, with the type API clients send (`application/json`, with or without
 * parameters) told by two string compares before the regular expression, which a JSON request
 * otherwise ran three times (about 250 instructions each).
 */
function isJsonType(type: string): boolean {
  return type === 'application/json' || type.startsWith('application/json;') || JSON_TYPE.test(type);
}
const FORM_TYPE = /^application\/x-www-form-urlencoded\b/i;
const MULTIPART_TYPE = /^multipart\/form-data\b/i;
const TEXT_TYPE = /^text\/plain\b/i;

/**
 * Tells whether sluice parses this request's body. Only the types a form or an API client sends
 * are parsed; anything else (an upload stream, protobuf) is left unread on `r.raw` for the
 * handler. GET, HEAD, OPTIONS and TRACE bodies have no defined meaning (RFC 9110, 9.3): they are
 * never parsed, whatever their Content-Type, so a hostile multipart GET costs nothing. The method
 * is checked first, so the common GET never builds the lazy `headers` object here.
 */
export function hasParsableBody(req: IncomingMessage): boolean {
  switch (req.method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'TRACE':
      return false;
  }
  const headers = req.headers;
  const type = headers['content-type'];
  if (type === undefined) return false;
  const length = headers['content-length'];
  if ((length === undefined || length === '0') && headers['transfer-encoding'] === undefined) {
    // HTTP/2 has no Transfer-Encoding: a body without Content-Length is ended by the stream.
    if (length !== undefined || req.httpVersionMajor !== 2 || endsWithHeaders(req)) return false;
  }
  return isJsonType(type) || FORM_TYPE.test(type) || MULTIPART_TYPE.test(type) || TEXT_TYPE.test(type);
}

/** Whether an HTTP/2 request's HEADERS frame ended its stream: then it has no body. */
function endsWithHeaders(req: IncomingMessage): boolean {
  return (req as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders !== false;
}

/**
 * The chain step that reads the body of a route's requests that carry one: composed after the
 * global middleware (so an auth guard, CORS or the access log run before a byte of the body is
 * read, and see a 400/413 from here as they see any handler error) and before group middleware
 * and the handler (which then find the body parsed). Requests without a parsable body get a
 * chain without this step, so they pay nothing for it.
 */
export const readBodyStep: Handler = (r) => {
  // Only in the chain of a request whose body hasParsableBody() accepted: not asked again.
  r.bodyRead ??= readBody(r);
  return r.bodyRead.then(() => r.middleware.next());
};

/**
 * @internal The body read of a chain that starts with it (a route with a body and no global
 * middleware), begun, with the chain's cursor moved past it: the server awaits the read and then
 * runs the rest. As a step of its own the read was one more layer of the onion, whose unwinding
 * cost two microtask turns, an async frame and a promise. `undefined` for any other chain.
 */
export function readBodyFirst(r: Request): Promise<unknown> | undefined {
  if (r.chain[0] !== readBodyStep) return undefined;
  r.middleware.skipFirst();
  r.bodyRead ??= readBody(r);
  return r.bodyRead;
}

/**
 * @internal What `r.parseBody()` runs once: parses the body into `r.body`/`r.files` and resolves
 * with it. A refusal rejects with the 400/413 {@link HttpError}; after a 413 the connection is
 * closed, since the rest of the refused body may still be on its way and is not worth reading.
 * Not async: a JSON or form body is one promise, settled by the read's last event, where nested
 * async functions made four, each a frame and a microtask turn per request.
 */
export function readRequestBody(r: Request): Promise<unknown> {
  return hasParsableBody(r.raw) ? readBody(r) : Promise.resolve(r.body);
}

/** `readRequestBody` for a body `hasParsableBody()` accepted. */
function readBody(r: Request): Promise<unknown> {
  const req = r.raw;
  let limits: BodyLimits;
  let type: string;
  try {
    limits = limitsOf(r.server, r.bodyOptions);
    type = req.headers['content-type'] ?? '';
    checkReadable(req, limits.bodyLimit);
    if (!isJsonType(type) && MULTIPART_TYPE.test(type)) {
      return parseMultipart(req, limits, tempFilesFor(r, limits)).then(
        (parsed) => {
          r.body = parsed.body;
          r.files = parsed.files;
          return parsed.body;
        },
        (e: unknown) => Promise.reject(refused(r, e)),
      );
    }
  } catch (e) {
    return Promise.reject(refused(r, e));
  }
  return readWhole(r, type, limits);
}

/**
 * A JSON, urlencoded or text body, read whole and decoded into `r.body`: one promise, settled
 * once by the read's last event (or the first failure). Its listeners share one scope with the
 * read's state, and stay on the request after it settled: no 'data' or 'end' comes again, the
 * `close` of every request finds `settled`, and taking four off cost ~2,000 instructions. Per
 * request this makes one context, the listeners and the promise (~570 bytes, where nested
 * callbacks and a chunk list made ~1 KB); a second chunk is what makes the list.
 */
function readWhole(r: Request, type: string, limits: BodyLimits): Promise<unknown> {
  const req = r.raw;
  const limit = limits.bodyLimit;
  let resolve!: (body: unknown) => void;
  let reject!: (e: unknown) => void;
  const read = new Promise<unknown>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  let first: Buffer | undefined;
  let rest: Buffer[] | undefined;
  let size = 0;
  let settled = false;
  // Node emits 'error' on an aborted request only when someone listens, and not at all for
  // some ways a socket dies (a request timeout): 'close' without 'end' is the signal that is
  // always there. Without it the read would wait forever and hold up a graceful shutdown. So
  // this is the 'close' listener (a client gone), and every other failure calls it with its own.
  const stop = (e?: HttpError): void => {
    if (settled) return;
    settled = true;
    // The request (an event stream's, say) may live long after its body was refused.
    first = undefined;
    rest = undefined;
    reject(refused(r, e ?? clientGone()));
  };
  const onData = (chunk: Buffer): void => {
    if (settled) return;
    size += chunk.length;
    if (size > limit) {
      // Stop buffering but keep draining, so the 413 can still be written on this socket.
      req.resume();
      stop(tooLarge(limit));
    } else if (first === undefined) first = chunk;
    else if (rest === undefined) rest = [first, chunk];
    else rest.push(chunk);
  };
  const onEnd = (): void => {
    if (settled) return;
    settled = true;
    const raw = rest !== undefined ? Buffer.concat(rest, size) : (first ?? EMPTY);
    first = undefined;
    rest = undefined;
    try {
      r.body = decode(raw, type, limits);
    } catch (e) {
      reject(e);
      return;
    }
    resolve(r.body);
  };
  req.on('data', onData);
  req.on('end', onEnd);
  // HTTP/2's request is a plain Readable, which does emit an error with no one listening (and
  // may again after the read settled: the listener stays). HTTP/1 has none without a listener.
  if (req.httpVersionMajor === 2) {
    req.on('error', (err: Error) =>
      stop(new HttpError(400, 'Request body could not be read', { cause: err })),
    );
  }
  req.on('close', stop);
  return read;
}

/** The body of a request that sent no byte of one. */
const EMPTY = Buffer.alloc(0);

/** A refusal of the body, passed on; a 413 first asks for the connection to be closed. */
function refused(r: Request, e: unknown): unknown {
  const res = r.response.raw;
  if (e instanceof HttpError && e.status === 413 && !res.headersSent) res.setHeader('Connection', 'close');
  return e;
}

/** The route's (and its groups') settings over the server's; the server itself when there are none. */
function limitsOf(server: BodyLimits, own: RouteOptions | undefined): BodyLimits {
  if (own === undefined) return server;
  return {
    bodyLimit: own.bodyLimit ?? server.bodyLimit,
    bodyFieldLimit: own.bodyFieldLimit ?? server.bodyFieldLimit,
    bodyFileLimit: own.bodyFileLimit ?? server.bodyFileLimit,
    uploads: resolveUploads(server.uploads, own.uploads),
  };
}

/**
 * The temp files of a multipart body bound for disk, deleted when the response closes (after
 * it was sent, or when the client left): registered before the first file exists, so no file
 * can outlive its request. Whatever a deletion fails on is logged, never thrown.
 */
function tempFilesFor(r: Request, limits: BodyLimits): TempFiles | undefined {
  if (limits.uploads.storage !== 'disk' || !MULTIPART_TYPE.test(r.raw.headers['content-type'] ?? '')) {
    return undefined;
  }
  const server = r.server;
  const temp = new TempFiles(uploadDir(limits.uploads), (e) =>
    server.logger.error('sluice: could not delete an upload temp file', e),
  );
  r.response.node.once('close', () => void temp.removeAll());
  return temp;
}

/**
 * Refuses a body that cannot be read before a byte is: the client left, the handler consumed
 * `r.raw` itself, or the declared length is over the limit. Malformed input is a 400 and an
 * oversized body (or one with too many fields or files) a 413, both as {@link HttpError}, so the
 * normal error path answers them.
 */
function checkReadable(req: IncomingMessage, limit: number): void {
  if (req.destroyed) throw clientGone();
  if (req.readableEnded) {
    throw new Error('sluice: the request body was already consumed from r.raw, so it cannot be parsed');
  }
  if (declaredLength(req.headers['content-length']) > limit) throw tooLarge(limit);
}

/**
 * `Number(contentLength)`, with the digits-only value Node lets through read by a loop, where
 * `Number()` of a string cost ~300 instructions a request. NaN when there is none.
 */
function declaredLength(value: string | undefined): number {
  if (value === undefined || value.length === 0) return Number.NaN;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return Number(value);
    n = n * 10 + digit;
  }
  return n;
}

/** A JSON, urlencoded or text body, read whole, as the handler gets it. */
function decode(raw: Buffer, type: string, limits: BodyLimits): unknown {
  const text = raw.toString('utf8');
  if (isJsonType(type)) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new HttpError(400, `Malformed JSON body: ${describeJsonError(e as Error)}`, { cause: e });
    }
  }
  if (FORM_TYPE.test(type)) return parseForm(text, limits.bodyFieldLimit);
  return text;
}

/**
 * What JSON.parse said, without any excerpt of the input: V8 quotes the body in some messages
 * (`Unexpected token '<', "{"a": <scri"... is not valid JSON`), and an error answer must not echo
 * what the client sent. Messages without a quote are V8's own words and a position: kept.
 */
function describeJsonError(e: Error): string {
  const message = e.message;
  if (!message.includes('"')) return message;
  return message.startsWith('Unexpected token') ? 'Unexpected token' : 'Not valid JSON';
}

/**
 * A urlencoded body, every field of it: Node's `querystring` silently keeps only the first
 * 1000, so a form past that lost fields without anyone knowing. Past the field limit the body is
 * refused instead. Repeated names collect into an array by push (linear in the field count).
 */
function parseForm(text: string, maxFields: number): Record<string, string | string[]> {
  // A Map, then fromEntries: assigning into `{}` would let a field named `__proto__` or
  // `constructor` hit Object.prototype instead of being stored.
  const fields = new Map<string, string | string[]>();
  let count = 0;
  for (const [name, value] of new URLSearchParams(text)) {
    if (++count > maxFields) throw tooMany('fields', maxFields);
    addField(fields, name, value);
  }
  return Object.fromEntries(fields);
}

/**
 * Adds one value under a name: a string for the first, an array from the second on. Each repeat
 * pushes into the array it already has; copying it per repeat made 30,000 repeats quadratic.
 */
function addField(fields: Map<string, string | string[]>, name: string, value: string): void {
  const prev = fields.get(name);
  if (prev === undefined) fields.set(name, value);
  else if (typeof prev === 'string') fields.set(name, [prev, value]);
  else prev.push(value);
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, `Request body is larger than the limit of ${limit} bytes`);
}

function fileTooLarge(limit: number): HttpError {
  return new HttpError(413, `Uploaded file is larger than the limit of ${limit} bytes`);
}

function tooMany(what: 'fields' | 'files', limit: number): HttpError {
  return new HttpError(413, `Request body has more than the limit of ${limit} ${what}`);
}

function clientGone(): HttpError {
  return new HttpError(400, 'Request body incomplete: the client closed the connection');
}

function malformedMultipart(e: Error): HttpError {
  // busboy quotes the client's Content-Type in this one message; the rest are its own words.
  const message = e.message.startsWith('Unsupported content type') ? 'Unsupported content type' : e.message;
  return new HttpError(400, `Malformed multipart body: ${message}`, { cause: e });
}

function parseMultipart(
  req: IncomingMessage,
  limits: BodyLimits,
  temp: TempFiles | undefined,
): Promise<ParsedBody> {
  const limit = limits.bodyLimit;
  const maxFileSize = limits.uploads.maxFileSize;
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        limits: {
          // busboy calls a file that reaches this size too large: one more byte lets a file of
          // exactly maxFileSize through. Without a file limit the body limit bounds every file.
          fileSize: maxFileSize === undefined ? limit : maxFileSize + 1,
          fieldSize: limit,
          fields: limits.bodyFieldLimit,
          files: limits.bodyFileLimit,
        },
      });
    } catch (e) {
      reject(malformedMultipart(e as Error));
      return;
    }
    const fields = new Map<string, string | string[]>();
    // One per file in the order the parts came, settled when the file is whole (in memory, or
    // written and closed on disk): a small file may finish writing before a larger one before it.
    const files: Promise<UploadedFile>[] = [];
    let received = 0;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      req.unpipe(bb);
      // Keep draining a live request so the error answer can still be written on this socket.
      if (!req.destroyed) req.resume();
      if (temp === undefined) reject(err);
      // A limit hit, an abort or a disk error: no partial file stays, whatever the response does.
      else void temp.removeAll().then(() => reject(err));
    };
    // Every byte counts, boundaries and part headers too: counting only values let a stream of
    // empty parts of any size through, each one held as an object.
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) fail(tooLarge(limit));
    };
    const onError = (e: Error) => fail(new HttpError(400, 'Request body could not be read', { cause: e }));
    // See readWhole: 'close' before the body was complete is a client gone, and busboy, fed by a
    // pipe that only ends on 'end', would otherwise wait for the rest forever.
    const onClose = () => {
      if (!req.complete) fail(clientGone());
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('error', onError);
      req.off('close', onClose);
    };
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(tooLarge(limit));
      addField(fields, name, value);
    });
    bb.on('file', (field, stream, info) => {
      if (settled) {
        stream.resume();
        return;
      }
      stream.on('limit', () => fail(maxFileSize === undefined ? tooLarge(limit) : fileTooLarge(maxFileSize)));
      // busboy destroys an unfinished file with the error ("Unexpected end of form") it also emits on
      // itself; with no listener here that error would be uncaught and take the whole process down.
      stream.on('error', (e: Error) => fail(malformedMultipart(e)));
      const filename = info.filename ?? '';
      files.push(
        temp === undefined
          ? fileInMemory(stream, field, filename, info.mimeType)
          : fileOnDisk(stream, temp, field, filename, info.mimeType, fail),
      );
    });
    bb.on('fieldsLimit', () => fail(tooMany('fields', limits.bodyFieldLimit)));
    bb.on('filesLimit', () => fail(tooMany('files', limits.bodyFileLimit)));
    bb.on('error', (e: Error) => fail(malformedMultipart(e)));
    bb.on('close', () => {
      if (settled) return;
      // Files on disk may still be flushing; the body is parsed once the last one is closed.
      void Promise.all(files).then((done) => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve({ body: Object.fromEntries(fields), files: done });
      });
    });
    // Registered before the pipe, so a chunk over the limit is refused before busboy parses it.
    req.on('data', onData);
    req.on('error', onError);
    req.on('close', onClose);
    req.pipe(bb);
  });
}

/** A file part collected into one Buffer; settles when the part ends (never rejects: errors go to `fail`). */
function fileInMemory(
  stream: NodeJS.ReadableStream,
  field: string,
  filename: string,
  mimeType: string,
): Promise<UploadedFile> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    stream.on('end', () => {
      const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      resolve(new UploadedFile(field, filename, mimeType, size, data, undefined));
    });
  });
}

/**
 * A file part piped into its own temp file: `pipe` pauses the part when the disk is behind,
 * busboy then holds its write callback, and the request is paused in turn, so memory holds a
 * few chunks whatever the file's size. Settles once the file is written and closed; a disk
 * error fails the body (a 500: the client did nothing wrong).
 */
function fileOnDisk(
  stream: NodeJS.ReadableStream,
  temp: TempFiles,
  field: string,
  filename: string,
  mimeType: string,
  fail: (err: Error) => void,
): Promise<UploadedFile> {
  return new Promise((resolve) => {
    const out = temp.create();
    if (out === undefined) {
      stream.resume();
      fail(clientGone());
      return;
    }
    out.on('error', (e: Error) => fail(e));
    out.on('close', () => {
      if (out.errored !== null || !out.writableFinished) return;
      resolve(new UploadedFile(field, filename, mimeType, out.bytesWritten, undefined, String(out.path)));
    });
    stream.pipe(out);
  });
}
