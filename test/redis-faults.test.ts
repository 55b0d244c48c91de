import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Channel, compareIds, parseId } from '../src/index.ts';
import { RedisAdapter, RedisUnavailableError } from '../src/redis/index.ts';
import { connect, idsOf, type SseClient, until } from './helpers/channel-clients.ts';
import { send } from './helpers/http-client.ts';
import { alive, type NodeProcess, startNodes } from './helpers/redis-nodes.ts';
import { freePort, startRedis } from './helpers/redis-server.ts';
import { startServer } from './helpers/server.ts';

const events = (c: SseClient) => c.events.filter((e) => e.event === 'n');
const open = (group: NodeProcess[], channel: string) =>
  Promise.all(group.map((n) => send(`${n.url}/open/${channel}`)));

test('Redis down for seconds while publishing: publishes fail fast with a coded error, nothing crashes, subscribers stay and resume', async () => {
  // Persistence on: the stream survives, so this is about the outage alone.
  const redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
  const group = await startNodes(redis.url, 2);
  try {
    await open(group, 'outage');
    const clients = await Promise.all(group.map((n) => connect(`${n.url}/c/outage`)));
    const before = await (group[0] as NodeProcess).publish('outage', 10);
    await until(() => clients.every((c) => events(c).length === 10), 'the events before the outage');
    await redis.kill();
    const downSince = performance.now();
    let failed = 0;
    while (performance.now() - downSince < 5000) {
      const started = performance.now();
      const replies = await Promise.all(group.map((n) => n.publish('outage', 2)));
      for (const r of replies) {
        assert.deepEqual(r.ids, []);
        assert.deepEqual(r.errors, ['SLUICE_REDIS_UNAVAILABLE', 'SLUICE_REDIS_UNAVAILABLE']);
        failed += r.errors.length;
      }
      assert.ok(performance.now() - started < 1500, 'a publish fails within the command timeout');
      const health = await send(`${group[1]?.url}/health`);
      assert.equal(health.status, 200, 'other routes keep serving');
      assert.deepEqual(JSON.parse(health.text), { connected: false });
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(failed >= 8, `${failed} publishes failed`);
    for (const c of clients) assert.equal(c.res.closed, false, 'subscribers stay connected');
    await redis.restart();
    await connectedAgain(group);
    const afterIds = await (group[1] as NodeProcess).publish('outage', 10, 10);
    assert.deepEqual(afterIds.errors, []);
    await until(() => clients.every((c) => events(c).length === 20), 'the events after the outage', 10_000);
    for (const c of clients) {
      assert.deepEqual(idsOf(c.events), [...before.ids, ...afterIds.ids], 'no reset, no gap, no duplicate');
      c.close();
    }
    // A restart is a new run_id: a new epoch, above the old one (ids of the old one replay across it).
    const epochOf = (id: string | undefined) => parseId(id ?? '')?.[0] ?? 0;
    assert.ok(epochOf(before.ids.at(-1)) < epochOf(afterIds.ids[0]), 'a new epoch after the restart');
    for (const n of group) assert.ok(alive(n), 'no unhandled rejection ended a process');
    const errors = group.flatMap((n) => n.lines.filter((l) => l.event === 'error'));
    assert.ok(
      errors.length <= 8,
      `an outage is logged once per connection, not per retry (${errors.length})`,
    );
  } finally {
    await Promise.all(group.map((n) => n.kill()));
    await redis.stop();
  }
});

test('kill -9 Redis and restart it empty: no id is issued twice, lost ids get reset, live clients go on', async () => {
  const redis = await startRedis();
  const group = await startNodes(redis.url, 2);
  try {
    await open(group, 'amnesia');
    const live = await connect(`${group[0]?.url}/c/amnesia`);
    const old = await (group[1] as NodeProcess).publish('amnesia', 10);
    await until(() => events(live).length === 10, 'the first events');
    await redis.kill();
    await redis.restart();
    await connectedAgain(group);
    const fresh = await (group[1] as NodeProcess).publish('amnesia', 10, 10);
    assert.deepEqual(fresh.errors, []);
    for (const id of fresh.ids) {
      assert.ok(!old.ids.includes(id), `${id} was issued before the restart`);
      assert.ok(compareIds(id, old.ids.at(-1) as string) > 0);
    }
    await until(() => events(live).length === 20, 'the events after the restart', 10_000);
    assert.deepEqual(idsOf(events(live)), [...old.ids, ...fresh.ids]);
    live.close();
    for (const lost of [old.ids[4] as string, old.ids[9] as string]) {
      const c = await connect(`${group[1]?.url}/c/amnesia`, { lastEventId: lost });
      await until(() => c.events.length === 1, 'the reset');
      assert.equal(c.events[0]?.event, 'reset');
      assert.deepEqual(JSON.parse(c.events[0]?.data ?? ''), {
        reason: 'unknown-id',
        lastEventId: lost,
        resumeId: fresh.ids.at(-1),
      });
      c.close();
    }
    for (const n of group) assert.ok(alive(n));
  } finally {
    await Promise.all(group.map((n) => n.kill()));
    await redis.stop();
  }
});

test('a replica promoted after missing the last writes opens a new epoch: no id is issued twice, lost ids get reset', async () => {
  const master = await startRedis();
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)]);
  const onMaster = new RedisAdapter({ url: master.url, logger: quiet() });
  const onReplica = new RedisAdapter({ url: replica.url, logger: quiet() });
  const before = new Channel({ name: 'failover', adapter: onMaster, history: 100 });
  let after: Channel | undefined;
  const ts = await startServer((s) => {
    s.get('/c', async (r) => {
      await (after as Channel).subscribe(r.response.sse({ heartbeat: 0 }));
    });
  });
  try {
    await until(() => before.lastId !== '', 'the channel to open');
    // WAIT counts only a replica whose first sync is done; on a busy machine that can take seconds.
    const deadline = performance.now() + 20_000;
    while (!(await replica.cli('INFO', 'replication')).includes('master_link_status:up')) {
      if (performance.now() > deadline) throw new Error('the replica never finished its first sync');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const kept: string[] = [];
    for (let i = 0; i < 5; i++) kept.push(await before.publish({ event: 'n', data: i }));
    assert.equal(await master.cli('WAIT', '1', '10000'), '1', 'the replica has the first five');
    // Cut off (it keeps its data), it misses the next three: an asynchronous failover's lost tail.
    await replica.cli('REPLICAOF', '127.0.0.1', String(await freePort()));
    const lost: string[] = [];
    for (let i = 5; i < 8; i++) lost.push(await before.publish({ event: 'n', data: i }));
    await replica.cli('REPLICAOF', 'NO', 'ONE');
    after = new Channel({ name: 'failover', adapter: onReplica, history: 100 });
    await until(() => (after as Channel).lastId !== '', 'the channel to open on the promoted replica');
    const fresh: string[] = [];
    for (let i = 8; i < 11; i++) fresh.push(await after.publish({ event: 'n', data: i }));
    for (const id of fresh) {
      assert.ok(![...kept, ...lost].includes(id), `${id} was issued before the failover`);
      assert.ok(compareIds(id, lost.at(-1) as string) > 0);
    }
    const reset = await connect(`${ts.url}/c`, { lastEventId: lost.at(-1) });
    await until(() => reset.events.length === 1, 'the reset');
    assert.equal(reset.events[0]?.event, 'reset');
    assert.equal(JSON.parse(reset.events[0]?.data ?? '').reason, 'unknown-id');
    reset.close();
    const replay = await connect(`${ts.url}/c`, { lastEventId: kept.at(-1) });
    await until(() => replay.events.length === 3, 'the replay');
    assert.deepEqual(idsOf(replay.events), fresh, 'a client that saw nothing lost replays across the epochs');
    replay.close();
  } finally {
    await before.close();
    await after?.close();
    await Promise.all([onMaster.quit(), onReplica.quit()]);
    await ts.close();
    await Promise.all([master.stop(), replica.stop()]);
  }
});

