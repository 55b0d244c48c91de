// A sluice server process for bench/redis.ts: one channel, on the memory
// adapter or on Redis, driven over IPC. Each event's data carries the time it
// was published (performance.timeOrigin + now: comparable across processes on
// one machine), so the client can measure publish-to-receive latency.
// Usage (forked): redis-fanout.ts <memory|redis> [redis url]
import { Channel, type ChannelAdapter, server, silentLogger } from '../../src/index.ts';
import { RedisAdapter } from '../../src/redis/index.ts';

type Request =
  | { op: 'count' }
  | { op: 'publish'; count: number; rate: number; concurrency: number; fromSeq: number }
  | { op: 'stop' };

const [mode = 'memory', url] = process.argv.slice(2);
const adapter: ChannelAdapter | undefined = mode === 'redis' ? new RedisAdapter({ url }) : undefined;
const channel = new Channel({ name: 'bench', history: 10_000, adapter, maxBuffered: 16 * 1024 * 1024 });
const s = server('redis-fanout');
s.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
s.get('/sse', async (r) => {
  await channel.subscribe(r.response.sse({ heartbeat: 0 }), { lastEventId: null });
});
await s.start();
while (channel.lastId === '') await new Promise((r) => setTimeout(r, 5));

const now = () => performance.timeOrigin + performance.now();

/** Publishes `count` events, `concurrency` in flight, paced to `rate` per second (0: as fast as possible). */
async function publish(count: number, rate: number, concurrency: number, fromSeq: number) {
  const started = now();
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      if (rate > 0) {
        const due = started + (i * 1000) / rate;
        const wait = due - now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
      try {
        await channel.publish({ data: { seq: fromSeq + i, t: now() } });
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { published: count - failed, failed, ms: now() - started };
}

process.on('message', (m: Request) => {
  const reply = (v: unknown) => process.send?.(v);
  if (m.op === 'count') reply({ n: channel.size });
  else if (m.op === 'publish') void publish(m.count, m.rate, m.concurrency, m.fromSeq).then(reply);
  else if (m.op === 'stop') {
    void s
      .shutdown({ timeout: 200 })
      .then(() => channel.close())
      .then(() => (adapter instanceof RedisAdapter ? adapter.quit() : undefined))
      .then(() => process.exit(0));
  }
});
process.send?.({ port: s.getListenedPort() });
