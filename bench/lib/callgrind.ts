// A bench server under valgrind's callgrind, for bench/instructions.ts: started with counting
// off, switched on and off around the window to count, and the main thread's total read back.
// Also the same server without valgrind (for strace), and the request/answer link of
// servers/protocol.ts over either process.
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Listening } from '../servers/protocol.ts';
import { REPO_ROOT } from './children.ts';

/** A bench server process, counted by callgrind or not, and the requests of servers/protocol.ts. */
export class CountedServer {
  readonly listening: Promise<Listening>;
  private readonly pending = new Map<number, (msg: Record<string, unknown>) => void>();
  private nextId = 1;
  private exitReason = '';

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    /** Where callgrind writes its dumps; undefined when the server runs without valgrind. */
    readonly dir: string | undefined,
    private readonly keep: boolean,
  ) {
    let stderr = '';
    proc.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-2000);
    });
    this.listening = new Promise((resolve, reject) => {
      proc.on('message', (raw) => {
        const msg = raw as Record<string, unknown>;
        if (msg.op === 'listening') resolve(msg as unknown as Listening);
        if (typeof msg.id === 'number') this.pending.get(msg.id)?.(msg);
      });
      proc.once('exit', (code) => {
        this.exitReason = `${name} exited (${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`;
        reject(new Error(this.exitReason));
        for (const answer of this.pending.values()) answer({ ok: false, error: this.exitReason });
      });
    });
  }

  /**
   * Runs `file` under callgrind with counting off. `nodeFlags` go to node (e.g.
   * `--perf-basic-prof`, whose /tmp/perf-<pid>.map names the JIT frames of a kept dump).
   */
  static underCallgrind(name: string, file: string, nodeFlags: string[] = [], keep = false): CountedServer {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-instr-'));
    const proc = fork(file, [], {
      cwd: REPO_ROOT,
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
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    return new CountedServer(name, proc, dir, keep);
  }

  /** The same server as plain node (no valgrind), e.g. to count its syscalls with strace. */
  static plain(name: string, file: string): CountedServer {
    const proc = fork(file, [], {
      cwd: REPO_ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    return new CountedServer(name, proc, undefined, false);
  }

  get pid(): string {
    return String(this.proc.pid);
  }

  /** One request of servers/protocol.ts; rejects on a failure answer, the exit of the server or the deadline. */
  call<T>(msg: { op: string } & Record<string, unknown>, timeoutMs: number): Promise<T> {
    if (this.exitReason !== '') return Promise.reject(new Error(this.exitReason));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: '${msg.op}' got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (answer) => {
        clearTimeout(timer);
        this.pending.delete(id);
        if (answer.ok === true) resolve(answer as T);
        else reject(new Error(`${this.name}: ${String(answer.error)}`));
      });
      this.proc.send({ ...msg, id });
    });
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
  stop(): void {
    this.proc.kill();
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
