import { STATUS_CODES } from 'node:http';

/**
 * Every error sluice throws on purpose lives here, each with a stable `code`,
 * so callers can branch on `err.code` instead of parsing messages.
 */

/**
 * An error that carries an HTTP status. Thrown from a handler or middleware,
 * it becomes a response with that status; its message reaches the client only
 * when `expose` is true (the default for 4xx), so internal details of a 5xx
 * never leak. As GoFrame's `gerror.NewCode`, it may carry an application
 * `code` (a number: the envelope's `code`, where the status is the default)
 * and `data` for the client (the envelope's `data`: which fields failed, say).
 *
 * @example
 * ```ts
 * s.bindHandler('/user/{id}', (r) => {
 *   if (!r.get('id')) throw new HttpError(400, 'id is required');
 * });
 * // inside handlerResponse: 422 {"code":10001,"message":"invalid email","data":{"field":"email"}}
 * throw new HttpError(422, 'invalid email', { code: 10001, data: { field: 'email' } });
 * ```
 */
export class HttpError extends Error {
  readonly status: number;
  readonly expose: boolean;
  /** A string for code that branches on errors (default `HTTP_<status>`), or a number: the application code. */
  readonly code: string | number;
  /** What the client may see besides the message (only when `expose`): the envelope's `data`. */
  readonly data: unknown;

  constructor(
    status: number,
    message?: string,
    options?: { expose?: boolean; code?: string | number; data?: unknown; cause?: unknown },
  ) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new InvalidArgumentError('status', 'must be an integer from 400 to 599', status);
    }
    const code = options?.code;
    if (code !== undefined && typeof code !== 'string' && !Number.isSafeInteger(code)) {
      throw new InvalidArgumentError('code', 'must be a string or an integer', code);
    }
    super(
      message ?? defaultMessage(status),
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'HttpError';
    this.status = status;
    this.expose = options?.expose ?? status < 500;
    this.code = code ?? `HTTP_${status}`;
    this.data = options?.data;
  }
}

/**
 * One thing wrong with a request's input, or a response's output: where (`path`, whose first
 * key is the place: `params`, `query`, `headers`, `body`, or `response`/`event`) and what.
 *
 * @example
 * ```ts
 * const p: Problem = { path: ['body', 'tags', 0], message: 'Expected string' };
 * ```
 */
export interface Problem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * A request whose params, query, headers or body failed the route's schema: a 400 that carries
 * the list of problems as `data.problems`, so a client can point at each field (inside the
 * `handlerResponse` envelope, or as the same `{ code, message, data }` JSON without it).
 *
 * @example
 * ```ts
 * // POST /users with {"name":3} → 400
 * // {"code":400,"message":"Invalid request: body.name: Expected string","data":{"problems":[...]}}
 * if (e instanceof RequestValidationError) console.log(e.problems[0]?.path); // ['body', 'name']
 * ```
 */
export class RequestValidationError extends HttpError {
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[]) {
    super(400, `Invalid request: ${summarize(problems)}`, {
      code: 'SLUICE_INVALID_REQUEST',
      data: { problems },
    });
    this.name = 'RequestValidationError';
    this.problems = problems;
  }
}

/**
 * What a handler answered (its return value, or an event it sent) failed the route's own schema:
 * a 500, never shown to the client (the problems are in the log), since sending it anyway would
 * be a silently wrong answer. On a stream the event is not sent: `event: error` ends the stream.
 *
 * @example
 * ```ts
 * // response: z.object({ id: z.number() }), handler returns { id: '7' } → 500, logged:
 * // "GET /user/7: the response failed its schema: response.id: Expected number"
 * ```
 */
export class ResponseValidationError extends HttpError {
  readonly problems: readonly Problem[];

  constructor(what: string, problems: readonly Problem[]) {
    super(500, `${what} failed its schema: ${summarize(problems)}`, {
      code: 'SLUICE_INVALID_RESPONSE',
      expose: false,
    });
    this.name = 'ResponseValidationError';
    this.problems = problems;
  }
}

function summarize(problems: readonly Problem[]): string {
  const first = problems[0];
  if (first === undefined) return 'rejected';
  const head = `${first.path.join('.')}: ${first.message}`;
  return problems.length > 1 ? `${head} (and ${problems.length - 1} more)` : head;
}

