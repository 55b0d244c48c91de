import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, ResponseCommittedError, SessionStoreError } from '../errors.ts';
import type { Request } from '../request/request.ts';
import type { CookieOptions } from '../request/request-cookie.ts';
import type { SessionRecord, SessionStore } from './session-store.ts';

/** What `session(options)` resolved once, shared by every request it serves (not exported from the package). */
export interface SessionConfig {
  readonly store: SessionStore;
  readonly name: string;
  /** Lifetime in ms: the idle TTL when rolling, else the time from creation. */
  readonly maxAgeMs: number;
  /** The same in whole seconds, for the cookie's `Max-Age`. */
  readonly maxAgeSeconds: number;
  readonly rolling: boolean;
  /** `undefined`: signed exactly when the server has a cookie secret. */
  readonly signed: boolean | undefined;
  readonly cookie: Readonly<SessionCookieOptions>;
}

/**
 * Attributes of the session cookie that may be chosen; its lifetime is the session's `maxAge`,
 * and whether it is signed is the session's `signed`.
 *
 * @example
 * ```ts
 * s.use(session({ cookie: { sameSite: 'strict', domain: 'example.com' } }));
 * ```
 */
export type SessionCookieOptions = Pick<
  CookieOptions,
  'domain' | 'path' | 'httpOnly' | 'secure' | 'sameSite' | 'partitioned' | 'priority'
>;

/** 24 random bytes in base64url: 192 bits, and nothing a cookie or a Redis key must escape. */
const ID = /^[A-Za-z0-9_-]{32}$/;

