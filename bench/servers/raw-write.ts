// The baseline: plain node:http. Each event is framed once into a Buffer and
// handed to every response with res.write, which adds the chunked-encoding
// framing per client. Also serves the hello-JSON and streaming suites.
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { runBenchServer } from './harness.ts';
import { listenLoopback, streamCount } from './listen.ts';

const SSE_HEAD = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache',
  Connection: 'keep-alive',
};
const clients = new Set<ServerResponse>();

const server = createServer((req, res) => {
  if (req.url === '/sse') {
    res.writeHead(200, SSE_HEAD);
    res.flushHeaders();
    clients.add(res);
    res.on('close', () => clients.delete(res));
  } else if (req.url === '/hello') {
    const body = JSON.stringify({ hello: 'world' });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  } else if (req.url?.startsWith('/stream')) {
    void stream(res, streamCount(req.url));
  } else {
    res.writeHead(404).end();
  }
});

// The seed page's loop with node's own backpressure: waiting for `drain` is
// what an awaited flush amounts to in plain node.
async function stream(res: ServerResponse, n: number): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  for (let i = 0; i < n; i++) {
    if (res.destroyed) return;
    if (!res.write(`data: ${i}\n\n`)) await once(res, 'drain');
  }
  res.end();
}

await runBenchServer(() => ({
  listen: () => listenLoopback(server),
  broadcaster: {
    publish(payload) {
      const frame = Buffer.from(`data: ${payload}\n\n`);
      for (const res of clients) res.write(frame);
    },
    subscribers: () => clients.size,
  },
}));
