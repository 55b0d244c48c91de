import { InvalidArgumentError } from '../errors.ts';

/**
 * Framing of Server-Sent Events, following the WHATWG HTML "server-sent
 * events" parsing rules. Every other part of sluice that writes SSE goes
 * through here, so a frame is correct by construction: no value, whatever it
 * holds, can end a line early, add a field or dispatch an extra event.
 *
 * Decisions the spec leaves to the server:
 * - Output lines end in LF only; values are written after `": "` because a
 *   parser strips exactly one space after the colon, so a value that starts
 *   with a space survives.
 * - `event: ''` is treated as omitted: the parser maps an empty event type to
 *   "message", exactly as if the field were absent, so the line is dead weight.
 * - `id: ''` IS written: an empty `id:` field resets the client's last event
 *   ID (its next reconnect sends no `Last-Event-ID`), which is meaningful.
 * - An event with a name but no `data` still gets an empty `data:` line; the
 *   parser drops a block without data, so `{ event: 'done' }` would otherwise
 *   never fire a listener. A block with only `id` and/or `retry` gets no data
 *   line: that is the protocol's way to move the cursor or the reconnect delay
 *   without dispatching anything.
 * - A comment-only frame has no trailing blank line: a blank line would only
 *   dispatch an event that has data, so it is useless bytes on every heartbeat,
 *   and `formatEvent({ comment })` is then identical to `formatComment()`.
 * - Data travels as UTF-8, so lone surrogates in a string reach the client as
 *   U+FFFD, and CRLF or CR inside data arrive as LF (the parser joins data
 *   lines with LF); both are inherent in the wire format.
 */

/**
 * One Server-Sent Event. Every field is optional; unknown keys are ignored.
 *
 * - `data`: a string is sent as is (line breaks split it into several `data:`
 *   lines); a `Uint8Array`/`Buffer` or `ArrayBuffer` is decoded as UTF-8;
 *   anything else is sent as JSON.
 * - `event`: the event type (listened to with `addEventListener(type)`); must
 *   not contain CR, LF or NUL. Empty means "message".
 * - `id`: the event ID the client echoes as `Last-Event-ID` on reconnect; a
 *   number is converted to a string; must not contain CR, LF or NUL.
 * - `retry`: the client's reconnect delay in milliseconds, a non-negative integer.
 * - `comment`: text the client ignores, sent before the fields.
 *
 * @example
 * ```ts
 * const ev: SseEvent = { event: 'tick', id: 7, data: { price: 101.5 } };
 * es.send(ev);
 * ```
 */
export interface SseEvent {
  data?: unknown;
  event?: string;
  id?: string | number;
  retry?: number;
  comment?: string;
}

// Global regexes are safe to share here: String.prototype.replace resets lastIndex.
const LINE_BREAK = /\r\n|[\r\n]/g;

/**
 * Frames one event into the exact bytes to write. Called once per event; the
 * Buffer may be written to any number of clients, so broadcast frames once.
 *
 * @throws {InvalidArgumentError} when a field breaks the SSE rules (see
 * {@link assertEventFields}).
 * @example
 * ```ts
 * const frame = encodeEvent({ event: 'progress', data: { done: 3, total: 10 } });
 * // <Buffer 'event: progress\ndata: {"done":3,"total":10}\n\n'>
 * for (const res of clients) res.write(frame);
 * ```
 */
export function encodeEvent(ev: SseEvent): Buffer {
  return Buffer.from(formatEvent(ev), 'utf8');
}

/**
 * Frames one event as a string, for callers that concatenate several frames
 * before writing. Same framing as {@link encodeEvent}.
 *
 * @throws {InvalidArgumentError} when a field breaks the SSE rules.
 * @example
 * ```ts
 * formatEvent({ data: 'line 1\nline 2', id: 42 });
 * // 'id: 42\ndata: line 1\ndata: line 2\n\n'
 * formatEvent({ comment: 'keep-alive' }); // ': keep-alive\n'
 * ```
 */
export function formatEvent(ev: SseEvent): string {
  if (typeof ev !== 'object' || ev === null || Array.isArray(ev)) throw notAnEvent(ev);
  // Each property is read exactly once: a getter cannot pass validation with one
  // value and then be written with another.
  const { data, event, id, retry, comment } = ev;
  return formatFields(data, event, id, retry, comment);
}

/**
 * @internal {@link formatEvent} on field values already read, for a caller
 * that compares them first (`es.send()` reuses the frame of an event object
 * sent again unchanged).
 */
export function formatFields(
  data: unknown,
  event: unknown,
  id: unknown,
  retry: unknown,
  comment: unknown,
): string {
  // The overwhelmingly common shape; skip the general assembly below.
  if (
    typeof data === 'string' &&
    event === undefined &&
    id === undefined &&
    retry === undefined &&
    comment === undefined
  ) {
    return `${dataLines(data)}\n`;
  }

  let fields = '';
  let named = false;
  if (event !== undefined) {
    const name = eventValue(event);
    if (name !== '') {
      fields = `event: ${name}\n`;
      named = true;
    }
  }
  if (id !== undefined) fields += `id: ${idValue(id)}\n`;
  if (retry !== undefined) fields += `retry: ${retryValue(retry)}\n`;
  if (data !== undefined) fields += dataLines(dataText(data));
  else if (named) fields += 'data: \n';

  const head = comment === undefined ? '' : formatComment(comment as string);
  return fields === '' ? head : `${head}${fields}\n`;
}

