// Turns the runs of every suite into medians, ratios and markdown tables.
// A ratio is taken within one repetition (server / baseline of the same
// repetition) and then the median of those ratios is reported: on a noisy
// shared machine that cancels the drift between repetitions that a ratio of
// medians would keep.
import type { HttpRun } from '../suites/http.ts';
import type { SseRun } from '../suites/sse.ts';
import type { StreamRun } from '../suites/stream.ts';
import type { Options } from './args.ts';
import { BASELINE, PEER, SERVERS } from './catalog.ts';
import type { Machine } from './machine.ts';
import { median } from './stats.ts';

interface Run {
  server: string;
  rep: number;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
}

export interface Results {
  date: string;
  command: string;
  options: Options;
  machine: Machine;
  sse?: SseRun[];
  http?: HttpRun[];
  /** The realistic route: the same figures as `http`, for `POST /api/users/:id`. */
  route?: HttpRun[];
  stream?: StreamRun[];
}

const label = (name: string): string => SERVERS.find((s) => s.name === name)?.label ?? name;
const servers = (runs: readonly Run[]): string[] => [...new Set(runs.map((r) => r.server))];
const ok = <T extends Run>(runs: readonly T[], server: string): T[] =>
  runs.filter((r) => r.server === server && r.status === 'ok');

function medianOf<T extends Run>(
  runs: readonly T[],
  server: string,
  metric: (r: T) => number | undefined,
): number {
  return median(ok(runs, server).map((r) => metric(r) ?? Number.NaN));
}

function ratio<T extends Run>(
  runs: readonly T[],
  server: string,
  metric: (r: T) => number | undefined,
  baseline = BASELINE,
): number {
  const ratios: number[] = [];
  for (const r of ok(runs, server)) {
    const base = runs.find((b) => b.server === baseline && b.rep === r.rep && b.status === 'ok');
    const a = metric(r);
    const b = base && metric(base);
    if (a !== undefined && b) ratios.push(a / b);
  }
  return median(ratios);
}

/** Rows for servers that never produced a figure. */
function notRun<T extends Run>(runs: readonly T[], server: string, columns: number): string | undefined {
  if (ok(runs, server).length > 0) return undefined;
  const r = runs.find((x) => x.server === server)!;
  return `| ${label(server)} | ${r.status}: ${r.reason ?? ''} |${' |'.repeat(columns - 2)}`;
}

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '–';
const ms = (us: number): string => fmt(us / 1000, us < 10_000 ? 2 : 1);
const x = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '–');
const bytes = (n: number): string => (Number.isFinite(n) ? `${fmt(n / 1024, 1)} KiB` : '–');

export function sseTable(runs: readonly SseRun[], o: Options): string {
  const head =
    `| server | deliveries/s | x baseline | events/s | burst p50 / p99 ms | ${o.rate}/s p50 / p99 ms | every event delivered | RSS / conn | heap / conn | RSS x baseline | CPU server / client |\n` +
    '|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|';
  const rows = servers(runs).map((s) => {
    const skipped = notRun(runs, s, 11);
    if (skipped) return skipped;
    const all = runs.filter((r) => r.server === s && r.status !== 'skipped');
    const good = all.filter((r) => r.status === 'ok' && r.burst?.allDelivered && r.rate?.allDelivered).length;
    const name = s === BASELINE ? `${label(s)} res.write (baseline)` : label(s);
    return (
      `| ${name} | ${fmt(medianOf(runs, s, (r) => r.burst?.deliveriesPerSec))} | ${x(ratio(runs, s, (r) => r.burst?.deliveriesPerSec))} ` +
      `| ${fmt(medianOf(runs, s, (r) => r.burst?.eventsPerSec))} ` +
      `| ${ms(medianOf(runs, s, (r) => r.burst?.result.p50Us))} / ${ms(medianOf(runs, s, (r) => r.burst?.result.p99Us))} ` +
      `| ${ms(medianOf(runs, s, (r) => r.rate?.result.p50Us))} / ${ms(medianOf(runs, s, (r) => r.rate?.result.p99Us))} ` +
      `| ${good === all.length ? 'yes' : 'NO'} (${good}/${all.length} runs) ` +
      `| ${bytes(medianOf(runs, s, (r) => r.rssPerConn))} | ${bytes(medianOf(runs, s, (r) => r.heapPerConn))} ` +
      `| ${x(ratio(runs, s, (r) => r.rssPerConn))} ` +
      `| ${fmt(medianOf(runs, s, (r) => r.burst?.serverCpuPct))}% / ${fmt(medianOf(runs, s, (r) => r.burst?.clientCpuPct))}% |`
    );
  });
  return `${head}\n${rows.join('\n')}`;
}

