// The load client's view of one HTTP/1.1 response: status line and headers,
// then the body either chunked or delimited by close, then SSE lines. It
// parses bytes in place, one pass, no per-event allocation, because at 2,000
// clients the client must parse as fast as the fastest server can write.
//
// Chunked framing is removed before the SSE parser sees the bytes: a chunk
// boundary may fall anywhere, including inside an event or between the two
// newlines that end it, so scanning the raw body for "\n\n" would be wrong.

/** Receives each dispatched event. `sentUs` is NaN when the data has a single number. */
export interface EventSink {
  onEvent(conn: SseConn, seq: number, sentUs: number): void;
}

const LF = 0x0a;
const CR = 0x0d;
const LINE_MAX = 512;
const HEAD_MAX = 16 * 1024;

// Chunked-decoder states.
const C_SIZE = 0;
const C_EXT = 1;
const C_DATA = 2;
const C_DATA_END = 3;
const C_DONE = 4;

export class SseConn {
  status = 0;
  chunked = false;
  /** The response ended: last chunk seen, or the socket closed. */
  ended = false;
  closed = false;
  /** Protocol errors: bad status, bad framing, unparsable data line. */
  parseErrors = 0;
  /** Events out of order, duplicated or missing (see the load client). */
  orderErrors = 0;
  lastSeq = 0;
  pings = 0;
  bodyBytes = 0;
  events = 0;

  private head = '';
  private inBody = false;
  private cState = C_SIZE;
  private cSize = 0;
  private cRem = 0;
  private readonly line = Buffer.allocUnsafe(LINE_MAX);
  private lineLen = 0;
  private afterCr = false;
  private hasData = false;
  private seq = 0;
  private sent = 0;

  constructor(private readonly sink: EventSink) {}

  /** Parses `buf[start..end)`; the bytes are not kept, so the caller may reuse `buf`. */
  feed(buf: Buffer, start = 0, end = buf.length): void {
    if (this.ended) return;
    let i = start;
    if (!this.inBody) {
      i = this.feedHead(buf, start, end);
      if (i < 0) return;
    }
    if (this.chunked) this.feedChunked(buf, i, end);
    else this.feedSse(buf, i, end);
  }

  /** Returns where the body starts in `buf`, or -1 while the head is incomplete. */
  private feedHead(buf: Buffer, start: number, end: number): number {
    const before = this.head.length - start;
    this.head += buf.toString('latin1', start, end);
    const headEnd = this.head.indexOf('\r\n\r\n');
    if (headEnd < 0) {
      if (this.head.length > HEAD_MAX) this.fail();
      return -1;
    }
    const head = this.head.slice(0, headEnd).toLowerCase();
    this.head = '';
    this.inBody = true;
    this.status = Number(head.slice(9, 12));
    if (this.status !== 200) this.parseErrors++;
    this.chunked = /\r\ntransfer-encoding:[ \t]*chunked/.test(head);
    return headEnd + 4 - before;
  }

  private feedChunked(buf: Buffer, i: number, n: number): void {
    while (i < n) {
      switch (this.cState) {
        case C_SIZE: {
          const c = buf[i++]!;
          const v = hexValue(c);
          if (v >= 0) this.cSize = this.cSize * 16 + v;
          else if (c === LF) this.endSizeLine();
          else if (c === 0x3b) this.cState = C_EXT;
          else if (c !== CR) this.fail();
          break;
        }
        case C_EXT:
          if (buf[i++] === LF) this.endSizeLine();
          break;
        case C_DATA: {
          const take = Math.min(this.cRem, n - i);
          this.feedSse(buf, i, i + take);
          i += take;
          this.cRem -= take;
          if (this.cRem === 0) this.cState = C_DATA_END;
          break;
        }
        case C_DATA_END:
          if (buf[i++] === LF) this.cState = C_SIZE;
          break;
        default:
          // Trailers after the last chunk carry nothing we measure.
          return;
      }
    }
  }

  private endSizeLine(): void {
    if (this.cSize === 0) {
      this.cState = C_DONE;
      this.ended = true;
    } else {
      this.cRem = this.cSize;
      this.cSize = 0;
      this.cState = C_DATA;
    }
  }

  // Lines end at CR, LF or CRLF (WHATWG), and a CRLF may straddle two reads.
  private feedSse(buf: Buffer, start: number, end: number): void {
    this.bodyBytes += end - start;
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if (c === LF) {
        if (this.afterCr) this.afterCr = false;
        else this.endLine();
      } else if (c === CR) {
        this.endLine();
        this.afterCr = true;
      } else {
        this.afterCr = false;
        if (this.lineLen < LINE_MAX) this.line[this.lineLen] = c;
        this.lineLen++;
      }
    }
  }

  private endLine(): void {
    const len = this.lineLen;
    this.lineLen = 0;
    if (len === 0) {
      if (this.hasData) {
        this.hasData = false;
        this.events++;
        this.sink.onEvent(this, this.seq, this.sent);
      }
      return;
    }
    const l = this.line;
    // Only `data:` matters; `id:`, `event:`, `retry:` and comments are skipped.
    if (len < 5 || l[0] !== 0x64 || l[1] !== 0x61 || l[2] !== 0x74 || l[3] !== 0x61 || l[4] !== 0x3a) return;
    if (len > LINE_MAX) this.parseErrors++;
    else this.parseData(len);
  }

  // "data: <seq> <µs>", possibly JSON-quoted by a library's serializer.
  private parseData(len: number): void {
    const l = this.line;
    let i = 5;
    while (i < len && (l[i] === 0x20 || l[i] === 0x22)) i++;
    let seq = 0;
    const seqStart = i;
    while (i < len && l[i]! >= 0x30 && l[i]! <= 0x39) seq = seq * 10 + l[i++]! - 0x30;
    if (i === seqStart) {
      this.parseErrors++;
      return;
    }
    while (i < len && l[i] === 0x20) i++;
    let sent = 0;
    const sentStart = i;
    while (i < len && l[i]! >= 0x30 && l[i]! <= 0x39) sent = sent * 10 + l[i++]! - 0x30;
    this.seq = seq;
    this.sent = i === sentStart ? Number.NaN : sent;
    this.hasData = true;
  }

  private fail(): void {
    this.parseErrors++;
    this.cState = C_DONE;
    this.ended = true;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