function newId(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * The session of one request, as GoFrame's `r.Session`: values kept for a client between its
 * requests, found again through a cookie that holds only a random id. Reached as `r.session`
 * once `s.use(session())` is installed.
 *
 * Nothing is stored, and no cookie is sent, until something is written: a visitor who is only
 * looked at costs no store entry. Values are JSON: `set` stores what `JSON.stringify` keeps (a
 * `Date` comes back as its string), so change an object you got and `set` it again.
 *
 * Changes are saved once, when the handler chain ends or, for a stream (`flush()`, `sse()`, a
 * returned stream), when the response commits: change the session before you start streaming,
 * since the cookie must go out with the headers. A change after that throws
 * {@link ResponseCommittedError}. A long stream holds no lock on its session.
 *
 * @example
 * ```ts
 * s.post('/login', async (r) => {
 *   const user = await checkPassword(r.get('name'), r.get('password'));
 *   await r.session.regenerate(); // a new id at login: an id planted before it is worth nothing
 *   r.session.set('user', user.id);
 * });
 * s.get('/me', (r) => r.session.get('user') ?? null);
 * s.post('/logout', (r) => r.session.destroy());
 * ```
 */
export class Session {
  /** @internal */ readonly request: Request;
  /** @internal */ readonly config: SessionConfig;
  private sid: string | undefined = undefined;
  private values: Record<string, unknown> | undefined = undefined;
  private created = 0;
  /** The id the store holds this session under, if it holds one: `destroy` must delete it. */
  private storedId: string | undefined = undefined;
  private dirty = false;
  private needsTouch = false;
  /** Set once the save was started (or given up): a session is saved at most once per request. */
  private settled = false;
  private saving: Promise<void> | undefined = undefined;
  /** Whether the save began when the response committed: its failure was logged, not thrown. */
  private savedAtCommit = false;
  /** Whether the response will call {@link saveAtCommit}. */
  private armed = false;

  constructor(request: Request, config: SessionConfig) {
    this.request = request;
    this.config = config;
  }

  /** The session id, or `undefined` while there is no session (nothing written yet). */
  get id(): string | undefined {
    return this.sid;
  }

  /** Whether this session was not found in the store when the request came: created by it, or not yet at all. */
  get isNew(): boolean {
    return this.storedId === undefined;
  }

  /** A value by key, or `def` when the session has none (`undefined` without one). */
  get<T = unknown>(key: string): T | undefined;
  get<T>(key: string, def: T): T;
  get<T = unknown>(key: string, def?: T): T | undefined {
    const values = this.values;
    if (values === undefined || !Object.hasOwn(values, key)) return def;
    return values[key] as T;
  }

  /** Whether the session has a value under `key`. */
  has(key: string): boolean {
    return this.values !== undefined && Object.hasOwn(this.values, key);
  }

  /** A copy of every value, as GoFrame's `Data()`. */
  data(): Record<string, unknown> {
    return { ...this.values };
  }

  /**
   * Stores a JSON value under `key`, creating the session (a new id and its cookie) if there is
   * none. Throws {@link InvalidArgumentError} for what JSON cannot keep (a function, a bigint,
   * `undefined`: use `remove`, a cycle) and {@link ResponseCommittedError} once the response
   * was committed.
   */
  set(key: string, value: unknown): this {
    this.writable(`set session value "${key}"`);
    checkKey(key);
    const json = toJson(key, value);
    this.create()[key] = JSON.parse(json);
    this.changed();
    return this;
  }

  /** {@link set} for several keys at once, as GoFrame's `SetMap`. */
  setMap(values: Record<string, unknown>): this {
    if (typeof values !== 'object' || values === null || Array.isArray(values)) {
      throw new InvalidArgumentError('values', 'must be an object of session values', values);
    }
    this.writable('set session values');
    const parsed: [string, unknown][] = [];
    // All checked before any is stored: a bad value leaves the session as it was.
    for (const key of Object.keys(values)) {
      checkKey(key);
      parsed.push([key, JSON.parse(toJson(key, values[key]))]);
    }
    const target = this.create();
    for (const [key, value] of parsed) target[key] = value;
    this.changed();
    return this;
  }

  /** Removes values; without a session it does nothing (it creates none). */
  remove(...keys: string[]): this {
    this.writable('remove session values');
    const values = this.values;
    if (values === undefined) return this;
    for (const key of keys) delete values[key];
    this.changed();
    return this;
  }

  /** Removes every value, keeping the session and its id, as GoFrame's `RemoveAll`. */
  clear(): this {
    this.writable('clear the session');
    if (this.values === undefined) return this;
    this.values = Object.create(null) as Record<string, unknown>;
    this.changed();
    return this;
  }

  /**
   * Ends the session and starts a new, empty one under a new id: call it at login, so an id an
   * attacker planted in the browser before (session fixation) is worth nothing after. The old
   * id is deleted from the store now; the new session is saved with the response.
   */
  async regenerate(): Promise<void> {
    this.writable('regenerate the session');
    await this.forget();
    this.create();
    this.changed();
  }

  /**
   * Ends the session: deletes it from the store now and tells the browser to drop the cookie.
   * A later `set` in the same request starts a new session under a new id.
   */
  async destroy(): Promise<void> {
    this.writable('destroy the session');
    const hadCookie = this.sid !== undefined || this.request.cookie.has(this.config.name);
    await this.forget();
    if (hadCookie) {
      this.dropOwnCookie();
      this.request.cookie.remove(this.config.name, this.cookieScope());
    }
  }

  /**
   * @internal Reads the session the request's cookie names, if the store has it and it has not
   * expired; anything else (no cookie, a forged or malformed id, an unknown or expired one) leaves
   * the request without a session, and a write then issues a new id.
   */
  async load(): Promise<void> {
    const r = this.request;
    const config = this.config;
    const id = r.cookie.get(config.name, { signed: this.signed() });
    if (id === undefined || !ID.test(id)) return;
    let record: SessionRecord | undefined;
    try {
      record = await config.store.get(id);
    } catch (e) {
      throw new SessionStoreError('get', e);
    }
    if (record === undefined || record === null) return;
    if (!isRecord(record)) {
      r.server.logger.warn('sluice: the session store returned a malformed record; the session is ignored');
      return;
    }
    if (!config.rolling && record.created + config.maxAgeMs <= Date.now()) return;
    this.sid = id;
    this.storedId = id;
    this.created = record.created;
    this.values = Object.assign(Object.create(null) as Record<string, unknown>, record.data);
    if (config.rolling) {
      // Sent now, while the headers are still ours: the handler may commit before the chain ends.
      this.writeCookie();
      this.needsTouch = true;
      this.armCommit();
    }
  }

  /**
   * @internal Saves the session if it changed (or touches it when rolling); once per request.
   * Called when the chain ends; for a stream, already when the response committed. A failure
   * rejects with {@link SessionStoreError}.
   */
  save(): Promise<void> | undefined {
    if (this.settled) return this.saving;
    this.settled = true;
    const id = this.sid;
    if (id === undefined || (!this.dirty && !this.needsTouch)) return undefined;
    const config = this.config;
    const ttl = config.rolling ? config.maxAgeMs : this.created + config.maxAgeMs - Date.now();
    // A fixed-lifetime session that ran out during this request: there is nothing left to keep.
    if (ttl <= 0) return undefined;
    this.saving = this.dirty
      ? storeCall('set', () => config.store.set(id, { data: { ...this.values }, created: this.created }, ttl))
      : storeCall('touch', () => config.store.touch(id, ttl));
    return this.saving;
  }

  /**
   * @internal Waits for the save after the chain ended. Before commit a failure is thrown (a 500);
   * after it, it can only be logged, and one begun at commit was logged then.
   */
  finish(): Promise<void> | undefined {
    const saving = this.save();
    // Most requests change nothing: no promise, no await for them.
    if (saving === undefined) return undefined;
    if (this.savedAtCommit) return saving.catch(noop);
    if (!this.request.response.isCommitted()) return saving;
    return saving.catch((e: unknown) =>
      this.request.server.logger.error('sluice: the session could not be saved', e),
    );
  }

  /** @internal The chain threw: what it changed is not saved, as if the request had not happened. */
  discard(): void {
    this.settled = true;
  }

  private signed(): boolean {
    return this.config.signed ?? this.request.server.cookieSecrets.length > 0;
  }

  private writable(attempted: string): void {
    if (this.request.response.isCommitted()) throw new ResponseCommittedError(attempted);
  }

  /** The values to write into, creating the session (id, cookie) when there is none. */
  private create(): Record<string, unknown> {
    if (this.values !== undefined && this.sid !== undefined) return this.values;
    this.sid = newId();
    this.created = Date.now();
    this.values = Object.create(null) as Record<string, unknown>;
    this.writeCookie();
    return this.values;
  }

  private changed(): void {
    this.dirty = true;
    this.armCommit();
  }

  /** Deletes the stored session, if there is one, and leaves the request without a session. */
  private async forget(): Promise<void> {
    const stored = this.storedId;
    this.sid = undefined;
    this.values = undefined;
    this.storedId = undefined;
    this.dirty = false;
    this.needsTouch = false;
    if (stored !== undefined) await storeCall('destroy', () => this.config.store.destroy(stored));
  }

  /** Sets the session cookie, replacing one this request set before (a rolling refresh, a regenerate). */
  private writeCookie(): void {
    this.dropOwnCookie();
    const config = this.config;
    this.request.cookie.set(config.name, this.sid!, {
      ...config.cookie,
      maxAge: config.maxAgeSeconds,
      signed: this.signed(),
    });
  }

  private dropOwnCookie(): void {
    const raw = this.request.response.raw;
    const set = raw.getHeader('set-cookie');
    if (!Array.isArray(set)) return;
    const prefix = `${this.config.name}=`;
    const kept = set.filter((c) => !c.startsWith(prefix));
    if (kept.length === set.length) return;
    if (kept.length === 0) raw.removeHeader('set-cookie');
    else raw.setHeader('set-cookie', kept);
  }

  private cookieScope(): Pick<CookieOptions, 'path' | 'domain' | 'secure' | 'sameSite' | 'partitioned'> {
    const c = this.config.cookie;
    return {
      path: c.path,
      domain: c.domain,
      secure: c.secure,
      sameSite: c.sameSite,
      partitioned: c.partitioned,
    };
  }

  /**
   * Saves when the response commits, so a stream that outlives the handler does not keep a
   * change unsaved (and the client's other requests blind to it) until the stream ends.
   */
  private armCommit(): void {
    if (this.armed) return;
    this.armed = true;
    const res = this.request.response;
    const before = res.onCommit;
    const hook = (): void => this.saveAtCommit();
    res.onCommit =
      before === undefined
        ? hook
        : () => {
            before();
            hook();
          };
  }

  private saveAtCommit(): void {
    const saving = this.settled ? undefined : this.save();
    if (saving === undefined) return;
    this.savedAtCommit = true;
    // The headers are going out: a failure can no longer change the answer, only be reported.
    saving.catch((e: unknown) =>
      this.request.server.logger.error('sluice: the session could not be saved', e),
    );
  }
}

async function storeCall(operation: string, call: () => Promise<void> | void): Promise<void> {
  try {
    await call();
  } catch (e) {
    throw new SessionStoreError(operation, e);
  }
}

function noop(): void {}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidArgumentError('key', 'must be a non-empty string', key);
  }
}

/** The value as JSON text, or an InvalidArgumentError naming the key and what JSON cannot keep. */
function toJson(key: string, value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (e) {
    throw new InvalidArgumentError(`value of "${key}"`, `must be JSON-serialisable: ${(e as Error).message}`);
  }
  if (json === undefined) {
    throw new InvalidArgumentError(
      `value of "${key}"`,
      'must be JSON-serialisable (not undefined, a function or a symbol); remove() deletes a key',
      typeof value,
    );
  }
  return json;
}

function isRecord(value: unknown): value is SessionRecord {
  if (typeof value !== 'object' || value === null) return false;
  const { data, created } = value as Partial<SessionRecord>;
  return typeof data === 'object' && data !== null && !Array.isArray(data) && Number.isFinite(created);
}
