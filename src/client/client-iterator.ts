/**
 * The async-iterator side of the client: one queue per `for await` loop.
 * Leaving the loop (`break`, `return`, a throw) closes the client, so no
 * connection, timer or fetch outlives the loop that wanted it.
 */

/** What an {@link EventQueue} needs from its client. */
export interface QueueOwner {
  /** Closes the client: the loop was left. */
  close(): void;
  /** The queue was emptied: the client may read more of the stream. */
  drained(): void;
}

/**
 * Past this many unread events the client stops reading the body until the
 * loop catches up: the socket then pushes back on the server, instead of the
 * events piling up in memory.
 */
export const HIGH_WATER = 64;

/**
 * Events waiting for one `for await` loop. The client pushes, the loop pulls;
 * `end()` finishes the loop once what is queued was read, `fail()` makes it
 * throw after that.
 */
export class EventQueue<T> implements AsyncIterator<T> {
  private readonly owner: QueueOwner;
  private readonly items: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined = undefined;
  private waitingFail: ((error: unknown) => void) | undefined = undefined;
  private finished = false;
  private error: unknown = undefined;
  private failed = false;

  constructor(owner: QueueOwner) {
    this.owner = owner;
  }

  /** How many events wait to be read. */
  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.finished) return;
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      this.waitingFail = undefined;
      waiting({ value: item, done: false });
      return;
    }
    this.items.push(item);
  }

  /** No more events: the loop ends after the queued ones. */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.settleWaiting();
  }

  /** The client gave up: the loop throws `error` after the queued events. */
  fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.failed = true;
    this.error = error;
    this.settleWaiting();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const value = this.items.shift() as T;
      if (this.items.length === 0) this.owner.drained();
      return Promise.resolve({ value, done: false });
    }
    if (this.finished) return this.finishResult();
    this.owner.drained();
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.waitingFail = reject;
    });
  }

  /** `break` or `return` in the loop: close the client and end here. */
  return(): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.finished = true;
    this.failed = false;
    this.owner.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** A throw inside the loop body also closes the client. */
  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.return();
    return Promise.reject(error);
  }

  private finishResult(): Promise<IteratorResult<T>> {
    if (this.failed) {
      // Thrown once: a loop that catches and calls next() again sees the end.
      this.failed = false;
      return Promise.reject(this.error);
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  private settleWaiting(): void {
    const waiting = this.waiting;
    const waitingFail = this.waitingFail;
    if (waiting === undefined || waitingFail === undefined) return;
    this.waiting = undefined;
    this.waitingFail = undefined;
    if (this.failed) {
      this.failed = false;
      waitingFail(this.error);
    } else {
      waiting({ value: undefined, done: true });
    }
  }
}
