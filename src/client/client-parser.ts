/**
 * The WHATWG HTML "server-sent events" parsing algorithm, incremental: bytes
 * (or text) go in as they arrive, in chunks of any size split anywhere, and
 * events come out exactly as a conforming `EventSource` dispatches them.
 *
 * Where other parsers go wrong, and this one does not:
 * - A CR that is the last byte received so far ends its line at once. A
 *   parser that waits to see whether LF follows never delivers the last event
 *   of a CR-only stream while the connection stays open. The LF, if it then
 *   comes, is skipped.
 * - The last event ID persists: every dispatched event carries the last ID
 *   seen on the stream (`lastEventId`), not just its own `id` field, and an
 *   `id:` that never reaches a blank line does not move it.
 * - One leading BOM is stripped even when its three bytes arrive one by one;
 *   a second BOM is data.
 *
 * Browser-safe: no Node APIs; bytes are decoded by `TextDecoder` in stream
 * mode, so a multi-byte character split across chunks decodes whole.
 */

/**
 * One dispatched event, as the parser hands it over.
 *
 * @example
 * ```ts
 * const p = new SseParser({ onEvent: (e: ParsedEvent) => console.log(e.type, e.data, e.lastEventId) });
 * p.feed('id: 7\nevent: tick\ndata: 1\n\n'); // tick 1 7
 * ```
 */
export interface ParsedEvent {
  /** The `event:` field, or `'message'` when it was absent or empty. */
  readonly type: string;
  /** The `data:` lines joined with LF. */
  readonly data: string;
  /** This event's own `id:` field, `undefined` when it had none (or only one containing NUL). */
  readonly id: string | undefined;
  /** The stream's last event ID after this event: what a reconnect sends as `Last-Event-ID`. */
  readonly lastEventId: string;
}

/**
 * What the parser calls back. Callbacks run synchronously inside `feed()`.
 *
 * @example
 * ```ts
 * const handlers: ParserHandlers = {
 *   onEvent: (e) => render(e.data),
 *   onRetry: (ms) => { reconnectDelay = ms; },
 *   onComment: (text) => console.debug('comment', text),
 * };
 * ```
 */
export interface ParserHandlers {
  onEvent(event: ParsedEvent): void;
  /** A `retry:` field of ASCII digits only: the new reconnection time in ms. */
  onRetry?(ms: number): void;
  /** A line starting with `:`; `text` is what follows the colon, one leading space removed. */
  onComment?(text: string): void;
}

const LF = 10;
const CR = 13;
const SPACE = 32;
const DIGITS = /^[0-9]+$/;

/**
 * An incremental SSE parser. Feed it the response body chunk by chunk; call
 * {@link SseParser.reset} when a new connection starts (the last event ID
 * is kept, as a reconnecting `EventSource` keeps it).
 *
 * @example
 * ```ts
 * const parser = new SseParser({ onEvent: (e) => console.log(e) });
 * const reader = response.body!.getReader();
 * for (;;) {
 *   const { done, value } = await reader.read();
 *   if (done) break;
 *   parser.feed(value);
 * }
 * ```
 */
export class SseParser {
  private readonly handlers: ParserHandlers;
  private decoder: TextDecoder | undefined;
  /** The start of a line whose end has not arrived yet. */
  private partial = '';
  /** The previous chunk ended in CR, so an LF that starts this one belongs to that line end. */
  private afterCR = false;
  /** Nothing but empty text has arrived on this stream yet: a BOM may still come. */
  private atStart = true;
  private data = '';
  private hasData = false;
  private eventType = '';
  private idBuffer: string;
  private idInEvent: string | undefined = undefined;
  private committedId: string;

  constructor(handlers: ParserHandlers, lastEventId = '') {
    this.handlers = handlers;
    this.idBuffer = lastEventId;
    this.committedId = lastEventId;
  }

  /** The last event ID string: the `id` of the last dispatched block that had one. */
  get lastEventId(): string {
    return this.committedId;
  }

  /**
   * Moves the last event ID, as an `id:` field followed by a blank line
   * would. The client uses it for a reset whose position came in its data.
   */
  setLastEventId(id: string): void {
    this.committedId = id;
    this.idBuffer = id;
  }

  /**
   * Forgets the current connection's half-read line and event, as the spec
   * requires when a stream ends: an event without its blank line is never
   * dispatched. The last event ID stays; a BOM may open the next stream.
   */
  reset(): void {
    this.decoder = undefined;
    this.partial = '';
    this.afterCR = false;
    this.atStart = true;
    this.data = '';
    this.hasData = false;
    this.eventType = '';
    this.idBuffer = this.committedId;
    this.idInEvent = undefined;
  }

  /** Parses the next piece of the stream: bytes (decoded as UTF-8) or text already decoded. */
  feed(chunk: Uint8Array | string): void {
    if (typeof chunk === 'string') {
      this.feedText(chunk);
      return;
    }
    // ignoreBOM keeps a BOM in the text, so the one rule below strips it for bytes and text alike.
    this.decoder ??= new TextDecoder('utf-8', { ignoreBOM: true });
    this.feedText(this.decoder.decode(chunk, { stream: true }));
  }

  private feedText(text: string): void {
    if (text.length === 0) return;
    let pos = 0;
    if (this.atStart) {
      this.atStart = false;
      if (text.charCodeAt(0) === 0xfeff) pos = 1;
    }
    if (this.afterCR && pos < text.length) {
      if (text.charCodeAt(pos) === LF) pos++;
      this.afterCR = false;
    }
    const end = text.length;
    while (pos < end) {
      const brk = lineBreak(text, pos);
      if (brk === -1) {
        this.partial += text.slice(pos);
        return;
      }
      const line = this.partial === '' ? text.slice(pos, brk) : this.partial + text.slice(pos, brk);
      this.partial = '';
      pos = brk + 1;
      if (text.charCodeAt(brk) === CR) {
        // A CR ends the line now; an LF right after it is the same line end, in this chunk or the next.
        if (pos === end) this.afterCR = true;
        else if (text.charCodeAt(pos) === LF) pos++;
      }
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      if (this.handlers.onComment !== undefined) {
        this.handlers.onComment(line.charCodeAt(1) === SPACE ? line.slice(2) : line.slice(1));
      }
      return;
    }
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.slice(line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1);
    }
    this.field(field, value);
  }

  private field(field: string, value: string): void {
    switch (field) {
      case 'data':
        // Joined with LF; the final LF is the one the spec strips at dispatch, so none is added here.
        this.data = this.hasData ? `${this.data}\n${value}` : value;
        this.hasData = true;
        return;
      case 'event':
        this.eventType = value;
        return;
      case 'id':
        if (value.indexOf('\0') === -1) {
          this.idBuffer = value;
          this.idInEvent = value;
        }
        return;
      case 'retry':
        if (DIGITS.test(value)) this.handlers.onRetry?.(Number.parseInt(value, 10));
        return;
      default:
      // Unknown fields are ignored, names are case-sensitive ("Data" is not "data").
    }
  }

  private dispatch(): void {
    // The last event ID moves at every blank line, even for a block with no data (an id-only block).
    this.committedId = this.idBuffer;
    const id = this.idInEvent;
    this.idInEvent = undefined;
    const type = this.eventType === '' ? 'message' : this.eventType;
    this.eventType = '';
    if (!this.hasData) return;
    const data = this.data;
    this.data = '';
    this.hasData = false;
    this.handlers.onEvent({ type, data, id, lastEventId: this.committedId });
  }
}

/** Index of the first CR or LF at or after `from`, or -1. */
function lineBreak(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === LF || c === CR) return i;
  }
  return -1;
}