test('Redis unreachable at start-up: publish rejects with RedisUnavailableError, the server serves, subscribers get events once it is up', {
  timeout: 30_000,
}, async () => {
  const port = await freePort();
  const adapter = new RedisAdapter({
    url: `redis://127.0.0.1:${port}`,
    commandTimeout: 1000,
    logger: quiet(),
  });
  const channel = new Channel({ name: 'late', adapter });
  const ts = await startServer((s) => {
    s.get('/c', async (r) => {
      await channel.subscribe(r.response.sse({ heartbeat: 0 }));
    });
    s.get('/hello', (r) => {
      r.response.writeJson({ hello: 'world' });
    });
  });
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  try {
    const started = performance.now();
    await assert.rejects(channel.publish({ event: 'n', data: 1 }) as Promise<string>, (err: unknown) => {
      assert.ok(err instanceof RedisUnavailableError);
      assert.equal(err.code, 'SLUICE_REDIS_UNAVAILABLE');
      assert.equal(err.operation, 'publish');
      return true;
    });
    assert.ok(performance.now() - started < 2500, 'it does not wait for Redis');
    assert.equal((await send(`${ts.url}/hello`)).status, 200);
    const c = await connect(`${ts.url}/c`);
    redis = await startRedis([], port);
    await until(() => channel.lastId !== '', 'the channel to open once Redis is up', 10_000);
    const id = await channel.publish({ event: 'n', data: 2 });
    await until(() => events(c).length === 1, 'the event');
    assert.equal(events(c)[0]?.id, id);
    c.close();
  } finally {
    await channel.close();
    await adapter.quit();
    await ts.close();
    await redis?.stop();
  }
});

