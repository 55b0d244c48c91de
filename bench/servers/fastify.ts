// Fastify 5 with @fastify/sse. The plugin has no channel either: each client's
// reply.sse is kept open with keepAlive() and the broadcast calls send() on
// each. Heartbeats off, as in every server here.

import type { AddressInfo } from 'node:net';
import { fastifySSE, type SSEReplyInterface } from '@fastify/sse';
import Fastify from 'fastify';
import { runBenchServer } from './harness.ts';

const clients = new Set<SSEReplyInterface>();
// send() rejects once a client has gone; that client is leaving the Set anyway.
const ignore = (): void => {};
const app = Fastify({ logger: false });
await app.register(fastifySSE, { heartbeatInterval: 0 });

app.get('/hello', async () => ({ hello: 'world' }));
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
