import { InvalidArgumentError } from '../errors.ts';
import { Channel, type ChannelOptions } from './channel.ts';
import { type ChannelAdapter, MemoryAdapter } from './channel-adapter.ts';

/**
 * Options of a {@link ChannelHub}: the defaults of its channels, and the adapter they share.
 *
 * @example
 * ```ts
 * const rooms = new ChannelHub({ history: 200, overflow: 'drop-oldest' });
 * ```
 */
export type ChannelHubOptions = Omit<ChannelOptions, 'name'>;

/**
 * A registry of named channels sharing one adapter (one Redis connection
 * later, one map of logs now): `hub.channel('room:42')` returns the same
 * channel every time, created with the hub's defaults on first use.
 *
 * Channels are not removed on their own when their last subscriber leaves:
 * their history is what a reconnecting client replays from. An app that
 * creates names from user input should `delete()` them when they are done
 * (a chat room closing, a job finishing), as it would any other resource.
 *
 * @example
 * ```ts
 * const rooms = new ChannelHub({ history: 200 });
 * s.bindHandler('/rooms/{room}/events', async (r) => {
 *   await rooms.channel(`room:${r.params.room}`).subscribe(r.response.sse());
 * });
 * s.bindHandler('POST:/rooms/{room}/messages', async (r) => {
 *   return { id: await rooms.channel(`room:${r.params.room}`).publish({ event: 'message', data: r.getBody() }) };
 * });
 * ```
 */
export class ChannelHub {
  /**
   * The adapter every channel of the hub uses.
   *
   * @example
   * ```ts
   * const solo = new Channel({ name: 'solo', adapter: hub.adapter }); // the same logs, outside the hub
   * ```
   */
  readonly adapter: ChannelAdapter;
  private readonly defaults: ChannelHubOptions;
  private readonly channels = new Map<string, Channel>();

  constructor(options: ChannelHubOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'must be an object', options);
    }
    this.adapter = options.adapter ?? new MemoryAdapter();
    this.defaults = { ...options, adapter: this.adapter };
  }

  /**
   * The channel of this name, created on first use with the hub's defaults
   * overridden by `options` (which only count on that first call).
   *
   * @example
   * ```ts
   * hub.channel('alerts', { overflow: 'drop-oldest' }).publish({ data: 'disk full' });
   * ```
   */
  channel(name: string, options: Omit<ChannelOptions, 'name' | 'adapter'> = {}): Channel {
    let ch = this.channels.get(name);
    if (ch === undefined) {
      if (typeof name !== 'string' || name === '') {
        throw new InvalidArgumentError('name', 'must be a non-empty string', name);
      }
      ch = new Channel({ ...this.defaults, ...options, name, adapter: this.adapter });
      this.channels.set(name, ch);
    }
    return ch;
  }

  /**
   * The channel of this name if it exists (never creates one).
   *
   * @example
   * ```ts
   * hub.get('room:42')?.publish({ event: 'typing', data: user });
   * ```
   */
  get(name: string): Channel | undefined {
    return this.channels.get(name);
  }

  /**
   * Whether a channel of this name exists.
   *
   * @example
   * ```ts
   * if (!hub.has(`job:${id}`)) throw new HttpError(404);
   * ```
   */
  has(name: string): boolean {
    return this.channels.has(name);
  }

  /**
   * Channels in the hub.
   *
   * @example
   * ```ts
   * metrics.gauge('sse_channels', hub.size);
   * ```
   */
  get size(): number {
    return this.channels.size;
  }

  /**
   * The names of the hub's channels, in creation order.
   *
   * @example
   * ```ts
   * for (const name of hub.names()) if (name.startsWith('job:')) await hub.delete(name);
   * ```
   */
  names(): string[] {
    return [...this.channels.keys()];
  }

  /**
   * Closes and forgets one channel: its subscribers' streams end and its
   * history is released. Resolves to whether it existed.
   *
   * @example
   * ```ts
   * await hub.delete(`job:${jobId}`);
   * ```
   */
  async delete(name: string): Promise<boolean> {
    const ch = this.channels.get(name);
    if (ch === undefined) return false;
    this.channels.delete(name);
    await ch.close();
    return true;
  }

  /**
   * Closes every channel of the hub.
   *
   * @example
   * ```ts
   * await hub.close(); // on shutdown, after the server stopped
   * ```
   */
  async close(): Promise<void> {
    const all = [...this.channels.values()];
    this.channels.clear();
    await Promise.all(all.map((ch) => ch.close()));
  }
}
