import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  InvalidArgumentError,
  MemorySessionStore,
  ResponseCommittedError,
  type SessionRecord,
  type SessionStore,
  SessionStoreError,
  session,
} from '../src/index.ts';
import { Jar } from './helpers/cookie-jar.ts';
import { type Reply, send } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { read, waitFor } from './helpers/sse-clients.ts';

// Sessions against a real server and real HTTP requests, each client with its own cookie jar
// (what a browser stores from Set-Cookie and sends back as Cookie).

/** An open response: its head at once, its body as it comes, and a way to hang up. */
async function openStream(
  url: string,
  headers: Record<string, string>,
): Promise<{ headers: Reply['headers']; saw(text: string): Promise<void>; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('error', () => {});
      resolve({
        headers: res.headers,
        saw: (text) => waitFor(() => body.includes(text), `"${text}" on the stream`),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function sessionCookie(reply: Reply): string | undefined {
  return reply.headers['set-cookie']?.find((c) => c.startsWith('sluice.sid='));
}

/** A store that records what it was asked, around a memory store, and can be made to fail. */
class RecordingStore implements SessionStore {
  readonly inner = new MemorySessionStore();
  readonly calls: string[] = [];
  fail: 'get' | 'set' | 'set-sync' | 'touch' | undefined = undefined;

  async get(id: string): Promise<SessionRecord | undefined> {
    this.calls.push(`get ${id}`);
    if (this.fail === 'get') throw new Error('store down (get)');
    return this.inner.get(id);
  }

  set(id: string, record: SessionRecord, ttl: number): Promise<void> | void {
    this.calls.push(`set ${id} ${ttl}`);
    // A store that throws before returning a promise must not crash the process either.
    if (this.fail === 'set-sync') throw new Error('store down (sync set)');
    if (this.fail === 'set') return Promise.reject(new Error('store down (set)'));
    this.inner.set(id, record, ttl);
  }

  async touch(id: string, ttl: number): Promise<void> {
    this.calls.push(`touch ${id} ${ttl}`);
    if (this.fail === 'touch') throw new Error('store down (touch)');
    this.inner.touch(id, ttl);
  }

  async destroy(id: string): Promise<void> {
    this.calls.push(`destroy ${id}`);
    this.inner.destroy(id);
  }
}

describe('session() with the memory store', () => {
  let ts: TestServer;
  const store = new RecordingStore();
  let lateWrite: unknown;
  let badValue: unknown;

  before(async () => {
    ts = await startServer((s) => {
      s.use(session({ store }));
      s.get('/peek', (r) => ({ user: r.session.get('user') ?? null, id: r.session.id ?? null }));
      s.post('/login', async (r) => {
        await r.session.regenerate();
        r.session.set('user', 'ada');
        return { id: r.session.id };
      });
      s.post('/login-redirect', (r) => {
        r.session.set('user', 'redirected');
        r.response.redirectTo('/peek'); // exits, as GoFrame's RedirectTo
      });
      s.post('/login-exit-all', (r) => {
        r.session.set('user', 'exited');
        r.exitAll();
      });
      s.post('/logout', async (r) => {
        await r.session.destroy();
        return 'bye';
      });
      s.post('/count', (r) => {
        const n = r.session.get('n', 0) + 1;
        r.session.set('n', n);
        return { n };
      });
      s.post('/values', (r) => {
        r.session.setMap({ when: new Date(0), list: [1, 'two', null], nested: { a: { b: true } } });
        try {
          r.session.set('fn', () => 1);
        } catch (e) {
          badValue = e;
        }
        return 'ok';
      });
      s.get('/values', (r) => r.session.data());
      s.post('/remove', (r) => {
        r.session.remove('n');
        return { has: r.session.has('n'), id: r.session.id ?? null };
      });
      s.post('/fails', (r) => {
        r.session.set('half', 'done');
        throw new Error('the handler failed after writing');
      });
      s.get('/sse', (r) => {
        r.session.set('streaming', true);
        const es = r.response.sse({ heartbeat: 0 });
        try {
          r.session.set('late', true);
        } catch (e) {
          lateWrite = e;
        }
        void es.send({ data: 'open' });
        // The stream stays open: the session must be saved already, not when it ends.
      });
      s.get('/flush', async (r) => {
        r.session.set('flushed', 1);
        r.response.write('first');
        await r.response.flush();
        await sleep(50);
        r.response.write(' second');
      });
    });
  });

  after(() => ts.close());

  test('a request that never writes to its session gets no cookie and costs no store call', async () => {
    const before = store.calls.length;
    const reply = await send(`${ts.url}/peek`);
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.text), { user: null, id: null });
    assert.equal(reply.headers['set-cookie'], undefined);
    assert.equal(store.calls.length, before, 'no cookie: the store is not asked');
  });

  test('a write creates the session: an HttpOnly, SameSite=Lax, Path=/ cookie with a 192-bit id', async () => {
    const jar = new Jar();
    const first = await jar.send(`${ts.url}/count`, { method: 'POST' });
    assert.deepEqual(JSON.parse(first.text), { n: 1 });
    const cookie = sessionCookie(first);
    assert.ok(cookie, 'Set-Cookie for the new session');
    assert.match(cookie, /^sluice\.sid=[A-Za-z0-9_-]{32}; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax$/);
    const second = await jar.send(`${ts.url}/count`, { method: 'POST' });
    assert.deepEqual(JSON.parse(second.text), { n: 2 });
    assert.equal(sessionCookie(second), undefined, 'an existing session is not sent again unless rolling');
    const other = new Jar();
    assert.deepEqual(JSON.parse((await other.send(`${ts.url}/count`, { method: 'POST' })).text), { n: 1 });
    assert.notEqual(other.cookies.get('sluice.sid'), jar.cookies.get('sluice.sid'));
  });

  test('values are JSON: a Date comes back as its string, and a function is refused by name', async () => {
    const jar = new Jar();
    assert.equal((await jar.send(`${ts.url}/values`, { method: 'POST' })).status, 200);
    assert.deepEqual(JSON.parse((await jar.send(`${ts.url}/values`)).text), {
      when: '1970-01-01T00:00:00.000Z',
      list: [1, 'two', null],
      nested: { a: { b: true } },
    });
    assert.ok(badValue instanceof InvalidArgumentError);
    assert.match(String(badValue), /"fn".*JSON-serialisable/);
  });

  test('an unknown id, a forged one or a malformed one is ignored, and a write issues a new id', async () => {
    const unknown = 'A'.repeat(32);
    const jar = new Jar();
    jar.cookies.set('sluice.sid', unknown);
    const peek = await jar.send(`${ts.url}/peek`);
    assert.deepEqual(JSON.parse(peek.text), { user: null, id: null });
    assert.equal(sessionCookie(peek), undefined);
    const write = await jar.send(`${ts.url}/count`, { method: 'POST' });
    assert.deepEqual(JSON.parse(write.text), { n: 1 });
    assert.notEqual(jar.cookies.get('sluice.sid'), unknown, 'never adopts the id the client chose');
    assert.ok(!store.calls.includes(`set ${unknown} 86400000`));

    const calls = store.calls.length;
    const junk = new Jar();
    junk.cookies.set('sluice.sid', 'x'.repeat(500));
    assert.deepEqual(JSON.parse((await junk.send(`${ts.url}/peek`)).text), { user: null, id: null });
    assert.equal(store.calls.length, calls, 'a malformed id never reaches the store');
  });

  test('regenerate() gives a new id at login and the old id is worth nothing after it', async () => {
    const jar = new Jar();
    await jar.send(`${ts.url}/count`, { method: 'POST' });
    const planted = jar.cookies.get('sluice.sid')!;
    const login = await jar.send(`${ts.url}/login`, { method: 'POST' });
    const fresh = jar.cookies.get('sluice.sid')!;
    assert.notEqual(fresh, planted);
    assert.equal(login.headers['set-cookie']?.filter((c) => c.startsWith('sluice.sid=')).length, 1);
    assert.equal(JSON.parse(login.text).id, fresh);
    assert.deepEqual(JSON.parse((await jar.send(`${ts.url}/peek`)).text), { user: 'ada', id: fresh });
    const attacker = new Jar();
    attacker.cookies.set('sluice.sid', planted);
    assert.deepEqual(JSON.parse((await attacker.send(`${ts.url}/peek`)).text), { user: null, id: null });
    assert.ok(store.calls.includes(`destroy ${planted}`));
  });

  test('a handler that exits (redirectTo, exitAll) still has its session saved', async () => {
    for (const [path, user] of [
      ['/login-redirect', 'redirected'],
      ['/login-exit-all', 'exited'],
    ] as const) {
      const jar = new Jar();
      const reply = await jar.send(`${ts.url}${path}`, { method: 'POST' });
      assert.ok(sessionCookie(reply), `${path} sends the cookie`);
      assert.equal(JSON.parse((await jar.send(`${ts.url}/peek`)).text).user, user);
    }
  });

  test('destroy() deletes the session and the cookie', async () => {
    const jar = new Jar();
    await jar.send(`${ts.url}/login`, { method: 'POST' });
    const id = jar.cookies.get('sluice.sid')!;
    const out = await jar.send(`${ts.url}/logout`, { method: 'POST' });
    assert.match(sessionCookie(out) ?? '', /^sluice\.sid=; Path=\/; Expires=Thu, 01 Jan 1970/);
    assert.equal(jar.cookies.has('sluice.sid'), false);
    assert.equal(await store.inner.get(id), undefined);
    const replay = new Jar();
    replay.cookies.set('sluice.sid', id);
    assert.deepEqual(JSON.parse((await replay.send(`${ts.url}/peek`)).text), { user: null, id: null });
  });

  test('remove() without a session creates none', async () => {
    const reply = await send(`${ts.url}/remove`, { method: 'POST' });
    assert.deepEqual(JSON.parse(reply.text), { has: false, id: null });
    assert.equal(reply.headers['set-cookie'], undefined);
  });

  test('a handler that throws after writing gets its 500 and leaves nothing stored', async () => {
    const before = store.inner.size;
    const reply = await send(`${ts.url}/fails`, { method: 'POST' });
    assert.equal(reply.status, 500);
    assert.equal(store.inner.size, before);
  });

  test('an SSE response carries the cookie of a write before sse(), saved while the stream is open', async () => {
    const jar = new Jar();
    await jar.send(`${ts.url}/count`, { method: 'POST' });
    lateWrite = undefined;
    const stream = await openStream(`${ts.url}/sse`, jar.header());
    try {
      assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
      await stream.saw('data: open');
      // The handler returned long ago but the stream is open: its change is in the store already.
      assert.deepEqual(JSON.parse((await jar.send(`${ts.url}/values`)).text), { n: 1, streaming: true });
      assert.ok(lateWrite instanceof ResponseCommittedError, 'a write after sse() throws');
      assert.match(String(lateWrite), /set session value "late"/);
    } finally {
      stream.close();
    }

    const fresh = new Jar();
    const first = await openStream(`${ts.url}/sse`, {});
    try {
      fresh.take(first);
      assert.ok(fresh.cookies.get('sluice.sid'), 'a new session: Set-Cookie on the event stream itself');
      await first.saw('data: open');
      assert.deepEqual(JSON.parse((await fresh.send(`${ts.url}/values`)).text), { streaming: true });
    } finally {
      first.close();
    }
  });

  test('a flushed response carries the cookie of a write before flush()', async () => {
    const jar = new Jar();
    const reply = await jar.send(`${ts.url}/flush`);
    assert.equal(reply.text, 'first second');
    assert.ok(sessionCookie(reply));
    assert.deepEqual(JSON.parse((await jar.send(`${ts.url}/values`)).text), { flushed: 1 });
  });
});

describe('session() expiry', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startServer((s) => {
      s.group('/fixed', (g) => {
        g.middleware(session({ maxAge: 2, name: 'fixed' }));
        g.post('/set', (r) => void r.session.set('v', 1));
        g.get('/get', (r) => ({ v: r.session.get('v') ?? null }));
      });
      s.group('/rolling', (g) => {
        g.middleware(session({ maxAge: 2, rolling: true, name: 'rolling' }));
        g.post('/set', (r) => void r.session.set('v', 1));
        g.get('/get', (r) => ({ v: r.session.get('v') ?? null }));
      });
    });
  });
  after(() => ts.close());

  test('a session ends maxAge after it began, however busy its client is', async () => {
    const jar = new Jar();
    await jar.send(`${ts.url}/fixed/set`, { method: 'POST' });
    await sleep(1000);
    assert.deepEqual(JSON.parse((await jar.send(`${ts.url}/fixed/get`)).text), { v: 1 });
    await sleep(1200);
    assert.deepEqual(JSON.parse((await jar.send(`${ts.url}/fixed/get`)).text), { v: null });
  });

  test('a rolling session lives while its client keeps coming, sends its cookie again, and ends when idle', async () => {
    const jar = new Jar();
    await jar.send(`${ts.url}/rolling/set`, { method: 'POST' });
    for (let i = 0; i < 4; i++) {
      await sleep(700);
      const reply = await jar.send(`${ts.url}/rolling/get`);
      assert.deepEqual(JSON.parse(reply.text), { v: 1 }, `alive after ${(i + 1) * 700} ms of activity`);
      assert.match(reply.headers['set-cookie']?.[0] ?? '', /^rolling=.*Max-Age=2;/);
    }
    await sleep(2300);
    assert.deepEqual(JSON.parse((await jar.send(`${ts.url}/rolling/get`)).text), { v: null });
  });
});

