// sluice: the same routes as the other servers, on the public API.
import { Channel, server, silentLogger } from '../../src/index.ts';
import { runBenchServer } from './harness.ts';

await runBenchServer(async () => {
  const s = server('bench');
  s.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);

  s.bindHandler('GET:/hello', (r) => {
    r.response.writeJson({ hello: 'world' });
  });
  // The seed page's loop: write, flush, repeat; flush carries the backpressure.
  s.bindHandler('GET:/stream', async (r) => {
    const n = Math.min(Number(r.get('n') ?? 1000) || 1000, 10_000_000);
    r.response.header.set('Content-Type', 'text/event-stream');
    for (let i = 0; i < n; i++) {
      r.response.writefln('data: %d\n', i);
      if (!(await r.response.flush())) return;
    }
  });

  // BENCH_SLUICE_SOCKET_WRITES=0 sends every frame through res.write, to price the socket shortcut.
  const channel = new Channel({
    history: 1000,
    socketWrites: process.env.BENCH_SLUICE_SOCKET_WRITES !== '0',
  });
  s.bindHandler('GET:/sse', async (r) => {
    await channel.subscribe(r.response.sse({ heartbeat: 0 }));
  });

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
