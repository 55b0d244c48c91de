import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { HttpError, UnsupportedReturnValueError } from '../errors.ts';
import { Request } from '../request/request.ts';
import { hasParsableBody, readBodyFirst } from '../request/request-body.ts';
import { runWithRequest } from '../request/request-context.ts';
import { type Handler, isExitSignal, isThenable } from '../request/request-middleware.ts';
import { originForm } from '../request/request-path.ts';
import type { Response } from '../response/response.ts';
import { http2ResponseOf } from '../response/response-http2.ts';
import { isStreamable, pipeReturned } from '../sse/pipe-returned.ts';
import type { Server } from './server.ts';
import { describeThrown, loggable, oneLine } from './server-logger.ts';

/** The terminal handler of unmatched requests: 404, 405 with `Allow`, or 400 for a malformed URL. */
export const notFound: Handler = (r) => {
  // Only a target that originForm() could not reduce is left without its leading '/'.
  if (r.url.charCodeAt(0) !== 47 && r.url !== '*') throw new HttpError(400, 'Malformed request target');
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
 * Turns one node `request` event into a Request, runs its chain and ends the
 * response. Written to be cheap: one Request, one Response and one Middleware
 * cursor per request; listeners for a client leaving are added only when
 * something can react to it (see `Request.watch`).
 */
export function handleRequest(ctx: Server, req: IncomingMessage, res: ServerResponse): void {
  const target = req.url ?? '/';
  // The router and r.path read the same string, so a guard on r.path sees what was routed.
  const url = originForm(target) ?? target;
  const match = ctx.router.find(req.method ?? 'GET', url);
  const found = 'route' in match;
  // A request with a body takes the chain that reads it after the global middleware.
  const chain = found
    ? hasParsableBody(req)
      ? match.route.bodyChain
      : match.route.chain
    : (ctx.router.missChain(url) ?? ctx.notFoundChain);
  const r = new Request(ctx, req, res, chain, url);
  if (found) {
    r.params = match.params;
    r.query = match.query;
    r.bodyOptions = match.route.bodyOptions;
  }
  ctx.active++;
  if (ctx.stopping) res.setHeader('Connection', 'close');
  if (ctx.tracksCurrentRequest) {
    void runWithRequest(r, () => run(ctx, r));
    return;
  }
  // A chain of one handler (no middleware) takes a path with no async frame of its own: a
  // synchronous handler is answered before this returns, and an idle event stream holds no
  // suspended run()/next() frames (see `runOnly`).
  if (chain.length === 1) runOnly(ctx, r);
  else void run(ctx, r);
}

function failedToEnd(ctx: Server, r: Request, e: unknown): void {
  ctx.logger.error('sluice: failed to end a response', e);
  r.response.raw.destroy();
}

/**
 * `failedToEnd` for a throw before `endRequest` (an error answer that could not be written, say):
 * the request is counted out here, as `endRequest` would have, or a shutdown waits for it.
 * `endRequest` itself counts it out and never throws, so no request is counted twice.
 */
function failedBeforeEnd(ctx: Server, r: Request, e: unknown): void {
  ctx.active--;
  failedToEnd(ctx, r, e);
}

/**
 * Runs a chain with middleware (or a body to read first), then ends the request as `runOnly`
 * does. It never rejects: a `.catch()` on it would cost each request a closure, a promise and a
 * microtask turn.
 */
async function run(ctx: Server, r: Request): Promise<void> {
  try {
    try {
      const body = readBodyFirst(r);
      if (body !== undefined) await body;
      const m = r.middleware;
      try {
        await m.run();
        m.ran();
      } catch (e) {
        m.runFailed(e);
      }
      const rest = m.settled();
      if (rest !== undefined) await rest;
      // A serveFile() the handler did not await still owns the response: end it only once sent.
      if (r.response.filePending !== undefined) await r.response.filePending;
      writeReturnValue(r);
    } catch (e) {
      if (!isExitSignal(e)) reportError(r, e);
    }
    // An event stream outlives the handler that opened it: it ends with es.close(), the client
    // leaving or a shutdown. Until then the request counts as running, so a shutdown waits for it.
    endRequest(ctx, r);
  } catch (e) {
    failedBeforeEnd(ctx, r, e);
  }
}

/**
 * What `run()` does, for a chain of one handler, without awaiting what is already there: the
 * handler is called here, and only a promise it returns (or a value to pipe, or a file being
 * served) is awaited, in `runOnlyAsync`. An event stream left open is not awaited either: the
 * request ends from the stream's end (`endAfterStream`), so an idle stream costs no suspended
 * frames. Same order and outcome as `run()` with `Middleware.step()`.
 */
function runOnly(ctx: Server, r: Request): void {
  let out: unknown;
  r.enterOnly();
  try {
    out = (r.chain[0] as Handler)(r);
  } catch (e) {
    handlerFailed(ctx, r, e);
    return;
  }
  // A native promise is followed with then(), not an async frame: a handler awaiting an event
  // stream's end keeps this waiting for as long as the stream lives. Other thenables and values
  // to pipe take the async path, whose `await` is what step() does.
  if (out instanceof Promise) {
    // An idle stream keeps these for its life: two functions bound to `r` (48 B each) cost
    // less than two closures and the context they share (56 B each and 40 B).
    out.then(ONLY.returned.bind(r), ONLY.failed.bind(r));
  } else handlerReturned(ctx, r, out);
}

/**
 * `runOnly`'s callbacks for a promise's `then()`, bound to the request. Methods, not function
 * declarations: tsx's esbuild (keepNames) redefines a declared function's `name`, and `bind()`
 * of such a function gives each bound copy a property dictionary (~256 B).
 */
const ONLY = {
  returned(this: Request, value: unknown): void {
    handlerReturned(this.server, this, value);
  },
  failed(this: Request, e: unknown): void {
    handlerFailed(this.server, this, e);
  },
};

/** The rest of `runOnly` once the handler returned `out`. Never throws. */
function handlerReturned(ctx: Server, r: Request, out: unknown): void {
  if (isThenable(out) || isStreamable(out)) {
    void runOnlyAsync(ctx, r, out);
    return;
  }
  try {
    r.leaveOnly();
    r.handlerResult = out;
    if (r.response.filePending !== undefined) {
      void finishAfterFile(ctx, r);
      return;
    }
    try {
      writeReturnValue(r);
    } catch (e) {
      reportError(r, e);
    }
    endRequest(ctx, r);
  } catch (e) {
    failedBeforeEnd(ctx, r, e);
  }
}

/** The rest of `runOnly` once the handler threw (or its promise rejected). Never throws. */
function handlerFailed(ctx: Server, r: Request, e: unknown): void {
  try {
    r.leaveOnly();
    if (!isExitSignal(e)) reportError(r, e);
    endRequest(ctx, r);
  } catch (e2) {
    failedBeforeEnd(ctx, r, e2);
  }
}

/**
 * `runOnly` once the handler returned a promise, or a value `pipeReturned` streams. It never
 * rejects: a `.catch()` on it would hold a closure and a promise per waiting request.
 */
async function runOnlyAsync(ctx: Server, r: Request, out: unknown): Promise<void> {
  try {
    const result = isThenable(out) ? await out : out;
    r.handlerResult = result;
    if (isStreamable(result)) await pipeReturned(r, result);
  } catch (e) {
    handlerFailed(ctx, r, e);
    return;
  }
  r.leaveOnly();
  void finishAfterFile(ctx, r);
}

/** The end of a handler's run once it left: a file it is serving, its returned value, the end. */
async function finishAfterFile(ctx: Server, r: Request): Promise<void> {
  try {
    try {
      // Awaited only when there is one: an `await` of nothing would still cost a microtask turn.
      if (r.response.filePending !== undefined) await r.response.filePending;
      writeReturnValue(r);
    } catch (e) {
      if (!isExitSignal(e)) reportError(r, e);
    }
    endRequest(ctx, r);
  } catch (e) {
    failedBeforeEnd(ctx, r, e);
  }
}

/**
 * The end of `run()` without its awaits: an open event stream ends the request when it ends;
 * otherwise the response is finished now (or when its encoder is done).
 */
function endRequest(ctx: Server, r: Request): void {
  const es = r.response.openStream();
  if (es !== undefined) {
    es.onEnd(() => finishRequest(ctx, r));
    return;
  }
  finishRequest(ctx, r);
}

function finishRequest(ctx: Server, r: Request): void {
  let ending: void | Promise<void>;
  try {
    ending = r.response.finish();
  } catch (e) {
    ctx.active--;
    failedToEnd(ctx, r, e);
    return;
  }
  if (ending === undefined) {
    ctx.active--;
    return;
  }
  ending.then(
    () => ctx.active--,
    (e: unknown) => {
      ctx.active--;
      failedToEnd(ctx, r, e);
    },
  );
}

/**
 * A handler may return its answer instead of writing it (as in Hono or
 * Fastify): text and bytes as they are; plain objects, arrays, numbers,
 * booleans, `null` and anything with `toJSON()` (a `Date`) as JSON. Streams,
 * Blobs and Fetch `Response`s were sent already (see `pipeReturned`). What
 * JSON would silently send as `{}` is an error instead. Only when nothing else
 * answered: no envelope middleware wrote, nothing is buffered, the response is
 * not committed and the handler did not exit.
 */
function writeReturnValue(r: Request): void {
  const value = r.handlerResult;
  const res = r.response;
  if (value === undefined || r.isExited() || res.isCommitted() || res.chunks.length > 0) return;
  if (typeof value === 'string' || value instanceof Uint8Array) res.write(value);
  else if (value instanceof ArrayBuffer) res.write(Buffer.from(value));
  else {
    const unsupported = unsupportedReturn(value);
    if (unsupported !== undefined) throw unsupported;
    // Ended here rather than by the finish() that follows: the type then leaves with the head.
    res.endJson(value);
  }
}

/**
 * Why a returned value cannot be sent as JSON, or `undefined` when it can. Only the top level is
 * looked at: a plain object, the common case, costs one prototype check; walking nested values
 * would cost every JSON response a second traversal.
 *
 * @example
 * ```ts
 * unsupportedReturn(new Map()); // UnsupportedReturnValueError: ...a Map, which JSON sends as {}...
 * unsupportedReturn({ a: 1 });  // undefined
 * ```
 */
export function unsupportedReturn(value: unknown): UnsupportedReturnValueError | undefined {
  switch (typeof value) {
    case 'object':
      break;
    case 'function':
      return new UnsupportedReturnValueError(
        'function',
        'a function, which JSON sends as nothing',
        'call it and return its result',
      );
    case 'symbol':
      return new UnsupportedReturnValueError(
        'symbol',
        'a symbol, which JSON cannot encode',
        'return a string',
      );
    case 'bigint':
      return new UnsupportedReturnValueError(
        'bigint',
        'a bigint, which JSON cannot encode',
        'return it as a string (value.toString()) or a number',
      );
    default:
      return undefined;
  }
  if (value === null || Array.isArray(value)) return undefined;
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) return undefined;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return undefined;
  if (value instanceof Map) {
    return new UnsupportedReturnValueError(
      'Map',
      'a Map, which JSON sends as {}',
      'return Object.fromEntries(map) or [...map]',
    );
  }
  if (value instanceof Set) {
    return new UnsupportedReturnValueError('Set', 'a Set, which JSON sends as {}', 'return [...set]');
  }
  if (value instanceof Error) {
    return new UnsupportedReturnValueError(
      'Error',
      `an Error (${value.message}), which JSON sends as {}`,
      'throw it instead, so it becomes an error response',
    );
  }
  // A class instance is JSON's own enumerable properties: with none, it would arrive as {}.
  if (Object.keys(value).length > 0) return undefined;
  const ctor: unknown = proto?.constructor;
  const name = typeof ctor === 'function' && ctor.name !== '' ? ctor.name : 'object';
  return new UnsupportedReturnValueError(
    name,
    `a ${name} with no enumerable properties and no toJSON(), which JSON sends as {}`,
    'return a plain object, or give the class a toJSON() method',
  );
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
    // Data for the client (the problems of a failed input check, say) needs a shape a program can
    // read: the envelope's, so a client parses errors alike with or without handlerResponse.
    if (e instanceof HttpError && e.expose && e.data !== undefined)
      answerErrorJson(r, status, errorEnvelope(e, status));
    else answerError(res, status, TEXT, publicMessage(e, status));
    // The client may still be sending a body we refused; closing avoids reading it all.
    if (status === 413) res.raw.setHeader('Connection', 'close');
    return;
  }
  const es = res.openStream();
  if (es !== undefined) es.fail(e);
  else {
    // Said first: the socket closing next would otherwise read as the client leaving.
    res.stopWrites('error');
    abortStream(res.raw);
  }
}

