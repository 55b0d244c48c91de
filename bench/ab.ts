// Two servers, one question: which is faster, and which spends less CPU on the same work? Both
// stay up (warm JITs) and take turns, `--pairs` times, in alternating order (AB, BA, AB, ...), so
// the drift of a shared, busy machine falls on both alike; each pair gives one ratio B / A of the
// server's CPU per unit of work and of the throughput, and the medians and quartiles of those
// ratios are printed. Finer-grained than `npm run bench`, whose repetitions start fresh servers
// seconds apart.
//
//   npx tsx bench/ab.ts --a fastify --b sluice [--suite http|route] [--pairs 20] [--seconds 1]
//     [--connections 100]
//   npx tsx bench/ab.ts --a raw-socket --b sluice --suite sse [--pairs 20] [--clients 2000]
//     [--events 200] [--warm 200] [--batch 250]
// `--a`/`--b` are server names of bench/lib/catalog.ts (opt-in ones too; the same name twice
// runs two processes of one server, which should give ratios of ~1); by default fastify (raw-socket
// for sse) and sluice.
// http/route: a turn is `--seconds` of wrk (autocannon without it) with `--connections`; CPU per
// request and req/s.
// sse (issue #15, target 5): each server keeps its own load client (clients/sse-load.ts) with
// `--clients` connections, pinged and warmed by a `--warm`-event burst; a turn is one burst of
// `--events` events (lib/sse-broadcast.ts), which every client must receive exactly once and in
// order. Deliveries/s run from the first publish to the last client's receipt of the last event;
// CPU per delivery is the server's CPU time over the burst. The load client's share of a core is
// printed too: near 100%, the deliveries/s measure the client, not the server.
import { SERVERS, type ServerEntry } from './lib/catalog.ts';
import { Child, killChildrenOnExit, listeningOrReason } from './lib/children.ts';
import { ensureDist, needsDist } from './lib/dist.ts';
import { type Broadcast, burst, connectClients } from './lib/sse-broadcast.ts';
import { median } from './lib/stats.ts';
import type { CpuSample, ServerRequest } from './servers/protocol.ts';
import { findWrk, loadOnce, TARGET_PATHS } from './suites/http.ts';

const USAGE = `Usage: npx tsx bench/ab.ts [--a NAME] [--b NAME] [--suite http|route|sse] [--pairs 1-200]
  http, route: [--seconds 1-60] [--connections 1-1000]
  sse:         [--clients 1-15000] [--events 1-100000] [--warm 1-100000] [--batch 1-2000]`;
const SUITE_FLAGS = {
  http: ['seconds', 'connections'],
  route: ['seconds', 'connections'],
  sse: ['clients', 'events', 'warm', 'batch'],
} as const;
type Suite = keyof typeof SUITE_FLAGS;

interface Options {
  suite: Suite;
  entries: ServerEntry[];
  pairs: number;
  seconds: number;
  connections: number;
  clients: number;
  events: number;
  warm: number;
  batch: number;
}

/** The options, or a message saying which argument breaks which rule. */
function parseArgs(argv: readonly string[]): Options {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = String(argv[i]);
    if (!flag.startsWith('--')) throw new Error(`unexpected argument '${flag}'`);
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a value`);
    args.set(flag.slice(2), value);
  }
  const suite = args.get('suite') ?? 'http';
  if (!Object.hasOwn(SUITE_FLAGS, suite))
    throw new Error(`--suite must be http, route or sse, not '${suite}'`);
  const allowed = new Set<string>(['a', 'b', 'suite', 'pairs', ...SUITE_FLAGS[suite as Suite]]);
  for (const name of args.keys())
    if (!allowed.has(name)) throw new Error(`--${name} is not an option of --suite ${suite}`);
  const int = (name: string, def: number, min: number, max: number): number => {
    const n = Number(args.get(name) ?? def);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name} must be a whole number from ${min} to ${max}, not '${args.get(name)}'`);
    return n;
  };
  const entries = (['a', 'b'] as const).map((side) => {
    const name = args.get(side) ?? (side === 'b' ? 'sluice' : suite === 'sse' ? 'raw-socket' : 'fastify');
    const entry = SERVERS.find((s) => s.name === name);
    if (entry === undefined) throw new Error(`--${side}: no server '${name}' in bench/lib/catalog.ts`);
    if (entry[suite as Suite] !== true)
      throw new Error(`--${side}: ${name} takes no part in the ${suite} suite`);
    return entry;
  });
  const events = int('events', 200, 1, 100_000);
  return {
    suite: suite as Suite,
    entries,
    pairs: int('pairs', 20, 1, 200),
    seconds: int('seconds', 1, 1, 60),
    connections: int('connections', 100, 1, 1000),
    clients: int('clients', 2000, 1, 15_000),
    events,
    warm: int('warm', events, 1, 100_000),
    batch: int('batch', 250, 1, 2000),
  };
}

