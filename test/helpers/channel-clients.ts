import { type Agent, type ClientRequest, get, type IncomingMessage } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { waitFor } from './http-client.ts';

/** A received event, as the WHATWG parser reports it. */
export interface Received {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/**
 * One SSE connection over plain `http.get`, parsed with eventsource-parser:
 * cheap enough to open hundreds of them, and it never reconnects on its own,
 * so a test decides exactly when, and with which `Last-Event-ID`.
 */
export interface SseClient {
  readonly events: Received[];
  readonly res: IncomingMessage;
  readonly req: ClientRequest;
  /** Resolves when the response ends or the connection is gone. */
  readonly ended: Promise<void>;
  /** The id of the last event received (or the one it connected with). */
  lastId(): string | undefined;
  close(): void;
}

export interface ConnectOptions {
  lastEventId?: string | undefined;
  agent?: Agent | false;
  onEvent?: (e: Received, client: SseClient) => void;
}

/** Connects and resolves once the response head arrived. */
export function connect(url: string, options: ConnectOptions = {}): Promise<SseClient> {
  const headers: Record<string, string> = { Accept: 'text/event-stream' };
  if (options.lastEventId !== undefined) headers['Last-Event-ID'] = options.lastEventId;
  return new Promise((resolve, reject) => {
    const req = get(url, { headers, agent: options.agent ?? false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`HTTP ${res.statusCode} from ${url}`));
        return;
      }
      const events: Received[] = [];
      let last = options.lastEventId;
      const ended = new Promise<void>((done) => {
        res.once('close', done);
        res.once('end', done);
        res.once('error', () => done());
      });
      const client: SseClient = { events, res, req, ended, lastId: () => last, close: () => req.destroy() };
      const parser = createParser({
        onEvent: (m: EventSourceMessage) => {
          const e: Received = { id: m.id, event: m.event, data: m.data };
          if (m.id !== undefined) last = m.id;
          events.push(e);
          options.onEvent?.(e, client);
        },
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parser.feed(chunk));
      resolve(client);
    });
    req.once('error', reject);
  });
}

/** Polls `predicate` every 5 ms until it holds; rejects naming `what` after `timeout` ms. */
export function until(predicate: () => boolean, what: string, timeout = 10_000): Promise<void> {
  return waitFor(predicate, what, timeout);
}

/** Resolves on the next turn of the event loop (lets sockets read and write). */
export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** The ids of the events of one type (default: all), in arrival order. */
export function idsOf(events: readonly Received[], type?: string): string[] {
  const out: string[] = [];
  for (const e of events) if (type === undefined || e.event === type) out.push(e.id ?? '');
  return out;
}

/**
 * Asserts that `got` is exactly a contiguous run of `published` (no gap, no
 * duplicate, nothing reordered), and returns where in `published` it starts.
 */
export function contiguousRun(got: readonly string[], published: readonly string[]): number {
  if (got.length === 0) return -1;
  const start = published.indexOf(got[0] as string);
  if (start === -1) throw new Error(`first id ${got[0]} was never published`);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== published[start + i]) {
      throw new Error(
        `at ${i}: got ${got[i]}, expected ${published[start + i]} (previous ${got[i - 1]}): gap, duplicate or reorder`,
      );
    }
  }
  return start;
}
