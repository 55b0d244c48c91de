// A bench server under valgrind's callgrind, for bench/instructions.ts: started with counting
// off, switched on and off around the window to count, and the main thread's total read back.
// Also the same server without valgrind (for strace), and the request/answer link of
// servers/protocol.ts over either process.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Listening } from '../servers/protocol.ts';
import { Child } from './children.ts';

/** A bench server process, counted by callgrind or not, and the requests of servers/protocol.ts. */
export class CountedServer {
  readonly listening: Promise<Listening>;

  private constructor(
    readonly child: Child<{ op: string } & Record<string, unknown>>,
    /** Where callgrind writes its dumps; undefined when the server runs without valgrind. */
    readonly dir: string | undefined,
    private readonly keep: boolean,
  ) {
    // Under valgrind a server starts ~50x slower than under plain node.
    this.listening = child.waitFor<Listening>('listening', 300_000);
  }

  get name(): string {
    return this.child.name;
  }

  /**
   * Runs `file` under callgrind with counting off. `nodeFlags` go to node (e.g.
   * `--perf-basic-prof`, whose /tmp/perf-<pid>.map names the JIT frames of a kept dump);
   * `cacheSim` adds callgrind's cache model (D1 and LL misses besides instructions), which
   * slows the counted window about twofold but not the uncounted warm-up.
   */
  static underCallgrind(name: string, file: string, o: CallgrindOptions = {}): CountedServer {
    const { nodeFlags = [], keep = false, cacheSim = false } = o;
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-instr-'));
    const child = Child.fork<{ op: string } & Record<string, unknown>>(name, file, {
      execPath: 'valgrind',
      execArgv: [
        '--tool=callgrind',
        '--separate-threads=yes',
        '--instr-atstart=no',
        ...(cacheSim ? ['--cache-sim=yes'] : []),
        `--callgrind-out-file=${path.join(dir, 'cg.out')}`,
        process.execPath,
        ...nodeFlags,
        // --perf-basic-prof also starts V8's log: kept with the dump, not in the repository.
        ...(nodeFlags.length > 0
          ? ['--no-logfile-per-isolate', `--logfile=${path.join(dir, 'v8.log')}`]
          : []),
        '--import',
        'tsx',
      ],
    });
    return new CountedServer(child, dir, keep);
  }

  /** The same server as plain node (no valgrind), e.g. to count its syscalls with strace. */
  static plain(name: string, file: string): CountedServer {
    return new CountedServer(Child.fork(name, file, { execArgv: ['--import', 'tsx'] }), undefined, false);
  }

  get pid(): string {
    return String(this.child.pid);
  }

  /** One request of servers/protocol.ts; rejects on a failure answer, the exit of the server or the deadline. */
  call<T>(msg: { op: string } & Record<string, unknown>, timeoutMs: number): Promise<T> {
    return this.child.call<T>(msg, timeoutMs);
  }

  /** Switches counting on (`true`) or off. */
  instrument(on: boolean): void {
    execFileSync('callgrind_control', ['-i', on ? 'on' : 'off', this.pid], { stdio: 'ignore' });
  }

  /**
   * Dumps the counts and returns the main thread's totals, with the dump's path.
   * Thread 1 is the event loop; the others compile and collect garbage concurrently.
   */
  mainThreadTotal(): MainThreadCounts {
    if (this.dir === undefined) throw new Error(`${this.name} does not run under callgrind`);
    execFileSync('callgrind_control', ['-d', this.pid], { stdio: 'ignore' });
    const main = readdirSync(this.dir).find((f) => f.endsWith('-01'));
    if (main === undefined) throw new Error(`${this.name}: callgrind wrote no dump`);
    const file = path.join(this.dir, main);
    const summary = execFileSync('callgrind_annotate', [file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const events = programTotals(summary, this.name);
    const total = events.Ir;
    if (total === undefined) throw new Error(`${this.name}: no Ir (instructions) in the callgrind dump`);
    // callgrind takes the geometry from the host's CPU: the miss counts mean little without it.
    const caches = ['D1', 'LL']
      .flatMap((c) => {
        const d = new RegExp(`^${c} cache: *(.*)$`, 'm').exec(summary)?.[1]?.trim();
        return d ? [`${c} ${d}`] : [];
      })
      .join('; ');
    return { total, events, caches, file };
  }

  /** Kills the server; the dump directory is removed unless kept. */
  async stop(): Promise<void> {
    await this.child.kill();
    if (this.dir !== undefined && !this.keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** How {@link CountedServer.underCallgrind} runs callgrind. */
export interface CallgrindOptions {
  /** Flags for node itself, e.g. `--perf-basic-prof`. */
  nodeFlags?: string[];
  /** Keep the dump directory after `stop()`, for callgrind_annotate. */
  keep?: boolean;
  /** `--cache-sim=yes`: count D1 and LL misses too. */
  cacheSim?: boolean;
}

/** The main thread's counts of one dump. */
export interface MainThreadCounts {
  /** Instructions (the `Ir` event). */
  total: number;
  /**
   * Every event callgrind recorded, by its name: `Ir` alone, or with the cache model
   * `Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw` (reads, writes, L1 and last-level misses).
   */
  events: Record<string, number>;
  /** The simulated D1 and LL geometry ("D1 49152 B, 64 B, 12-way associative; LL ..."), or ''. */
  caches: string;
  file: string;
}

/**
 * The PROGRAM TOTALS of callgrind_annotate's output, by event name. The column header above the
 * line names the events; each count is followed by its share, "(100.0%)", unless it is zero
 * ("0", no share) or absent ("."), so columns are matched to names by order, never by position.
 */
export function programTotals(annotated: string, name: string): Record<string, number> {
  const lines = annotated.split('\n');
  const at = lines.findIndex((l) => /\sPROGRAM TOTALS\s*$/.test(l));
  if (at < 0) throw new Error(`${name}: no PROGRAM TOTALS in the callgrind dump`);
  let h = at - 1;
  while (h >= 0 && /^-*$/.test(lines[h]!.trim())) h--;
  const names = (lines[h] ?? '').trim().split(/\s+/);
  const counts = lines[at]!.replace(/PROGRAM TOTALS\s*$/, '')
    .replace(/\([^)]*%\)/g, ' ')
    .trim()
    .split(/\s+/);
  if (!names.every((n) => /^[A-Za-z]\w*$/.test(n)) || names.length !== counts.length)
    throw new Error(
      `${name}: callgrind_annotate's totals do not match its header (${names.join(' ')} / ${counts.join(' ')})`,
    );
  const totals: Record<string, number> = {};
  for (let i = 0; i < names.length; i++) {
    const n = counts[i] === '.' ? 0 : Number(counts[i]!.replace(/,/g, ''));
    if (!Number.isFinite(n)) throw new Error(`${name}: '${counts[i]}' is not a count of ${names[i]}`);
    totals[names[i]!] = n;
  }
  return totals;
}

/** Every event of a counted window divided by the requests or deliveries in it. */
export interface PerUnit {
  /** By callgrind's event name, as in {@link MainThreadCounts.events}. */
  events: Record<string, number>;
  caches: string;
}

/** `events` divided by `units`. */
export function perUnit(events: Record<string, number>, caches: string, units: number): PerUnit {
  const per: Record<string, number> = {};
  for (const [name, n] of Object.entries(events)) per[name] = n / units;
  return { events: per, caches };
}

/** Whether valgrind can be run here. */
export function hasValgrind(): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
