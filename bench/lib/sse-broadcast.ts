// One SSE broadcast measured the same way wherever it is measured: the SSE suite
// (suites/sse.ts), bench/instructions.ts --suite sse (lib/instr-sse.ts) and the paired A/B of
// bench/ab.ts --suite sse. N clients of the load client (clients/sse-load.ts) connect and are
// pinged; a burst (servers/harness.ts's `burst`) publishes E events as fast as the server's
// event loop turns, and counts only when every client received every event exactly once and in
// order.
import type {
  Connected,
  LoadRequest,
  LoadStatus,
  PhaseResult,
  Published,
  ServerRequest,
} from '../servers/protocol.ts';
import { Child } from './children.ts';
import { sleep } from './clock.ts';

/** What a broadcast asks of a server process, whether plain (Child) or under callgrind (CountedServer). */
export interface SseServer {
  readonly name: string;
  call<T>(msg: ServerRequest, timeoutMs: number): Promise<T>;
}

export interface ConnectOptions {
  clients: number;
  /** Connections the load client opens at once. */
  batch: number;
  /** How long connecting, subscribing and the pings may take each (valgrind wants minutes). */
  timeoutMs: number;
  /** Pause between two pings while waiting for every client to have one. */
  pingEveryMs: number;
}

/**
 * A load-client process with `clients` connections to the server's /sse, each subscribed and
 * proven to deliver by a ping (seq 0). The client is killed when any step fails.
 */
export async function connectClients(
  server: SseServer,
  port: number,
  o: ConnectOptions,
): Promise<Child<LoadRequest>> {
  const client = Child.spawn<LoadRequest>('load client', 'bench/clients/sse-load.ts');
  try {
    await client.waitFor('ready', 30_000);
    const c = await client.call<Connected>(
      { op: 'connect', port, path: '/sse', clients: o.clients, batch: o.batch, timeoutMs: o.timeoutMs },
      o.timeoutMs + 10_000,
    );
    if (c.connected < o.clients)
      throw new Error(`connected ${c.connected} of ${o.clients}: ${JSON.stringify(c.errors)}`);
    let deadline = Date.now() + o.timeoutMs;
    while ((await server.call<{ n: number }>({ op: 'count' }, o.timeoutMs)).n < o.clients) {
      if (Date.now() > deadline) throw new Error(`${server.name}: subscribers did not reach ${o.clients}`);
      await sleep(20);
    }
    // Whatever a library does between accepting and subscribing, a ping each client received
    // proves its subscription delivers.
    deadline = Date.now() + o.timeoutMs;
    for (;;) {
      await server.call({ op: 'ping' }, o.timeoutMs);
      await sleep(o.pingEveryMs);
      if ((await client.call<LoadStatus>({ op: 'status' }, o.timeoutMs)).pinged >= o.clients) break;
      if (Date.now() > deadline) throw new Error(`${server.name}: not every client received the ping`);
    }
    return client;
  } catch (err) {
    await client.kill();
    throw err;
  }
}

/** A server with its connected load client, and the sequence number its next burst starts at. */
export interface Broadcast {
  server: SseServer;
  client: Child<LoadRequest>;
  clients: number;
  nextSeq: number;
  /** Deadline of one request to either process; a burst's own deadlines are ten times as long. */
  timeoutMs: number;
}

export interface BurstResult {
  published: Published;
  result: PhaseResult;
  /** Events received by all clients together, per second, from the first publish to the last receipt. */
  deliveriesPerSec: number;
  /** The load client's CPU over the burst, as a share of one core: near 1, it measures itself. */
  clientCpu: number;
}

/**
 * One burst of `events` events; `before` runs after the client is told the phase and before the
 * first publish, `after` once every client has the last event. Rejects unless every client
 * received every event exactly once and in order.
 */
export async function burst(
  b: Broadcast,
  events: number,
  before: () => void | Promise<void> = () => undefined,
  after: () => void | Promise<void> = () => undefined,
): Promise<BurstResult> {
  const fromSeq = b.nextSeq;
  await b.client.call({ op: 'phase', fromSeq }, b.timeoutMs);
  await before();
  const published = await b.server.call<Published>(
    { op: 'burst', fromSeq, seconds: 1e6, maxEvents: events },
    10 * b.timeoutMs,
  );
  const result = await b.client.call<PhaseResult>(
    { op: 'collect', lastSeq: published.lastSeq, timeoutMs: 10 * b.timeoutMs },
    11 * b.timeoutMs,
  );
  await after();
  b.nextSeq = published.lastSeq + 1;
  const expected = b.clients * events;
  if (
    published.lastSeq !== fromSeq + events - 1 ||
    result.clients !== b.clients ||
    result.complete !== b.clients ||
    result.delivered !== expected ||
    result.orderErrors !== 0 ||
    result.parseErrors !== 0
  ) {
    throw new Error(
      `${b.server.name}: burst not fully delivered: ${result.delivered} of ${expected} deliveries, ` +
        `${result.complete} of ${b.clients} clients complete, ${result.orderErrors} order and ` +
        `${result.parseErrors} parse errors, ${result.closed} closed`,
    );
  }
  return {
    published,
    result,
    deliveriesPerSec: deliveriesPerSec(published, result),
    clientCpu: result.cpuUs / result.wallUs,
  };
}

/**
 * Deliveries per second from the first publish to the last client's receipt of the last event
 * (to the last publish when nothing arrived). Both ends are CLOCK_MONOTONIC (lib/clock.ts), read
 * in two processes.
 */
export function deliveriesPerSec(published: Published, result: PhaseResult): number {
  const spanUs = (result.lastRecvUs || published.lastUs) - published.firstUs;
  return result.delivered / (spanUs / 1e6);
}
