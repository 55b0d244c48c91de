// The ceiling's server, written once for the bytes it writes (see raw-socket.ts and
// raw-socket-chunked.ts): node:http accepts the request, then the response head and every event
// go straight to the socket, one shared Buffer per event for every client.
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { runBenchServer } from './harness.ts';
import { listenLoopback } from './listen.ts';

/** Serves `/sse` with `head`, then `frame(payload)` of each published event to every socket. */
export async function runRawSocketServer(head: Buffer, frame: (payload: string) => Buffer): Promise<void> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    if (req.url !== '/sse') {
      res.writeHead(404).end();
      return;
    }
    // `res` is abandoned on purpose: node never writes its head, and the socket
    // is ours until the client closes it.
    const socket = req.socket;
    socket.write(head);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await runBenchServer(() => ({
    listen: () => listenLoopback(server),
    broadcaster: {
      publish(payload) {
        const bytes = frame(payload);
        for (const socket of sockets) socket.write(bytes);
      },
      subscribers: () => sockets.size,
    },
  }));
}
