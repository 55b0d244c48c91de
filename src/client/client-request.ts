import { type BackoffOptions, parseRetryAfter } from './client-backoff.ts';
import { ConnectError, problemsOf } from './client-errors.ts';

/**
 * A value, or a function that gives it (sync or async), called again before
 * every attempt: the way to send a token that was refreshed since the last one.
 *
 * @example
 * ```ts
 * const headers: Dynamic<HeadersInit> = async () => ({ authorization: `Bearer ${await auth.token()}` });
 * ```
 */
export type Dynamic<T> = T | (() => T | Promise<T>);

/**
 * What `fetch` the client calls: the global one by default, or a custom
 * transport (a proxy agent, a test double of the network, a logging wrapper).
 *
 * @example
 * ```ts
 * const logged: FetchFunction = async (input, init) => {
 *   const response = await fetch(input, init);
 *   console.debug(init.method, String(input), response.status);
 *   return response;
 * };
 * connect('/feed', { fetch: logged });
 * ```
 */
export type FetchFunction = (input: string | URL, init: RequestInit) => Promise<Response>;

/**
 * Options of {@link connect}.
 *
 * Cross-origin, a request with `Last-Event-ID`, `Authorization` or a JSON
 * body is not "simple": the browser sends a CORS preflight first, so the
 * server must allow those headers (a browser's `EventSource` is exempt).
 *
 * @example
 * ```ts
 * connect('/api/chat', {
 *   method: 'POST',
 *   headers: () => ({ authorization: `Bearer ${session.token}`, 'content-type': 'application/json' }),
 *   body: JSON.stringify({ prompt: 'hi' }),
 *   readTimeout: 45_000,      // three missed 15 s heartbeats
 *   backoff: { initialDelay: 500, maxDelay: 15_000 },
 * });
 * ```
 */
export interface ConnectOptions {
  /** Default `'GET'`. */
  method?: string;
  /** Request headers. `Accept: text/event-stream` is added unless set; `Last-Event-ID` is the client's. */
  headers?: Dynamic<RequestInit['headers']>;
  /** The request body, re-sent on every attempt that is allowed to repeat (see `repeat`). */
  body?: Dynamic<RequestInit['body']>;
  /**
   * Whether the request may be sent again after the stream ends or fails.
   * Default: true for GET and HEAD; false for any other method, since the
   * client cannot know that a POST is safe to repeat. Without it the client
   * closes when the stream ends and gives up on the first failure.
   */
  repeat?: boolean;
  /** The `Last-Event-ID` of the very first request (a position the app kept). */
  lastEventId?: string;
  /**
   * Event types whose data is plain text: their `json()` returns the data as it is. sluice sends
   * string data unquoted (`es.send({ event: 'note', data: 'hi' })` is `data: hi`), so a map entry
   * `note: string` needs its name here; the typed API client fills it in from the route.
   */
  text?: readonly string[];
  /** Ms without a single byte (heartbeats count) after which the attempt fails and reconnects. 0: off (default). */
  readTimeout?: number;
  /** Reconnect delays. */
  backoff?: BackoffOptions;
  /**
   * Decides whether a failure is retried: `true` (after the backoff delay),
   * `false` (give up), a number of ms (retry after exactly that), or
   * `undefined` for the default ({@link defaultShouldRetry}). Not asked
   * when `repeat` is false.
   */
  shouldRetry?: (error: ConnectError) => boolean | number | undefined;
  /** The transport. Default: the global `fetch`. */
  fetch?: FetchFunction;
  /** Other `fetch` options (`credentials`, `mode`, `referrerPolicy`...). */
  init?: Omit<RequestInit, 'method' | 'headers' | 'body' | 'signal'>;
  /** Aborting it closes the client. */
  signal?: AbortSignal;
}

/**
 * Where a client connects: a URL, or a function that gives it before every attempt.
 *
 * @example
 * ```ts
 * const target: Target = () => `${pickServer()}/feed`; // another server on each reconnect
 * ```
 */
export type Target = Dynamic<string | URL>;

/**
 * The URL and init of the next attempt. The dynamic parts are evaluated
 * again every time, so a refreshed token or a moved endpoint is used on the
 * very next reconnect.
 */
export async function buildRequest(
  target: Target,
  method: string,
  options: ConnectOptions,
  lastEventId: string,
): Promise<[string | URL, RequestInit]> {
  const url = await resolve(target);
  const headers = new Headers((await resolve(options.headers)) ?? undefined);
  const body = await resolve(options.body);
  if (!headers.has('accept')) headers.set('accept', 'text/event-stream');
  if (lastEventId === '') headers.delete('last-event-id');
  else headers.set('last-event-id', lastEventId);
  // no-store, as EventSource: a cached event stream would replay old events as new.
  const init: RequestInit = { cache: 'no-store', ...options.init, method, headers };
  if (body !== undefined && body !== null) init.body = body;
  return [url, init];
}

/**
 * `null` when the response opens an event stream; otherwise why not, and a
 * 204 is `undefined`: the server's way to say "stop for good".
 */
export function checkResponse(response: Response, attempt: number): ConnectError | undefined | null {
  const status = response.status;
  if (status === 204) return undefined;
  if (status < 200 || status > 299) {
    const retryAfter = parseRetryAfter(response.headers.get('retry-after'), Date.now());
    const details = retryAfter === undefined ? { status, attempt } : { status, attempt, retryAfter };
    return new ConnectError('status', `HTTP ${status}`, details);
  }
  const type = response.headers.get('content-type') ?? '';
  // The essence of the MIME type: parameters such as charset do not matter, case does not either.
  const essence = type.split(';', 1)[0]?.trim().toLowerCase();
  if (essence !== 'text/event-stream' || response.body === null) {
    const got = type === '' ? 'no content type' : type;
    return new ConnectError('content-type', `Expected text/event-stream, got ${got}`, { status, attempt });
  }
  return null;
}

/** Past this, a refusal's body is not read: a 400's problems are a few hundred bytes. */
const MAX_REFUSAL_BYTES = 64 * 1024;

/**
 * Reads a refused response's JSON body into the error: the problems of a 400 from a route's
 * schemas (sluice answers them as `{ code, message, data: { problems } }`) and its message. A
 * body that is not JSON, or too big, is only released.
 */
export async function readRefusal(response: Response, error: ConnectError): Promise<void> {
  const type = (response.headers.get('content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  const length = Number(response.headers.get('content-length') ?? 0);
  if (!(type === 'application/json' || type.endsWith('+json')) || !(length <= MAX_REFUSAL_BYTES)) {
    await response.body?.cancel().catch(() => {});
    return;
  }
  let payload: unknown;
  try {
    payload = JSON.parse(await response.text());
  } catch {
    return; // Not JSON after all, or the body broke: the status is all there is.
  }
  const { code, message, data } = (payload ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
  const enveloped = typeof code === 'number' && typeof message === 'string' && data !== undefined;
  error.data = enveloped ? data : payload;
  error.problems = problemsOf(error.data);
  if (typeof message === 'string' && message !== '') error.message = `HTTP ${response.status}: ${message}`;
}

/** Where a throwing app callback goes: the page's error reporting, or the console. */
export function reportError(err: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === 'function') report(err);
  else console.error(err);
}

async function resolve<T>(value: Dynamic<T>): Promise<T> {
  return typeof value === 'function' ? await (value as () => T | Promise<T>)() : value;
}