describe('session() and its store failing', () => {
  let ts: TestServer;
  const store = new RecordingStore();
  before(async () => {
    ts = await startServer((s) => {
      s.use(session({ store, rolling: true }));
      s.post('/set', (r) => void r.session.set('v', 1));
      s.get('/get', (r) => ({ v: r.session.get('v') ?? null }));
      s.get('/sse', (r) => {
        r.session.set('v', 2);
        const es = r.response.sse({ heartbeat: 0 });
        void es.send({ data: 'open' });
      });
      s.get('/health', () => 'ok');
    });
  });
  after(() => ts.close());

  for (const fail of ['get', 'set', 'set-sync', 'touch'] as const) {
    test(`a store whose ${fail} fails answers 500, logs a SessionStoreError, and the server lives on`, async () => {
      const jar = new Jar();
      store.fail = undefined;
      await jar.send(`${ts.url}/set`, { method: 'POST' });
      store.fail = fail;
      const errors = ts.logger.lines.length;
      const reply = fail.startsWith('set')
        ? await jar.send(`${ts.url}/set`, { method: 'POST' })
        : await jar.send(`${ts.url}/get`);
      store.fail = undefined;
      assert.equal(reply.status, 500);
      assert.equal(reply.text, 'Internal Server Error');
      const logged = ts.logger.lines.slice(errors).find((l) => l.level === 'error');
      assert.ok(logged, 'the failure is logged');
      const err = logged.args.find((a) => a instanceof SessionStoreError) as SessionStoreError | undefined;
      assert.ok(err, 'as a SessionStoreError');
      assert.equal(err.operation, fail === 'set-sync' ? 'set' : fail);
      assert.equal((await send(`${ts.url}/health`)).text, 'ok');
    });
  }

  test('a save that fails after the stream began is logged; the stream goes on and nothing crashes', async () => {
    store.fail = 'set';
    const errors = ts.logger.lines.length;
    const reply = await read(`${ts.url}/sse`, { onChunk: (c) => c.text.includes('open') });
    store.fail = undefined;
    assert.equal(reply.status, 200);
    assert.match(reply.body, /data: open/);
    await waitFor(
      () => ts.logger.lines.slice(errors).some((l) => l.args.some((a) => a instanceof SessionStoreError)),
      'the logged store failure',
    );
    assert.equal((await send(`${ts.url}/health`)).text, 'ok');
  });
});

