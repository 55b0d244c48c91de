/**
 * The seed page's first program (GoFrame < v2.4): a handler that streams
 * through the raw writer. Run: `npx tsx examples/seed-raw-writer.ts`, then
 * `curl -N http://127.0.0.1:8999/`.
 *
 * Differences from the original, on purpose:
 * - Each event ends with a blank line (`\n\n`). The original wrote `data: N\n`,
 *   and a browser's EventSource dispatches nothing until it sees a blank line.
 * - A write error (the client left) ends the loop instead of `panic`-ing, and
 *   `r.signal` stops the wait at once rather than after the next write fails.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { type RouteGroup, server } from 'sluice';

/** Binds the raw-writer stream at `path`. */
export function mountRawWriter(s: RouteGroup, path = '/'): void {
  s.bindHandler(`GET:${path}`, async (r) => {
    const rw = r.response.rawWriter();
    rw.setHeader('Content-Type', 'text/event-stream');
    rw.setHeader('Cache-Control', 'no-cache');
    rw.setHeader('Connection', 'keep-alive');
    for (let i = 0; i < 100 && !r.signal.aborted; i++) {
      // write() returning false means the socket is full: wait for drain, as Go's Flush blocks.
      if (!rw.write(`data: ${i}\n\n`)) await once(rw, 'drain', { signal: r.signal });
      await sleep(200, undefined, { signal: r.signal });
    }
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = server();
  mountRawWriter(s);
  s.setPort(Number(process.env.PORT ?? 8999));
  await s.run();
}
