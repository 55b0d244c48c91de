import { STATUS_CODES } from 'node:http';
import type { HttpError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import { isExitSignal } from '../request/request-middleware.ts';
import {
  answerErrorJson,
  errorEnvelope,
  isGoneAbort,
  logRequestError,
  statusOf,
  unsupportedReturn,
} from '../server/server-handle.ts';

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The unified response envelope of {@link handlerResponse}.
 *
 * @example
 * ```ts
 * const res = await fetch('/api/user/7');
 * const { code, message, data } = (await res.json()) as Envelope<{ id: string }>;
 * if (code !== 0) throw new Error(message);
 * ```
 */
export interface Envelope<T = unknown> {
  /**
   * 0 on success; on failure the error's numeric `code` (an {@link HttpError} made with
   * `{ code: 10001 }`), else the HTTP status, also when a handler set a 4xx or 5xx status itself.
   */
  code: number;
  message: string;
  data: T | null;
}

/**
 * Wraps handler results in `{ code, message, data }`, as GoFrame's
 * `ghttp.MiddlewareHandlerResponse`: a return value becomes
 * `{ code: 0, message: 'OK', data }`; a thrown error becomes
 * `{ code, message, data: null }` with its status.
 *
 * Unlike GoFrame's, it writes nothing at all when the response is committed,
 * already has content, was exited, or has a stream content type — so a
 * streaming handler in its scope is never followed by a stray envelope.
 *
 * @example
 * ```ts
 * s.group('/api', (g) => {
 *   g.middleware(handlerResponse);
 *   g.get('/user/{id}', (r) => ({ id: r.get('id') })); // {"code":0,"message":"OK","data":{"id":"7"}}
 *   g.get('/events', async (r) => { const es = r.response.sse(); await es.closed; }); // untouched
 * });
 * ```
 */
export async function handlerResponse(r: Request): Promise<void> {
  let failure: unknown;
  let failed = false;
  try {
    await r.middleware.next();
  } catch (e) {
    // A request stopped because its client left or the server is stopping is not a handler failure:
    // the core ends it (a reset, or a 503) rather than an envelope reporting a 500.
    if (isExitSignal(e) || isGoneAbort(r, e)) throw e;
    failure = e;
    failed = true;
  }
  const res = r.response;
  if (res.isStreaming() || r.isExited()) {
    // Not ours to answer: the core reports the error in-band or aborts the stream.
    if (failed) throw failure;
    return;
  }
  if (failed) {
    const status = statusOf(failure);
    logRequestError(r, status, failure);
    answerErrorJson(r, status, errorEnvelope(failure, status));
    return;
  }
  if (res.bufferLength() > 0) return;
  const data = r.getHandlerResponse() ?? null;
  // A Map or a Set as `data` would arrive as {}: a 500 that names the fix instead.
  const unsupported = unsupportedReturn(data);
  if (unsupported !== undefined) {
    logRequestError(r, 500, unsupported);
    answerErrorJson(r, 500, errorEnvelope(unsupported, 500));
    return;
  }
  const status = res.node.statusCode;
  res.header.set('Content-Type', JSON_TYPE);
  // A handler that set an error status itself meant a failure: `code: 0` would contradict it.
  const envelope: Envelope =
    status >= 400
      ? { code: status, message: STATUS_CODES[status] ?? 'Error', data }
      : { code: 0, message: 'OK', data };
  res.write(JSON.stringify(envelope));
}
