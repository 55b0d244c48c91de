/**
 * The shapes the client hands to an app: events with a typed JSON helper, the
 * typed event map, and the protocol of sluice's channels (the `reset` event).
 * Browser-safe, types and a few pure functions only.
 */

/**
 * Why a sluice channel told the client to reload its state:
 * - `'unknown-id'`: the `Last-Event-ID` it sent is malformed, from another
 *   channel, or from before the server restarted;
 * - `'expired'`: the events after it are no longer kept;
 * - `'dropped'`: the server dropped events because the client read too slowly.
 *
 * @example
 * ```ts
 * const why: ResetReason = 'expired';
 * ```
 */
export type ResetReason = 'unknown-id' | 'expired' | 'dropped';

/**
 * The data of a sluice channel's `event: reset`. What was missed cannot be
 * replayed, so the app reloads its state (from a REST endpoint, say); the
 * stream goes on from `resumeId`, which is also what the client's next
 * reconnect sends as `Last-Event-ID`.
 *
 * @example
 * ```ts
 * client.on('reset', (ev) => {
 *   const info: ResetInfo = ev.json();
 *   if (info.reason !== 'dropped') void reloadState();
 * });
 * ```
 */
export interface ResetInfo {
  readonly reason: ResetReason;
  /** The `Last-Event-ID` the client had sent, `null` when it sent none. */
  readonly lastEventId: string | null;
  /** The position the stream goes on from. */
  readonly resumeId: string;
  /** With `reason: 'dropped'`: how many events were dropped. */
  readonly dropped?: number;
}

/**
 * The event type a sluice channel uses for {@link ResetInfo}.
 *
 * @example
 * ```ts
 * client.on(RESET_EVENT, (ev) => reload(ev.json().reason));
 * ```
 */
export const RESET_EVENT = 'reset';

/**
 * Reads a reset event's data; `undefined` when it is not the shape a sluice
 * channel writes (so an app's own event that happens to be called `reset`
 * is passed on untouched).
 *
 * @example
 * ```ts
 * readResetInfo('{"reason":"expired","lastEventId":"1-4","resumeId":"1-90"}')?.resumeId; // '1-90'
 * readResetInfo('not json'); // undefined
 * ```
 */
export function readResetInfo(data: string): ResetInfo | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { reason, lastEventId, resumeId } = value as Record<string, unknown>;
  if (reason !== 'unknown-id' && reason !== 'expired' && reason !== 'dropped') return undefined;
  if (typeof resumeId !== 'string') return undefined;
  if (lastEventId !== null && typeof lastEventId !== 'string') return undefined;
  return value as ResetInfo;
}

/**
 * The event names a client can receive and the type of each one's JSON data.
 * `reset` is always part of it (see {@link ResetInfo}).
 *
 * @example
 * ```ts
 * type Prices = { tick: { price: number }; halt: { reason: string } };
 * const client = connect<Prices>('/prices');
 * ```
 */
export type EventMap = Record<string, unknown>;

/**
 * The map a client works with: the app's events plus sluice's `reset`.
 *
 * @example
 * ```ts
 * type Seen = WithReset<{ tick: { price: number } }>; // { tick: { price: number }; reset: ResetInfo }
 * ```
 */
export type WithReset<M extends EventMap> = Omit<M, typeof RESET_EVENT> & { reset: ResetInfo };

/**
 * One event as the app sees it. `type` tells the events of a map apart, so
 * after `if (ev.type === 'tick')` TypeScript knows what `ev.json()` returns.
 *
 * @example
 * ```ts
 * for await (const ev of connect<{ tick: { price: number } }>('/prices')) {
 *   if (ev.type === 'tick') console.log(ev.json().price, 'at', ev.lastEventId);
 * }
 * ```
 */
export interface ClientEvent<K extends string = string, T = unknown> {
  /** The `event:` field, `'message'` when there was none. */
  readonly type: K;
  /** The data, as text: the `data:` lines joined with LF. */
  readonly data: string;
  /** The event's own `id:` field, `undefined` when it had none. */
  readonly id: string | undefined;
  /** The last event ID seen on the stream: this event's id, or the latest one before it. */
  readonly lastEventId: string;
  /** `JSON.parse(data)`, typed by the event map. Throws a `SyntaxError` when the data is not JSON. */
  json(): T;
}

/**
 * Every event of map `M`, as a union discriminated by `type`: what a
 * `for await` loop over a client yields.
 *
 * @example
 * ```ts
 * function show(ev: AnyClientEvent<WithReset<{ tick: { price: number } }>>) {
 *   if (ev.type === 'tick') return ev.json().price;
 *   return ev.json().resumeId; // the only other type is 'reset'
 * }
 * ```
 */
export type AnyClientEvent<M extends EventMap> = {
  [K in keyof M & string]: ClientEvent<K, M[K]>;
}[keyof M & string];

/**
 * Builds the event object: one shape for every event, with `json` on the
 * prototype instead of a closure per event.
 */
export class SseClientEvent implements ClientEvent<string, unknown> {
  readonly type: string;
  readonly data: string;
  readonly id: string | undefined;
  readonly lastEventId: string;

  constructor(type: string, data: string, id: string | undefined, lastEventId: string) {
    this.type = type;
    this.data = data;
    this.id = id;
    this.lastEventId = lastEventId;
  }

  json(): unknown {
    return JSON.parse(this.data);
  }
}

/** An event of a type declared as text (`ConnectOptions.text`): its data is the value itself. */
export class TextClientEvent extends SseClientEvent {
  override json(): unknown {
    return this.data;
  }
}

/**
 * What `onopen` receives: the response that opened the stream.
 *
 * @example
 * ```ts
 * client.onopen = (info: OpenInfo) => console.log('open', info.status, 'after', info.attempt, 'tries');
 * ```
 */
export interface OpenInfo {
  readonly status: number;
  readonly headers: Headers;
  /** The URL after redirects. */
  readonly url: string;
  /** How many requests this client made so far, this one included. */
  readonly attempt: number;
}

/**
 * The client's state, numbered as `EventSource.readyState`.
 *
 * @example
 * ```ts
 * if (client.readyState === ReadyState.OPEN) showLive();
 * ```
 */
export const ReadyState = { CONNECTING: 0, OPEN: 1, CLOSED: 2 } as const;

/**
 * One of {@link ReadyState}'s values.
 *
 * @example
 * ```ts
 * const state: ReadyStateValue = client.readyState;
 * ```
 */
export type ReadyStateValue = (typeof ReadyState)[keyof typeof ReadyState];
