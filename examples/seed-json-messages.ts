/**
 * The program from the seed page's first comment: JSON messages on
 * `/stream`. Run: `npx tsx examples/seed-json-messages.ts`, then
 * `curl -N http://127.0.0.1:8999/stream`.
 *
 * The comment fixed the framing by hand ("data: " + json + "\n" + "\n").
 * Here `sse()` frames every event, so the framing cannot be got wrong, and
 * the message is JSON-encoded by sluice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { type Request, type RouteGroup, server } from 'sluice';

/** The message of the original program. */
interface TestMessage {
  Name: string;
  Value: string;
}

/** Binds the JSON-messages stream at `path`. */
export function mountJsonMessages(s: RouteGroup, path = '/stream', count = 100, intervalMs = 200): void {
  s.bindHandler(`GET:${path}`, (r) => sendJsonMessages(r, count, intervalMs));
}

/** The stream itself, for a route bound another way (the demo describes it with `defineRoute`). */
export async function sendJsonMessages(r: Request, count = 100, intervalMs = 200): Promise<void> {
  const es = r.response.sse();
  for (let i = 0; i < count && !es.isClosed; i++) {
    const message: TestMessage = { Name: `Name${i}`, Value: `Value${i}` };
    if (!(await es.send({ data: message }))) return;
    await sleep(intervalMs, undefined, { signal: es.signal });
  }
  es.close(); // all sent: an event stream stays open until it is closed or the client leaves
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = server();
  mountJsonMessages(s);
  s.setPort(Number(process.env.PORT ?? 8999));
  await s.run();
}