/** One turn's figures: the server's CPU µs per unit of work, the work per second, the load client's share of a core. */
interface Turn {
  cpu: number;
  rate: number;
  clientCpu: number;
}

interface Side {
  name: string;
  warm(): Promise<void>;
  turn(): Promise<Turn>;
  close(): Promise<void>;
}

/** A server under wrk or autocannon, which runs on the machine's other core and reports no CPU of its own. */
async function httpSide(entry: ServerEntry, o: Options, loadgen: 'wrk' | 'autocannon'): Promise<Side> {
  const child = Child.spawn<ServerRequest>(entry.name, entry.file);
  const started = await listeningOrReason(child);
  if ('reason' in started) {
    await child.kill();
    throw new Error(`${entry.name} did not start: ${started.reason}`);
  }
  const suite = o.suite as 'http' | 'route';
  const url = `http://127.0.0.1:${started.hello.port}${TARGET_PATHS[suite]}`;
  const post = suite === 'route';
  return {
    name: entry.name,
    warm: async () => void (await loadOnce(loadgen, o.connections, 1, url, post)),
    turn: async () => {
      const c0 = await child.call<CpuSample>({ op: 'cpu' }, 5000);
      const r = await loadOnce(loadgen, o.connections, o.seconds, url, post);
      const c1 = await child.call<CpuSample>({ op: 'cpu' }, 5000);
      if (r.errors + r.timeouts + r.non2xx > 0) throw new Error(`${entry.name}: errors or non-2xx answers`);
      return {
        cpu: (c1.cpuUs - c0.cpuUs) / r.requests.total,
        rate: r.requests.total / r.duration,
        clientCpu: Number.NaN,
      };
    },
    close: async () => void (await child.kill()),
  };
}

/** A broadcasting server with its own load client, connected and pinged (lib/sse-broadcast.ts). */
async function sseSide(entry: ServerEntry, o: Options): Promise<Side> {
  const child = Child.spawn<ServerRequest>(entry.name, entry.file);
  try {
    const started = await listeningOrReason(child);
    if ('reason' in started) throw new Error(`${entry.name} did not start: ${started.reason}`);
    if (started.hello.sseUnavailable) throw new Error(`${entry.name}: ${started.hello.sseUnavailable}`);
    const client = await connectClients(child, started.hello.port, {
      clients: o.clients,
      batch: o.batch,
      timeoutMs: 10_000 + o.clients * 5,
      pingEveryMs: 50,
    });
    const b: Broadcast = { server: child, client, clients: o.clients, nextSeq: 1, timeoutMs: 30_000 };
    const cpu = (): Promise<CpuSample> => child.call<CpuSample>({ op: 'cpu' }, 5000);
    return {
      name: entry.name,
      warm: async () => void (await burst(b, o.warm)),
      turn: async () => {
        let c0: CpuSample | undefined;
        let c1: CpuSample | undefined;
        const r = await burst(
          b,
          o.events,
          async () => {
            c0 = await cpu();
          },
          async () => {
            c1 = await cpu();
          },
        );
        return {
          cpu: (c1!.cpuUs - c0!.cpuUs) / r.result.delivered,
          rate: r.deliveriesPerSec,
          clientCpu: r.clientCpu,
        };
      },
      close: async () => {
        await client.kill();
        await child.kill();
      },
    };
  } catch (err) {
    await child.kill();
    throw err;
  }
}

