// The bench's sluice server, written once for both ways it runs (see `sluiceBench`).
import { existsSync } from 'node:fs';
import type * as Sluice from '../../src/index.ts';
import type { BenchServer } from './harness.ts';
import { ROUTE_AUTH, requestIdOf } from './route-spec.ts';

// The realistic route's middlewares (see route-spec.ts), as a sluice user writes them.
async function requestId(r: Sluice.Request): Promise<void> {
  r.response.header.set('X-Request-Id', requestIdOf(r.headers['x-request-id']));
  await r.middleware.next();
}

async function bearerAuth(r: Sluice.Request): Promise<void> {
  if (r.headers.authorization !== ROUTE_AUTH) {
    r.response.status = 401;
    r.response.writeJson({ error: 'unauthorized' });
    return;
  }
  await r.middleware.next();
}

/** How a variant of the bench's sluice server writes a route differently. */
export interface SluiceBenchVariant {
  /**
   * Hello JSON by GoFrame's `writeJson()` rather than a returned object (`sluice-writejson.ts`):
   * it sets the type before the body is known, and so takes Node's header map.
   */
  helloWriteJson?: boolean;
  /**
   * The Channel route as README.md writes it, `(r) => channel.subscribe(r.response.sse())`: the
   * subscription returned, not awaited, so the handler keeps no suspended frame of its own
   * (`sluice-no-await.ts`; heap-diff prices that `await` per idle connection).
   */
  subscribeReturned?: boolean;
}

/**
 * The bench's sluice server on `lib`: the TypeScript sources (`sluice.ts`, run through tsx like
 * every bench server) or the built package (`sluice-dist.ts`, what users run). Hello JSON is a
 * returned object, as the Fastify and Hono servers answer it; the Channel route awaits the
 * subscription. `variant` changes one of them.
 */
export function sluiceBench(
  lib: typeof Sluice,
  variant: SluiceBenchVariant = {},
): () => Promise<BenchServer> {
  const { Channel, HttpError, server, silentLogger } = lib;
  return async () => {
    const s = server('bench');
    s.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);

    if (variant.helloWriteJson === true) {
      s.get('/hello', (r) => {
        r.response.writeJson({ hello: 'world' });
      });
    } else s.get('/hello', () => ({ hello: 'world' }));
    s.group('/api', (g) => {
      g.middleware(requestId, bearerAuth);
      g.post('/users/{id}', (r) => {
        const name = r.getBody<{ name?: unknown } | undefined>()?.name;
        if (typeof name !== 'string') throw new HttpError(400, 'name must be a string', { expose: true });
        return { id: r.params.id, name, requestId: r.response.header.get('X-Request-Id') };
      });
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
    if (variant.subscribeReturned === true) {
      s.get('/sse', (r) => channel.subscribe(r.response.sse({ heartbeat: 0 })));
    } else {
      s.bindHandler('GET:/sse', async (r) => {
        await channel.subscribe(r.response.sse({ heartbeat: 0 }));
      });
    }

    await s.start();
    const port = s.getListenedPort();
    return {
      listen: async () => port,
      broadcaster: {
        publish: (payload) => void channel.publish({ data: payload }),
        subscribers: () => channel.size,
      },
    };
  };
}

/** The built package (`dist/`, which the bench runners build when missing or stale), as users import it. */
export async function builtSluice(): Promise<typeof Sluice> {
  const dist = new URL('../../dist/index.js', import.meta.url);
  if (!existsSync(dist))
    throw new Error('this bench server runs the built package: run `npm run build` first');
  return (await import(dist.href)) as typeof Sluice;
}
