/**
 * What the Redis adapter stores per event and how it reads it back. Anything
 * read from Redis is untrusted: another program may write to the same keys,
 * or a value may be corrupt. So every field is checked before a record is
 * made of it, and the stored SSE body must be exactly what the framework's
 * encoder produces (only `event:`, `data:` and `retry:` lines, one blank line
 * at the end). A body that would add an `id:` field, dispatch an event early,
 * or smuggle a CR is refused, so nothing read from Redis can inject a field
 * or an event into a stream.
 */
import type { ChannelMessage, ChannelRecord } from '../channel/channel-adapter.ts';
import { parseId } from '../channel/channel-adapter.ts';

/** The payload as stored: `e` event type, `d` data (JSON round trip), `b` SSE body without `id:`. */
interface Payload {
  e?: unknown;
  d?: unknown;
  b?: unknown;
}

// Each alternative starts with its own literal and stops at LF, so matching is linear.
const BODY = /^(?:(?:data: [^\r\n]*|event: [^\r\n\0]+|retry: \d{1,15})\n)+\n$/;
const EVENT = /^[^\r\n\0]+$/;
const TIME = /^\d{1,16}$/;

/**
 * Encodes a message for the stream and the doorbell. Binary data travels as
 * its UTF-8 text (as subscribers receive it); everything else as JSON.
 */
export function encodePayload(message: ChannelMessage): string {
  let data = message.data;
  if (data instanceof Uint8Array)
    data = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString();
  else if (data instanceof ArrayBuffer) data = Buffer.from(data).toString();
  return JSON.stringify({ e: message.event, d: data, b: message.body });
}

/** Why an entry was refused, or the record made of it. */
export type Decoded = ChannelRecord | string;

/**
 * Makes a record of an id, a time and a payload read from Redis, or says why
 * it cannot (the caller skips it and logs the reason).
 */
export function decodeEntry(id: unknown, time: unknown, payload: unknown): Decoded {
  if (typeof id !== 'string' || parseId(id) === undefined) return `malformed id ${describe(id)}`;
  if (typeof time !== 'string' || !TIME.test(time)) return `entry ${id}: malformed time ${describe(time)}`;
  if (typeof payload !== 'string') return `entry ${id}: no payload`;
  let p: Payload;
  try {
    p = JSON.parse(payload) as Payload;
  } catch {
    return `entry ${id}: payload is not JSON`;
  }
  if (typeof p !== 'object' || p === null) return `entry ${id}: payload is not an object`;
  const { e, d, b } = p;
  if (typeof b !== 'string' || !BODY.test(b)) return `entry ${id}: body is not a well-formed SSE event`;
  if (e !== undefined && (typeof e !== 'string' || !EVENT.test(e))) return `entry ${id}: bad event type`;
  return { id, event: e, data: d, body: b, time: Number(time), wire: undefined };
}

/** Decodes a stream entry as XRANGE returns it: `[id, [field, value, ...]]`. */
export function decodeStreamEntry(entry: unknown): { id: string | undefined; record: Decoded } {
  if (!Array.isArray(entry) || entry.length !== 2) return { id: undefined, record: 'not a stream entry' };
  const [id, fields] = entry as [unknown, unknown];
  let time: unknown;
  let payload: unknown;
  if (Array.isArray(fields)) {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 't') time = fields[i + 1];
      else if (fields[i] === 'p') payload = fields[i + 1];
    }
  }
  return { id: typeof id === 'string' ? id : undefined, record: decodeEntry(id, time, payload) };
}

/** Decodes a doorbell message, `<id> <time> <payload>`. */
export function decodeDoorbell(message: string): Decoded {
  const a = message.indexOf(' ');
  const b = a === -1 ? -1 : message.indexOf(' ', a + 1);
  if (b === -1) return 'malformed doorbell';
  return decodeEntry(message.slice(0, a), message.slice(a + 1, b), message.slice(b + 1));
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