/**
 * Frames a comment: one `": "` line per line of `text` (split on CR, LF and
 * CRLF). Clients ignore comments, which is what makes them the heartbeat that
 * keeps idle connections open through proxies. No blank line follows: a
 * comment never dispatches an event, so none is needed.
 *
 * @throws {InvalidArgumentError} when `text` is not a string.
 * @example
 * ```ts
 * socket.write(formatComment('ping'));  // ': ping\n'
 * formatComment('a\r\nb');               // ': a\n: b\n'
 * ```
 */
export function formatComment(text: string): string {
  if (typeof text !== 'string') throw new InvalidArgumentError('comment', 'must be a string', text);
  return prefixLines(': ', text);
}

/**
 * Validates an event without framing it, for callers that want to fail early
 * (for example before queueing it for later delivery). When this returns,
 * {@link encodeEvent} on the same, unchanged event does not throw.
 *
 * Rules: `ev` is a plain object (not null or an array); `event` is a string and
 * `id` a string or finite number, neither containing CR, LF or NUL (the client
 * would end the line there, or, for an ID with NUL, silently ignore it);
 * `retry` is a non-negative safe integer; `comment` is a string; `data` is a
 * string, bytes, or a JSON-serializable value (so object data is stringified
 * here once to prove it).
 *
 * @throws {InvalidArgumentError} naming the offending field (`event`, `id`,
 * `retry`, `comment`, `data`), or `ev` when the event itself is not an object.
 * @example
 * ```ts
 * assertEventFields({ event: 'update', id: 1, data: {} }); // ok
 * assertEventFields({ id: 'a\nb' }); // throws InvalidArgumentError, argument 'id'
 * ```
 */
export function assertEventFields(ev: SseEvent): void {
  if (typeof ev !== 'object' || ev === null || Array.isArray(ev)) throw notAnEvent(ev);
  const { data, event, id, retry, comment } = ev;
  if (event !== undefined) eventValue(event);
  if (id !== undefined) idValue(id);
  if (retry !== undefined) retryValue(retry);
  if (comment !== undefined && typeof comment !== 'string') {
    throw new InvalidArgumentError('comment', 'must be a string', comment);
  }
  if (data !== undefined && typeof data !== 'string') dataText(data);
}

/** `data: ` before every line, so a line break in the data can only start another data line. */
function dataLines(text: string): string {
  return prefixLines('data: ', text);
}

/**
 * `prefix` before every line of `text`, each ending in LF: the one way a value
 * with line breaks is written, so no line of it can become a field of its own.
 * The scan first spares the regex for the usual single-line value.
 */
function prefixLines(prefix: string, text: string): string {
  return text.indexOf('\n') === -1 && text.indexOf('\r') === -1
    ? `${prefix}${text}\n`
    : `${prefix}${text.replace(LINE_BREAK, `\n${prefix}`)}\n`;
}

function dataText(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data instanceof Uint8Array) {
    // A view on the same memory: decoding needs no copy of the bytes.
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  }
  // JSON of an ArrayBuffer is "{}", never what the caller meant.
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (err) {
    // BigInt and cyclic structures; keep the engine's explanation.
    const reason = err instanceof Error ? err.message : String(err);
    throw new InvalidArgumentError('data', `must be JSON-serializable: ${reason}`, data);
  }
  // Functions, symbols and the like serialize to nothing at all.
  if (json === undefined) throw new InvalidArgumentError('data', 'must be JSON-serializable', data);
  return json;
}

function eventValue(event: unknown): string {
  if (typeof event !== 'string') throw new InvalidArgumentError('event', 'must be a string', event);
  if (hasLineBreakOrNul(event))
    throw new InvalidArgumentError('event', 'must not contain CR, LF or NUL', event);
  return event;
}

function idValue(id: unknown): string {
  if (typeof id === 'number') {
    // String(NaN) or String(Infinity) would be a valid but meaningless cursor.
    if (!Number.isFinite(id)) throw new InvalidArgumentError('id', 'must be a finite number or a string', id);
    return String(id);
  }
  if (typeof id !== 'string') throw new InvalidArgumentError('id', 'must be a string or a number', id);
  if (hasLineBreakOrNul(id)) throw new InvalidArgumentError('id', 'must not contain CR, LF or NUL', id);
  return id;
}

function retryValue(retry: unknown): number {
  // The parser accepts ASCII digits only: no sign, fraction or exponent, which
  // String() of a non-negative safe integer never produces (-0 prints as "0").
  if (typeof retry !== 'number' || !Number.isSafeInteger(retry) || retry < 0) {
    throw new InvalidArgumentError('retry', 'must be a non-negative integer (milliseconds)', retry);
  }
  return retry;
}

function hasLineBreakOrNul(value: string): boolean {
  return value.indexOf('\n') !== -1 || value.indexOf('\r') !== -1 || value.indexOf('\0') !== -1;
}

function notAnEvent(ev: unknown): InvalidArgumentError {
  return new InvalidArgumentError('ev', 'must be an event object such as { data }', ev);
}
