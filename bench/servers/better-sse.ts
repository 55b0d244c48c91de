// better-sse: a Session per client registered with one Channel; publish is
// channel.broadcast. Defaults kept except the keep-alive comment, which is
// off in every server so that only events are on the wire.
import { createServer } from 'node:http';
import { createChannel, createSession } from 'better-sse';
import { runBenchServer } from './harness.ts';
import { listenLoopback } from './listen.ts';

const channel = createChannel();

const server = createServer((req, res) => {
  if (req.url !== '/sse') {
    res.writeHead(404).end();
    return;
  }
  createSession(req, res, { keepAlive: null }).then(
    (session) => channel.register(session),
    () => res.destroy(),
  );
});

await runBenchServer(() => ({
  listen: () => listenLoopback(server),
  broadcaster: {
    publish: (payload) => void channel.broadcast(payload),
    subscribers: () => channel.sessionCount,
  },
}));
