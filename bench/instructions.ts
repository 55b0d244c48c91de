// CPU per request as the instructions a server's main thread executes, counted by callgrind
// (valgrind): unlike CPU time, the count does not move with the other load of a shared machine,
// so two servers compare to a fraction of a percent (issue #15, target 3). User space only: the
// kernel's share (loopback TCP, the same syscalls for every server here) is not in it.
//
//   npx tsx bench/instructions.ts [--servers fastify,sluice] [--suite http|route] [--warm 20000]
//     [--requests 3000] [--connections 10] [--reps 2] [--keep 1] [--node-flags --perf-basic-prof]
//   npx tsx bench/instructions.ts --suite sse [--servers raw-socket,sluice,sluice-send,better-sse]
//     [--clients 200] [--warm 1000] [--events 300] [--reps 2] [--strace 1]
//   either with [--cache-sim 1]: callgrind's cache model too, D1 and LL read misses per request
//     or delivery (~2x slower counting)
// Needs valgrind (Debian's package). Each server runs under callgrind with counting off while a
// keep-alive client warms it up (the JIT settles: counting a window in which V8 still compiles or
// deoptimizes measures the compiler), then counts exactly `--requests` requests on the same
// connections: new connections would take Node's first-request paths and deoptimize them again.
// `--suite sse` counts instructions per delivery of a broadcast instead (issue #15, target 5; see
// lib/instr-sse.ts), and with `--strace 1` the syscalls per delivery of the same burst.
// Servers are bench/lib/catalog.ts names; ratios are against the first one, per repetition.
// `--cache-sim 1` adds what a fan-out is decided by at thousands of clients: each object a
// delivery touches is a cache miss (the kernel's work between writes evicts it), which no
// instruction count shows. The cache geometry is callgrind's reading of this host's CPU, printed
// with the table: compare misses only within one run.
// `--keep 1` keeps the dumps for callgrind_annotate; `--node-flags --perf-basic-prof` (flags
// separated by commas) makes node write /tmp/perf-<pid>.map, which names the JIT frames.
import http from 'node:http';
import { CountedServer, hasValgrind, type PerUnit, perUnit } from './lib/callgrind.ts';
import { SERVERS, type ServerEntry } from './lib/catalog.ts';
import { ensureDist, needsDist } from './lib/dist.ts';
import { countsPerDelivery, type SyscallCount, syscallsPerDelivery } from './lib/instr-sse.ts';
import { median } from './lib/stats.ts';
import { ROUTE_AUTH, ROUTE_BODY } from './servers/route-spec.ts';

// A flag dropped silently (a typo, or `--cache-sim` without its value at the end) would print
// a table that looks right but measured something else.
const FLAGS = [
  'servers',
  'suite',
  'warm',
  'requests',
  'connections',
  'clients',
  'events',
  'reps',
  'keep',
  'strace',
  'cache-sim',
  'node-flags',
];
if ((process.argv.length - 2) % 2 !== 0) throw new Error('every flag needs a value (e.g. --cache-sim 1)');
const args = new Map<string, string>();
for (let i = 2; i + 1 < process.argv.length; i += 2) {
  const name = String(process.argv[i]).replace(/^--/, '');
  if (!FLAGS.includes(name))
    throw new Error(`unknown flag ${process.argv[i]}: the flags are --${FLAGS.join(', --')}`);
  args.set(name, String(process.argv[i + 1]));
}
const count = (name: string, def: number): number => {
  const n = Number(args.get(name) ?? def);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const suite = args.get('suite') ?? 'http';
if (suite !== 'http' && suite !== 'route' && suite !== 'sse')
  throw new Error('--suite must be http, route or sse');
const sse = suite === 'sse';
const warm = count('warm', sse ? 1000 : 20_000);
const requests = count('requests', 3000);
const connections = count('connections', 10);
const clients = count('clients', 200);
const events = count('events', 300);
// `--reps 0 --strace 1`: the syscalls and the CPU split alone, without valgrind.
const reps = args.get('reps') === '0' ? 0 : count('reps', 2);
const keep = args.get('keep') === '1';
const strace = args.get('strace') === '1';
const cacheSimArg = args.get('cache-sim') ?? '0';
if (cacheSimArg !== '0' && cacheSimArg !== '1')
  throw new Error(`--cache-sim must be 0 or 1 (1: callgrind's cache model), not '${cacheSimArg}'`);
const cacheSim = cacheSimArg === '1';
const nodeFlags = (args.get('node-flags') ?? '').split(',').filter(Boolean);
const entries = (args.get('servers') ?? (sse ? 'raw-socket,sluice,sluice-send,better-sse' : 'fastify,sluice'))
  .split(',')
  .map((name) => {
    const entry = SERVERS.find((s) => s.name === name);
    if (entry === undefined) throw new Error(`no server '${name}' in bench/lib/catalog.ts`);
    if (!entry[suite]) throw new Error(`${name} has no ${suite} route`);
    return entry;
  });
const log = (line: string): void => void process.stderr.write(`${line}\n`);
if (!hasValgrind()) {
  log('valgrind is not installed (apt-get install valgrind)');
  process.exit(2);
}
if (needsDist(entries)) ensureDist(log);

/** Sends `n` requests over the agent's connections, `connections` at a time. */
function load(agent: http.Agent, port: number, n: number): Promise<void> {
  let sent = 0;
  let done = 0;
  return new Promise((resolve, reject) => {
    const one = (): void => {
      if (sent >= n) return;
      const k = sent++;
      const req = http.request(
        suite === 'route'
          ? {
              port,
              agent,
              host: '127.0.0.1',
              method: 'POST',
              path: `/api/users/${k % 1000}`,
              headers: { 'content-type': 'application/json', authorization: ROUTE_AUTH },
            }
          : { port, agent, host: '127.0.0.1', path: '/hello' },
        (res) => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          res.resume();
          res.on('end', () => (++done === n ? resolve() : one()));
        },
      );
      req.on('error', reject);
      req.end(suite === 'route' ? ROUTE_BODY : undefined);
    };
    for (let i = 0; i < connections; i++) one();
  });
}

