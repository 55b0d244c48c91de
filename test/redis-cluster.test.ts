import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Channel, compareIds } from '../src/index.ts';
import { RedisAdapter } from '../src/redis/index.ts';
import { adapterConformance } from './helpers/adapter-conformance.ts';
import { connect, idsOf, type SseClient, until } from './helpers/channel-clients.ts';
import { type RedisServer, startRedis } from './helpers/redis-server.ts';
import { startServer, type TestServer } from './helpers/server.ts';

// Three masters, no replicas: enough for slots on three shards, quick to start.
let nodes: RedisServer[] = [];
const adapters: RedisAdapter[] = [];

before(async () => {
  const flags = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    '2000',
  ];
  nodes = await Promise.all([0, 1, 2].map(() => startRedis(flags)));
  const first = nodes[0] as RedisServer;
  await first.cli('--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes');
  const deadline = performance.now() + 15_000;
  for (const n of nodes) {
    while (!(await n.cli('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
      if (performance.now() > deadline) throw new Error('the cluster did not form');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  await Promise.all(adapters.map((a) => a.quit()));
  await Promise.all(nodes.map((n) => n.stop()));
});

function adapter(): RedisAdapter {
  const a = new RedisAdapter({
    cluster: { rootNodes: [{ url: (nodes[0] as RedisServer).url }] },
    catchUpInterval: 200,
  });
  adapters.push(a);
  return a;
}

adapterConformance('redis cluster', adapter);

test('on a cluster, each channel keeps its keys on one slot, and channels on every shard work side by side', async () => {
  const names = Array.from({ length: 9 }, (_, i) => `shard-test-${i}`);
  const first = nodes[0] as RedisServer;
  const slots = new Set<string>();
  for (const name of names) {
    const stream = await first.cli('CLUSTER', 'KEYSLOT', `sluice:{${name}}:s`);
    assert.equal(await first.cli('CLUSTER', 'KEYSLOT', `sluice:{${name}}:m`), stream);
    assert.equal(await first.cli('CLUSTER', 'KEYSLOT', `sluice:{${name}}`), stream, 'the doorbell too');
    slots.add(stream);
  }
  // Two "processes": two adapters, two servers, the same channel names.
  const [a, b] = [adapter(), adapter()];
  const servers: TestServer[] = [];
  const channels: Channel[] = [];
  for (const ad of [a, b]) {
    const mine = new Map(names.map((n) => [n, new Channel({ name: n, adapter: ad, history: 100 })]));
    channels.push(...mine.values());
    servers.push(
      await startServer((s) => {
        s.get('/c/{name}', async (r) => {
          await (mine.get(r.params.name ?? '') as Channel).subscribe(r.response.sse({ heartbeat: 0 }));
        });
      }),
    );
  }
  try {
    await until(() => channels.every((c) => c.lastId !== ''), 'every channel to open');
    const clients: { name: string; client: SseClient }[] = [];
    for (const ts of servers) {
      for (const name of names) clients.push({ name, client: await connect(`${ts.url}/c/${name}`) });
    }
    await until(() => channels.every((c) => c.size === 1), 'every subscriber');
    const published = new Map<string, string[]>(names.map((n) => [n, []]));
    await Promise.all(
      channels.map(async (c) => {
        for (let i = 0; i < 10; i++) published.get(c.name)?.push(await c.publish({ event: 'n', data: i }));
      }),
    );
    for (const ids of published.values()) ids.sort(compareIds);
    await until(
      () => clients.every(({ client }) => client.events.length >= 20),
      'every client to get its channel',
      15_000,
    );
    for (const { name, client } of clients) {
      assert.deepEqual(idsOf(client.events), published.get(name));
      client.close();
    }
    // The streams really are spread over the shards (and each lives where its slot is).
    const owners = await Promise.all(nodes.map(async (n) => Number(await n.cli('DBSIZE')) > 0));
    assert.ok(owners.filter(Boolean).length >= 2, `keys on ${owners.filter(Boolean).length} of 3 shards`);
  } finally {
    await Promise.all(channels.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.close()));
  }
});