/**
 * Hello JSON or the realistic route: req/s and server CPU per request, each as a ratio to
 * node:http (where it ran: the realistic route has no node:http server) and to Fastify, the
 * peer of issue #15's targets.
 */
export function httpTable(runs: readonly HttpRun[]): string {
  const bases = [BASELINE, PEER].filter((b) => ok(runs, b).length > 0);
  const head =
    `| server | req/s | ${bases.map((b) => `x ${label(b)}`).join(' | ')} | server CPU us / req | ` +
    `${bases.map((b) => `x ${label(b)} (CPU)`).join(' | ')} | p50 / p99 ms | errors |\n` +
    `|---|---:|${'---:|'.repeat(bases.length)}---:|${'---:|'.repeat(bases.length)}---:|---:|`;
  const rows = servers(runs).map((s) => {
    const skipped = notRun(runs, s, 3 + 2 * bases.length);
    if (skipped) return skipped;
    const reqs = bases.map((b) => x(ratio(runs, s, (r) => r.reqPerSec, b))).join(' | ');
    const cpus = bases.map((b) => x(ratio(runs, s, (r) => r.cpuUsPerReq, b))).join(' | ');
    return (
      `| ${label(s)} | ${fmt(medianOf(runs, s, (r) => r.reqPerSec))} | ${reqs} ` +
      `| ${fmt(
        medianOf(runs, s, (r) => r.cpuUsPerReq),
        1,
      )} | ${cpus} ` +
      `| ${fmt(medianOf(runs, s, (r) => r.p50Ms))} / ${fmt(medianOf(runs, s, (r) => r.p99Ms))} ` +
      `| ${runs.filter((r) => r.server === s).reduce((n, r) => n + (r.errors ?? 0), 0)} |`
    );
  });
  return `${head}\n${rows.join('\n')}`;
}

export function streamTable(runs: readonly StreamRun[], events: number): string {
  const head =
    `| server | TTFB ms (median of 11) | MB/s | events/s | x node:http (MB/s) | server CPU ms / MB | x node:http (CPU) | all ${fmt(events)} events in order |\n` +
    '|---|---:|---:|---:|---:|---:|---:|---|';
  const rows = servers(runs).map((s) => {
    const skipped = notRun(runs, s, 8);
    if (skipped) return skipped;
    const all = runs.filter((r) => r.server === s && r.status !== 'skipped');
    const good = all.filter((r) => r.status === 'ok').length;
    const cpuMsPerMB = medianOf(runs, s, (r) => r.cpuUsPerMB) / 1000;
    return (
      `| ${label(s)} | ${ms(medianOf(runs, s, (r) => r.ttfbUs))} | ${fmt(
        medianOf(runs, s, (r) => r.mbPerSec),
        1,
      )} ` +
      `| ${fmt(medianOf(runs, s, (r) => r.eventsPerSec))} | ${x(ratio(runs, s, (r) => r.mbPerSec))} ` +
      `| ${fmt(cpuMsPerMB, 1)} | ${x(ratio(runs, s, (r) => r.cpuUsPerMB))} ` +
      `| ${good === all.length ? 'yes' : 'NO'} (${good}/${all.length}) |`
    );
  });
  return `${head}\n${rows.join('\n')}`;
}