describe('session() rules', () => {
  test('r.session without the middleware throws an error that names s.use(session())', async () => {
    const ts = await startServer((s) => {
      s.get('/', (r) => r.session.get('x') ?? null);
    });
    try {
      const reply = await send(ts.url);
      assert.equal(reply.status, 500);
      const logged = ts.logger.lines.find((l) => l.level === 'error');
      assert.match(String(logged?.args[1]), /SessionNotInstalledError: .*s\.use\(session\(\)\)/);
    } finally {
      await ts.close();
    }
  });

  test('a signed session cookie that was tampered with is ignored', async () => {
    const ts = await startServer((s) => {
      s.setCookieSecret('k'.repeat(32));
      s.use(session());
      s.post('/set', (r) => void r.session.set('user', 'ada'));
      s.get('/get', (r) => ({ user: r.session.get('user') ?? null }));
    });
    try {
      const jar = new Jar();
      await jar.send(`${ts.url}/set`, { method: 'POST' });
      const signed = jar.cookies.get('sluice.sid')!;
      assert.match(signed, /^[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}$/, 'id.signature');
      assert.deepEqual(JSON.parse((await jar.send(`${ts.url}/get`)).text), { user: 'ada' });
      const [id] = signed.split('.');
      const forged = new Jar();
      forged.cookies.set('sluice.sid', `${id}.${'A'.repeat(43)}`);
      assert.deepEqual(JSON.parse((await forged.send(`${ts.url}/get`)).text), { user: null });
      const bare = new Jar();
      bare.cookies.set('sluice.sid', id!);
      assert.deepEqual(JSON.parse((await bare.send(`${ts.url}/get`)).text), { user: null });
    } finally {
      await ts.close();
    }
  });

  test('bad options throw InvalidArgumentError naming the option', () => {
    assert.throws(() => session({ maxAge: 0 }), /Invalid argument "maxAge"/);
    assert.throws(() => session({ maxAge: 1.5 }), /Invalid argument "maxAge"/);
    assert.throws(() => session({ name: 'a b' }), /Invalid argument "name"/);
    assert.throws(() => session({ store: {} as SessionStore }), /Invalid argument "store"/);
    assert.throws(
      () => session({ cookie: { maxAge: 5 } as unknown as Record<string, never> }),
      /Invalid argument "cookie"/,
    );
    assert.throws(() => new MemorySessionStore({ maxEntries: -1 }), InvalidArgumentError);
  });
});

