/**
 * The two ways the adapter talks to Redis, behind one small interface: a
 * single server (one connection for commands, one for Pub/Sub) or a Cluster
 * (node-redis routes each command to the shard of its key, and keeps sharded
 * subscriptions on the shard of their channel). The adapter only ever sends
 * commands whose first key carries the channel's hash tag.
 */
import { createClient, createCluster, type RedisClientOptions, type RedisClusterOptions } from 'redis';

/** What a link tells the adapter about its connections. */
export interface LinkEvents {
  /** A connection is (again) up: doorbells may have been missed meanwhile. */
  ready(role: string): void;
  /** A connection failed; it is being retried. */
  error(role: string, err: unknown): void;
}

type Listener = (message: string) => void;

/** @internal One Redis deployment, as the adapter uses it. */
export interface RedisLink {
  /** Whether commands can be sent right now. */
  readonly ready: boolean;
  /** Whether it was ever ready (a first connection may still be on its way). */
  readonly everReady: boolean;
  /** Sends a command whose first key is `key`; fails after `timeout` ms. */
  send(key: string, args: string[], timeout: number): Promise<unknown>;
  subscribe(channel: string, listener: Listener, sharded: boolean): Promise<void>;
  unsubscribe(channel: string, listener: Listener, sharded: boolean): Promise<void>;
  /** Resolves when it is ready, or after `ms` (whichever comes first). */
  waitReady(ms: number): Promise<void>;
  close(): Promise<void>;
}

type Client = ReturnType<typeof createClient>;

/** @internal A single Redis server: one connection for commands, one for Pub/Sub. */
export class ServerLink implements RedisLink {
  everReady = false;
  /** Aborted by close(): a wait for the connection ends with it. */
  private readonly closing = new AbortController();
  private readonly commands: Client;
  private readonly doorbells: Client;

  constructor(options: RedisClientOptions, events: LinkEvents) {
    // Nothing queues while Redis is away: a publish fails now rather than arrive minutes late.
    this.commands = createClient({ ...options, disableOfflineQueue: true });
    // Subscriptions may wait for the connection: they are made once and renewed by the client.
    this.doorbells = createClient(options);
    for (const [client, role] of [
      [this.commands, 'commands'],
      [this.doorbells, 'doorbells'],
    ] as const) {
      client.on('error', (err: unknown) => events.error(role, err));
      client.on('ready', () => {
        if (role === 'commands') this.everReady = true;
        events.ready(role);
      });
      client.connect().catch(() => {});
    }
  }

  get ready(): boolean {
    return this.commands.isReady;
  }

  send(_key: string, args: string[], timeout: number): Promise<unknown> {
    return this.commands.sendCommand(args, { timeout });
  }

  subscribe(channel: string, listener: Listener, sharded: boolean): Promise<void> {
    return sharded
      ? this.doorbells.sSubscribe(channel, listener)
      : this.doorbells.subscribe(channel, listener);
  }

  async unsubscribe(channel: string, listener: Listener, sharded: boolean): Promise<void> {
    if (!this.doorbells.isReady) return;
    if (sharded) await this.doorbells.sUnsubscribe(channel, listener);
    else await this.doorbells.unsubscribe(channel, listener);
  }

  waitReady(ms: number): Promise<void> {
    return waitFor(this.commands, 'ready', ms, this.closing.signal);
  }

  async close(): Promise<void> {
    this.closing.abort();
    for (const client of [this.commands, this.doorbells]) {
      if (client.isReady) await client.close().catch(() => client.destroy());
      else if (client.isOpen) client.destroy();
    }
  }
}

type Cluster = ReturnType<typeof createCluster>;

/** @internal A Redis Cluster: node-redis finds the shard of each key and of each sharded channel. */
export class ClusterLink implements RedisLink {
  everReady = false;
  private readonly cluster: Cluster;
  private readonly closing = new AbortController();

  constructor(options: RedisClusterOptions, events: LinkEvents) {
    const defaults = { ...options.defaults, disableOfflineQueue: true };
    // The options' generic RESP version does not narrow the way the default client type expects.
    this.cluster = createCluster({ ...options, defaults }) as unknown as Cluster;
    this.cluster.on('error', (err: unknown) => events.error('cluster', err));
    this.cluster.on('node-error', (err: unknown) => events.error('cluster', err));
    this.cluster.on('node-ready', () => {
      if (this.everReady) events.ready('cluster');
    });
    this.cluster.on('connect', () => {
      this.everReady = true;
      events.ready('cluster');
    });
    void this.connect(events);
  }

  get ready(): boolean {
    return this.cluster.isReady;
  }

  /** Discovery fails while no node answers: keep trying, as a single client's reconnects do. */
  private async connect(events: LinkEvents): Promise<void> {
    for (let attempt = 0; !this.closing.signal.aborted; attempt++) {
      try {
        await this.cluster.connect();
        return;
      } catch (err) {
        events.error('cluster', err);
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)));
      }
    }
  }

  send(key: string, args: string[], timeout: number): Promise<unknown> {
    return this.cluster.sendCommand(key, false, args, { timeout });
  }

  subscribe(channel: string, listener: Listener): Promise<void> {
    // A Cluster always uses sharded Pub/Sub: a doorbell then stays on its channel's shard.
    return this.cluster.sSubscribe(channel, listener);
  }

  async unsubscribe(channel: string, listener: Listener): Promise<void> {
    if (this.cluster.isReady) await this.cluster.sUnsubscribe(channel, listener);
  }

  waitReady(ms: number): Promise<void> {
    return waitFor(this.cluster, 'connect', ms, this.closing.signal);
  }

  async close(): Promise<void> {
    this.closing.abort();
    if (this.cluster.isReady) await this.cluster.close().catch(() => this.cluster.destroy());
    else if (this.cluster.isOpen) this.cluster.destroy();
  }
}

function waitFor(emitter: Client | Cluster, event: string, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      emitter.off(event, done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    emitter.on(event, done);
    if (signal.aborted) done();
    else signal.addEventListener('abort', done, { once: true });
  });
}
