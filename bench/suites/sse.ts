// Suite 1, SSE broadcast: for each server, a fresh server process and a fresh
// load-client process; N clients connect, the idle memory is taken, then one
// burst phase (as fast as possible) and one fixed-rate phase.
import type { Options } from '../lib/args.ts';
import { pick, type ServerEntry } from '../lib/catalog.ts';
import { Child, listeningOrReason } from '../lib/children.ts';
import { connectClients, deliveriesPerSec } from '../lib/sse-broadcast.ts';
import type {
  CpuSample,
  LoadRequest,
  Memory,
  PhaseResult,
  Published,
  ServerRequest,
} from '../servers/protocol.ts';

type ServerChild = Child<ServerRequest>;
type LoadChild = Child<LoadRequest>;

export interface PhaseSummary {
  published: Published;
  result: PhaseResult;
  /** Events received by all clients together, per second, from the first publish to the last receipt. */
  deliveriesPerSec: number;
  /** Events the server published per second (each to every client). */
  eventsPerSec: number;
  serverCpuPct: number;
  clientCpuPct: number;
  allDelivered: boolean;
}

export interface SseRun {
  server: string;
  rep: number;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  clients: number;
  rssPerConn?: number;
  heapPerConn?: number;
  burst?: PhaseSummary;
  rate?: PhaseSummary;
}

type Log = (line: string) => void;

export async function runSse(o: Options, log: Log): Promise<SseRun[]> {
  const servers = pick('sse', o.servers);
  const runs: SseRun[] = [];
  const skip = new Map<string, string>();
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const entry of servers) {
      const skipped = skip.get(entry.name);
      if (skipped) {
        runs.push({ server: entry.name, rep, status: 'skipped', reason: skipped, clients: o.clients });
        continue;
      }
      const run = await runOnce(entry, rep, o);
      // A server that cannot start will not start in the next repetition either.
      if (run.status === 'skipped') skip.set(entry.name, run.reason ?? '');
      log(`[sse ${rep}/${o.reps}] ${entry.name}: ${describe(run)}`);
      runs.push(run);
    }
  }
  return runs;
}

function describe(r: SseRun): string {
  if (r.status !== 'ok') return `${r.status}: ${r.reason}`;
  const b = r.burst!;
  const k = (n: number): string => `${Math.round(n / 1000)}k`;
  return (
    `${k(b.deliveriesPerSec)} deliveries/s (${Math.round(b.eventsPerSec)} events/s), ` +
    `p99 ${(b.result.p99Us / 1000).toFixed(1)} ms, rate p99 ${(r.rate!.result.p99Us / 1000).toFixed(1)} ms, ` +
    `cpu server ${Math.round(b.serverCpuPct)}% client ${Math.round(b.clientCpuPct)}%, ` +
    `${b.allDelivered && r.rate!.allDelivered ? 'all delivered' : 'EVENTS LOST'}, ` +
    `${Math.round(r.rssPerConn!)} B rss/conn`
  );
}

async function runOnce(entry: ServerEntry, rep: number, o: Options): Promise<SseRun> {
  const base = { server: entry.name, rep, clients: o.clients };
  const server = Child.spawn<ServerRequest>(entry.name, entry.file);
  let client: LoadChild | undefined;
  try {
    const started = await listeningOrReason(server);
    if ('reason' in started) return { ...base, status: 'skipped', reason: started.reason };
    const hello = started.hello;
    if (hello.sseUnavailable) return { ...base, status: 'skipped', reason: hello.sseUnavailable };
    const n = o.clients;
    const mem0 = await server.call<Memory>({ op: 'memory' }, 10_000);

    client = await connectClients(server, hello.port, {
      clients: n,
      batch: o.batch,
      timeoutMs: 10_000 + n * 5,
      pingEveryMs: 50,
    });
    const mem1 = await server.call<Memory>({ op: 'memory' }, 10_000);
    const drainMs = Math.max(5000, o.seconds * 2000);
    const maxEvents = Math.max(1, Math.floor(o.maxDeliveries / n));

    const burst = await phase(server, client, 1, drainMs, {
      op: 'burst',
      fromSeq: 1,
      seconds: o.seconds,
      maxEvents,
    });
    const from = burst.published.lastSeq + 1;
    const rate = await phase(server, client, from, drainMs, {
      op: 'rate',
      fromSeq: from,
      seconds: o.seconds,
      rate: o.rate,
    });
    return {
      ...base,
      status: 'ok',
      rssPerConn: (mem1.rss - mem0.rss) / n,
      heapPerConn: (mem1.heapUsed - mem0.heapUsed) / n,
      burst,
      rate,
    };
  } catch (err) {
    return { ...base, status: 'failed', reason: err instanceof Error ? err.message : String(err) };
  } finally {
    await server.kill();
    await client?.kill();
  }
}

async function phase(
  server: ServerChild,
  client: LoadChild,
  fromSeq: number,
  drainMs: number,
  request: Extract<ServerRequest, { op: 'burst' | 'rate' }>,
): Promise<PhaseSummary> {
  await client.call({ op: 'phase', fromSeq }, 5000);
  const cpu0 = await server.call<CpuSample>({ op: 'cpu' }, 5000);
  const published = await server.call<Published>(request, request.seconds * 1000 + 30_000);
  const result = await client.call<PhaseResult>(
    { op: 'collect', lastSeq: published.lastSeq, timeoutMs: drainMs },
    drainMs + 10_000,
  );
  const cpu1 = await server.call<CpuSample>({ op: 'cpu' }, 5000);
  const events = published.lastSeq - published.fromSeq + 1;
  return {
    published,
    result,
    deliveriesPerSec: deliveriesPerSec(published, result),
    eventsPerSec: events / Math.max(1e-6, (published.lastUs - published.firstUs) / 1e6),
    // The server's share of one core over the phase, delivery tail included.
    serverCpuPct: (100 * (cpu1.cpuUs - cpu0.cpuUs)) / (cpu1.nowUs - cpu0.nowUs),
    clientCpuPct: (100 * result.cpuUs) / result.wallUs,
    allDelivered:
      result.complete === result.clients &&
      result.delivered === result.clients * events &&
      result.orderErrors === 0 &&
      result.parseErrors === 0,
  };
}
