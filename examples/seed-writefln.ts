/**
 * The seed page's second program (GoFrame >= v2.4): `Writefln` + `Flush` in a
 * loop. Run: `npx tsx examples/seed-writefln.ts`, then open
 * http://127.0.0.1:8999/ in a browser or `curl -N http://127.0.0.1:8999/`.
 *
 * The original wrote `Writefln("data: %d", i)`: one newline, so a browser
 * never fires an event. Here the format ends in `\n` and writefln adds the
 * second one: the blank line that dispatches an SSE event.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { type Request, type RouteGroup, server } from 'sluice';

/** Binds the counter stream (100 events, 200 ms apart) at `path`. */
export function mountCounter(s: RouteGroup, path = '/', count = 100, intervalMs = 200): void {
  s.bindHandler(`GET:${path}`, (r) => writeCounter(r, count, intervalMs));
}

/** The counter itself, for a route bound another way (the demo describes it with `defineRoute`). */
export async function writeCounter(r: Request, count = 100, intervalMs = 200): Promise<void> {
  r.response.header.set('Content-Type', 'text/event-stream');
  r.response.header.set('Cache-Control', 'no-cache');
  // A reconnecting EventSource sends the last id it saw: resume after it instead of starting over.
  const last = Number.parseInt(String(r.headers['last-event-id'] ?? ''), 10);
  for (let i = Number.isInteger(last) && last >= 0 ? last + 1 : 0; i < count; i++) {
    r.response.writefln('id: %d\ndata: %d\n', i, i);
    // flush() resolves false once the client is gone: stop producing.
    if (!(await r.response.flush())) return;
    await sleep(intervalMs, undefined, { signal: r.signal });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = server();
  mountCounter(s);
  s.setPort(Number(process.env.PORT ?? 8999));
  await s.run();
}
