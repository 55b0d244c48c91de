import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { InvalidArgumentError, SessionStoreError, session } from '../src/index.ts';
import { RedisSessionStore } from '../src/redis/index.ts';
import { Jar } from './helpers/cookie-jar.ts';
import { send } from './helpers/http-client.ts';
import { type RedisServer, startRedis } from './helpers/redis-server.ts';
import { startServer, type TestServer } from './helpers/server.ts';

// RedisSessionStore against a real redis-server of the test's own: what lands in Redis (keys,
// TTLs as PTTL reports them), two sluice servers sharing sessions through it, and Redis going away.

type Client = Awaited<ReturnType<typeof connectedClient>>;
const connectedClient = (url: string) => createClient({ url, socket: { reconnectStrategy: () => 100 } });
let redis: RedisServer;
const clients: Client[] = [];

before(async () => {
  redis = await startRedis();
});

after(async () => {
  for (const c of clients) c.destroy();
  await redis.stop();
});

async function client(): Promise<Client> {
  const c = connectedClient(redis.url);
  c.on('error', () => {}); // reconnects are node-redis's business; the tests watch the requests
  clients.push(c);
  await c.connect();
  return c;
}

function app(store: RedisSessionStore, options: { rolling?: boolean; maxAge?: number } = {}) {
  return startServer((s) => {
    s.use(session({ store, ...options }));
    s.post('/login', async (r) => {
      await r.session.regenerate();
      r.session.set('user', r.getQuery('user') ?? 'ada');
      return { id: r.session.id };
    });
    s.get('/me', (r) => ({ user: r.session.get('user') ?? null }));
    s.post('/rename', (r) => void r.session.set('user', r.getQuery('user')));
    s.post('/logout', (r) => r.session.destroy());
    s.get('/health', () => 'ok');
  });
}

