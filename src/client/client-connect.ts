import { Backoff } from './client-backoff.ts';
import { ConnectError, defaultShouldRetry, InvalidArgumentError } from './client-errors.ts';
import {
  type AnyClientEvent,
  type ClientEvent,
  type EventMap,
  type OpenInfo,
  RESET_EVENT,
  ReadyState,
  type ReadyStateValue,
  readResetInfo,
  SseClientEvent,
  TextClientEvent,
  type WithReset,
} from './client-events.ts';
import { EventQueue, HIGH_WATER } from './client-iterator.ts';
import { type ParsedEvent, SseParser } from './client-parser.ts';
import {
  buildRequest,
  type ConnectOptions,
  checkResponse,
  type FetchFunction,
  readRefusal,
  reportError,
  type Target,
} from './client-request.ts';

type Listener = (event: ClientEvent<string, unknown>) => void;

/**
 * An SSE connection that reconnects: `EventSource`'s model with any method,
 * headers and body, backoff, a read timeout and typed events. Made by
 * {@link connect}.
 *
 * @example
 * ```ts
 * const client = connect<{ tick: { price: number } }>('/prices');
 * const stop = client.on('tick', (ev) => draw(ev.json().price));
 * client.onerror = (e) => console.warn(e.message);
 * // later
 * stop();
 * client.close();
 * ```
 */
export class SseClient<M extends EventMap = EventMap> implements AsyncIterable<AnyClientEvent<WithReset<M>>> {
  // Not `implements QueueOwner`: the published declarations drop the internal `drained()`, and
  // `new EventQueue(this)` checks the same shape anyway.
  /** Called when a response opens the stream (each reconnect too). */
  onopen: ((info: OpenInfo) => void) | null = null;
  /** Called on every failed attempt; `error.retryIn` says whether and when the client tries again. */
  onerror: ((error: ConnectError) => void) | null = null;
  /** Called once, when the client is closed for good (by `close()`, a 204, or giving up). */
  onclose: (() => void) | null = null;
  /** Called with each comment line (`: text`), heartbeats included. */
  oncomment: ((text: string) => void) | null = null;

  private readonly target: Target;
  private readonly method: string;
  private readonly options: ConnectOptions;
  private readonly repeat: boolean;
  private readonly readTimeout: number;
  private readonly backoff: Backoff;
  private readonly fetcher: FetchFunction;
  private readonly parser: SseParser;
  private readonly listeners = new Map<string, Set<Listener>>();
  /** Event types whose data is text, not JSON (`options.text`); `undefined` when none. */
  private readonly textTypes: ReadonlySet<string> | undefined;
  private readonly queues = new Set<EventQueue<AnyClientEvent<WithReset<M>>>>();
  private state: ReadyStateValue = ReadyState.CONNECTING;
  /** Closed for good; every wait checks it after it wakes. */
  private ended = false;
  private attempts = 0;
  private serverRetry: number | undefined = undefined;
  private controller: AbortController | undefined = undefined;
  private sleepTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  private wake: (() => void) | undefined = undefined;
  private readTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  private lastByteAt = 0;
  private timedOut = false;
  private readonly onAbort = (): void => this.close();

