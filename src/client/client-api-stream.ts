/**
 * The typed client's NDJSON and text streams: an async iterable over a `fetch` body, read only as
 * fast as the loop asks (no buffering of the whole body), closed by `break`, `close()` or the
 * call's `signal`. Browser-safe: no Node imports.
 */

/** How a byte-stream route's body is cut into items: one JSON value per line, or text as it comes. */
export type ByteStreamKind = 'ndjson' | 'text';

/**
 * The items of an NDJSON or text stream route, as a `for await` loop reads them. The request is
 * sent on the first read; each line of an NDJSON body is parsed as soon as its bytes arrive.
 * Leaving the loop (`break`, `return`, a throw) or `close()` aborts the request; the call's
 * `signal` aborts it too, and the loop then rejects with the signal's reason. A non-2xx answer
 * rejects with an `ApiError` carrying its status and, for a refused request, the problems.
 *
 * @example
 * ```ts
 * const rows = api.reports.rows({ query: { from: '2026-01-01' } });
 * for await (const row of rows) {
 *   table.append(row);                 // typed by the route's ndjson item schema
 *   if (table.full) break;             // aborts the request
 * }
 * ```
 */
export interface ApiStream<T> extends AsyncIterable<T> {
  /** Stops reading and aborts the request; a pending read ends as done. Safe to call more than once. */
  close(): void;
}

/** What the stream needs from its client: the request, made on the first read, and the error type. */
export interface StreamRequest {
  readonly kind: ByteStreamKind;
  /** Sends the request with this signal; resolves with the response head. */
  open(signal: AbortSignal): Promise<Response>;
  /** Turns a non-2xx answer (its body read) into the error the loop rejects with. */
  refuse(response: Response): Promise<Error>;
  /** The error of a 2xx answer that is not what the route promised (`code` -1 in an `ApiError`). */
  broken(status: number, message: string, cause?: unknown): Error;
  readonly signal: AbortSignal | undefined;
}

/** @internal The one iterator of a byte-stream call (a body can be read once). */
export class ByteStream<T> implements ApiStream<T>, AsyncIterator<T> {
  private readonly request: StreamRequest;
  private readonly controller = new AbortController();
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined = undefined;
  private readonly decoder = new TextDecoder();
  /** NDJSON: the bytes of a line not ended yet, as text. */
  private partial = '';
  /** NDJSON: parsed lines waiting for the loop; one read can bring many. */
  private readonly ready: T[] = [];
  private head = 0;
  private status = 0;
  private line = 0;
  private done = false;
  /** The request's head, awaited by every read (two `next()` calls at once share it). */
  private opened: Promise<void> | undefined = undefined;
  private readonly onAbort = (): void => this.controller.abort(this.request.signal?.reason);

  constructor(request: StreamRequest) {
    this.request = request;
    if (request.signal?.aborted) this.controller.abort(request.signal.reason);
    else request.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.head < this.ready.length) return this.take();
      if (this.done) return { done: true, value: undefined };
      const chunk = await this.read();
      if (chunk === undefined) {
        const last = this.finishText();
        this.close();
        if (last !== undefined) return { done: false, value: last };
        if (this.head < this.ready.length) return this.take();
        return { done: true, value: undefined };
      }
      const text = this.decoder.decode(chunk, { stream: true });
      if (this.request.kind === 'text') {
        if (text !== '') return { done: false, value: text as T };
      } else this.split(text);
    }
  }

  async return(): Promise<IteratorResult<T>> {
    this.close();
    return { done: true, value: undefined };
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.request.signal?.removeEventListener('abort', this.onAbort);
    this.controller.abort();
    this.reader?.cancel().catch(() => {});
  }

  private take(): IteratorResult<T> {
    const value = this.ready[this.head++] as T;
    if (this.head === this.ready.length) {
      this.ready.length = 0;
      this.head = 0;
    }
    return { done: false, value };
  }

  /** The next chunk of the body, `undefined` at its clean end; opens the request on the first call. */
  private async read(): Promise<Uint8Array | undefined> {
    try {
      if (this.opened === undefined) {
        this.controller.signal.throwIfAborted();
        this.opened = this.open();
      }
      await this.opened;
      if (this.done) return undefined;
      const reader = this.reader as ReadableStreamDefaultReader<Uint8Array>;
      const { done, value } = await reader.read();
      return done || this.done ? undefined : value;
    } catch (err) {
      // Closed by the app meanwhile: the loop ends as it asked, not with the abort it caused.
      if (this.done && !this.request.signal?.aborted) return undefined;
      this.close();
      if (this.request.signal?.aborted) throw this.request.signal.reason;
      if (this.status === 0 || isCoded(err)) throw err;
      throw this.request.broken(this.status, `The stream broke off: ${messageOf(err)}`, err);
    }
  }

  private async open(): Promise<void> {
    const response = await this.request.open(this.controller.signal);
    if (response.status < 200 || response.status > 299) throw await this.request.refuse(response);
    this.status = response.status;
    const type = (response.headers.get('content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
    if (this.request.kind === 'ndjson' && !NDJSON_TYPES.has(type)) {
      await response.body?.cancel().catch(() => {});
      throw this.request.broken(
        response.status,
        `Expected application/x-ndjson, got ${type || 'no content type'}`,
      );
    }
    if (response.body === null) {
      this.reader = new ReadableStream<Uint8Array>({ start: (c) => c.close() }).getReader();
      return;
    }
    this.reader = response.body.getReader();
  }

  /** Cuts decoded text into lines and parses each whole one; the unfinished rest waits for more bytes. */
  private split(text: string): void {
    let rest = this.partial + text;
    let nl = rest.indexOf('\n');
    while (nl !== -1) {
      this.parse(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
      nl = rest.indexOf('\n');
    }
    this.partial = rest;
  }

  private parse(raw: string): void {
    this.line++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    // Blank lines carry no item: some writers end with one, some keep the connection warm with them.
    if (line.trim() === '') return;
    try {
      this.ready.push(JSON.parse(line) as T);
    } catch (err) {
      this.close();
      throw this.request.broken(
        this.status,
        `NDJSON line ${this.line} is not JSON: ${line.slice(0, 80)}`,
        err,
      );
    }
  }

  /** At the body's clean end: text's last bytes, or NDJSON's last line when it had no newline. */
  private finishText(): T | undefined {
    const tail = this.decoder.decode();
    if (this.request.kind === 'text') return tail === '' ? undefined : (tail as T);
    const rest = this.partial + tail;
    this.partial = '';
    if (rest !== '') this.parse(rest);
    return undefined;
  }
}

const NDJSON_TYPES: ReadonlySet<string> = new Set([
  'application/x-ndjson',
  'application/jsonl',
  'application/ndjson',
]);

/** An error the stream made itself (an `ApiError`), passed on as it is. */
function isCoded(err: unknown): boolean {
  return err instanceof Error && err.name === 'ApiError';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
