import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Channel, InvalidArgumentError } from '../src/index.ts';
import { RedisAdapter } from '../src/redis/index.ts';
import { adapterConformance } from './helpers/adapter-conformance.ts';
import { connect, until } from './helpers/channel-clients.ts';
import { type RedisServer, startRedis } from './helpers/redis-server.ts';
import { startServer } from './helpers/server.ts';

let redis: RedisServer;
const adapters: RedisAdapter[] = [];

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await Promise.all(adapters.map((a) => a.quit()));
  await redis.stop();
});

function adapter(options: ConstructorParameters<typeof RedisAdapter>[0] = {}): RedisAdapter {
  const a = new RedisAdapter({ url: redis.url, catchUpInterval: 200, ...options });
  adapters.push(a);
  return a;
}

adapterConformance('redis', () => adapter());

test('bad options and misuse throw InvalidArgumentError naming the argument', async () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ keyPrefix: 'app:{x}:' }, 'keyPrefix'],
    [{ catchUpInterval: 0 }, 'catchUpInterval'],
    [{ commandTimeout: -1 }, 'commandTimeout'],
    [{ pageSize: 1.5 }, 'pageSize'],
  ];
  for (const [options, argument] of bad) {
    assert.throws(
      () => new RedisAdapter({ url: redis.url, ...options }),
      (e: unknown) => e instanceof InvalidArgumentError && e.argument === argument,
    );
  }
  const a = adapter();
  const channel = new Channel({ name: 'twice', adapter: a });
  await until(() => channel.lastId !== '', 'the channel to open');
  await assert.rejects(
    async () => a.open('twice', { history: { count: 1, maxAge: 1 } }, () => {}),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'name',
  );
  await assert.rejects(
    async () => a.publish('never-opened', { event: undefined, data: 1, body: 'data: 1\n\n' }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'name',
  );
  await channel.close();
});

test('sharded Pub/Sub (SPUBLISH) carries doorbells between adapters on a single server too', async () => {
  const [a, b] = [adapter({ sharded: true }), adapter({ sharded: true })];
  const got: string[] = [];
  const ca = new Channel({ name: 'sharded', adapter: a });
  const cb = new Channel({ name: 'sharded', adapter: b });
  const ts = await startServer((s) => {
    s.get('/c', async (r) => {
      await cb.subscribe(r.response.sse({ heartbeat: 0 }));
    });
  });
  try {
    await until(() => ca.lastId !== '' && cb.lastId !== '', 'both open');
    const c = await connect(`${ts.url}/c`, { onEvent: (e) => got.push(e.id ?? '') });
    await until(() => cb.size === 1, 'the subscriber');
    const ids = [await ca.publish({ data: 1 }), await ca.publish({ data: 2 })];
    await until(() => got.length === 2, 'the events through the other adapter');
    assert.deepEqual(got, ids);
    c.close();
  } finally {
    await Promise.all([ca.close(), cb.close()]);
    await ts.close();
  }
});

test('replaying 20,000 events reads them from Redis in pages of pageSize, not in one read', async () => {
  // No periodic catch-up reads during the test: every XRANGE counted is a page of the replay.
  const a = adapter({ pageSize: 500, catchUpInterval: 60_000 });
  const channel = new Channel({ name: 'long', adapter: a, history: 30_000 });
  const ts = await startServer((s) => {
    s.get('/c', async (r) => {
      await channel.subscribe(r.response.sse({ heartbeat: 0 }));
    });
  });
  try {
    await until(() => channel.lastId !== '', 'the channel to open');
    const from = channel.lastId;
    const ids: string[] = [];
    for (let i = 0; i < 20_000; i += 1000) {
      ids.push(
        ...(await Promise.all(Array.from({ length: 1000 }, (_, j) => channel.publish({ data: i + j })))),
      );
    }
    const xranges = async () =>
      Number(/cmdstat_xrange:calls=(\d+)/.exec(await redis.cli('INFO', 'commandstats'))?.[1] ?? 0);
    const readsBefore = await xranges();
    const got: string[] = [];
    const c = await connect(`${ts.url}/c`, { lastEventId: from, onEvent: (e) => got.push(e.id ?? '') });
    await until(() => got.length === 20_000, 'the whole replay', 30_000);
    c.close();
    assert.deepEqual(got, ids);
    const reads = (await xranges()) - readsBefore;
    assert.ok(reads >= 40, `read in ${reads} XRANGE pages of 500`);
  } finally {
    await channel.close();
    await ts.close();
  }
});
