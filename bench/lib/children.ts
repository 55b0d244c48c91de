// Runner side of the IPC link: spawning the server and client processes,
// request/response with deadlines, and making sure none of them outlives the
// runner, whatever way it ends.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Failure, Listening, Reply } from '../servers/protocol.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const live = new Set<ChildProcess>();
const TAIL = 4096;

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** A child process answering requests of type `Req` (see servers/protocol.ts). */
export class Child<Req extends { op: string } = { op: string }> {
  readonly exited: Promise<number | null>;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters: Array<(msg: Record<string, unknown>) => void> = [];
  private nextId = 1;
  private output = '';
  private exitCode: number | null | undefined;

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
  ) {
    live.add(proc);
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-TAIL);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    proc.on('message', (raw) => this.onMessage(raw as Record<string, unknown>));
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        live.delete(proc);
        this.exitCode = code ?? (signal ? -1 : null);
        const err = new Error(
          `${this.name} exited (${signal ?? code})${this.reason() ? `: ${this.reason()}` : ''}`,
        );
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(err);
        }
        this.pending.clear();
        resolve(code);
      });
    });
  }

  /** Runs `file` (TypeScript, through tsx) with an IPC channel and --expose-gc. */
  static spawn<Req extends { op: string }>(name: string, file: string): Child<Req> {
    // BENCH_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") reaches
    // every server and client process; NODE_OPTIONS refuses such flags.
    const flags = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
    return Child.fork<Req>(name, file, { execArgv: ['--expose-gc', '--import', 'tsx', ...flags] });
  }

  /**
   * Runs `file` with an IPC channel as `options` say: `execArgv` in full (tsx included), and
   * `execPath` when node runs under another program (valgrind: bench/lib/callgrind.ts).
   */
  static fork<Req extends { op: string }>(
    name: string,
    file: string,
    options: { execArgv: string[]; execPath?: string },
  ): Child<Req> {
    const proc = fork(file, [], { cwd: REPO_ROOT, ...options, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    return new Child<Req>(name, proc);
  }

  /** The process id, as callgrind_control, strace and /proc name it. */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The last non-empty line the process printed, as the reason it failed. */
  reason(): string {
    const lines = this.output
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('at ') && !l.startsWith('Node.js v'));
    const marked = lines.find((l) => l.startsWith('cannot start:'));
    return (marked ?? lines.at(-1) ?? '').slice(0, 300);
  }

  /** Waits for an unsolicited message (such as `listening`) with the given op. */
  waitFor<T>(op: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name}: no '${op}' within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push((msg) => {
        if (msg.op !== op) return;
        clearTimeout(timer);
        resolve(msg as T);
      });
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited before '${op}'${this.reason() ? `: ${this.reason()}` : ''}`));
      });
    });
  }

  call<T>(msg: Req, timeoutMs: number): Promise<T> {
    if (!this.running) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: '${msg.op}' got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.send({ ...msg, id });
    });
  }

  /** Disconnecting lets the child exit by itself (and write a --cpu-prof); SIGKILL if it has not within a second. */
  async kill(): Promise<number | null> {
    if (!this.running) return this.exited;
    if (this.proc.connected) this.proc.disconnect();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 1000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  private onMessage(msg: Record<string, unknown>): void {
    if (typeof msg.id === 'number') {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      const reply = msg as Reply<object> | Failure;
      if (reply.ok) p.resolve(reply);
      else p.reject(new Error(`${this.name}: ${reply.error}`));
      return;
    }
    for (const w of this.waiters) w(msg);
  }
}

/** Kills every child still running, by handle, when the runner exits or is interrupted. */
export function killChildrenOnExit(): void {
  const killAll = (): void => {
    for (const proc of live) proc.kill('SIGKILL');
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    killAll();
    console.error(err);
    process.exit(1);
  });
}

/**
 * Waits for a bench server to report its port. A server that exits or stays
 * silent is not an error of the run: it is skipped, with the reason it gave.
 */
export async function listeningOrReason(
  server: Child<{ op: string }>,
): Promise<{ hello: Listening } | { reason: string }> {
  try {
    return { hello: await server.waitFor<Listening>('listening', 30_000) };
  } catch (err) {
    return { reason: server.reason() || String(err) };
  }
}
