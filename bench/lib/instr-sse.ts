// The SSE broadcast mode of bench/instructions.ts (issue #15, target 5): instructions of the
// server's main thread per delivery, through the SSE suite's own load client and publish
// protocol (clients/sse-load.ts, servers/harness.ts's `burst`; the steps in lib/sse-broadcast.ts,
// shared with the suite and bench/ab.ts --suite sse). N clients connect and are
// pinged, a warm-up burst lets the JIT settle, then counting covers exactly one more burst of E
// events from its first publish to the last client's receipt of the last event; every client
// must have received every event of it exactly once and in order, or the run fails. With the
// cache model (`cacheSim`) the same window also counts D1 and LL misses: at thousands of clients
// each object a delivery touches is a miss, and that, more than instructions, bounds a fan-out.
//
// The kernel's side (the writev per socket per event) is not in the count; `strace -c` on the
// same server without valgrind, over the same burst, gives the syscalls per delivery.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LoadRequest } from '../servers/protocol.ts';
import { CountedServer, type PerUnit, perUnit } from './callgrind.ts';
import type { ServerEntry } from './catalog.ts';
import type { Child } from './children.ts';
import { sleep } from './clock.ts';
import { type Broadcast, burst, connectClients } from './sse-broadcast.ts';

export interface SseCountOptions {
  clients: number;
  /** Events of the warm-up burst, not counted. */
  warm: number;
  /** Events of the counted burst. */
  events: number;
  /** Node flags of the counted server (e.g. --perf-basic-prof). */
  nodeFlags: string[];
  /** Keep the callgrind dump (its path is logged). */
  keep: boolean;
  /** callgrind's cache model: D1 and LL misses per delivery too. */
  cacheSim: boolean;
}

export interface SyscallCount {
  /**
   * The user-space share of the server's CPU time over a burst without strace (from
   * /proc/<pid>/stat, every thread): what an instruction ratio, user space only, weighs in the
   * deliveries/s ratio. A time, so it moves with the machine's load, unlike the counts.
   */
  userShare: number;
  /** All syscalls of all the server's threads over the burst, per delivery. */
  total: number;
  /** `writev` + `write`, per delivery. */
  writes: number;
  /** The five most frequent, as "name calls". */
  top: string[];
}

type Log = (line: string) => void;
// Under valgrind everything runs ~50x slower than natively: deadlines are generous.
const SLOW = 120_000;

/** A server with `clients` SSE clients connected, pinged and warmed by one burst. */
async function connectAndWarm(server: CountedServer, o: SseCountOptions): Promise<Broadcast> {
  const hello = await server.listening;
  if (hello.sseUnavailable) throw new Error(`${server.name}: ${hello.sseUnavailable}`);
  const client = await connectClients(server, hello.port, {
    clients: o.clients,
    batch: 50,
    timeoutMs: SLOW,
    pingEveryMs: 200,
  });
  const b: Broadcast = { server, client, clients: o.clients, nextSeq: 1, timeoutMs: SLOW };
  await burst(b, o.warm);
  return b;
}

/**
 * Every callgrind event of the server's main thread (instructions `Ir`; with `cacheSim`, the
 * misses `D1mr`, `DLmr`...) per delivery over one counted burst, and the simulated caches.
 */
export async function countsPerDelivery(entry: ServerEntry, o: SseCountOptions, log: Log): Promise<PerUnit> {
  const server = CountedServer.underCallgrind(entry.name, entry.file, o);
  let client: Child<LoadRequest> | undefined;
  try {
    const b = await connectAndWarm(server, o);
    client = b.client;
    const { delivered } = (
      await burst(
        b,
        o.events,
        () => server.instrument(true),
        () => server.instrument(false),
      )
    ).result;
    const { events, caches, file } = server.mainThreadTotal();
    if (o.keep) log(`${entry.name}: dump kept at ${file} (pid ${server.pid}; /tmp/perf-${server.pid}.map)`);
    return perUnit(events, caches, delivered);
  } finally {
    await client?.kill();
    await server.stop();
  }
}

/** Syscalls of the server (every thread) per delivery over one burst, by `strace -c -f`, without valgrind. */
export async function syscallsPerDelivery(entry: ServerEntry, o: SseCountOptions): Promise<SyscallCount> {
  const server = CountedServer.plain(entry.name, entry.file);
  const out = path.join(tmpdir(), `sluice-strace-${process.pid}-${entry.name}.txt`);
  let client: Child<LoadRequest> | undefined;
  let strace: ReturnType<typeof spawn> | undefined;
  try {
    const b = await connectAndWarm(server, o);
    client = b.client;
    let cpu0 = cpuTicks(server.pid);
    await burst(
      b,
      o.events,
      () => {
        cpu0 = cpuTicks(server.pid);
      },
      () => undefined,
    );
    const cpu1 = cpuTicks(server.pid);
    const user = cpu1.user - cpu0.user;
    const userShare = user / Math.max(1, user + cpu1.system - cpu0.system);
    let exited: Promise<void> = Promise.resolve();
    const { delivered } = (
      await burst(
        b,
        o.events,
        async () => {
          const proc = spawn('strace', ['-c', '-f', '-p', server.pid, '-o', out], {
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          strace = proc;
          exited = new Promise((resolve) => proc.once('exit', () => resolve()));
          // strace says "Process N attached" once per thread; the main thread's comes first.
          await new Promise<void>((resolve, reject) => {
            proc.stderr?.on('data', (c: Buffer) =>
              c.toString().includes('attached') ? resolve() : undefined,
            );
            proc.once('error', reject);
            proc.once('exit', (code) => reject(new Error(`strace exited (${code}) before attaching`)));
          });
          await sleep(300);
        },
        async () => {
          strace?.kill('SIGINT');
          await exited;
        },
      )
    ).result;
    return { userShare, ...parseStrace(readFileSync(out, 'utf8'), delivered) };
  } finally {
    if (strace?.exitCode === null) strace.kill('SIGKILL');
    await client?.kill();
    await server.stop();
    rmSync(out, { force: true });
  }
}

/** User and system CPU time of a process, all its threads, in clock ticks (`utime`, `stime` of /proc/<pid>/stat). */
function cpuTicks(pid: string): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]), system: Number(fields[12]) };
}

/** The `calls` column of `strace -c`'s table, per delivery. */
function parseStrace(text: string, delivered: number): Omit<SyscallCount, 'userShare'> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    // % time, seconds, usecs/call, calls, [errors,] syscall
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m !== null && m[2] !== 'total') calls.set(m[2]!, Number(m[1]));
  }
  if (calls.size === 0) throw new Error(`no syscall table in strace's output:\n${text}`);
  let total = 0;
  for (const n of calls.values()) total += n;
  const top = [...calls].sort((a, b) => b[1] - a[1]).slice(0, 5);
  return {
    total: total / delivered,
    writes: ((calls.get('writev') ?? 0) + (calls.get('write') ?? 0)) / delivered,
    top: top.map(([name, n]) => `${name} ${n}`),
  };
}
