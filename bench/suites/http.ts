// Suite 2, hello-JSON: wrk (Debian's package, installed here when missing and
// apt-get can) against each server in turn, a fresh server per run. wrk takes
// far less CPU than autocannon, so on 2 shared cores the server's figure is less
// distorted; autocannon (the npm devDependency) is the fallback, so the suite
// still runs on a machine where wrk cannot be had.
// The `route` suite is the same with the realistic route of
// bench/servers/route-spec.ts (2 middlewares, a path parameter, a JSON POST),
// checked on each server before it is loaded, so all answer alike.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Options } from '../lib/args.ts';
import { pick, type ServerEntry } from '../lib/catalog.ts';
import { Child, listeningOrReason, REPO_ROOT } from '../lib/children.ts';
import type { CpuSample } from '../servers/protocol.ts';
import { ROUTE_AUTH, ROUTE_BODY } from '../servers/route-spec.ts';

export interface HttpRun {
  server: string;
  rep: number;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  /** The load generator that measured this run. */
  loadgen?: 'wrk' | 'autocannon';
  reqPerSec?: number;
  /** autocannon reports latency in whole milliseconds, wrk to 10 µs. */
  p50Ms?: number;
  p99Ms?: number;
  errors?: number;
  /**
   * Server CPU time (user + system) per completed request. Unlike req/s it
   * does not depend on how much of the shared 2 cores autocannon took.
   */
  cpuUsPerReq?: number;
}

/** What either load generator reports, in autocannon's shape (latency in ms, duration in s). */
export interface LoadResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number };
  latency: { p50: number; p99: number };
}

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const ROUTE_SCRIPT = 'bench/suites/route-post.lua';

/** What one suite loads: a path, and for the realistic route the POST that goes to it. */
interface Target {
  suite: 'http' | 'route';
  path: string;
  post: boolean;
}

const HELLO: Target = { suite: 'http', path: '/hello', post: false };
// wrk's script cycles the id; autocannon (the fallback) posts to one path.
const ROUTE: Target = { suite: 'route', path: '/api/users/7', post: true };

/** The hello-JSON suite: `GET /hello` of every server that has it. */
export function runHttp(o: Options, log: (line: string) => void): Promise<HttpRun[]> {
  return runSuite(HELLO, o, log);
}

/** The realistic route of `bench/servers/route-spec.ts`, against sluice, hono and fastify. */
export function runRoute(o: Options, log: (line: string) => void): Promise<HttpRun[]> {
  return runSuite(ROUTE, o, log);
}

/** Where each suite sends its load. */
export const TARGET_PATHS = { http: HELLO.path, route: ROUTE.path } as const;

async function runSuite(target: Target, o: Options, log: (line: string) => void): Promise<HttpRun[]> {
  const runs: HttpRun[] = [];
  // BENCH_LOADGEN=autocannon: the fallback by choice, to compare with earlier autocannon figures.
  const loadgen = process.env.BENCH_LOADGEN !== 'autocannon' && findWrk(o.smoke, log) ? 'wrk' : 'autocannon';
  log(`[${target.suite}] load generator: ${loadgen}`);
  const skip = new Map<string, string>();
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const entry of pick(target.suite, o.servers)) {
      const skipped = skip.get(entry.name);
      const run: HttpRun = skipped
        ? { server: entry.name, rep, status: 'skipped', reason: skipped }
        : await runOnce(entry, rep, o, loadgen, target);
      if (run.status === 'skipped') skip.set(entry.name, run.reason ?? '');
      if (!skipped) {
        const what =
          run.status === 'ok' ? `${Math.round(run.reqPerSec!)} req/s, errors ${run.errors}` : run.reason;
        log(
          `[${target.suite} ${rep}/${o.reps}] ${entry.name}: ${run.status === 'ok' ? what : `${run.status}: ${what}`}`,
        );
      }
      runs.push(run);
    }
  }
  return runs;
}

async function runOnce(
  entry: ServerEntry,
  rep: number,
  o: Options,
  loadgen: 'wrk' | 'autocannon',
  target: Target,
): Promise<HttpRun> {
  const base = { server: entry.name, rep, loadgen };
  const load = loadgen === 'wrk' ? wrk : autocannon;
  const server = Child.spawn(entry.name, entry.file);
  try {
    const started = await listeningOrReason(server);
    if ('reason' in started) return { ...base, status: 'skipped', reason: started.reason };
    const hello = started.hello;
    const seconds = Math.max(1, Math.round(o.seconds));
    const url = `http://127.0.0.1:${hello.port}${target.path}`;
    if (target.post) {
      const wrong = await routeMisbehaves(hello.port);
      if (wrong !== undefined) return { ...base, status: 'failed', reason: wrong };
    }
    // One second of warm-up at the same concurrency, so the JIT has settled; a run of its own,
    // so the CPU samples around the measured run do not count it.
    await load(o.httpConnections, 1, url, target.post);
    const cpu0 = await server.call<CpuSample>({ op: 'cpu' }, 5000);
    const r = await load(o.httpConnections, seconds, url, target.post);
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

/**
 * One load run against `url` (the realistic route's POST when `post`), in autocannon's shape:
 * for a runner that keeps its servers up between runs (`bench/ab.ts`).
 */
export function loadOnce(
  loadgen: 'wrk' | 'autocannon',
  connections: number,
  seconds: number,
  url: string,
  post: boolean,
): Promise<LoadResult> {
  return (loadgen === 'wrk' ? wrk : autocannon)(connections, seconds, url, post);
}

/**
 * Whether `wrk` can be run, installing Debian's package first when it is missing and this
 * process may (root, apt-get present; never in smoke mode, which must stay quick and offline).
 */
export function findWrk(smoke: boolean, log: (line: string) => void): boolean {
  const has = (): boolean => spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
  if (has()) return true;
  if (smoke || process.getuid?.() !== 0) return false;
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).error !== undefined) return false;
  log('[http] wrk is missing: apt-get install -y wrk');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'ignore', env, timeout: 300_000 });
  return has();
}

