// The ceiling: node:http accepts the request, then the response head and
// every event go straight to the socket. The body is delimited by connection
// close (no Content-Length, no Transfer-Encoding), so one shared Buffer is the
// entire per-client work of an event: no chunk framing, no ServerResponse.
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { runBenchServer } from './harness.ts';
import { listenLoopback } from './listen.ts';

const HEAD = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n',
);
const sockets = new Set<Socket>();

const server = createServer((req, res) => {
  if (req.url !== '/sse') {
    res.writeHead(404).end();
    return;
  }
  // `res` is abandoned on purpose: node never writes its head, and the socket
  // is ours until the client closes it.
  const socket = req.socket;
  socket.write(HEAD);
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
});

await runBenchServer(() => ({
  listen: () => listenLoopback(server),
  broadcaster: {
    publish(payload) {
      const frame = Buffer.from(`data: ${payload}\n\n`);
      for (const socket of sockets) socket.write(frame);
    },
    subscribers: () => sockets.size,
  },
}));
