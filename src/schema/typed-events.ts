import { type Problem, ResponseValidationError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import { loggable } from '../server/server-logger.ts';
import type { SseEvent } from '../sse/encoder.ts';
import type { EventStream } from '../sse/event-stream.ts';
import { sseEvent } from '../sse/pipe-returned.ts';
import type { EventMap, Schema, TypedEventStream } from './route-types.ts';
import { check } from './standard-schema.ts';

/**
 * The events of a streaming route, compiled once: each item a handler yields or sends is checked
 * here before the encoder frames it, so an event that breaks its schema is never on the wire.
 */
export class CompiledEvents {
  private readonly schemas: Map<string, Schema>;
  private readonly validate: boolean;

  constructor(events: EventMap, validate: boolean) {
    this.schemas = new Map(Object.entries(events));
    this.validate = validate;
  }

  /**
   * The SSE event to frame for an item, or a {@link ResponseValidationError}. An event name the
   * route does not declare is refused even with validation off: it costs one map lookup, and a
   * client typed from the route would have no handler for it.
   */
  toSseEvent(item: unknown): SseEvent | Promise<SseEvent> {
    if (typeof item !== 'object' || item === null) {
      throw invalid('an event', [{ path: ['event'], message: 'must be an object { event, data }' }]);
    }
    const { event, data, id, retry } = item as {
      event?: unknown;
      data?: unknown;
      id?: string | number;
      retry?: number;
    };
    const schema = typeof event === 'string' ? this.schemas.get(event) : undefined;
    if (schema === undefined || typeof event !== 'string') {
      const known = [...this.schemas.keys()].join(', ');
      throw invalid('an event', [
        { path: ['event'], message: `${String(event)} is not one of the route's events (${known})` },
      ]);
    }
    if (!this.validate) return { event, data, id, retry };
    const checked = check(schema, data, 'data');
    if (checked instanceof Promise) {
      return checked.then((c) => {
        if (!c.ok) throw invalid(`event "${event}"`, c.problems);
        return { event, data: c.value, id, retry };
      });
    }
    if (!checked.ok) throw invalid(`event "${event}"`, checked.problems);
    return { event, data: checked.value, id, retry };
  }

  /** What a streaming handler returned, ready for the core to stream: iterables are checked item by item. */
  wrapReturned(result: unknown): unknown {
    if (typeof result !== 'object' || result === null) return result;
    const source = iteratorOf(result);
    return source === undefined ? result : new CheckedEvents(source, this);
  }
}

function invalid(what: string, problems: readonly Problem[]): ResponseValidationError {
  return new ResponseValidationError(what, problems);
}

function iteratorOf(value: object): AsyncIterator<unknown> | Iterator<unknown> | undefined {
  const asyncIt = (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator];
  if (typeof asyncIt === 'function') return asyncIt.call(value);
  const syncIt = (value as Partial<Iterable<unknown>>)[Symbol.iterator];
  // A string is iterable too, but no streaming handler means its characters as events.
  if (typeof syncIt === 'function' && typeof value !== 'string') return syncIt.call(value);
  return undefined;
}

/**
 * The handler's iterable with each item checked and turned into a framed-ready event. A hand-made
 * iterator rather than an async generator: `return()` (the client left) reaches the handler's
 * generator at once, even while it is waiting for its next item, as it would without this wrapper.
 */
class CheckedEvents implements AsyncIterableIterator<unknown> {
  private readonly source: AsyncIterator<unknown> | Iterator<unknown>;
  private readonly events: CompiledEvents;

  constructor(source: AsyncIterator<unknown> | Iterator<unknown>, events: CompiledEvents) {
    this.source = source;
    this.events = events;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<unknown>> {
    const step = await this.source.next();
    if (step.done) return step;
    try {
      let ev = this.events.toSseEvent(step.value);
      if (ev instanceof Promise) ev = await ev;
      return { done: false, value: sseEvent(ev) };
    } catch (e) {
      // The core does not return() an iterator that threw: this one threw for the handler's
      // generator, which is still suspended at its yield and must get to run its finally.
      Promise.resolve(this.source.return?.()).catch(() => {});
      throw e;
    }
  }

  async return(value?: unknown): Promise<IteratorResult<unknown>> {
    if (typeof this.source.return === 'function') await this.source.return(value);
    return { done: true, value };
  }
}

/**
 * What `input.sse()` returns: the route's stream, sending only declared events, each checked.
 * An invalid event is not thrown at the caller (an un-awaited send would make that an unhandled
 * rejection, which ends the process): it is logged, ends the stream with `event: error`, and the
 * send resolves `false`, as a send to a client that left does.
 */
export class TypedEvents implements TypedEventStream<EventMap> {
  readonly stream: EventStream;
  private readonly request: Request;
  private readonly events: CompiledEvents;

  constructor(r: Request, stream: EventStream, events: CompiledEvents) {
    this.request = r;
    this.stream = stream;
    this.events = events;
  }

  async send(
    event: string,
    data: unknown,
    options?: { id?: string | number; retry?: number },
  ): Promise<boolean> {
    let ev: SseEvent;
    try {
      const made = this.events.toSseEvent({ event, data, id: options?.id, retry: options?.retry });
      ev = made instanceof Promise ? await made : made;
    } catch (e) {
      const r = this.request;
      r.server.getLogger().error(`sluice: ${r.method} ${loggable(r.path)} failed`, e);
      this.stream.fail(e);
      return false;
    }
    return this.stream.send(ev);
  }

  comment(text: string): Promise<boolean> {
    return this.stream.comment(text);
  }

  close(): void {
    this.stream.close();
  }

  get signal(): AbortSignal {
    return this.stream.signal;
  }

  get closed(): Promise<void> {
    return this.stream.closed;
  }

  get lastEventId(): string | undefined {
    return this.stream.lastEventId;
  }
}
