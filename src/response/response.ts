import { type ServerResponse, STATUS_CODES } from 'node:http';
import { InvalidArgumentError, ResponseCommittedError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import { EventStream, type EventStreamOptions } from '../sse/event-stream.ts';
import { sprintf, toText } from './response-format.ts';
import { ResponseHeader } from './response-header.ts';
import { carriesBody, writeChunk } from './response-writer.ts';

const EMPTY = Buffer.alloc(0);

/**
 * Percent-encodes what is not ASCII in a URL, leaving existing escapes alone: Node refuses a header
 * value above U+00FF, and would send U+0080–U+00FF as Latin-1 bytes no browser reads as UTF-8.
 */
function encodeNonAscii(url: string): string {
  try {
    return url.replace(/[^\x00-\x7f]+/g, encodeURI);
  } catch {
    // encodeURI throws URIError on a lone surrogate, which no URL can carry.
    throw new InvalidArgumentError(
      'location',
      'must be well-formed Unicode (a lone surrogate was found)',
      url,
    );
  }
}

/**
 * The buffered response of a request, as GoFrame's `r.Response`. Writes
 * collect in a buffer that is sent in one piece, with its `Content-Length`,
 * when the handler chain ends. `flush()` instead commits the response and
 * sends what is buffered now, which is how a handler streams.
 *
 * @example
 * ```ts
 * s.bindHandler('/count', async (r) => {
 *   for (let i = 0; i < 3; i++) {
 *     r.response.writefln('data: %d\n', i);
 *     if (!(await r.response.flush())) return; // false: the client is gone
 *   }
 * });
 * ```
 */
export class Response {
  /** The request this response answers. */
  readonly request: Request;
  /** @internal */ readonly raw: ServerResponse;
  /** @internal */ chunks: (string | Buffer)[] = [];
  /** @internal */ written = 0;
  /** @internal */ committed = false;
  /** @internal The SSE stream opened by `sse()`, so an error after it began can be reported in-band. */
  eventStream: EventStream | undefined = undefined;
  private headerView: ResponseHeader | undefined = undefined;

  constructor(request: Request, raw: ServerResponse) {
    this.request = request;
    this.raw = raw;
  }

  /** The response headers; changing them after commit throws. Made on first use. */
  get header(): ResponseHeader {
    this.headerView ??= new ResponseHeader(this.raw, this);
    return this.headerView;
  }

  /** The status code; setting it after commit throws {@link ResponseCommittedError}. */
  get status(): number {
    return this.raw.statusCode;
  }

  set status(code: number) {
    if (this.isCommitted()) throw new ResponseCommittedError(`set status ${code}`);
    if (!Number.isInteger(code) || code < 100 || code > 999) {
      throw new InvalidArgumentError('status', 'must be an integer from 100 to 999', code);
    }
    this.raw.statusCode = code;
  }

  /** Whether status and headers were sent. */
  get headersSent(): boolean {
    return this.raw.headersSent;
  }

  /**
   * Whether the response was committed (by `flush()`, `sse()`, a returned
   * stream or the raw writer): from then on status and headers are fixed.
   */
  isCommitted(): boolean {
    return this.committed || this.raw.headersSent;
  }

  /** Appends values to the buffer: strings as they are, bytes raw, objects as JSON. */
  write(...values: unknown[]): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v === 'string') this.chunks.push(v);
      else if (v instanceof Uint8Array) this.chunks.push(Buffer.isBuffer(v) ? v : Buffer.from(v));
      else if (v !== undefined && v !== null) this.chunks.push(toText(v));
    }
  }

  /** Like `write`, then a newline. */
  writeln(...values: unknown[]): void {
    this.write(...values);
    this.chunks.push('\n');
  }

  /** Appends printf-style formatted text (`%s %d %v %j %f ...`, see {@link sprintf}). */
  writef(format: string, ...args: unknown[]): void {
    this.chunks.push(sprintf(format, ...args));
  }

  /** Like `writef`, then a newline. */
  writefln(format: string, ...args: unknown[]): void {
    this.chunks.push(`${sprintf(format, ...args)}\n`);
  }

  /** Writes a value as JSON and sets `Content-Type: application/json` unless a type was already chosen. */
  writeJson(value: unknown): void {
    if (!this.isCommitted() && !this.raw.hasHeader('content-type')) {
      this.raw.setHeader('Content-Type', 'application/json; charset=utf-8');
    }
    this.chunks.push(JSON.stringify(value) ?? 'null');
  }

  /** Replaces whatever is buffered with these values. */
  writeOver(...values: unknown[]): void {
    this.chunks.length = 0;
    this.write(...values);
  }

  /**
   * Sets the status and writes `content`, or the status text (`Not Found`)
   * when there is none and nothing is buffered, as GoFrame's `WriteStatus`.
   * A status that has no body (204, 304) gets no text.
   */
  writeStatus(code: number, content?: unknown): void {
    this.status = code;
    if (content !== undefined) this.write(content);
    else if (this.chunks.length === 0 && code >= 200 && code !== 204 && code !== 304) {
      // statusMessage is only filled in when Node writes the head, so it is empty here.
      this.chunks.push(this.raw.statusMessage || STATUS_CODES[code] || String(code));
    }
  }

  /** Writes the values and ends the current handler, as `write` + `r.exit()`. */
  writeExit(...values: unknown[]): never {
    this.write(...values);
    return this.request.exit();
  }

  /**
   * Redirects: sets `Location` and the status (302 unless given). Characters
   * beyond ASCII are percent-encoded as UTF-8, as a browser would put them in
   * the address bar; control characters (CR and LF above all, which would
   * inject headers) are refused.
   *
   * @example
   * ```ts
   * r.response.redirectTo('/login?next=' + encodeURIComponent(r.url));
   * r.response.redirectTo('https://example.com/', 301);
   * ```
   */
  redirectTo(location: string, code = 302): void {
    if (typeof location !== 'string' || location.length === 0) {
      throw new InvalidArgumentError('location', 'must be a non-empty URL', location);
    }
    if (/[\x00-\x1f\x7f]/.test(location)) {
      throw new InvalidArgumentError(
        'location',
        'must not contain CR, LF or other control characters',
        location,
      );
    }
    if (!Number.isInteger(code) || code < 300 || code > 399) {
      throw new InvalidArgumentError('code', 'must be a 3xx status', code);
    }
    const target = encodeNonAscii(location);
    this.status = code;
    this.raw.setHeader('Location', target);
  }

  /** The buffered, not yet sent, content as a string. */
  bufferString(): string {
    return joinChunks(this.chunks).toString();
  }

  /** The buffered, not yet sent, byte count. */
  bufferLength(): number {
    let n = 0;
    for (const c of this.chunks) n += typeof c === 'string' ? Buffer.byteLength(c) : c.length;
    return n;
  }

  /** Drops what is buffered. */
  clearBuffer(): void {
    this.chunks.length = 0;
  }

  /** Body bytes already handed to the socket. */
  bytesWritten(): number {
    return this.written;
  }

  /**
   * Commits the response (status and headers are sent if they were not) and
   * writes the buffer now, chunked. Resolves `true` once the socket accepted
   * the bytes — after a `drain` when the socket was full, which is what keeps
   * a fast producer from filling memory for a slow client. Resolves `false`,
   * and never throws, when the client is gone: the same rule as every other
   * streaming write in sluice (`es.send()` too).
   */
  flush(): Promise<boolean> {
    this.commit();
    const body = this.takeChunks();
    if (body.length === 0) {
      if (this.raw.destroyed) return Promise.resolve(false);
      if (!this.raw.headersSent) this.raw.flushHeaders();
      return Promise.resolve(true);
    }
    return writeChunk(this, body);
  }

  /**
   * The Node `ServerResponse`: the escape hatch for what sluice does not
   * wrap. Writing to it commits the response as Node sees it.
   */
  rawWriter(): ServerResponse {
    return this.raw;
  }

  /**
   * Opens a Server-Sent Events stream: commits the response now as
   * `text/event-stream` and returns the stream. Framing is done by sluice,
   * so no data can break an event or inject a field.
   *
   * @example
   * ```ts
   * const es = r.response.sse();
   * await es.send({ event: 'hello', data: { at: Date.now() } });
   * await es.closed; // keeps the response open until the client leaves
   * ```
   */
  sse(options?: EventStreamOptions): EventStream {
    if (this.eventStream !== undefined) {
      throw new InvalidArgumentError(
        'sse',
        'was already called for this response; use the stream it returned',
      );
    }
    if (this.isCommitted()) throw new ResponseCommittedError('start an SSE stream');
    const es = new EventStream(this, options);
    this.eventStream = es;
    return es;
  }

  /** @internal Marks the response committed; the headers leave with the first write. */
  commit(): void {
    this.committed = true;
  }

  /** @internal Ends the response when the chain is done: the buffer goes out in one write. */
  finish(): void {
    const raw = this.raw;
    if (raw.writableEnded || raw.destroyed) return;
    const body = this.takeChunks();
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (!this.isCommitted()) {
      const code = raw.statusCode;
      if (code !== 204 && code !== 304 && code >= 200) {
        if (size > 0 && !raw.hasHeader('content-type')) {
          raw.setHeader('Content-Type', 'text/plain; charset=utf-8');
        }
        if (!raw.hasHeader('content-length')) raw.setHeader('Content-Length', size);
      }
    }
    if (carriesBody(raw)) this.written += size;
    if (size > 0) raw.end(body);
    else raw.end();
  }

  /**
   * Empties the buffer into one piece to send. A lone string (the usual writef + flush loop, or
   * one write before the end) stays a string: Node then sends head and body in one write and
   * no Buffer copy is made, where a Buffer would cost a writev of two.
   */
  private takeChunks(): string | Buffer {
    const chunks = this.chunks;
    this.chunks = [];
    const only = chunks.length === 1 ? chunks[0] : undefined;
    return typeof only === 'string' ? only : joinChunks(chunks);
  }
}

function joinChunks(chunks: readonly (string | Buffer)[]): Buffer {
  if (chunks.length === 0) return EMPTY;
  if (chunks.length === 1) {
    const c = chunks[0]!;
    return typeof c === 'string' ? Buffer.from(c) : c;
  }
  return Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
}
