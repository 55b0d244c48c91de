// Two servers, one question: which spends less CPU per request? Both stay up (warm JITs) and take
// turns under load, `--seconds` each, `--pairs` times, in alternating order (AB, BA, AB, ...), so the
// drift of a shared, busy machine falls on both alike; each pair gives one ratio B / A of server
// CPU per request and of req/s, and the medians of those ratios are printed. Finer-grained than
// `npm run bench`, whose repetitions start fresh servers seconds apart.
//
//   npx tsx bench/ab.ts --a fastify --b sluice [--suite http|route] [--pairs 20] [--seconds 1]
//     [--connections 100]
// `--a`/`--b` are server names of bench/lib/catalog.ts (opt-in ones too).
import { SERVERS } from './lib/catalog.ts';
import { Child, killChildrenOnExit, listeningOrReason } from './lib/children.ts';
import { ensureDist, needsDist } from './lib/dist.ts';
import { median } from './lib/stats.ts';
import type { CpuSample } from './servers/protocol.ts';
import { findWrk, loadOnce, TARGET_PATHS } from './suites/http.ts';

killChildrenOnExit();
const args = new Map<string, string>();
for (let i = 2; i + 1 < process.argv.length; i += 2) {
  args.set(String(process.argv[i]).replace(/^--/, ''), String(process.argv[i + 1]));
}
const bounded = (name: string, def: number, min: number, max: number): number => {
  const n = Number(args.get(name) ?? def);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`--${name} must be between ${min} and ${max}`);
  return n;
};
const suite = args.get('suite') ?? 'http';
if (suite !== 'http' && suite !== 'route') throw new Error('--suite must be http or route');
const pairs = bounded('pairs', 20, 1, 200);
const seconds = bounded('seconds', 1, 1, 60);
const connections = bounded('connections', 100, 1, 1000);
const names = [args.get('a') ?? 'fastify', args.get('b') ?? 'sluice'];
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const loadgen = process.env.BENCH_LOADGEN !== 'autocannon' && findWrk(false, log) ? 'wrk' : 'autocannon';

const entries = names.map((name) => {
  const entry = SERVERS.find((s) => s.name === name);
  if (entry === undefined) throw new Error(`no server '${name}' in bench/lib/catalog.ts`);
  return entry;
});
if (needsDist(entries)) ensureDist(log);

const servers = await Promise.all(
  entries.map(async (entry) => {
    const name = entry.name;
    const child = Child.spawn(name, entry.file);
    const started = await listeningOrReason(child);
    if ('reason' in started) throw new Error(`${name} did not start: ${started.reason}`);
    return { name, child, url: `http://127.0.0.1:${started.hello.port}${TARGET_PATHS[suite]}` };
  }),
);

/** Server CPU µs per request and req/s of one turn under load. */
async function turn(s: (typeof servers)[number]): Promise<{ cpu: number; rps: number }> {
  const c0 = await s.child.call<CpuSample>({ op: 'cpu' }, 5000);
  const r = await loadOnce(loadgen, connections, seconds, s.url, suite === 'route');
  const c1 = await s.child.call<CpuSample>({ op: 'cpu' }, 5000);
  if (r.errors + r.timeouts + r.non2xx > 0) throw new Error(`${s.name}: errors or non-2xx answers`);
  return { cpu: (c1.cpuUs - c0.cpuUs) / r.requests.total, rps: r.requests.total / r.duration };
}

try {
  // Warm-up: each server's JIT settles before anything counts.
  for (const s of servers) await loadOnce(loadgen, connections, 1, s.url, suite === 'route');
  const cpuRatios: number[] = [];
  const rpsRatios: number[] = [];
  const cpu: number[][] = [[], []];
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? [0, 1] : [1, 0];
    const got: { cpu: number; rps: number }[] = [];
    for (const k of order) got[k] = await turn(servers[k]!);
    cpu[0]!.push(got[0]!.cpu);
    cpu[1]!.push(got[1]!.cpu);
    cpuRatios.push(got[1]!.cpu / got[0]!.cpu);
    rpsRatios.push(got[1]!.rps / got[0]!.rps);
    log(`pair ${i + 1}/${pairs}: CPU ${names[1]} / ${names[0]} ${cpuRatios.at(-1)!.toFixed(3)}`);
  }
  const f = (n: number): string => n.toFixed(3);
  console.log(
    `${suite}, ${loadgen}, ${connections} connections, ${pairs} pairs of ${seconds} s: ` +
      `server CPU per request ${names[0]} ${median(cpu[0]!).toFixed(2)} us, ${names[1]} ${median(cpu[1]!).toFixed(2)} us; ` +
      `${names[1]} / ${names[0]}: CPU ${f(median(cpuRatios))} (quartiles ${f(quantile(cpuRatios, 0.25))}-${f(quantile(cpuRatios, 0.75))}), ` +
      `req/s ${f(median(rpsRatios))}`,
  );
} finally {
  await Promise.all(servers.map((s) => s.child.kill()));
}

function quantile(values: readonly number[], q: number): number {
  const xs = [...values].sort((a, b) => a - b);
  return xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? Number.NaN;
}