/**
 * Why a server does not serve the realistic route as route-spec.ts says, or `undefined` when it
 * does: the load generator counts only non-2xx answers, so a server answering `{}` would pass it.
 */
async function routeMisbehaves(port: number): Promise<string | undefined> {
  const url = `http://127.0.0.1:${port}/api/users/42`;
  const headers = { 'content-type': 'application/json', authorization: ROUTE_AUTH };
  const ok = await fetch(url, {
    method: 'POST',
    headers: { ...headers, 'x-request-id': 'given-1' },
    body: ROUTE_BODY,
  });
  const got = await ok.text();
  const want = JSON.stringify({ id: '42', name: 'Ada Lovelace', requestId: 'given-1' });
  if (ok.status !== 200 || got !== want || ok.headers.get('x-request-id') !== 'given-1')
    return `route answered ${ok.status} ${got}, not ${want} with X-Request-Id`;
  const fresh = await fetch(url, { method: 'POST', headers, body: ROUTE_BODY });
  const id = fresh.headers.get('x-request-id');
  const body = (await fresh.json()) as { requestId?: unknown };
  if (fresh.status !== 200 || id === null || body.requestId !== id)
    return `route without X-Request-Id answered ${fresh.status}, id ${id}, body ${JSON.stringify(body)}`;
  const refused = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: ROUTE_BODY,
  });
  const refusal = await refused.text();
  if (refused.status !== 401 || refusal !== '{"error":"unauthorized"}')
    return `route without Authorization answered ${refused.status} ${refusal}`;
  const bad = await fetch(url, { method: 'POST', headers, body: '{"name":7}' });
  await bad.arrayBuffer();
  if (bad.status !== 400) return `route with a numeric name answered ${bad.status}`;
  return undefined;
}

/** One wrk run: one thread (the server gets the other core), `connections`, `seconds`. */
async function wrk(connections: number, seconds: number, url: string, post: boolean): Promise<LoadResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency'];
  if (post) args.push('-s', ROUTE_SCRIPT);
  args.push(post ? new URL(url).origin : url);
  const env = post ? { ROUTE_BODY, ROUTE_AUTH } : undefined;
  const out = await runTool('wrk', args, (seconds + 30) * 1000, env);
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)\b/.exec(out);
  if (done === null) throw new Error(`wrk printed no request count: ${out.trim().split('\n').at(-1) ?? ''}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    duration: (Number(done[2]) * UNIT_MS[done[3] as string]!) / 1000,
    errors: socket === null ? 0 : Number(socket[1]) + Number(socket[2]) + Number(socket[3]),
    timeouts: socket === null ? 0 : Number(socket[4]),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    requests: { total: Number(done[1]) },
    latency: { p50: percentileMs(out, '50'), p99: percentileMs(out, '99') },
  };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** A line of wrk's `--latency` distribution, such as `99%    3.21ms`, in milliseconds. */
function percentileMs(out: string, p: string): number {
  const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
  return m === null ? Number.NaN : Number(m[1]) * UNIT_MS[m[2] as string]!;
}

async function autocannon(
  connections: number,
  seconds: number,
  url: string,
  post: boolean,
): Promise<LoadResult> {
  const args = [AUTOCANNON, '-j', '-c', String(connections), '-d', String(seconds)];
  if (post) {
    args.push('-m', 'POST', '-H', 'content-type=application/json', '-H', `authorization=${ROUTE_AUTH}`);
    args.push('-b', ROUTE_BODY);
  }
  args.push(url);
  const out = await runTool(process.execPath, args, (seconds + 30) * 1000);
  const line = out.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as LoadResult;
}

/** Runs a load generator to its end (killed after `timeoutMs`); resolves its stdout. */
function runTool(
  command: string,
  args: string[],
  timeoutMs: number,
  env?: Record<string, string>,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
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
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearTimeout(timer);
      process.off('exit', onExit);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} exited ${code}: ${err.trim().split('\n').at(-1) ?? ''}`));
    });
  });
}