/**
 * A bad argument passed to a sluice API. The message names the argument and
 * the rule it broke, so the mistake can be fixed without reading our source.
 *
 * @example
 * ```ts
 * try { es.send({ event: 'a\nb' }); }
 * catch (e) { if (e instanceof InvalidArgumentError) console.log(e.argument); } // 'event'
 * ```
 */
export class InvalidArgumentError extends TypeError {
  readonly code = 'SLUICE_INVALID_ARGUMENT';
  readonly argument: string;
  readonly rule: string;

  constructor(argument: string, rule: string, value?: unknown) {
    super(`Invalid argument "${argument}": ${rule}${value === undefined ? '' : ` (got ${describe(value)})`}`);
    this.name = 'InvalidArgumentError';
    this.argument = argument;
    this.rule = rule;
  }
}

/**
 * Thrown when code tries to change what was already sent: a header or the
 * status after `flush()`/`sse()` committed the response. Silently dropping
 * the change (as GoFrame and Node's raw writer can) hides bugs.
 *
 * @example
 * ```ts
 * await r.response.flush();
 * r.response.header.set('X-Late', '1'); // throws ResponseCommittedError
 * ```
 */
export class ResponseCommittedError extends Error {
  readonly code = 'SLUICE_RESPONSE_COMMITTED';
  readonly attempted: string;

  constructor(attempted: string) {
    super(
      `Cannot ${attempted}: the response was already committed (headers sent by flush(), sse() or the raw writer)`,
    );
    this.name = 'ResponseCommittedError';
    this.attempted = attempted;
  }
}

/**
 * Thrown by the buffer writes of a response (`write`, `writeln`, `writef`,
 * `writefln`, `writeJson`, `writeOver`, `writeExit`) after `sse()`, and by
 * `sse()` over bytes already buffered: those bytes would reach the event
 * stream unframed, where a stray `event:` or `data:` line forges an event.
 * Events go through the stream, which frames them.
 *
 * @example
 * ```ts
 * const es = r.response.sse();
 * r.response.write('data: hi\n\n'); // throws RawWriteAfterSseError
 * await es.send({ data: 'hi' });    // the way that frames it
 * ```
 */
export class RawWriteAfterSseError extends Error {
  readonly code = 'SLUICE_RAW_WRITE_AFTER_SSE';
  /** What was attempted: `write()`, `writefln()`, `sse()`... */
  readonly attempted: string;

  constructor(attempted: string, bufferedBytes?: number) {
    super(
      bufferedBytes === undefined
        ? `Cannot ${attempted} after sse(): raw bytes would reach the event stream unframed. ` +
            'Send them with es.send() (or es.comment()) on the stream sse() returned'
        : `Cannot ${attempted} with ${bufferedBytes} bytes already buffered by write(): they would reach ` +
            'the event stream unframed. Call r.response.clearBuffer() first, or send them with es.send() after sse()',
    );
    this.name = 'RawWriteAfterSseError';
    this.attempted = attempted;
  }
}

/**
 * Thrown by `publish()` on a closed channel.
 *
 * @example
 * ```ts
 * try { channel.publish({ data: 1 }); } catch (e) { if (e instanceof ChannelClosedError) ... }
 * ```
 */
export class ChannelClosedError extends Error {
  readonly code = 'SLUICE_CHANNEL_CLOSED';
  constructor(name: string) {
    super(`Channel "${name}" is closed`);
    this.name = 'ChannelClosedError';
  }
}

/**
 * Thrown by a second `r.middleware.next()` from the same middleware. Running the rest of the
 * chain twice would run a handler twice, or walk past a guard that declined; Koa refuses the
 * same. The request then ends as a 500 and the message says which middleware did it.
 *
 * @example
 * ```ts
 * s.use(async (r) => {
 *   await r.middleware.next();
 *   await r.middleware.next(); // throws NextCalledTwiceError
 * });
 * ```
 */
export class NextCalledTwiceError extends Error {
  readonly code = 'SLUICE_NEXT_CALLED_TWICE';
  /** The position in the chain (0 = the first global middleware) of the handler that had already returned. */
  readonly position: number;