function quantile(values: readonly number[], q: number): number {
  const xs = [...values].sort((a, b) => a - b);
  return xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? Number.NaN;
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);
let o: Options;
try {
  o = parseArgs(process.argv.slice(2));
} catch (err) {
  log(`bench/ab.ts: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  process.exit(2);
}
killChildrenOnExit();
if (needsDist(o.entries)) ensureDist(log);
const sse = o.suite === 'sse';
const pickLoadgen = (): 'wrk' | 'autocannon' =>
  process.env.BENCH_LOADGEN !== 'autocannon' && findWrk(false, log) ? 'wrk' : 'autocannon';
const loadgen = sse ? undefined : pickLoadgen();

const started = await Promise.allSettled(
  o.entries.map((entry) => (loadgen === undefined ? sseSide(entry, o) : httpSide(entry, o, loadgen))),
);
const sides = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
try {
  const failed = started.find((s) => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  // Warm-up: each server's JIT settles before anything counts.
  for (const s of sides) await s.warm();
  // The same server twice (a check that the tool finds no difference) is told apart by side.
  const names = sides.map((s, k) => (sides[0]!.name === sides[1]!.name ? `${s.name} (${'ab'[k]})` : s.name));
  const unit = sse ? 'delivery' : 'request';
  const rateName = sse ? 'deliveries/s' : 'req/s';
  const turns: Turn[][] = [[], []];
  const cpuRatios: number[] = [];
  const rateRatios: number[] = [];
  for (let i = 0; i < o.pairs; i++) {
    const order = i % 2 === 0 ? [0, 1] : [1, 0];
    const got: Turn[] = [];
    for (const k of order) got[k] = await sides[k]!.turn();
    const [a, b] = got as [Turn, Turn];
    turns[0]!.push(a);
    turns[1]!.push(b);
    cpuRatios.push(b.cpu / a.cpu);
    rateRatios.push(b.rate / a.rate);
    const client = sse
      ? ` (load client ${Math.round(100 * a.clientCpu)}% / ${Math.round(100 * b.clientCpu)}% of a core)`
      : '';
    log(
      `pair ${i + 1}/${o.pairs}: ${names[1]} / ${names[0]} ${rateName} ${rateRatios.at(-1)!.toFixed(3)}, ` +
        `CPU per ${unit} ${cpuRatios.at(-1)!.toFixed(3)}${client}`,
    );
  }
  const f = (n: number): string => n.toFixed(3);
  const spread = (xs: number[]): string =>
    `${f(median(xs))} (quartiles ${f(quantile(xs, 0.25))}-${f(quantile(xs, 0.75))})`;
  const each = (pick: (t: Turn) => number, show: (n: number) => string): string =>
    names.map((name, k) => `${name} ${show(median(turns[k]!.map(pick)))}`).join(', ');
  const what = sse
    ? `sse, ${o.clients} clients, ${o.pairs} pairs of ${o.events}-event bursts`
    : `${o.suite}, ${loadgen}, ${o.connections} connections, ${o.pairs} pairs of ${o.seconds} s`;
  const clientCpu = sse
    ? `; load client CPU ${each(
        (t) => t.clientCpu,
        (n) => `${Math.round(100 * n)}%`,
      )}`
    : '';
  console.log(
    `${what}: ${rateName} ${each(
      (t) => t.rate,
      (n) => String(Math.round(n)),
    )}; server CPU per ${unit} ${each(
      (t) => t.cpu,
      (n) => `${n.toFixed(2)} us`,
    )}${clientCpu}; ${names[1]} / ${names[0]}: ${rateName} ${spread(rateRatios)}, CPU per ${unit} ${spread(cpuRatios)}`,
  );
  const all = turns.flat();
  const saturated = all.filter((t) => t.clientCpu >= 0.9).length;
  if (saturated > 0)
    log(
      `warning: the load client used >= 90% of a core in ${saturated} of ${all.length} bursts: there ` +
        `the deliveries/s measure the client, not the server; CPU per delivery is the figure to read`,
    );
} finally {
  await Promise.all(sides.map((s) => s.close()));
}
