/**
 * What a {@link SessionStore} keeps per session id: the session's values and when it began.
 * Stores keep it as they got it (the memory store as JSON text, the Redis store as a JSON
 * string), so it must survive `JSON.stringify`/`JSON.parse`, and does: the session only ever
 * holds JSON values.
 *
 * @example
 * ```ts
 * const record: SessionRecord = { data: { user: 7 }, created: Date.now() };
 * ```
 */
export interface SessionRecord {
  /** The session's values, by key. */
  data: Record<string, unknown>;
  /**
   * When the session was created, in ms since the epoch. A session that is not rolling ends
   * `maxAge` after it, whatever the store's TTL says: the middleware checks this too, so a store
   * that keeps a record a little longer cannot extend a session.
   */
  created: number;
}

/**
 * Where sessions live between requests. Every method may return a promise; a method that throws
 * or rejects answers the request with a 500 ({@link SessionStoreError}), logged, and never
 * crashes the process. TTLs are in milliseconds and always positive.
 *
 * The middleware never locks a session: two requests that change the same session at once each
 * save what they saw, and the later save wins, as with express-session. No request holds the
 * store while it streams: a session is read when a request starts and written, if it changed,
 * before the response commits.
 *
 * @example
 * ```ts
 * // A store on any key-value service with expiry (here a hypothetical `kv`).
 * const kvStore: SessionStore = {
 *   async get(id) { const s = await kv.get(`sess:${id}`); return s === null ? undefined : JSON.parse(s); },
 *   async set(id, record, ttl) { await kv.set(`sess:${id}`, JSON.stringify(record), { px: ttl }); },
 *   async touch(id, ttl) { await kv.pexpire(`sess:${id}`, ttl); },
 *   async destroy(id) { await kv.del(`sess:${id}`); },
 * };
 * s.use(session({ store: kvStore }));
 * ```
 */
export interface SessionStore {
  /** The record stored under `id`, or `undefined` when there is none (never stored, expired, destroyed). */
  get(id: string): Promise<SessionRecord | undefined> | SessionRecord | undefined;
  /** Stores the record under `id`, replacing any, to expire `ttl` ms from now. */
  set(id: string, record: SessionRecord, ttl: number): Promise<void> | void;
  /**
   * Moves the expiry of a stored session to `ttl` ms from now without rewriting its values
   * (a rolling session that did not change). A missing id is no error.
   */
  touch(id: string, ttl: number): Promise<void> | void;
  /** Deletes the session; a missing id is no error. */
  destroy(id: string): Promise<void> | void;
}
