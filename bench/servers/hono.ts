// Hono through @hono/node-server. Hono has no channel, so the broadcast is the
// documented streamSSE API applied to a Set of open streams.

import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { runBenchServer } from './harness.ts';
import { listenLoopback } from './listen.ts';
import { ROUTE_AUTH, requestIdOf } from './route-spec.ts';

const streams = new Set<SSEStreamingApi>();
const app = new Hono();

app.get('/hello', (c) => c.json({ hello: 'world' }));
// The realistic route (see route-spec.ts): the middlewares on a sub-app mounted at /api.
const api = new Hono<{ Variables: { requestId: string } }>();
api.use(async (c, next) => {
  const id = requestIdOf(c.req.header('x-request-id'));
  c.set('requestId', id);
  c.header('X-Request-Id', id);
  await next();
});
api.use(async (c, next) => {
  if (c.req.header('authorization') !== ROUTE_AUTH) return c.json({ error: 'unauthorized' }, 401);
  await next();
});
api.post('/users/:id', async (c) => {
  const body = (await c.req.json().catch(() => undefined)) as { name?: unknown } | undefined;
  const name = body?.name;
  if (typeof name !== 'string') return c.json({ error: 'name must be a string' }, 400);
  return c.json({ id: c.req.param('id'), name, requestId: c.get('requestId') });
});
app.route('/api', api);
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
