// Hono through @hono/node-server. Hono has no channel, so the broadcast is the
// documented streamSSE API applied to a Set of open streams.

import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { runBenchServer } from './harness.ts';
import { listenLoopback } from './listen.ts';

const streams = new Set<SSEStreamingApi>();
const app = new Hono();

app.get('/hello', (c) => c.json({ hello: 'world' }));
app.get('/sse', (c) =>
  streamSSE(c, async (stream) => {
    streams.add(stream);
    // Returning from this callback would end the response.
    await new Promise<void>((resolve) => stream.onAbort(resolve));
    streams.delete(stream);
  }),
);

// The adaptor server is what `serve` listens with; taking it unlistened lets
// every server here listen the same way.
const server = createAdaptorServer({ fetch: app.fetch }) as Server;

await runBenchServer(() => ({
  listen: () => listenLoopback(server),
  broadcaster: {
    publish(payload) {
      for (const stream of streams) void stream.writeSSE({ data: payload });
    },
    subscribers: () => streams.size,
  },
}));
