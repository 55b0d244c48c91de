// sluice, the Channel route as README.md writes it: `(r) => channel.subscribe(r.response.sse())`, the
// subscription's promise returned rather than awaited, so the handler keeps no suspended async frame
// of its own. The default `sluice` server awaits it (`async (r) => { await channel.subscribe(...) }`);
// heap-diff of the two prices that `await` per idle connection (issue #15, target 2). SSE only.
import { Channel, server, silentLogger } from '../../src/index.ts';
import { runBenchServer } from './harness.ts';

await runBenchServer(async () => {
  const s = server('bench-no-await');
  s.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
  // The same channel settings as the `sluice` server's.
  const channel = new Channel({ history: 1000 });
  s.get('/sse', (r) => channel.subscribe(r.response.sse({ heartbeat: 0 })));
  await s.start();
  const port = s.getListenedPort();
  return {
    listen: async () => port,
    broadcaster: {
      publish: (payload) => void channel.publish({ data: payload }),
      subscribers: () => channel.size,
    },
  };
});
