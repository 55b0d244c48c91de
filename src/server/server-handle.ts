import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { HttpError } from '../errors.ts';
import { Request } from '../request/request.ts';
import { hasParsableBody, parseBody } from '../request/request-body.ts';
import { runWithRequest } from '../request/request-context.ts';
import { type Handler, isExitSignal } from '../request/request-middleware.ts';
import type { Response } from '../response/response.ts';
import type { Server } from './server.ts';

/** The terminal handler of unmatched requests: 404, 405 with `Allow`, or 400 for a malformed URL. */
export const notFound: Handler = (r) => {
  const miss = r.server.router.find(r.method, r.url);
  if ('route' in miss) throw new HttpError(404);
  if (miss.kind === 'method-not-allowed') {
    r.response.header.set('Allow', miss.allow);
    throw new HttpError(405);
  }
  if (miss.kind === 'bad-url') throw new HttpError(400, 'Malformed URL: bad percent-encoding');
  throw new HttpError(404);
};

/**
 * The terminal handler of a request whose body was refused (malformed, too large): the parse
 * error is thrown inside the global middleware, so CORS, access logs and envelopes see it as
 * they see a 404, while group middleware and the route handler never run.
 */
export const refuseBody: Handler = (r) => {
  throw r.bodyError;
};

/**
 * Turns one node `request` event into a Request, runs its chain and ends the
 * response. Written to be cheap: one Request, one Response and one Middleware
 * cursor per request; listeners for a client leaving are added only when
 * something can react to it (see `Request.watch`).
 */
export function handleRequest(ctx: Server, req: IncomingMessage, res: ServerResponse): void {
  const match = ctx.router.find(req.method ?? 'GET', req.url ?? '/');
  const found = 'route' in match;
  const r = new Request(ctx, req, res, found ? match.route.chain : ctx.notFoundChain);
  if (found) {
    r.params = match.params;
    r.query = match.query;
  }
  ctx.active++;
  if (ctx.stopping) res.setHeader('Connection', 'close');
  const running = ctx.tracksCurrentRequest ? runWithRequest(r, () => run(ctx, r, found)) : run(ctx, r, found);
  running.catch((e: unknown) => {
    ctx.logger.error('sluice: failed to end a response', e);
    res.destroy();
  });
}

async function run(ctx: Server, r: Request, found: boolean): Promise<void> {
  try {
    if (found && hasParsableBody(r.raw)) {
      try {
        const parsed = await parseBody(r.raw, ctx.bodyLimit);
        r.body = parsed.body;
        r.files = parsed.files;
      } catch (e) {
        r.bodyError = e;
        r.middleware.chain = ctx.bodyErrorChain;
        // The rest of a refused body may still be on its way; closing spares reading it, whoever answers.
        if (e instanceof HttpError && e.status === 413) r.response.raw.setHeader('Connection', 'close');
      }
    }
    await r.middleware.next();
    writeReturnValue(r);
  } catch (e) {
    if (!isExitSignal(e)) reportError(r, e);
  }
  try {
    r.response.finish();
  } finally {
    ctx.active--;
  }
}

/**
 * A handler may return its answer instead of writing it (as in Hono or
 * Fastify): text and bytes as they are, anything else as JSON. Only when
 * nothing else answered: no envelope middleware wrote, nothing is buffered,
 * the response is not committed and the handler did not exit.
 */
function writeReturnValue(r: Request): void {
  const value = r.handlerResult;
  const res = r.response;
  if (value === undefined || r.isExited() || res.isCommitted() || res.chunks.length > 0) return;
  if (typeof value === 'string' || value instanceof Uint8Array) res.write(value);
  else res.writeJson(value);
}

/**
 * The one place a thrown error becomes output. Before commit: a status and a
 * short body (the message only when the error is exposed). After commit: an
 * SSE stream gets `event: error`; any other stream is aborted so the client
 * sees a truncated response instead of text appended to it. The abort of
 * `r.signal` is no failure and is not logged: a stream just ends, and an
 * uncommitted response gets 503 on shutdown or nothing once the client left.
 */
export function reportError(r: Request, e: unknown): void {
  if (isGoneAbort(r, e)) {
    const res = r.response;
    if (res.isCommitted()) res.eventStream?.close();
    else if (r.goneBecause === 'client') res.raw.destroy();
    else {
      // Stopped by a shutdown before anything was sent: the client is still there and is owed an
      // answer it can retry on, not a reset connection.
      answerError(res, 503, TEXT, STATUS_CODES[503] ?? 'Service Unavailable');
      res.raw.setHeader('Connection', 'close');
    }
    return;
  }
  const status = statusOf(e);
  logRequestError(r, status, e);
  const res = r.response;
  if (!res.isCommitted()) {
    answerError(res, status, TEXT, publicMessage(e, status));
    // The client may still be sending a body we refused; closing avoids reading it all.
    if (status === 413) res.raw.setHeader('Connection', 'close');
    return;
  }
  if (res.eventStream !== undefined && !res.eventStream.isClosed) res.eventStream.fail(e);
  else abortStream(res.raw);
}

/**
 * Cuts a committed stream short: no last chunk, the connection closed, so the
 * client sees a truncated body, not a complete one. Node corks the socket for
 * the rest of the tick on every response write, and destroying it corked
 * would drop what the handler wrote just before it threw: uncork first so
 * those bytes still go out ahead of the close.
 */
function abortStream(raw: ServerResponse): void {
  const socket = raw.socket;
  if (socket != null && !socket.destroyed) while (socket.writableCorked > 0) socket.uncork();
  raw.destroy();
}

/**
 * Whether an error is the abort of `r.signal` (a `sleep(ms, { signal: r.signal })` rejecting, say)
 * after the client left or the server began stopping: the normal way a request stops, not a failure.
 */
export function isGoneAbort(r: Request, e: unknown): boolean {
  return r.gone && e instanceof Error && e.name === 'AbortError';
}

const TEXT = 'text/plain; charset=utf-8';

/** The status an error answers with: its own for an HttpError, 500 for anything else. */
export function statusOf(e: unknown): number {
  return e instanceof HttpError ? e.status : 500;
}

/** What the client may read of an error: its message when exposed, else only the status text. */
export function publicMessage(e: unknown, status: number): string {
  return e instanceof HttpError && e.expose ? e.message : (STATUS_CODES[status] ?? 'Error');
}

/**
 * Replaces whatever an uncommitted response buffered with an error answer. What the handler said
 * about the body it meant to send (its length, its compression) is dropped too: it is wrong for
 * the error body, and a stale Content-Length would hang the client.
 */
export function answerError(res: Response, status: number, contentType: string, body: string): void {
  res.clearBuffer();
  res.raw.removeHeader('Content-Length');
  res.raw.removeHeader('Content-Encoding');
  res.raw.statusCode = status;
  res.raw.setHeader('Content-Type', contentType);
  res.write(body);
}

/** Logs an error that ended a request: 5xx as errors with the stack, 4xx as one warning line. */
export function logRequestError(r: Request, status: number, e: unknown): void {
  const logger = r.server.logger;
  if (status >= 500) logger.error(`sluice: ${r.method} ${r.path} failed`, e);
  else
    logger.warn(`sluice: ${r.method} ${r.path} -> ${status}: ${e instanceof Error ? e.message : String(e)}`);
}
