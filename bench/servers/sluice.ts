// sluice, written against the API in DESIGN.md.
//
// The import is dynamic and typed by the local `SluiceApi` below because
// src/ is being built alongside this harness: a static import would break the
// typecheck of bench/ while src/index.ts is missing, and a missing export must
// make this server skip (with the reason) rather than crash the run. Once the
// API is stable, a static `import { server, Channel } from '../../src/index.ts'`
// gives this file full type coverage.
import { type Broadcaster, runBenchServer } from './harness.ts';

interface EventStream {
  readonly closed: Promise<unknown>;
}
interface SluiceRequest {
  get(name: string): unknown;
  response: {
    writeJson(value: unknown): void;
    writefln(format: string, ...args: unknown[]): void;
    flush(): Promise<unknown>;
    header: { set(name: string, value: string): void };
    sse(options?: { heartbeat?: number }): EventStream;
  };
}
interface SluiceServer {
  setAddress(address: string): void;
  setPort(port: number): void;
  bindHandler(pattern: string, handler: (r: SluiceRequest) => unknown): void;
  start(): Promise<unknown>;
  getListenedPort(): number;
}
interface SluiceChannel {
  publish(event: { data: string }): unknown;
  subscribe(es: EventStream): Promise<unknown>;
}
interface SluiceApi {
  server?: (name?: string) => SluiceServer;
  Channel?: new (options?: { history?: number }) => SluiceChannel;
}

const entry = new URL('../../src/index.ts', import.meta.url).href;

await runBenchServer(async () => {
  const api = (await import(entry)) as SluiceApi;
  if (typeof api.server !== 'function') throw new Error('src/index.ts does not export server()');
  const s = api.server('bench');
  s.setAddress('127.0.0.1');
  s.setPort(0);

  s.bindHandler('GET:/hello', (r) => {
    r.response.writeJson({ hello: 'world' });
  });
  // The seed page's loop: write, flush, repeat; flush carries the backpressure.
  s.bindHandler('GET:/stream', async (r) => {
    const n = Math.min(Number(r.get('n') ?? 1000) || 1000, 10_000_000);
    r.response.header.set('Content-Type', 'text/event-stream');
    for (let i = 0; i < n; i++) {
      r.response.writefln('data: %d\n', i);
      await r.response.flush();
    }
  });

  let sseUnavailable: string | undefined;
  let broadcaster: Broadcaster | undefined;
  if (typeof api.Channel !== 'function') {
    sseUnavailable = 'src/index.ts does not export Channel';
  } else {
    const channel = new api.Channel({ history: 1000 });
    // Counted here rather than asked of the Channel, whose API has no size.
    let subscribed = 0;
    s.bindHandler('GET:/sse', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      subscribed++;
      try {
        await channel.subscribe(es);
      } finally {
        subscribed--;
      }
    });
    broadcaster = {
      publish: (payload) => void channel.publish({ data: payload }),
      subscribers: () => subscribed,
    };
  }

  await s.start();
  const port = s.getListenedPort();
  return { listen: async () => port, broadcaster, sseUnavailable };
});