  constructor(position: number, chainLength: number) {
    super(
      `r.middleware.next() was called after the handler at position ${position + 1} of ${chainLength} had returned: ` +
        'a middleware called next() twice, or again after a later one declined or called r.exit(); call it once',
    );
    this.name = 'NextCalledTwiceError';
    this.position = position;
  }
}

/**
 * A handler returned a value sluice cannot send as what it is: one that JSON would silently
 * turn into `{}` or `null` (a `Map`, a `Set`, a function, a class instance without enumerable
 * fields or `toJSON()`), or cannot encode at all (a `bigint`). The request ends as a 500, and
 * the logged message names the type and the fix.
 *
 * @example
 * ```ts
 * s.get('/tags', () => new Set(['a'])); // 500, logged: "...returned a Set...; return [...set]"
 * s.get('/tags', () => [...new Set(['a'])]); // ["a"]
 * ```
 */
export class UnsupportedReturnValueError extends Error {
  readonly code = 'SLUICE_UNSUPPORTED_RETURN_VALUE';
  /** What was returned: `Map`, `Set`, `function`, `bigint`, a class name... */
  readonly valueType: string;

  constructor(valueType: string, why: string, fix: string) {
    super(`A handler returned ${why}; ${fix}`);
    this.name = 'UnsupportedReturnValueError';
    this.valueType = valueType;
  }
}

/**
 * A channel operation that needed Redis could not reach it (down, restarting,
 * timed out) or Redis refused it. Nothing was queued: the caller decides
 * whether to retry, report or drop. Subscribers are not affected: they stay
 * connected and catch up once Redis answers again. Exported by `sluice/redis`.
 *
 * @example
 * ```ts
 * try { await channel.publish({ data: 1 }); }
 * catch (e) { if (e instanceof RedisUnavailableError) throw new HttpError(503, 'try again'); }
 * ```
 */
export class RedisUnavailableError extends Error {
  readonly code = 'SLUICE_REDIS_UNAVAILABLE';
  /** What was attempted: `'publish'`, `'replay'` or `'open'`. */
  readonly operation: string;

  constructor(operation: string, channel: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`Redis could not ${operation} channel "${channel}": ${why}`, { cause });
    this.name = 'RedisUnavailableError';
    this.operation = operation;
  }
}

function defaultMessage(status: number): string {
  return STATUS_TEXT[status] ?? 'Error';
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object' && value !== null) return Object.prototype.toString.call(value);
  return String(value);
}

const STATUS_TEXT: Record<number, string | undefined> = STATUS_CODES;

/**
 * A session store failed (`get`, `set`, `touch` or `destroy` threw or rejected). Thrown out of the
 * session middleware, it answers the request with a 500 through the normal error path, logged
 * with its `cause`; after the response was committed it is logged only.
 *
 * @example
 * ```ts
 * s.use(async (r) => {
 *   try { await r.middleware.next(); }
 *   catch (e) { if (e instanceof SessionStoreError) metrics.sessionStoreDown++; throw e; }
 * });
 * ```
 */
export class SessionStoreError extends Error {
  readonly code = 'SLUICE_SESSION_STORE';
  /** What failed: `'get'`, `'set'`, `'touch'` or `'destroy'`. */
  readonly operation: string;

  constructor(operation: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`The session store could not ${operation} a session: ${why}`, { cause });
    this.name = 'SessionStoreError';
    this.operation = operation;
  }
}

/**
 * Thrown by `r.session` on a request that no session middleware ran for: install it with
 * `s.use(session())` (or as the middleware of the group whose routes use it).
 *
 * @example
 * ```ts
 * s.get('/me', (r) => r.session.get('user')); // throws SessionNotInstalledError without s.use(session())
 * ```
 */
export class SessionNotInstalledError extends Error {
  readonly code = 'SLUICE_SESSION_NOT_INSTALLED';

  constructor() {
    super(
      'r.session needs the session middleware: call s.use(session()) (imported from "sluice") before binding routes, or add it to the route\'s group',
    );
    this.name = 'SessionNotInstalledError';
  }
}
