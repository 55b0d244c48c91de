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
   * `--perf-basic-prof`, whose /tmp/perf-<pid>.map names the JIT frames of a kept dump).
   */
  static underCallgrind(name: string, file: string, nodeFlags: string[] = [], keep = false): CountedServer {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-instr-'));
    const child = Child.fork<{ op: string } & Record<string, unknown>>(name, file, {
      execPath: 'valgrind',
      execArgv: [
        '--tool=callgrind',
        '--separate-threads=yes',
        '--instr-atstart=no',
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
   * Dumps the counts and returns the main thread's total instructions, with the dump's path.
   * Thread 1 is the event loop; the others compile and collect garbage concurrently.
   */
  mainThreadTotal(): { total: number; file: string } {
    if (this.dir === undefined) throw new Error(`${this.name} does not run under callgrind`);
    execFileSync('callgrind_control', ['-d', this.pid], { stdio: 'ignore' });
    const main = readdirSync(this.dir).find((f) => f.endsWith('-01'));
    if (main === undefined) throw new Error(`${this.name}: callgrind wrote no dump`);
    const file = path.join(this.dir, main);
    const summary = execFileSync('callgrind_annotate', [file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const total = /([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS/.exec(summary)?.[1];
    if (total === undefined) throw new Error(`${this.name}: no PROGRAM TOTALS in the callgrind dump`);
    return { total: Number(total.replace(/,/g, '')), file };
  }

  /** Kills the server; the dump directory is removed unless kept. */
  async stop(): Promise<void> {
    await this.child.kill();
    if (this.dir !== undefined && !this.keep) rmSync(this.dir, { recursive: true, force: true });
  }
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
