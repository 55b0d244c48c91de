import { STATUS_CODES } from 'node:http';
import { HttpError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import { isExitSignal } from '../request/request-middleware.ts';
import { discardBodyHeaders, isGoneAbort, logRequestError } from '../server/server-handle.ts';

/** The unified response envelope of {@link handlerResponse}. */
export interface Envelope<T = unknown> {
  /** 0 on success; the HTTP status (or the error's numeric `code`) on failure. */
  code: number;
  message: string;
  data: T | null;
}

const STREAM_TYPES =
  /^(?:text\/event-stream|application\/x-ndjson|application\/octet-stream|multipart\/x-mixed-replace)\b/i;

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
  if (res.isCommitted() || r.isExited() || STREAM_TYPES.test(res.header.get('content-type') ?? '')) {
    // Not ours to answer: the core reports the error in-band or aborts the stream.
    if (failed) throw failure;
    return;
  }
  if (failed) {
    const status = failure instanceof HttpError ? failure.status : 500;
    const exposed = failure instanceof HttpError && failure.expose;
    const message = exposed ? (failure as Error).message : (STATUS_CODES[status] ?? 'Error');
    logRequestError(r, status, failure);
    res.clearBuffer();
    discardBodyHeaders(res.raw);
    res.status = status;
    res.header.set('Content-Type', 'application/json; charset=utf-8');
    res.write(JSON.stringify({ code: status, message, data: null } satisfies Envelope));
    return;
  }
  if (res.bufferLength() > 0) return;
  const data = r.getHandlerResponse();
  res.header.set('Content-Type', 'application/json; charset=utf-8');
  res.write(JSON.stringify({ code: 0, message: 'OK', data: data ?? null } satisfies Envelope));
}
