// Fastify 5 with @fastify/sse. The plugin has no channel either: each client's
// reply.sse is kept open with keepAlive() and the broadcast calls send() on
// each. Heartbeats off, as in every server here.

import type { AddressInfo } from 'node:net';
import { fastifySSE, type SSEReplyInterface } from '@fastify/sse';
import Fastify from 'fastify';
import { runBenchServer } from './harness.ts';
import { ROUTE_AUTH, requestIdOf } from './route-spec.ts';

const clients = new Set<SSEReplyInterface>();
// send() rejects once a client has gone; that client is leaving the Set anyway.
const ignore = (): void => {};
const app = Fastify({ logger: false });
await app.register(fastifySSE, { heartbeatInterval: 0 });

app.get('/hello', async () => ({ hello: 'world' }));
// The realistic route (see route-spec.ts): the middlewares as hooks of an encapsulated plugin.
await app.register(
  async (api) => {
    api.addHook('onRequest', async (request, reply) => {
      reply.header('X-Request-Id', requestIdOf(request.headers['x-request-id']));
    });
    api.addHook('onRequest', async (request, reply) => {
      if (request.headers.authorization !== ROUTE_AUTH)
        return reply.code(401).send({ error: 'unauthorized' });
    });
    api.post<{ Params: { id: string }; Body: { name?: unknown } | undefined }>(
      '/users/:id',
      async (request, reply) => {
        const name = request.body?.name;
        if (typeof name !== 'string') return reply.code(400).send({ error: 'name must be a string' });
        return { id: request.params.id, name, requestId: reply.getHeader('x-request-id') };
      },
    );
  },
  { prefix: '/api' },
);
app.get('/sse', { sse: { kind: 'only', heartbeat: false } }, async (_request, reply) => {
  const sse = reply.sse;
  sse.keepAlive();
  // Commit the head now: a client counted as subscribed must be one that can
  // receive the next event.
  sse.sendHeaders();
  clients.add(sse);
  sse.onClose(() => clients.delete(sse));
});

await runBenchServer(() => ({
  async listen() {
    await app.listen({ host: '127.0.0.1', port: 0, backlog: 4096 });
    return (app.server.address() as AddressInfo).port;
  },
  broadcaster: {
    publish(payload) {
      for (const sse of clients) sse.send(payload).catch(ignore);
    },
    subscribers: () => clients.size,
  },
}));