/** Every callgrind event per request of one server's main thread. */
async function measure(entry: ServerEntry): Promise<PerUnit> {
  const server = CountedServer.underCallgrind(entry.name, entry.file, { nodeFlags, keep, cacheSim });
  try {
    const { port } = await server.listening;
    const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
    await load(agent, port, warm);
    server.instrument(true);
    await load(agent, port, requests);
    server.instrument(false);
    agent.destroy();
    const { events, caches, file } = server.mainThreadTotal();
    if (keep) log(`${entry.name}: dump kept at ${file} (pid ${server.pid})`);
    return perUnit(events, caches, requests);
  } finally {
    await server.stop();
  }
}

const unit = sse ? 'delivery' : 'request';
// The events of the table: instructions, and with the cache model D1 and LL read misses.
const columns = cacheSim ? ['Ir', 'D1mr', 'DLmr'] : ['Ir'];
const perServer = new Map<string, Map<string, number[]>>(
  entries.map((e) => [e.name, new Map(columns.map((c) => [c, []]))]),
);
const ratios = new Map<string, Map<string, number[]>>(
  entries.map((e) => [e.name, new Map(columns.map((c) => [c, []]))]),
);
let caches = '';
const sseOptions = { clients, warm, events, nodeFlags, keep, cacheSim };
/** An event's count per request or delivery: instructions whole, misses (tens) to two decimals. */
const fmt = (event: string, n: number): string =>
  event === 'Ir'
    ? Math.round(n).toLocaleString('en-US')
    : n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
for (let rep = 0; rep < reps; rep++) {
  // Alternating order, as everywhere in bench/.
  const order = rep % 2 === 0 ? entries : [...entries].reverse();
  const got = new Map<string, Record<string, number>>();
  for (const e of order) {
    const n = sse ? await countsPerDelivery(e, sseOptions, log) : await measure(e);
    caches = n.caches;
    for (const c of columns) {
      if (n.events[c] === undefined) throw new Error(`${e.name}: callgrind counted no ${c}`);
      perServer.get(e.name)?.get(c)?.push(n.events[c]);
    }
    got.set(e.name, n.events);
    const misses = cacheSim
      ? `, ${fmt('D1mr', n.events.D1mr!)} D1 and ${fmt('DLmr', n.events.DLmr!)} LL read misses`
      : '';
    log(`rep ${rep + 1}/${reps} ${e.name}: ${Math.round(n.events.Ir!)} instructions${misses} per ${unit}`);
  }
  const base = got.get(entries[0]!.name)!;
  for (const e of entries) {
    const mine = got.get(e.name)!;
    const theirs = ratios.get(e.name)!;
    for (const c of columns) theirs.get(c)?.push(mine[c]! / base[c]!);
  }
}
const syscalls = new Map<string, SyscallCount>();
if (sse && strace) {
  for (const e of entries) {
    const s = await syscallsPerDelivery(e, sseOptions);
    syscalls.set(e.name, s);
    log(
      `strace ${e.name}: ${s.total.toFixed(3)} syscalls per delivery (${s.top.join(', ')}); ` +
        `user space ${Math.round(100 * s.userShare)}% of the server's CPU time without strace`,
    );
  }
}
console.log(
  sse
    ? `\nsse broadcast, ${clients} clients, ${events} events counted after ${warm} warm-up ones, ${reps} reps (main thread, user space; callgrind)`
    : `\n${suite}, ${requests} requests after ${warm} warm-up ones, ${connections} keep-alive connections, ${reps} reps (main thread, user space; callgrind)`,
);
const sysHead =
  syscalls.size > 0
    ? ' syscalls per delivery (all threads; strace -c) | of them write/writev | user share of CPU time |'
    : '';
const first = entries[0]!.name;
/** The median of a server's counts of `event` per unit, or of their ratios to the first server's. */
const cell = (name: string, event: string, ratio: boolean): string => {
  const values = (ratio ? ratios : perServer).get(name)?.get(event) ?? [];
  if (values.length === 0) return '-';
  return ratio ? `${median(values).toFixed(3)}x` : fmt(event, median(values));
};
const missHead = cacheSim
  ? ` D1 read misses per ${unit} (median) | vs ${first} | LL read misses per ${unit} (median) |`
  : '';
if (cacheSim && caches !== '') console.log(`cache model (callgrind, from this host's CPU): ${caches}`);
console.log(`| server | instructions per ${unit} (median) | vs ${first} |${missHead}${sysHead}`);
console.log(
  `|---|---:|---:|${cacheSim ? '---:|---:|---:|' : ''}${syscalls.size > 0 ? '---:|---:|---:|' : ''}`,
);
for (const e of entries) {
  const n = cell(e.name, 'Ir', false);
  const r = cell(e.name, 'Ir', true);
  const misses = cacheSim
    ? ` ${cell(e.name, 'D1mr', false)} | ${cell(e.name, 'D1mr', true)} | ${cell(e.name, 'DLmr', false)} |`
    : '';
  const s = syscalls.get(e.name);
  const sys =
    s === undefined
      ? ''
      : ` ${s.total.toFixed(3)} | ${s.writes.toFixed(3)} | ${Math.round(100 * s.userShare)}% |`;
  console.log(`| ${e.label} | ${n} | ${r} |${misses}${sys}`);
}