describe('RedisSessionStore', () => {
  let store: RedisSessionStore;
  let ts: TestServer;
  let rolling: TestServer;

  before(async () => {
    store = new RedisSessionStore({ client: await client(), prefix: 'test:sess:' });
    ts = await app(store, { maxAge: 600 });
    rolling = await app(new RedisSessionStore({ client: await client(), prefix: 'test:roll:' }), {
      maxAge: 600,
      rolling: true,
    });
  });

  after(async () => {
    await ts.close();
    await rolling.close();
  });

  test('a session is one prefixed key holding JSON, stored with its TTL (PTTL) and deleted by destroy()', async () => {
    const jar = new Jar();
    const login = await jar.send(`${ts.url}/login`, { method: 'POST' });
    const id: string = JSON.parse(login.text).id;
    assert.equal(jar.cookies.get('sluice.sid'), id);
    const stored = JSON.parse(await redis.cli('GET', `test:sess:${id}`));
    assert.deepEqual(stored.data, { user: 'ada' });
    assert.equal(typeof stored.created, 'number');
    const pttl = Number(await redis.cli('PTTL', `test:sess:${id}`));
    assert.ok(pttl > 590_000 && pttl <= 600_000, `PTTL ${pttl} is the maxAge of 600 s`);
    assert.deepEqual(JSON.parse((await jar.send(`${ts.url}/me`)).text), { user: 'ada' });

    await jar.send(`${ts.url}/logout`, { method: 'POST' });
    assert.equal(await redis.cli('EXISTS', `test:sess:${id}`), '0');
    assert.equal(jar.cookies.has('sluice.sid'), false);
  });

  test('a session that is not rolling keeps its end: a later save stores the remaining TTL', async () => {
    const jar = new Jar();
    const id: string = JSON.parse((await jar.send(`${ts.url}/login`, { method: 'POST' })).text).id;
    // Make the stored session look 300 s old, as if created long ago, then change it.
    const key = `test:sess:${id}`;
    const record = JSON.parse(await redis.cli('GET', key));
    record.created -= 300_000;
    await redis.cli('SET', key, JSON.stringify(record), 'PX', '300000');
    assert.deepEqual(JSON.parse((await jar.send(`${ts.url}/me`)).text), { user: 'ada' });
    const rename = await jar.send(`${ts.url}/rename?user=bob`, { method: 'POST' });
    assert.equal(rename.headers['set-cookie'], undefined, 'same session: no new cookie');
    assert.deepEqual(JSON.parse(await redis.cli('GET', key)).data, { user: 'bob' });
    const pttl = Number(await redis.cli('PTTL', key));
    assert.ok(pttl > 290_000 && pttl <= 300_000, `PTTL ${pttl} is what was left of 600 s, not 600 s again`);
    // regenerate() deletes the old key and stores the values under a new one with a fresh lifetime.
    await jar.send(`${ts.url}/login?user=eve`, { method: 'POST' });
    assert.notEqual(jar.cookies.get('sluice.sid'), id);
    assert.equal(await redis.cli('EXISTS', key), '0', 'regenerate() deleted the old key');
  });

  test('a rolling session is touched with PEXPIRE on every request', async () => {
    const jar = new Jar();
    const id: string = JSON.parse((await jar.send(`${rolling.url}/login`, { method: 'POST' })).text).id;
    const key = `test:roll:${id}`;
    await redis.cli('PEXPIRE', key, '5000');
    assert.ok(Number(await redis.cli('PTTL', key)) <= 5000);
    const me = await jar.send(`${rolling.url}/me`);
    assert.deepEqual(JSON.parse(me.text), { user: 'ada' });
    assert.match(me.headers['set-cookie']?.[0] ?? '', /Max-Age=600;/, 'the cookie is sent again');
    const pttl = Number(await redis.cli('PTTL', key));
    assert.ok(pttl > 590_000, `PTTL ${pttl} is back to the maxAge`);
  });

  test('two servers on the same Redis share a session: log in on one, use it on the other after the first stops', async () => {
    const storeA = new RedisSessionStore({ client: await client() });
    const a = await app(storeA);
    const jar = new Jar();
    await jar.send(`${a.url}/login?user=grace`, { method: 'POST' });
    await a.close();
    const b = await app(new RedisSessionStore({ client: await client() }));
    try {
      assert.deepEqual(JSON.parse((await jar.send(`${b.url}/me`)).text), { user: 'grace' });
    } finally {
      await b.close();
    }
  });

  test('a key that does not hold JSON is no session, and is reported', async () => {
    const warnings: unknown[] = [];
    const logger = { error() {}, info() {}, warn: (...args: unknown[]) => warnings.push(args[0]) };
    const own = new RedisSessionStore({ client: await client(), prefix: 'test:junk:', logger });
    await redis.cli('SET', `test:junk:${'j'.repeat(32)}`, 'not json{');
    assert.equal(await own.get('j'.repeat(32)), undefined);
    assert.match(String(warnings[0]), /does not hold JSON/);
  });

  test('bad options throw InvalidArgumentError naming the option', async () => {
    assert.throws(
      () => new RedisSessionStore({ client: {} as never }),
      (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'client',
    );
    const c = await client();
    assert.throws(
      () => new RedisSessionStore({ client: c, commandTimeout: 0 }),
      (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'commandTimeout',
    );
  });
});

test('while Redis is down a request with a session gets a 500 within commandTimeout, others are served, nothing crashes', async () => {
  const c = await client();
  const ts = await app(new RedisSessionStore({ client: c, commandTimeout: 300 }));
  try {
    const jar = new Jar();
    await jar.send(`${ts.url}/login`, { method: 'POST' });
    await redis.kill();
    const t = performance.now();
    const reply = await jar.send(`${ts.url}/me`);
    assert.equal(reply.status, 500);
    assert.ok(
      performance.now() - t < 5000,
      'bounded by commandTimeout (300 ms), not held until Redis is back',
    );
    const logged = ts.logger.lines.find((l) => l.args.some((a) => a instanceof SessionStoreError));
    assert.ok(logged, 'a SessionStoreError is logged');
    assert.equal((await send(`${ts.url}/health`)).text, 'ok', 'a request without a session cookie is served');
    assert.deepEqual(JSON.parse((await send(`${ts.url}/me`)).text), { user: null });
  } finally {
    await redis.restart();
    await ts.close();
  }
});
