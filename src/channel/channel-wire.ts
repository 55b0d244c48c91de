/**
 * The bytes a channel writes, and the one shortcut it takes to write them.
 *
 * Node's `res.write()` on a chunked HTTP/1.1 response costs four socket
 * writes per call (size line, CRLF, data, CRLF) plus a cork and a deferred
 * uncork, all repeated for every subscriber of every event. A channel knows
 * the frame before it knows the subscribers, so it builds the chunk — size
 * line, frame, CRLF — once per event and hands that one Buffer to each
 * socket. On the wire this is byte for byte what `res.write(frame)` sends.
 *
 * The shortcut bypasses `ServerResponse`, so it is taken only when nothing can
 * tell the difference. Some of that holds for the stream's whole life and is
 * checked once, when it subscribes ({@link chunkedSocketOf}): HTTP/1.1
 * chunked encoding, the socket bound to this response, no content encoding
 * and no body encoder (`compress()`), `write` not replaced by a wrapper
 * (loggers, foreign compression middleware). The rest is
 * checked on every write ({@link socketIsCaughtUp}): the headers are on the
 * socket and the response holds no byte of its own. Anything else goes
 * through `EventStream`'s `writeFrameSync`, which is always correct, only
 * slower.
 *
 * Both paths may be mixed on one stream only because of that per-write
 * check. `res.write` does not always reach the socket at once: Node 24 keeps
 * the chunks written in one tick in the response and sends them as one chunk
 * when the tick ends; any version keeps them in `outputData` while the socket
 * serves an earlier response. A frame written to the socket meanwhile would
 * overtake them. So the socket is used only when the response holds nothing
 * (`res.writableLength` is the socket's own), which keeps call order on the
 * wire whatever the response buffers, and where.
 */
import { type OutgoingHttpHeader, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { InvalidArgumentError } from '../errors.ts';
import { encodeEvent, formatEvent } from '../sse/encoder.ts';
import type { EventStream } from '../sse/event-stream.ts';
import type { ChannelMessage, ChannelRecord, ResetReason, Wire } from './channel-adapter.ts';

const CRLF = '\r\n';

/**
 * The event a channel publishes: like `es.send()`'s, without `id`, which the channel assigns.
 *
 * @example
 * ```ts
 * const ev: ChannelEvent = { event: 'tick', data: { price: 101.5 } };
 * channel.publish(ev);
 * ```
 */
export interface ChannelEvent {
  event?: string;
  data?: unknown;
  retry?: number;
}

/** @internal Validates and frames (without the id) what `publish()` was given. */
export function toMessage(event: ChannelEvent): ChannelMessage {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new InvalidArgumentError('event', 'must be an event object such as { data }', event);
  }
  const { event: type, data, retry } = event;
  if ((event as { id?: unknown }).id !== undefined) {
    throw new InvalidArgumentError('id', 'is assigned by the channel; publish without one');
  }
  if (data === undefined && (type === undefined || type === '') && retry === undefined) {
    throw new InvalidArgumentError('event', 'needs data, an event name or retry', event);
  }
  return { event: type === '' ? undefined : type, data, body: formatEvent({ event: type, data, retry }) };
}

/**
 * @internal The framed bytes of a record, built on first use and then shared by every
 * subscriber and every replay: one allocation holds the chunk, and the frame
 * is a view into it.
 */
export function wireOf(record: ChannelRecord): Wire {
  const cached = record.wire;
  if (cached !== undefined) return cached;
  const text = `id: ${record.id}\n${record.body}`;
  const length = Buffer.byteLength(text);
  const head = `${length.toString(16)}${CRLF}`;
  // allocUnsafe: every byte is written just below. Small events come from
  // Node's shared pool, so a frame costs no allocation of its own.
  const chunk = Buffer.allocUnsafe(head.length + length + 2);
  chunk.write(head, 0, 'latin1');
  chunk.write(text, head.length, 'utf8');
  chunk.write(CRLF, head.length + length, 'latin1');
  const wire: Wire = { chunk, frame: chunk.subarray(head.length, head.length + length) };
  record.wire = wire;
  return wire;
}

/** @internal Why a subscriber was told to reload: its id was unusable, or events were dropped for it. */
export type ResetCause = ResetReason | 'dropped';

/**
 * @internal The `event: reset` frame. Its `id:` is the position the client resumes
 * from: it moves the browser's `Last-Event-ID` there, so a reconnect after a
 * reset replays exactly what followed it.
 */
export function resetFrame(
  reason: ResetCause,
  resumeId: string,
  lastEventId: string | undefined,
  dropped?: number,
): Buffer {
  const data: Record<string, unknown> = { reason, lastEventId: lastEventId ?? null, resumeId };
  if (dropped !== undefined) data.dropped = dropped;
  return encodeEvent({ event: 'reset', id: resumeId, data });
}

/**
 * @internal An id-only block: a browser sets its last event id from it without firing
 * any listener, so a client that connects and drops before the first event
 * still reconnects with a position to replay from.
 */
export function cursorFrame(id: string): Buffer {
  return encodeEvent({ id });
}

// The parts of ServerResponse this module reads that @types/node does not
// declare; each is checked for its type, so a Node version that renames one
// falls back to the slow path instead of misbehaving.
interface ResponseInternals {
  chunkedEncoding?: unknown;
  _headerSent?: unknown;
  outputData?: unknown;
}
interface SocketInternals {
  _httpMessage?: unknown;
}

const protoWrite = ServerResponse.prototype.write;

/**
 * @internal The socket a channel may write pre-chunked frames to for this
 * stream, or `null` when it must go through the response: what holds for the
 * stream's whole life (see the file comment). Each write still asks
 * {@link socketIsCaughtUp}.
 */
export function chunkedSocketOf(stream: EventStream): Socket | null {
  const raw = stream.response.raw;
  // An encoded (compressed) body must pass its encoder: raw frames on the socket would corrupt it.
  if (stream.response.bodyEncoder !== undefined) return null;
  if (!(raw instanceof ServerResponse) || raw.write !== protoWrite) return null;
  const internals = raw as unknown as ResponseInternals;
  // Set when the head is rendered (sse() commits first), whether or not it has left yet.
  if (internals.chunkedEncoding !== true || !Array.isArray(internals.outputData)) return null;
  if (raw.writableEnded || hasEncoding(raw.getHeader('content-encoding'))) return null;
  const socket = raw.socket;
  if (socket === null || !socket.writable) return null;
  return (socket as unknown as SocketInternals)._httpMessage === raw ? socket : null;
}

/**
 * @internal Whether a frame written to `socket` now lands after every byte the
 * response accepted: its head has left, and it holds nothing of its own (on
 * Node 24, the chunks of this tick; on any version, `outputData`), so its
 * `writableLength` is the socket's. Two getters and a field read per write.
 */
export function socketIsCaughtUp(raw: ServerResponse, socket: Socket): boolean {
  return (
    (raw as unknown as ResponseInternals)._headerSent === true && raw.writableLength === socket.writableLength
  );
}

function hasEncoding(value: OutgoingHttpHeader | undefined): boolean {
  return value !== undefined && String(value).toLowerCase() !== 'identity';
}