test('a channel whose open never reached Redis still closes once the adapter quit', {
  timeout: 10_000,
}, async () => {
  const adapter = new RedisAdapter({ url: `redis://127.0.0.1:${await freePort()}`, logger: quiet() });
  const channel = new Channel({ name: 'never', adapter });
  await new Promise((r) => setTimeout(r, 100));
  await adapter.quit();
  await channel.close();
  assert.equal(channel.isClosed, true);
  assert.equal(channel.lastId, '', 'it never opened');
});

test('entries and doorbells another program wrote are validated: bad ones are skipped and logged, nothing is injected', async () => {
  const redis = await startRedis();
  const lines: string[] = [];
  const logger = { error: (...a: unknown[]) => lines.push(a.map(String).join(' ')), warn() {}, info() {} };
  const adapter = new RedisAdapter({ url: redis.url, logger, catchUpInterval: 100 });
  const channel = new Channel({ name: 'forged', adapter, history: 100 });
  const ts = await startServer((s) => {
    s.get('/c', async (r) => {
      await channel.subscribe(r.response.sse({ heartbeat: 0 }));
    });
  });
  try {
    await until(() => channel.lastId !== '', 'the channel to open');
    const live = await connect(`${ts.url}/c`);
    const good = [
      await channel.publish({ event: 'n', data: 'a' }),
      await channel.publish({ event: 'n', data: 'b' }),
    ];
    const [epoch, seq] = parseId(good[1] as string) as [number, number];
    const stream = 'sluice:{forged}:s';
    const forge = (id: string, ...fields: string[]) => redis.cli('XADD', stream, id, ...fields);
    await forge(`${epoch}-${seq + 1}`, 't', '1', 'p', JSON.stringify({ b: 'data: x\nid: evil\n\n' }));
    await forge(`${epoch}-${seq + 2}`, 't', '1', 'p', '{not json');
    await forge(`${epoch}-${seq + 3}`, 't', '1');
    await forge(`${epoch}-${seq + 4}`, 't', 'soon', 'p', JSON.stringify({ b: 'data: y\n\n' }));
    await forge(
      `${epoch}-${seq + 5}`,
      't',
      '1',
      'p',
      JSON.stringify({ e: 'a\rb', b: 'event: z\ndata: 1\n\n' }),
    );
    await forge('*', 't', '1', 'p', JSON.stringify({ b: 'data: early\n\ndata: second event\n\n' }));
    await redis.cli('PUBLISH', 'sluice:{forged}', `${epoch}-${seq + 1} 1 {"b":"data: x\\nid: evil\\n\\n"}`);
    await redis.cli('PUBLISH', 'sluice:{forged}', 'garbage');
    // The stream's top is now a foreign id: the next publish opens an epoch above it instead of failing.
    const next = await channel.publish({ event: 'n', data: 'c' });
    await until(() => events(live).length === 3, 'the valid events');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      idsOf(live.events),
      [...good, next],
      'only what the channel published reached the client',
    );
    assert.deepEqual(
      live.events.map((e) => e.data),
      ['"a"', '"b"', '"c"'].map((d) => JSON.parse(d)),
    );
    const replayed = await connect(`${ts.url}/c`, { lastEventId: good[0] });
    await until(() => replayed.events.length === 2, 'the replay');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(idsOf(replayed.events), [good[1], next]);
    replayed.close();
    live.close();
    assert.ok(lines.filter((l) => l.includes('skipped an entry')).length >= 6, lines.join('\n'));
    assert.ok(
      lines.some((l) => l.includes('ignored a doorbell')),
      lines.join('\n'),
    );
  } finally {
    await channel.close();
    await adapter.quit();
    await ts.close();
    await redis.stop();
  }
});

/** Polls each process's /health until its command connection is up again. */
async function connectedAgain(group: NodeProcess[]): Promise<void> {
  const deadline = performance.now() + 15_000;
  for (const n of group) {
    for (;;) {
      const health = JSON.parse((await send(`${n.url}/health`)).text) as { connected: boolean };
      if (health.connected) break;
      if (performance.now() > deadline) throw new Error('a process did not reconnect to Redis');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function quiet() {
  return { error() {}, warn() {}, info() {} };
}
