// sluice without a Channel: the app keeps its own set of streams and calls es.send() on each,
// the way per-user events are written. One event object per publish, sent to every stream.
import { type EventStream, server, silentLogger } from '../../src/index.ts';
import { runBenchServer } from './harness.ts';

await runBenchServer(async () => {
  const s = server('bench-send');
  s.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
  const streams = new Set<EventStream>();
  s.bindHandler('GET:/sse', async (r) => {
    const es = r.response.sse({ heartbeat: 0 });
    streams.add(es);
    await es.closed;
    streams.delete(es);
  });
  await s.start();
  const port = s.getListenedPort();
  return {
    listen: async () => port,
    broadcaster: {
      publish(payload) {
        const event = { data: payload };
        for (const es of streams) void es.send(event);
      },
      subscribers: () => streams.size,
    },
  };
});