export function markdown(r: Results): string {
  const o = r.options;
  const m = r.machine;
  const parts = [
    `# Benchmark results, ${r.date}`,
    '',
    `Command: \`${r.command}\``,
    '',
    `Machine: ${m.cpuModel}, ${m.cpus} CPUs, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; ` +
      `fd limit ${m.fdLimit}; ephemeral ports ${m.ephemeralPorts}; somaxconn ${m.somaxconn}.`,
    `Libraries: ${Object.entries(m.libraries)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
    `Medians of ${o.reps} interleaved repetition(s); ratios are medians of per-repetition ratios.`,
  ];
  if (r.sse) {
    parts.push(
      '',
      `## SSE broadcast: ${fmt(o.clients)} clients, ${o.seconds} s burst then ${o.seconds} s at ${o.rate} events/s`,
      '',
      sseTable(r.sse, o),
    );
    for (const note of [clientCeiling(r.sse), maxLag(r.sse)]) if (note) parts.push('', note);
  }
  if (r.http) {
    parts.push(
      '',
      `## Hello JSON: ${r.http.find((run) => run.loadgen !== undefined)?.loadgen ?? 'autocannon'}, ${o.httpConnections} connections, ${Math.max(1, Math.round(o.seconds))} s after 1 s warm-up`,
      '',
      httpTable(r.http),
    );
  }
  if (r.route) {
    parts.push(
      '',
      `## Realistic route (POST /api/users/:id, JSON body, 2 middlewares): ${r.route.find((run) => run.loadgen !== undefined)?.loadgen ?? 'autocannon'}, ${o.httpConnections} connections, ${Math.max(1, Math.round(o.seconds))} s after 1 s warm-up`,
      '',
      httpTable(r.route),
    );
  }
  if (r.stream) {
    parts.push(
      '',
      '## One streaming response: write + flush loop, one client',
      '',
      streamTable(r.stream, o.streamEvents),
    );
  }
  return `${parts.join('\n')}\n`;
}

// The load client's own limit, measured where it works hardest: against the
// ceiling server. Any figure near this one says more about the client.
function clientCeiling(runs: readonly SseRun[]): string | undefined {
  const rate = medianOf(runs, 'raw-socket', (r) => r.burst?.deliveriesPerSec);
  const cpu = medianOf(runs, 'raw-socket', (r) => r.burst?.clientCpuPct);
  if (!Number.isFinite(rate) || !Number.isFinite(cpu)) return undefined;
  return (
    `Load client: ${fmt(cpu)}% of a core at the ceiling server's ${fmt(rate)} deliveries/s, ` +
    `so it tops out near ${fmt((rate * 100) / Math.max(cpu, 1))} deliveries/s on this machine; ` +
    'a figure close to that is bounded by the client, not the server.'
  );
}

// A server that fell behind the fixed rate would look better than it is:
// say so next to the table.
function maxLag(runs: readonly SseRun[]): string | undefined {
  const behind = servers(runs)
    .map((s) => [s, medianOf(runs, s, (r) => r.rate?.published.maxLagUs)] as const)
    .filter(([, lag]) => lag > 20_000);
  if (behind.length === 0) return undefined;
  return `Fell behind the fixed rate (median worst lag of a publish call): ${behind
    .map(([s, lag]) => `${label(s)} ${ms(lag)} ms`)
    .join(', ')}.`;
}

/** Runs of servers that started and then failed or lost events. */
export function failures(r: Results): string[] {
  const out: string[] = [];
  for (const run of r.sse ?? []) {
    if (run.status === 'failed') out.push(`sse ${run.server} rep ${run.rep}: ${run.reason}`);
    else if (run.status === 'ok' && !(run.burst?.allDelivered && run.rate?.allDelivered)) {
      const p = run.burst?.allDelivered ? run.rate! : run.burst!;
      out.push(
        `sse ${run.server} rep ${run.rep}: ${p.result.complete}/${p.result.clients} clients complete, ` +
          `${p.result.orderErrors} out of order, ${p.result.parseErrors} parse errors`,
      );
    }
  }
  for (const [suite, runs] of [
    ['http', r.http ?? []],
    ['route', r.route ?? []],
    ['stream', r.stream ?? []],
  ] as const) {
    for (const run of runs)
      if (run.status === 'failed') out.push(`${suite} ${run.server} rep ${run.rep}: ${run.reason}`);
  }
  return out;
}
