// CPU per request as the instructions a server's main thread executes, counted by callgrind
// (valgrind): unlike CPU time, the count does not move with the other load of a shared machine,
// so two servers compare to a fraction of a percent (issue #15, target 3). User space only: the
// kernel's share (loopback TCP, the same syscalls for every server here) is not in it.
//
//   npx tsx bench/instructions.ts [--servers fastify,sluice] [--suite http|route] [--warm 20000]
//     [--requests 3000] [--connections 10] [--reps 2]
// Needs valgrind (Debian's package). Each server runs under callgrind with counting off while a
// keep-alive client warms it up (the JIT settles: counting a window in which V8 still compiles or
// deoptimizes measures the compiler), then counts exactly `--requests` requests on the same
// connections: new connections would take Node's first-request paths and deoptimize them again.
// Servers are bench/lib/catalog.ts names; ratios are against the first one, per repetition.
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SERVERS } from './lib/catalog.ts';
import { REPO_ROOT } from './lib/children.ts';
import { ensureDist, needsDist } from './lib/dist.ts';
import { median } from './lib/stats.ts';
import { ROUTE_AUTH, ROUTE_BODY } from './servers/route-spec.ts';

const args = new Map<string, string>();
for (let i = 2; i + 1 < process.argv.length; i += 2) {
  args.set(String(process.argv[i]).replace(/^--/, ''), String(process.argv[i + 1]));
}
const count = (name: string, def: number): number => {
  const n = Number(args.get(name) ?? def);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const suite = args.get('suite') ?? 'http';
if (suite !== 'http' && suite !== 'route') throw new Error('--suite must be http or route');
const warm = count('warm', 20_000);
const requests = count('requests', 3000);
const connections = count('connections', 10);
const reps = count('reps', 2);
const entries = (args.get('servers') ?? 'fastify,sluice').split(',').map((name) => {
  const entry = SERVERS.find((s) => s.name === name);
  if (entry === undefined) throw new Error(`no server '${name}' in bench/lib/catalog.ts`);
  if (!(suite === 'http' ? entry.http : entry.route)) throw new Error(`${name} has no ${suite} route`);
  return entry;
});
const log = (line: string): void => void process.stderr.write(`${line}\n`);
try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
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

/** Instructions per request of one server's main thread. */
async function measure(name: string, file: string): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-instr-'));
  const child = fork(file, [], {
    cwd: REPO_ROOT,
    execPath: 'valgrind',
    execArgv: [
      '--tool=callgrind',
      '--separate-threads=yes',
      '--instr-atstart=no',
      `--callgrind-out-file=${path.join(dir, 'cg.out')}`,
      process.execPath,
      '--import',
      'tsx',
    ],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.on('message', (m) => {
        const msg = m as { op?: string; port?: number };
        if (msg.op === 'listening') resolve(msg.port as number);
      });
      child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening`)));
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
    await load(agent, port, warm);
    const pid = String(child.pid);
    execFileSync('callgrind_control', ['-i', 'on', pid], { stdio: 'ignore' });
    await load(agent, port, requests);
    execFileSync('callgrind_control', ['-i', 'off', pid], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' });
    agent.destroy();
    // Thread 1 is the event loop; the others compile and collect garbage concurrently.
    const main = readdirSync(dir).find((f) => f.endsWith('-01'));
    if (main === undefined) throw new Error(`${name}: callgrind wrote no dump`);
    const summary = execFileSync('callgrind_annotate', [path.join(dir, main)], { encoding: 'utf8' });
    const total = /([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS/.exec(summary)?.[1];
    if (total === undefined) throw new Error(`${name}: no PROGRAM TOTALS in the callgrind dump`);
    return Number(total.replace(/,/g, '')) / requests;
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const perServer = new Map<string, number[]>(entries.map((e) => [e.name, []]));
const ratios = new Map<string, number[]>(entries.map((e) => [e.name, []]));
for (let rep = 0; rep < reps; rep++) {
  // Alternating order, as everywhere in bench/.
  const order = rep % 2 === 0 ? entries : [...entries].reverse();
  const got = new Map<string, number>();
  for (const e of order) {
    const n = await measure(e.name, e.file);
    got.set(e.name, n);
    perServer.get(e.name)?.push(n);
    log(`rep ${rep + 1}/${reps} ${e.name}: ${Math.round(n)} instructions per request`);
  }
  const base = got.get(entries[0]!.name)!;
  for (const e of entries) ratios.get(e.name)?.push(got.get(e.name)! / base);
}
console.log(
  `\n${suite}, ${requests} requests after ${warm} warm-up ones, ${connections} keep-alive connections, ${reps} reps (main thread, user space; callgrind)`,
);
console.log(`| server | instructions per request (median) | vs ${entries[0]!.name} |`);
console.log('|---|---:|---:|');
for (const e of entries) {
  const n = median(perServer.get(e.name)!);
  const r = median(ratios.get(e.name)!);
  console.log(`| ${e.label} | ${Math.round(n).toLocaleString('en-US')} | ${r.toFixed(3)}x |`);
}
