// sluice, hello-JSON through defineRoute: the query checked against a zod schema and the answer
// against its response schema (validateResponse forced on, as in development), so the figure
// prices both checks against sluice-returned, the same route without schemas. It also serves
// that unvalidated route at /plain, so bench/typed.ts can alternate the two in one process.
import * as z from 'zod';
import { server, silentLogger } from '../../src/index.ts';
import { defineRoute } from '../../src/schema/index.ts';
import { runBenchServer } from './harness.ts';

const hello = defineRoute({
  method: 'GET',
  path: '/hello',
  query: z.object({ name: z.string().min(1).optional() }),
  response: z.object({ hello: z.string() }),
  validateResponse: true,
  handler: ({ query }) => ({ hello: query.name ?? 'world' }),
});

await runBenchServer(async () => {
  const s = server('bench');
  s.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
  s.bind({ hello });
  s.get('/plain', () => ({ hello: 'world' }));
  await s.start();
  const port = s.getListenedPort();
  return { listen: async () => port, sseUnavailable: 'hello-JSON only' };
});
