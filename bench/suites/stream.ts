// Suite 3, one streaming response: the seed page's write-and-flush loop with
// no sleep, read by one client. A warm-up response of a tenth of the size
// comes first on each fresh server, so the figures are of warm code.
import type { Options } from '../lib/args.ts';
import { pick, type ServerEntry } from '../lib/catalog.ts';
import { Child, listeningOrReason } from '../lib/children.ts';
import { median } from '../lib/stats.ts';
import type { CpuSample, StreamRequest, StreamResult } from '../servers/protocol.ts';

const TTFB_SAMPLES = 11;

export interface StreamRun {
  server: string;
  rep: number;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  result?: StreamResult;
  /** Median over TTFB_SAMPLES short responses on fresh connections. */
  ttfbUs?: number;
  mbPerSec?: number;
  eventsPerSec?: number;
  /**
   * The server's CPU time (user + system) over the long response, per MB of body. Unlike MB/s it
   * does not depend on how the two cores were shared with the client and with other work.
   */
  cpuUsPerMB?: number;
}

export async function runStream(o: Options, log: (line: string) => void): Promise<StreamRun[]> {
  const runs: StreamRun[] = [];
  const skip = new Map<string, string>();
  const client = Child.spawn<StreamRequest>('stream client', 'bench/clients/stream-client.ts');
  try {
    await client.waitFor('ready', 30_000);
    for (let rep = 1; rep <= o.reps; rep++) {
      for (const entry of pick('stream', o.servers)) {
        const skipped = skip.get(entry.name);
        const run: StreamRun = skipped
          ? { server: entry.name, rep, status: 'skipped', reason: skipped }
          : await runOnce(entry, rep, o, client);
        if (run.status === 'skipped') skip.set(entry.name, run.reason ?? '');
        if (!skipped) {
          const what =
            run.status === 'ok'
              ? `ttfb ${(run.ttfbUs! / 1000).toFixed(2)} ms, ${run.mbPerSec!.toFixed(1)} MB/s, ${Math.round(run.eventsPerSec!)} events/s, server CPU ${Math.round(run.cpuUsPerMB ?? Number.NaN)} µs/MB`
              : `${run.status}: ${run.reason}`;
          log(`[stream ${rep}/${o.reps}] ${entry.name}: ${what}`);
        }
        runs.push(run);
      }
    }
  } finally {
    await client.kill();
  }
  return runs;
}

async function runOnce(
  entry: ServerEntry,
  rep: number,
  o: Options,
  client: Child<StreamRequest>,
): Promise<StreamRun> {
  const base = { server: entry.name, rep };
  const server = Child.spawn(entry.name, entry.file);
  try {
    const started = await listeningOrReason(server);
    if ('reason' in started) return { ...base, status: 'skipped', reason: started.reason };
    const hello = started.hello;
    const timeoutMs = 60_000;
    const ask = (events: number): Promise<StreamResult> =>
      client.call<StreamResult>({ op: 'stream', port: hello.port, events, timeoutMs }, timeoutMs + 5000);
    await ask(Math.max(1, Math.floor(o.streamEvents / 10)));
    // One TTFB sample is mostly scheduler noise on a shared machine: take the
    // median of several short responses, then the long one for throughput.
    const ttfbs: number[] = [];
    for (let i = 0; i < TTFB_SAMPLES; i++) ttfbs.push((await ask(10)).ttfbUs);
    const cpu0 = await server.call<CpuSample>({ op: 'cpu' }, 5000);
    const result = await ask(o.streamEvents);
    const cpu1 = await server.call<CpuSample>({ op: 'cpu' }, 5000);
    const seconds = result.transferUs / 1e6;
    const run: StreamRun = {
      ...base,
      status: result.complete ? 'ok' : 'failed',
      result,
      ttfbUs: median(ttfbs),
      mbPerSec: result.bodyBytes / 1e6 / seconds,
      eventsPerSec: result.events / seconds,
      cpuUsPerMB: result.bodyBytes > 0 ? (cpu1.cpuUs - cpu0.cpuUs) / (result.bodyBytes / 1e6) : undefined,
    };
    if (!result.complete) {
      run.reason =
        result.error ??
        `${result.events} of ${o.streamEvents} events${result.inOrder ? '' : ', out of order'}`;
    }
    return run;
  } catch (err) {
    return { ...base, status: 'failed', reason: err instanceof Error ? err.message : String(err) };
  } finally {
    await server.kill();
  }
}