  constructor(url: Target, options: ConnectOptions = {}) {
    if (typeof url !== 'string' && typeof url !== 'function' && !(url instanceof URL)) {
      throw new InvalidArgumentError('url', 'must be a string, a URL or a function returning one', url);
    }
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'must be an object', options);
    }
    const method = options.method ?? 'GET';
    if (typeof method !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) {
      throw new InvalidArgumentError('method', 'must be an HTTP method name', method);
    }
    const readTimeout = options.readTimeout ?? 0;
    if (typeof readTimeout !== 'number' || !Number.isFinite(readTimeout) || readTimeout < 0) {
      throw new InvalidArgumentError(
        'readTimeout',
        'must be a non-negative number of milliseconds',
        readTimeout,
      );
    }
    const lastEventId = options.lastEventId ?? '';
    if (typeof lastEventId !== 'string' || /[\r\n\0]/.test(lastEventId)) {
      throw new InvalidArgumentError('lastEventId', 'must be a string without CR, LF or NUL', lastEventId);
    }
    const fetcher = options.fetch ?? globalThis.fetch;
    if (typeof fetcher !== 'function') {
      throw new InvalidArgumentError('fetch', 'must be a function (no global fetch here)', fetcher);
    }
    if (
      options.text !== undefined &&
      !(Array.isArray(options.text) && options.text.every((t) => typeof t === 'string'))
    ) {
      throw new InvalidArgumentError('text', 'must be an array of event type names', options.text);
    }
    if (options.shouldRetry !== undefined && typeof options.shouldRetry !== 'function') {
      throw new InvalidArgumentError('shouldRetry', 'must be a function', options.shouldRetry);
    }
    this.target = url;
    this.method = method.toUpperCase();
    this.options = options;
    this.repeat = options.repeat ?? (this.method === 'GET' || this.method === 'HEAD');
    this.readTimeout = readTimeout;
    this.textTypes = options.text === undefined ? undefined : new Set(options.text);
    this.backoff = new Backoff(options.backoff);
    // A browser's fetch must be called on the global object: stored bare and called as a method of the
    // client, it throws "Illegal invocation" (found by the Chromium matrix; Node's fetch does not care).
    this.fetcher = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.parser = new SseParser(
      {
        onEvent: (ev) => this.dispatch(ev),
        onRetry: (ms) => {
          this.serverRetry = ms;
        },
        onComment: (text) => this.comment(text),
      },
      lastEventId,
    );
    const signal = options.signal;
    if (signal?.aborted) {
      this.state = ReadyState.CLOSED;
      this.ended = true;
      return;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    // A microtask, so listeners and loops attached right after connect() see the first event.
    queueMicrotask(() => void this.run());
  }

  /** 0 connecting (or waiting to reconnect), 1 open, 2 closed for good. */
  get readyState(): ReadyStateValue {
    return this.state;
  }

  /** The last event ID: what the next reconnect sends as `Last-Event-ID` (empty: none). */
  get lastEventId(): string {
    return this.parser.lastEventId;
  }

  /**
   * Calls `fn` with every event of type `type` (`'message'` for events
   * without `event:`). Returns a function that removes it. A listener that
   * throws is reported and the stream goes on.
   */
  on<K extends keyof WithReset<M> & string>(
    type: K,
    fn: (event: ClientEvent<K, WithReset<M>[K]>) => void,
  ): () => void {
    if (typeof type !== 'string') throw new InvalidArgumentError('type', 'must be a string', type);
    if (typeof fn !== 'function') throw new InvalidArgumentError('fn', 'must be a function', fn);
    let set = this.listeners.get(type);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(fn as Listener);
    return () => this.off(type, fn);
  }

  /** Removes a listener added with {@link SseClient.on}. */
  off<K extends keyof WithReset<M> & string>(
    type: K,
    fn: (event: ClientEvent<K, WithReset<M>[K]>) => void,
  ): void {
    this.listeners.get(type)?.delete(fn as Listener);
  }

  /**
   * Closes for good: aborts the request in flight, clears every timer, ends
   * every `for await` loop. Safe to call more than once.
   */
  close(): void {
    this.finish(undefined);
  }

  /** Each loop gets every event from now on; leaving the loop closes the client. */
  [Symbol.asyncIterator](): AsyncIterator<AnyClientEvent<WithReset<M>>> {
    const queue = new EventQueue<AnyClientEvent<WithReset<M>>>(this);
    if (this.ended) queue.end();
    else this.queues.add(queue);
    return queue;
  }

  /** @internal A loop caught up: reading may go on (see `HIGH_WATER`). */
  drained(): void {
    const wake = this.resumeReading;
    if (wake === undefined) return;
    for (const q of this.queues) if (q.length >= HIGH_WATER) return;
    this.resumeReading = undefined;
    wake();
  }

  private resumeReading: (() => void) | undefined = undefined;

  /** The connect, read, reconnect loop; runs until the client is closed. */
  private async run(): Promise<void> {
    while (!this.ended) {
      const failure = await this.attempt();
      if (this.ended) return;
      // A 204, or a stream that may not be requested again and ended as it should: done, not failed.
      if (failure === undefined || (failure.kind === 'ended' && !this.repeat)) return this.finish(undefined);
      const delay = this.decide(failure);
      failure.retryIn = delay;
      if (delay !== undefined) this.state = ReadyState.CONNECTING;
      this.report(failure);
      if (delay === undefined) return this.finish(failure);
      if (this.ended) return;
      await this.sleep(delay);
    }
  }

  /** One request and its stream. Resolves with why it ended, `undefined` for a 204 (stop for good). */
  private async attempt(): Promise<ConnectError | undefined> {
    const attempt = ++this.attempts;
    let request: [string | URL, RequestInit];
    try {
      request = await buildRequest(this.target, this.method, this.options, this.parser.lastEventId);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return new ConnectError('setup', `Preparing the request failed: ${message}`, { attempt, cause: err });
    }
    if (this.ended) return undefined;
    const controller = new AbortController();
    this.controller = controller;
    request[1].signal = controller.signal;
    this.timedOut = false;
    let openedAt = 0;
    try {
      this.startReadTimer();
      const response = await this.fetcher(request[0], request[1]);
      this.lastByteAt = Date.now();
      const rejected = checkResponse(response, attempt);
      if (rejected !== null) {
        // A refusal's JSON says why (a 400's problems); any other body is released now instead
        // of when it would be garbage collected.
        if (rejected?.kind === 'status') await readRefusal(response, rejected);
        else await response.body?.cancel().catch(() => {});
        return rejected;
      }
      openedAt = Date.now();
      this.parser.reset();
      this.state = ReadyState.OPEN;
      this.call(this.onopen, {
        status: response.status,
        headers: response.headers,
        url: response.url,
        attempt,
      });
      await this.read(response.body as ReadableStream<Uint8Array>);
      return new ConnectError('ended', 'The server ended the stream', { attempt });
    } catch (err) {
      if (this.timedOut) {
        return new ConnectError('read-timeout', `No bytes for ${this.readTimeout} ms`, {
          attempt,
          cause: err,
        });
      }
      const message = err instanceof Error ? err.message : String(err);
      return new ConnectError('network', message, { attempt, cause: err });
    } finally {
      this.stopReadTimer();
      controller.abort();
      if (this.controller === controller) this.controller = undefined;
      if (openedAt !== 0) this.backoff.connected(openedAt, Date.now());
    }
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.ended) return;
        this.lastByteAt = Date.now();
        this.parser.feed(value);
        if (this.resumeReading === undefined && this.slowestQueue() >= HIGH_WATER) {
          // Waiting for the app is not silence from the server: no read timeout meanwhile.
          this.stopReadTimer();
          await new Promise<void>((wake) => {
            this.resumeReading = wake;
          });
          if (this.ended) return;
          this.startReadTimer();
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  private slowestQueue(): number {
    let most = 0;
    for (const q of this.queues) if (q.length > most) most = q.length;
    return most;
  }

  /** The delay before the next attempt, or `undefined` to give up. */
  private decide(failure: ConnectError): number | undefined {
    if (!this.repeat) return undefined;
    let verdict: boolean | number | undefined;
    try {
      verdict = this.options.shouldRetry?.(failure);
    } catch (err) {
      reportError(err);
      verdict = false;
    }
    if (verdict === undefined) verdict = defaultShouldRetry(failure);
    if (verdict === false) return undefined;
    if (typeof verdict === 'number' && Number.isFinite(verdict) && verdict >= 0) return verdict;
    const delay = this.backoff.next(this.serverRetry);
    // The server said when; jitter and doubling are for guessing, and it did not leave us to guess.
    return failure.retryAfter ?? delay;
  }

  private dispatch(parsed: ParsedEvent): void {
    if (parsed.type === RESET_EVENT && parsed.id === undefined) {
      // A reset always carries its position as `id:`; one relayed without it still has it in the data.
      const info = readResetInfo(parsed.data);
      if (info !== undefined) this.parser.setLastEventId(info.resumeId);
    }
    const event =
      this.textTypes?.has(parsed.type) === true
        ? new TextClientEvent(parsed.type, parsed.data, parsed.id, this.parser.lastEventId)
        : new SseClientEvent(parsed.type, parsed.data, parsed.id, this.parser.lastEventId);
    const set = this.listeners.get(parsed.type);
    if (set !== undefined) for (const fn of set) this.call(fn, event);
    for (const q of this.queues) q.push(event as unknown as AnyClientEvent<WithReset<M>>);
  }

  private comment(text: string): void {
    if (this.oncomment !== null) this.call(this.oncomment, text);
  }

  private report(error: ConnectError): void {
    if (this.onerror !== null) this.call(this.onerror, error);
  }

  /** Runs an app callback; one that throws is reported, never allowed to stop the stream. */
  private call<T>(fn: ((arg: T) => void) | null, arg: T): void {
    if (fn === null) return;
    try {
      fn(arg);
    } catch (err) {
      reportError(err);
    }
  }

  private finish(error: ConnectError | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.state = ReadyState.CLOSED;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.controller?.abort();
    this.stopReadTimer();
    if (this.sleepTimer !== undefined) clearTimeout(this.sleepTimer);
    this.sleepTimer = undefined;
    this.wake?.();
    this.wake = undefined;
    const resume = this.resumeReading;
    this.resumeReading = undefined;
    resume?.();
    for (const q of this.queues) {
      if (error === undefined) q.end();
      else q.fail(error);
    }
    this.queues.clear();
    this.call(this.onclose, undefined);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((done) => {
      this.wake = done;
      this.sleepTimer = setTimeout(() => {
        this.sleepTimer = undefined;
        this.wake = undefined;
        done();
      }, ms);
    });
  }

  /** One timer per `readTimeout`, re-armed for the rest of the time, instead of a new one per chunk. */
  private startReadTimer(): void {
    if (this.readTimeout === 0) return;
    this.lastByteAt = Date.now();
    const check = (): void => {
      const idle = Date.now() - this.lastByteAt;
      if (idle >= this.readTimeout) {
        this.readTimer = undefined;
        this.timedOut = true;
        this.controller?.abort();
        return;
      }
      this.readTimer = setTimeout(check, this.readTimeout - idle);
    };
    this.readTimer = setTimeout(check, this.readTimeout);
  }

  private stopReadTimer(): void {
    if (this.readTimer !== undefined) clearTimeout(this.readTimer);
    this.readTimer = undefined;
  }
}

/**
 * Opens a Server-Sent Events stream and keeps it open: reconnects with
 * `Last-Event-ID` after the stream ends or fails, with backoff, until
 * `close()`, a 204, a `break` out of the loop, or a failure the policy does
 * not retry. Works unchanged in browsers and Node 20+.
 *
 * @example
 * ```ts
 * import { connect } from 'sluice/client';
 *
 * for await (const ev of connect<{ tick: { price: number } }>('https://example.com/prices')) {
 *   if (ev.type === 'tick') console.log(ev.json().price);
 *   if (ev.type === 'reset') await reloadPrices(); // the server could not replay what we missed
 * }
 * ```
 */
export function connect<M extends EventMap = EventMap>(
  url: string | URL | (() => string | URL | Promise<string | URL>),
  options?: ConnectOptions,
): SseClient<M> {
  return new SseClient<M>(url, options);
}
