/**
 * The bytes a channel writes. A channel knows the frame before it knows the
 * subscribers, so it builds the HTTP/1.1 chunk once per event and hands that
 * one Buffer to each socket, through the guarded shortcut described (and
 * decided) in `src/response/chunked-socket.ts`; anything else goes through
 * `EventStream`'s `writeFrameSync`, which is always correct, only slower.
 */
import { InvalidArgumentError } from '../errors.ts';
import { chunkOf } from '../response/chunked-socket.ts';
import { encodeEvent, formatEvent } from '../sse/encoder.ts';
import type { ChannelMessage, ChannelRecord, ResetReason, Wire } from './channel-adapter.ts';

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
  const { chunk, frame } = chunkOf(`id: ${record.id}\n${record.body}`);
  const wire: Wire = { chunk, frame, size: frame.length };
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
