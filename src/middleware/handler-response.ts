import type { Request } from '../request/request.ts';
import { isExitSignal } from '../request/request-middleware.ts';
import {
  answerError,
  isGoneAbort,
  logRequestError,
  publicMessage,
  statusOf,
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
    const status = statusOf(failure);
    logRequestError(r, status, failure);
    const message = publicMessage(failure, status);
    answerError(
      res,
      status,
      JSON_TYPE,
      JSON.stringify({ code: status, message, data: null } satisfies Envelope),
    );
    return;
  }
  if (res.bufferLength() > 0) return;
  const data = r.getHandlerResponse();
  res.header.set('Content-Type', JSON_TYPE);
  res.write(JSON.stringify({ code: 0, message: 'OK', data: data ?? null } satisfies Envelope));
}
