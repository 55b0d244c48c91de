import type { IncomingMessage } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import busboy from 'busboy';
import { HttpError } from '../errors.ts';

/**
 * A file from a multipart body, held in memory (bounded by the body limit).
 *
 * @example
 * ```ts
 * s.post('/avatar', (r) => {
 *   const file: UploadedFile | undefined = r.getFiles().find((f) => f.field === 'avatar');
 *   return { name: file?.filename, bytes: file?.data.length };
 * });
 * ```
 */
export interface UploadedFile {
  /** The form field name. */
  field: string;
  filename: string;
  mimeType: string;
  data: Buffer;
}

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

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;
const FORM_TYPE = /^application\/x-www-form-urlencoded\b/i;
const MULTIPART_TYPE = /^multipart\/form-data\b/i;
const TEXT_TYPE = /^text\/plain\b/i;

/**
 * Tells whether sluice parses this request's body before the handler runs.
 * Only the types a form or an API client sends are parsed; anything else
 * (an upload stream, protobuf) is left unread on `r.raw` for the handler.
 */
export function hasParsableBody(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  if (type === undefined) return false;
  const length = req.headers['content-length'];
  if ((length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined)
    return false;
  return JSON_TYPE.test(type) || FORM_TYPE.test(type) || MULTIPART_TYPE.test(type) || TEXT_TYPE.test(type);
}

/**
 * Reads and parses the body. Malformed input is a 400 and an oversized body
 * a 413, both as {@link HttpError}, so the normal error path answers them.
 */
export async function parseBody(req: IncomingMessage, limit: number): Promise<ParsedBody> {
  const type = req.headers['content-type'] ?? '';
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit) throw tooLarge(limit);
  if (MULTIPART_TYPE.test(type)) return parseMultipart(req, limit);
  const raw = await readAll(req, limit);
  const text = raw.toString('utf8');
  if (JSON_TYPE.test(type)) {
    try {
      return { body: JSON.parse(text), files: [] };
    } catch (e) {
      throw new HttpError(400, `Malformed JSON body: ${(e as Error).message}`, { cause: e });
    }
  }
  if (FORM_TYPE.test(type)) return { body: { ...parseQueryString(text) }, files: [] };
  return { body: text, files: [] };
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, `Request body is larger than the limit of ${limit} bytes`);
}

function malformedMultipart(e: Error): HttpError {
  return new HttpError(400, `Malformed multipart body: ${e.message}`, { cause: e });
}

function readAll(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Stop buffering but keep draining, so the 413 can still be written on this socket.
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new HttpError(400, 'Request body could not be read', { cause: err }));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function parseMultipart(req: IncomingMessage, limit: number): Promise<ParsedBody> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: limit, fieldSize: limit } });
    } catch (e) {
      reject(malformedMultipart(e as Error));
      return;
    }
    // A Map, then fromEntries: assigning into `{}` would let a field named `__proto__` or
    // `constructor` hit Object.prototype instead of being stored.
    const fields = new Map<string, string | string[]>();
    const files: UploadedFile[] = [];
    let total = 0;
    let failed = false;
    const fail = (err: HttpError) => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      req.resume();
      reject(err);
    };
    bb.on('field', (name, value, info) => {
      // The limit is in bytes; a field's length in UTF-16 units undercounts anything not ASCII.
      total += Buffer.byteLength(value);
      if (total > limit || info.valueTruncated) return fail(tooLarge(limit));
      const prev = fields.get(name);
      fields.set(name, prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]);
    });
    bb.on('file', (field, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > limit) return fail(tooLarge(limit));
        chunks.push(chunk);
      });
      stream.on('limit', () => fail(tooLarge(limit)));
      // busboy destroys an unfinished file with the error ("Unexpected end of form") it also emits on
      // itself; with no listener here that error would be uncaught and take the whole process down.
      stream.on('error', (e: Error) => fail(malformedMultipart(e)));
      stream.on('end', () => {
        files.push({
          field,
          filename: info.filename ?? '',
          mimeType: info.mimeType,
          data: Buffer.concat(chunks),
        });
      });
    });
    bb.on('error', (e: Error) => fail(malformedMultipart(e)));
    bb.on('close', () => {
      if (!failed) resolve({ body: Object.fromEntries(fields), files });
    });
    req.pipe(bb);
  });
}
