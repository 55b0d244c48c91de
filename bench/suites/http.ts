// Suite 2, hello-JSON: autocannon (the npm devDependency, so it works on a
// fresh CI machine) against each server in turn, a fresh server per run.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Options } from '../lib/args.ts';
import { pick, type ServerEntry } from '../lib/catalog.ts';
import { Child, listeningOrReason, REPO_ROOT } from '../lib/children.ts';
import type { CpuSample } from '../servers/protocol.ts';

export interface HttpRun {
  server: string;
  rep: number;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  reqPerSec?: number;
  /** autocannon reports latency in whole milliseconds. */
  p50Ms?: number;
  p99Ms?: number;
  errors?: number;
  /**
   * Server CPU time (user + system) per completed request. Unlike req/s it
   * does not depend on how much of the shared 2 cores autocannon took.
   */
  cpuUsPerReq?: number;
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number };
  latency: { p50: number; p99: number };
}

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

export async function runHttp(o: Options, log: (line: string) => void): Promise<HttpRun[]> {
  const runs: HttpRun[] = [];
  const skip = new Map<string, string>();
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const entry of pick('http', o.servers)) {
      const skipped = skip.get(entry.name);
      const run: HttpRun = skipped
        ? { server: entry.name, rep, status: 'skipped', reason: skipped }
        : await runOnce(entry, rep, o);
      if (run.status === 'skipped') skip.set(entry.name, run.reason ?? '');
      if (!skipped) {
        const what =
          run.status === 'ok' ? `${Math.round(run.reqPerSec!)} req/s, errors ${run.errors}` : run.reason;
        log(
          `[http ${rep}/${o.reps}] ${entry.name}: ${run.status === 'ok' ? what : `${run.status}: ${what}`}`,
        );
      }
      runs.push(run);
    }
  }
  return runs;
}

async function runOnce(entry: ServerEntry, rep: number, o: Options): Promise<HttpRun> {
  const base = { server: entry.name, rep };
  const server = Child.spawn(entry.name, entry.file);
  try {
    const started = await listeningOrReason(server);
    if ('reason' in started) return { ...base, status: 'skipped', reason: started.reason };
    const hello = started.hello;
    const seconds = Math.max(1, Math.round(o.seconds));
    const url = `http://127.0.0.1:${hello.port}/hello`;
    // One second of warm-up at the same concurrency, so the JIT has settled; a run of its own,
    // so the CPU samples around the measured run do not count it.
    await autocannon(['-j', '-c', String(o.httpConnections), '-d', '1', url], 31_000);
    const cpu0 = await server.call<CpuSample>({ op: 'cpu' }, 5000);
    const r = await autocannon(
      ['-j', '-c', String(o.httpConnections), '-d', String(seconds), url],
      (seconds + 30) * 1000,
    );
    const cpu1 = await server.call<CpuSample>({ op: 'cpu' }, 5000);
    const errors = r.errors + r.timeouts + r.non2xx;
    return {
      ...base,
      status: errors === 0 && r.requests.total > 0 ? 'ok' : 'failed',
      ...(errors > 0 ? { reason: `${errors} errors or non-2xx responses` } : {}),
      reqPerSec: r.requests.total / r.duration,
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      errors,
      cpuUsPerReq: r.requests.total > 0 ? (cpu1.cpuUs - cpu0.cpuUs) / r.requests.total : undefined,
    };
  } catch (err) {
    return { ...base, status: 'failed', reason: err instanceof Error ? err.message : String(err) };
  } finally {
    await server.kill();
  }
}

function autocannon(args: string[], timeoutMs: number): Promise<AutocannonResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [AUTOCANNON, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-2000);
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    // The runner's exit handler only knows forked children; this one dies with a timeout or here.
    const onExit = (): boolean => proc.kill('SIGKILL');
    process.once('exit', onExit);
    proc.on('close', (code) => {
      clearTimeout(timer);
      process.off('exit', onExit);
      const line = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(line) as AutocannonResult);
      } catch {
        reject(new Error(`autocannon exited ${code}: ${err.trim().split('\n').at(-1) ?? ''}`));
      }
    });
  });
}
