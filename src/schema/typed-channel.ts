import type { SubscribeOptions } from '../channel/channel.ts';
import { Channel, type ChannelOptions, type SubscriptionEnd } from '../index.ts';
import type { EventStream } from '../sse/event-stream.ts';
import { assertEvents } from './define-route.ts';
import type { EventMap, TypedEventStream } from './route-types.ts';
import type { InferInput } from './standard-schema.ts';
import { CompiledEvents, TypedEvents } from './typed-events.ts';

/**
 * One event published on a {@link TypedChannel}: a name of its event map and data its schema
 * accepts (the channel assigns the id). A wrong name or data type does not compile.
 *
 * @example
 * ```ts
 * const item: ChannelItem<{ tick: typeof Tick }> = { event: 'tick', data: { price: 101.5 } };
 * ```
 */
export type ChannelItem<E extends EventMap> = {
  [K in keyof E & string]: {
    readonly event: K;
    readonly data: InferInput<E[K]>;
    readonly retry?: number;
  };
}[keyof E & string];

/**
 * Options of {@link typedChannel}: the channel's own, and whether publishes are checked against
 * the schemas (default: on unless NODE_ENV=production, as a route's events).
 *
 * @example
 * ```ts
 * const options: TypedChannelOptions = { name: 'ticker', history: 1000, validate: true };
 * ```
 */
export interface TypedChannelOptions extends ChannelOptions {
  validate?: boolean;
}

/**
 * A {@link Channel} with an event map: `publish()` takes only the map's events, typed by their
 * schemas, and checks each one before it is framed and stored, so a subscriber (or a replay
 * hours later) never receives an event the route's document does not describe. The runtime
 * channel underneath is the plain one, kept as `channel`.
 *
 * @example
 * ```ts
 * const prices = typedChannel({ tick: z.object({ price: z.number() }) }, { history: 1000 });
 * prices.publish({ event: 'tick', data: { price: 101.5 } });
 * // prices.publish({ event: 'tock', data: {} });            // does not compile
 * const route = defineRoute({
 *   method: 'GET', path: '/prices', events: prices.events, resumable: true,
 *   handler: async (input) => { await prices.subscribe(input.sse()); },
 * });
 * ```
 */
export class TypedChannel<E extends EventMap> {
  /** The untyped channel: its stats, hub membership, adapter. */
  readonly channel: Channel;
  /** The event map, for a route to declare as its `events`. */
  readonly events: E;
  private readonly compiled: CompiledEvents;

  constructor(events: E, options: TypedChannelOptions = {}) {
    assertEvents(events, undefined);
    const { validate, ...channelOptions } = options;
    this.events = events;
    this.compiled = new CompiledEvents(events, validate ?? process.env.NODE_ENV !== 'production');
    this.channel = new Channel(channelOptions);
  }

  /**
   * Checks the event against its schema, then publishes it (see `Channel.publish`): resolves with
   * the id. An undeclared event name, or data that fails its schema, throws a
   * `ResponseValidationError` naming the problems, and nothing is published.
   */
  publish(item: ChannelItem<E>): string | Promise<string> {
    const ev = this.compiled.toSseEvent(item);
    if (ev instanceof Promise) return ev.then((checked) => this.channel.publish(toPublish(checked)));
    return this.channel.publish(toPublish(ev));
  }

  /** Subscribes a stream, plain or a typed route's `input.sse()` (see `Channel.subscribe`). */
  subscribe(stream: EventStream | TypedEventStream<E>, options?: SubscribeOptions): Promise<SubscriptionEnd> {
    // A typed stream wraps the plain one, which is what the channel writes to directly.
    return this.channel.subscribe(
      stream instanceof TypedEvents ? stream.stream : (stream as EventStream),
      options,
    );
  }

  /** The newest id published (see `Channel.lastId`). */
  get lastId(): string {
    return this.channel.lastId;
  }

  /** Closes the channel: its streams end (see `Channel.close`). */
  close(): Promise<void> {
    return this.channel.close();
  }
}

/** The channel assigns ids: the checked event goes on without one. */
function toPublish(ev: { event?: string; data?: unknown; retry?: number }): {
  event?: string;
  data?: unknown;
  retry?: number;
} {
  return ev.retry === undefined
    ? { event: ev.event, data: ev.data }
    : { event: ev.event, data: ev.data, retry: ev.retry };
}

/**
 * Makes a {@link TypedChannel}: a broadcast channel whose events are those of a map of schemas.
 *
 * @example
 * ```ts
 * const ticker = typedChannel({ tick: Tick }, { name: 'ticker', history: 1500 });
 * ticker.publish({ event: 'tick', data: { price: 100 } });
 * ```
 */
export function typedChannel<E extends EventMap>(events: E, options?: TypedChannelOptions): TypedChannel<E> {
  return new TypedChannel(events, options);
}