describe('MemorySessionStore', () => {
  const record = (n: number): SessionRecord => ({ data: { n }, created: Date.now() });

  test('keeps at most maxEntries, dropping the least recently used', () => {
    const store = new MemorySessionStore({ maxEntries: 3 });
    store.set('a', record(1), 60_000);
    store.set('b', record(2), 60_000);
    store.set('c', record(3), 60_000);
    assert.deepEqual(store.get('a')?.data, { n: 1 }); // a is now the most recently used
    store.set('d', record(4), 60_000);
    assert.equal(store.size, 3);
    assert.equal(store.get('b'), undefined, 'b was the least recently used');
    assert.deepEqual(store.get('a')?.data, { n: 1 });
    assert.deepEqual(store.get('d')?.data, { n: 4 });
  });

  test('never returns an expired session, and a write sweeps expired ones out', async () => {
    const store = new MemorySessionStore({ sweepInterval: 1 });
    store.set('short', record(1), 30);
    store.set('short2', record(2), 30);
    store.set('long', record(3), 60_000);
    store.touch('long', 60_000);
    await sleep(60);
    assert.equal(store.get('short'), undefined);
    assert.equal(store.size, 2, 'short2 is still held until a sweep');
    store.set('other', record(4), 60_000);
    assert.equal(store.size, 2, 'the write swept short2 out');
    store.touch('short2', 60_000);
    assert.equal(store.get('short2'), undefined, 'touch does not revive an expired session');
  });

  test('keeps JSON, not the object it was given', () => {
    const store = new MemorySessionStore();
    const data = { list: [1] };
    store.set('x', { data, created: 1 }, 1000);
    data.list.push(2);
    assert.deepEqual(store.get('x')?.data, { list: [1] });
  });
});
