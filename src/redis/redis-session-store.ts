import { InvalidArgumentError } from '../errors.ts';
import type { Logger } from '../server/server-logger.ts';
import type { SessionRecord, SessionStore } from '../session/session-store.ts';

/**
 * The commands a {@link RedisSessionStore} uses, as node-redis 6 names them: a client from
 * `createClient()` or a cluster from `createCluster()` has them all.
 *
 * @example
 * ```ts
 * const client: RedisSessionClient = await createClient({ url: process.env.REDIS_URL }).connect();
 * ```
 */
export interface RedisSessionClient {
  get(key: string): Promise<unknown>;
  set(key: string, value: string, options: { expiration: { type: 'PX'; value: number } }): Promise<unknown>;
  pExpire(key: string, ms: number): Promise<unknown>;
  del(key: string): Promise<unknown>;
}

/**
 * Options of a {@link RedisSessionStore}.
 *
 * @example
 * ```ts
 * const client = await createClient({ url: process.env.REDIS_URL }).connect();
 * new RedisSessionStore({ client, prefix: 'myapp:sess:', commandTimeout: 2000 });
 * ```
 */
export interface RedisSessionStoreOptions {
  /** A node-redis client (or cluster) you created and connected; you also close it. */
  client: RedisSessionClient;
  /** Put before every session id to make its key. Default `sluice:sess:`. */
  prefix?: string;
  /**
   * A command with no answer within this many ms fails the request with a 500 instead of
   * holding it while Redis is away (node-redis queues commands while it reconnects). Default 5000.
   */
  commandTimeout?: number;
  /** Where a record that is not a session (written by another program) is reported. Default `console`. */
  logger?: Logger;
}

/**
 * A {@link SessionStore} on Redis, so every process and machine on the same Redis shares the
 * sessions, and they survive restarts of the app. One key per session (`<prefix><id>`, the
 * record as JSON): saved with `SET ... PX <ttl>`, touched with `PEXPIRE`, destroyed with `DEL`,
 * so Redis expires sessions by itself. It takes a client you created (with your TLS, credentials
 * and reconnect strategy) and does not close it.
 *
 * While Redis is unreachable, requests that need their session fail with a 500 after
 * `commandTimeout`; requests without a session cookie are not affected.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * import { session } from 'sluice';
 * import { RedisSessionStore } from 'sluice/redis';
 *
 * const client = await createClient({ url: process.env.REDIS_URL }).connect();
 * s.use(session({ store: new RedisSessionStore({ client }), rolling: true, maxAge: 3600 }));
 * // on shutdown, after the server stopped:
 * await client.close();
 * ```
 */
export class RedisSessionStore implements SessionStore {
  private readonly client: RedisSessionClient;
  private readonly prefix: string;
  private readonly timeout: number;
  private readonly logger: Logger;

  constructor(options: RedisSessionStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'must be an object with a node-redis client', options);
    }
    const client = options.client;
    for (const method of ['get', 'set', 'pExpire', 'del'] as const) {
      if (typeof client?.[method] !== 'function') {
        throw new InvalidArgumentError(
          'client',
          `must be a node-redis client (it has no ${method}())`,
          client,
        );
      }
    }
    const prefix = options.prefix ?? 'sluice:sess:';
    if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix', 'must be a string', prefix);
    const timeout = options.commandTimeout ?? 5000;
    if (!Number.isSafeInteger(timeout) || timeout <= 0) {
      throw new InvalidArgumentError('commandTimeout', 'must be a positive integer of milliseconds', timeout);
    }
    this.client = client;
    this.prefix = prefix;
    this.timeout = timeout;
    this.logger = options.logger ?? console;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const key = this.prefix + id;
    const text = await this.bounded(this.client.get(key), 'GET');
    if (text === null || text === undefined) return undefined;
    try {
      return JSON.parse(String(text)) as SessionRecord;
    } catch {
      this.logger.warn(`sluice/redis: session key "${key}" does not hold JSON; the session is ignored`);
      return undefined;
    }
  }

  async set(id: string, record: SessionRecord, ttl: number): Promise<void> {
    const options = { expiration: { type: 'PX' as const, value: Math.ceil(ttl) } };
    await this.bounded(this.client.set(this.prefix + id, JSON.stringify(record), options), 'SET');
  }

  async touch(id: string, ttl: number): Promise<void> {
    await this.bounded(this.client.pExpire(this.prefix + id, Math.ceil(ttl)), 'PEXPIRE');
  }

  async destroy(id: string): Promise<void> {
    await this.bounded(this.client.del(this.prefix + id), 'DEL');
  }

  /** The command's answer, or a rejection once `commandTimeout` passed without one. */
  private bounded<T>(command: Promise<T>, name: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer ${name} within ${this.timeout} ms`)),
        this.timeout,
      );
    });
    // A command answered late is dropped; its rejection must not go unhandled.
    command.catch(noop);
    return Promise.race([command, timeout]).finally(() => clearTimeout(timer));
  }
}

function noop(): void {}