/**
 * Cuts a committed stream short: no last chunk, so the client sees a
 * truncated body, not a complete one — but only after every byte the handler
 * wrote before it threw, since those were handed to Node already.
 *
 * Destroying the response would lose them: Node corks the response for the
 * rest of the tick on every write, and Node 24 keeps that tick's chunks in
 * the response itself (not the socket) until it uncorks, then `destroy()`
 * drops them; on any version a destroyed socket drops what the kernel has not
 * taken yet. So: uncork the response (Node 24's buffer) and the socket (Node
 * 20 and 22 cork only the socket), then half-close: the FIN follows the data,
 * and the client, reading EOF before the last chunk, closes its side. A later
 * `res.end()` writes nothing, for the socket is no longer writable.
 *
 * A client that neither reads nor closes would hold the socket half-open for
 * good, hence the cut after a grace period.
 */
function abortStream(raw: ServerResponse): void {
  // HTTP/2 says "truncated" with RST_STREAM; the connection, shared with other streams, stays.
  const h2 = http2ResponseOf(raw);
  if (h2 !== undefined) {
    h2.cut();
    return;
  }
  const socket = raw.socket;
  if (socket == null || socket.destroyed || !socket.writable) {
    raw.destroy();
    return;
  }
  while (raw.writableCorked > 0) raw.uncork();
  while (socket.writableCorked > 0) socket.uncork();
  socket.end();
  setTimeout(cutSocket, ABORT_GRACE_MS, socket).unref();
}

