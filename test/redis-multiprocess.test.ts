import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { compareIds } from '../src/index.ts';
import { restlessClient, seeded } from './helpers/adapter-conformance.ts';
import { connect, contiguousRun, idsOf, type SseClient, until } from './helpers/channel-clients.ts';
import { send } from './helpers/http-client.ts';
import { alive, type NodeProcess, startNodes } from './helpers/redis-nodes.ts';
import { type RedisServer, startRedis } from './helpers/redis-server.ts';

let redis: RedisServer;
const nodes: NodeProcess[] = [];
/** Three processes shared by the tests that need no fresh ones (each test uses its own channel). */
let trio: NodeProcess[] = [];

before(async () => {
  redis = await startRedis();
  trio = await spawnNodes(3);
});

after(async () => {
  await Promise.all(nodes.map((n) => n.kill()));
  await redis.stop();
});

async function spawnNodes(n: number): Promise<NodeProcess[]> {
  const started = await startNodes(redis.url, n);
  nodes.push(...started);
  return started;
}

/** Opens the channel in every process, so that each has a position before clients join. */
async function openEverywhere(group: NodeProcess[], channel: string): Promise<void> {
  await Promise.all(group.map((n) => send(`${n.url}/open/${channel}`)));
}

const sortIds = (ids: string[]) => [...ids].sort(compareIds);
const events = (c: SseClient) => idsOf(c.events.filter((e) => e.event === 'n'));

test('three processes are one channel: every client of every process gets every event once, in one order', async () => {
  const group = trio;
  await openEverywhere(group, 'one');
  const clients = await Promise.all(
    group.flatMap((n) => [connect(`${n.url}/c/one`), connect(`${n.url}/c/one`)]),
  );
  // Interleaved: every process publishes at the same time.
  const replies = await Promise.all(group.map((n, i) => n.publish('one', 100, i * 1000)));
  for (const r of replies) assert.deepEqual(r.errors, []);
  const all = sortIds(replies.flatMap((r) => r.ids));
  assert.equal(new Set(all).size, 300, 'ids are assigned once, globally');
  await until(() => clients.every((c) => events(c).length >= 300), 'every client to get 300 events', 15_000);
  for (const c of clients) {
    assert.deepEqual(events(c), all);
    c.close();
  }
  for (const n of group) assert.ok(alive(n));
});

test('clients reconnecting to random processes with Last-Event-ID under publishing miss nothing, repeat nothing', async () => {
  const group = trio;
  await openEverywhere(group, 'roam');
  const rng = seeded(42);
  // Each reconnect goes to a process chosen by the seeded schedule.
  const pick = () => group[Math.floor(rng() * group.length)] as NodeProcess;
  const clients = Array.from({ length: 9 }, (_, i) =>
    restlessClient(() => `${pick().url}/c/roam`, seeded(i + 7)),
  );
  await until(() => clients.every((c) => c.connected()), 'every client connected');
  const published: string[] = [];
  for (let round = 0; round < 10; round++) {
    const replies = await Promise.all(group.map((n, i) => n.publish('roam', 20, round * 100 + i * 20)));
    for (const r of replies) published.push(...r.ids);
  }
  const order = sortIds(published);
  await until(() => clients.every((c) => c.ids.at(-1) === order.at(-1)), 'every client to catch up', 20_000);
  for (const c of clients) {
    c.stop();
    assert.equal(contiguousRun(c.ids, order), 0);
    assert.equal(c.ids.length, order.length);
    assert.ok(c.reconnects() >= 2, `reconnected ${c.reconnects()} times`);
  }
});

test('every process killed and new ones started: clients replay from Redis, without a reset', async () => {
  const group = await spawnNodes(2);
  await openEverywhere(group, 'deploy');
  const c = await connect(`${group[0]?.url}/c/deploy`);
  const first = await (group[1] as NodeProcess).publish('deploy', 10);
  await until(() => events(c).length === 10, 'the first events');
  const seen = c.lastId() as string;
  c.close();
  await Promise.all(group.map((n) => n.kill()));
  const next = await spawnNodes(2);
  const missed = await (next[0] as NodeProcess).publish('deploy', 5, 10);
  const back = await connect(`${next[1]?.url}/c/deploy`, { lastEventId: seen });
  await until(() => back.events.length >= 5, 'the replay');
  assert.deepEqual(idsOf(back.events), missed.ids, 'no reset: exactly what was missed');
  assert.ok(compareIds(first.ids.at(-1) as string, missed.ids[0] as string) < 0);
  back.close();
});

test('CLIENT KILL TYPE pubsub mid-stream: every event still arrives exactly once, in order', async () => {
  const group = trio.slice(0, 2);
  await openEverywhere(group, 'bell');
  const clients = await Promise.all(group.map((n) => connect(`${n.url}/c/bell`)));
  const published: string[] = [];
  for (let round = 0; round < 8; round++) {
    const replies = await Promise.all(group.map((n, i) => n.publish('bell', 25, round * 100 + i * 25)));
    for (const r of replies) published.push(...r.ids);
    if (round % 2 === 0) await redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
  }
  const order = sortIds(published);
  await until(() => clients.every((c) => events(c).length >= order.length), 'every event everywhere', 15_000);
  for (const c of clients) {
    assert.deepEqual(events(c), order);
    c.close();
  }
  for (const n of group) assert.ok(alive(n));
});
