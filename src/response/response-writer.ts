/**
 * The one place where a streaming body meets the socket. `flush()`, SSE
 * sends and piped iterables all go through `writeChunk`, so they share one
 * backpressure rule and one client-gone rule: resolve `true` once the bytes
 * were accepted, `false` when the client is gone, never throw.
 */
import type { ServerResponse } from 'node:http';

const TRUE = Promise.resolve(true);
const FALSE = Promise.resolve(false);

/** The parts of a Response that writing needs (kept narrow so SSE and channels can write too). */
export interface Writable {
  readonly raw: ServerResponse;
  written: number;
  commit(): void;
}

/**
 * Writes bytes to a committed response and resolves when the socket took
 * them. Waits for `drain` only when `write()` said the socket is full,
 * which is the cheap common case for small events.
 */
export function writeChunk(target: Writable, chunk: Buffer | string): Promise<boolean> {
  const raw = target.raw;
  if (raw.destroyed || raw.writableEnded) return FALSE;
  target.commit();
  // Node silently drops the body of a HEAD, 204 or 304 response; counting it would misreport the access log.
  if (carriesBody(raw)) target.written += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
  if (raw.write(chunk)) return TRUE;
  return waitForDrain(raw);
}

/** Whether Node will send a body for this response at all: not for HEAD, 1xx, 204 or 304. */
export function carriesBody(raw: ServerResponse): boolean {
  const code = raw.statusCode;
  return raw.req?.method !== 'HEAD' && code >= 200 && code !== 204 && code !== 304;
}

/** Resolves `true` on `drain`, `false` if the response closes first. */
export function waitForDrain(raw: ServerResponse): Promise<boolean> {
  if (raw.destroyed) return FALSE;
  return new Promise((resolve) => {
    const onDrain = () => {
      raw.off('close', onClose);
      resolve(true);
    };
    const onClose = () => {
      raw.off('drain', onDrain);
      resolve(false);
    };
    raw.once('drain', onDrain);
    raw.once('close', onClose);
  });
}