/** How long an aborted stream's client may take to read what it was sent and close. */
const ABORT_GRACE_MS = 10_000;

function cutSocket(socket: Socket): void {
  socket.destroy();
}

/**
 * Whether an error is the abort of `r.signal` (a `sleep(ms, { signal: r.signal })` rejecting, say)
 * after the client left or the server began stopping: the normal way a request stops, not a failure.
 */
export function isGoneAbort(r: Request, e: unknown): boolean {
  return r.gone && e instanceof Error && e.name === 'AbortError';
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * `{ code, message, data }` of a thrown error (the shape of `handlerResponse`'s envelope): its
 * numeric code and data only when the client may see them.
 */
export function errorEnvelope(
  failure: unknown,
  status: number,
): { code: number; message: string; data: unknown } {
  const message = publicMessage(failure, status);
  if (!(failure instanceof HttpError && failure.expose)) return { code: status, message, data: null };
  const code = typeof failure.code === 'number' ? failure.code : status;
  return { code, message, data: failure.data ?? null };
}

/**
 * Answers `status` with `value` as JSON. When the value cannot be written as JSON (a BigInt or a
 * cycle in an error's `data`, a `toJSON()` that throws), the answer the handler meant cannot be
 * given: it answers a plain 500 and logs why, as Fastify does, where the throw cut the connection.
 */
export function answerErrorJson(r: Request, status: number, value: unknown): void {
  let body: string;
  try {
    body = JSON.stringify(value);
  } catch (err) {
    const why = new Error(`the ${status} answer's JSON could not be written; answered 500`, { cause: err });
    logRequestError(r, 500, why);
    answerError(r.response, 500, TEXT, STATUS_CODES[500] ?? 'Internal Server Error');
    return;
  }
  answerError(r.response, status, JSON_TYPE, body);
}

/** The status an error answers with: its own for an HttpError, 500 for anything else. */
export function statusOf(e: unknown): number {
  return e instanceof HttpError ? e.status : 500;
}

/** What the client may read of an error: its message when exposed, else only the status text. */
export function publicMessage(e: unknown, status: number): string {
  const fallback = STATUS_CODES[status] ?? 'Error';
  if (!(e instanceof HttpError && e.expose)) return fallback;
  // A subclass may compute its message; one that throws must not take the error answer with it.
  try {
    return String(e.message);
  } catch {
    return fallback;
  }
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
  // An error message may quote what the client sent (a header, a field name): a browser must
  // render it as the declared text or JSON, never sniff it into HTML or script.
  res.raw.setHeader('X-Content-Type-Options', 'nosniff');
  res.write(body);
}

/**
 * Logs an error that ended a request: 5xx as errors with the stack, 4xx as one warning line —
 * unless an access log is installed for the request: its line already says `404`, and a client's
 * mistake should cost one line, not two.
 */
export function logRequestError(r: Request, status: number, e: unknown): void {
  const logger = r.server.logger;
  if (status >= 500) logger.error(`sluice: ${r.method} ${loggable(r.path)} failed`, e);
  else if (!r.accessLogged)
    logger.warn(`sluice: ${r.method} ${loggable(r.path)} -> ${status}: ${oneLine(describeThrown(e))}`);
}
