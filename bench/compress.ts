// `npx tsx bench/compress.ts`: what compress() costs and saves on a broadcast SSE stream.
// For plain, gzip (the channel's shared compressor), gzip-own (a compressor per subscriber, as
// before shared channels, and as a stream that wrote before subscribing still gets) and br
// (always per subscriber), interleaved, each rep in a fresh server process:
// - memory per stream: the server's RSS and heap+external, 1,000 subscribers (after a GC),
//   minus the same server before they connected;
// - bytes on the wire per event per client, for a JSON ticker;
// - server CPU per delivery (user+system of the whole process, zlib's thread pool included).
// Every figure is also given as a ratio to plain from the same rep; the medians of the reps are
// reported. Then buffered bodies: compressing on the event loop (sync) against the thread pool.
// Options: --clients N (default 1000), --events E (default 100), --reps R (default 3).
// Writes bench/results/latest-compress.{json,md}.
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVER = path.join(ROOT, 'bench/servers/compress-fanout.ts');
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const CLIENTS = arg('clients', 1000);
const EVENTS = arg('events', 100);
const REPS = arg('reps', 3);
const MODES = ['plain', 'gzip', 'gzip-own', 'br'] as const;
type Mode = (typeof MODES)[number];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Proc {
  child: ChildProcess;
  ask<T>(op: Record<string, unknown>, reply: string): Promise<T>;
}

async function startServer(): Promise<{ proc: Proc; port: number }> {
  const child = fork(SERVER, [], { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: 'inherit' });
  const waiting = new Map<string, (v: unknown) => void>();
  child.on('message', (m: { op: string }) => {
    const w = waiting.get(m.op);
    waiting.delete(m.op);
    w?.(m);
  });
  const ask = <T>(op: Record<string, unknown>, reply: string) =>
    new Promise<T>((resolve) => {
      waiting.set(reply, resolve as (v: unknown) => void);
      if (op.op !== 'none') child.send(op);
    });
  const ready = await ask<{ port: number }>({ op: 'none' }, 'ready');
  return { proc: { child, ask }, port: ready.port };
}

interface Client {
  wire: number;
  events: number;
}

/** One subscriber; a streaming decoder counts the events (so delivery is checked, not assumed). */
function subscribe(port: number, mode: Mode, agent: Agent): Promise<Client> {
  const coding = mode === 'gzip-own' ? 'gzip' : mode;
  const headers: Record<string, string> = coding === 'plain' ? {} : { 'Accept-Encoding': coding };
  const route = mode === 'gzip-own' ? '/ticker-own' : '/ticker';
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: route, headers, agent }, (res) => {
      const c: Client = { wire: 0, events: 0 };
      const decoder =
        coding === 'gzip' ? zlib.createGunzip() : coding === 'br' ? zlib.createBrotliDecompress() : undefined;
      if (res.headers['content-encoding'] !== (coding === 'plain' ? undefined : coding)) {
        reject(new Error(`asked for ${mode}, got ${res.headers['content-encoding']}`));
        return;
      }
      const count = (b: Buffer) => {
        for (let i = b.indexOf('\n\n'); i !== -1; i = b.indexOf('\n\n', i + 2)) c.events++;
      };
      res.on('data', (b: Buffer) => {
        c.wire += b.length;
        if (decoder === undefined) count(b);
        else decoder.write(b);
      });
      decoder?.on('data', count);
      resolve(c);
    });
    req.on('error', reject);
  });
}

interface Run {
  mode: Mode;
  rep: number;
  rssPerStream: number;
  heapExtPerStream: number;
  wirePerEvent: number;
  cpuUsPerDelivery: number;
}

async function runOnce(mode: Mode, rep: number): Promise<Run> {
  const { proc, port } = await startServer();
  const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  type Mem = { rss: number; heap: number; external: number; subscribers: number };
  const before = await proc.ask<Mem>({ op: 'memory' }, 'memory');
  const clients: Client[] = [];
  for (let i = 0; i < CLIENTS; i += 100) {
    clients.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(100, CLIENTS - i) }, () => subscribe(port, mode, agent)),
      )),
    );
  }
  // One event through every stream, so each compressor has done its first (allocating) work.
  // Frames before the first event: the cursor (an id-only block), and gzip-own's retry.
  const own = mode === 'gzip-own' ? 2 : 1;
  await proc.ask({ op: 'publish', n: 1 }, 'published');
  while (clients.some((c) => c.events < own + 1)) await sleep(20);
  await sleep(200);
  const after = await proc.ask<Mem>({ op: 'memory' }, 'memory');
  if (after.subscribers !== CLIENTS) throw new Error(`${after.subscribers} subscribers, not ${CLIENTS}`);
  const wire0 = clients.reduce((n, c) => n + c.wire, 0);
  const cpu0 = await proc.ask<{ us: number }>({ op: 'cpu' }, 'cpu');
  // Ten events per turn, as a busy ticker publishes; each subscriber's write is one flush point.
  for (let sent = 0; sent < EVENTS; sent += 10) {
    await proc.ask({ op: 'publish', n: Math.min(10, EVENTS - sent) }, 'published');
    await sleep(5);
  }
  const deadline = Date.now() + 60_000;
  while (clients.some((c) => c.events < own + 1 + EVENTS)) {
    if (Date.now() > deadline) throw new Error(`${mode}: not every event arrived`);
    await sleep(20);
  }
  const cpu1 = await proc.ask<{ us: number }>({ op: 'cpu' }, 'cpu');
  const wire1 = clients.reduce((n, c) => n + c.wire, 0);
  proc.child.send({ op: 'stop' });
  agent.destroy();
  await new Promise((r) => proc.child.once('exit', r));
  return {
    mode,
    rep,
    rssPerStream: (after.rss - before.rss) / CLIENTS,
    heapExtPerStream: (after.heap + after.external - before.heap - before.external) / CLIENTS,
    wirePerEvent: (wire1 - wire0) / (EVENTS * CLIENTS),
    cpuUsPerDelivery: (cpu1.us - cpu0.us) / (EVENTS * CLIENTS),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

/** Buffered bodies: the same body compressed on the event loop and in the thread pool, interleaved. */
async function oneShot(): Promise<{ size: number; coding: string; syncUs: number; asyncUs: number }[]> {
  const gzipAsync = promisify(zlib.gzip);
  const brAsync = promisify(zlib.brotliCompress);
  const BR = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } };
  const out = [];
  for (const size of [4 * 1024, 32 * 1024, 64 * 1024, 256 * 1024]) {
    const items = [];
    for (let i = 0; JSON.stringify(items).length < size; i++)
      items.push({ id: i, name: `item ${i}`, price: (i * 37) % 1000 });
    const body = Buffer.from(JSON.stringify(items));
    for (const [coding, sync, async] of [
      ['gzip', (b: Buffer) => zlib.gzipSync(b), (b: Buffer) => gzipAsync(b)],
      ['br', (b: Buffer) => zlib.brotliCompressSync(b, BR), (b: Buffer) => brAsync(b, BR)],
    ] as const) {
      const n = Math.max(20, Math.round((4 * 1024 * 1024) / size));
      const syncs: number[] = [];
      const asyncs: number[] = [];
      for (let rep = 0; rep < 5; rep++) {
        let t = performance.now();
        for (let i = 0; i < n; i++) sync(body);
        syncs.push(((performance.now() - t) * 1000) / n);
        // 8 in flight, as a server under load has: throughput, not one body's latency.
        t = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (next++ < n) await async(body);
          }),
        );
        asyncs.push(((performance.now() - t) * 1000) / n);
      }
      out.push({ size: body.length, coding, syncUs: median(syncs), asyncUs: median(asyncs) });
    }
  }
  return out;
}

/**
 * The shared channel compressor's keyframe spacing: one raw deflate stream fed the ticker's
 * frames, sync-flushed after each, with a full flush (history forgotten, a join point) every K
 * events. K = 1 is "every event decodes alone"; ∞ is a per-subscriber stream. Bytes are × the
 * plain frames; CPU is this process's user+system per event (zlib's thread pool included).
 */
async function keyframes(): Promise<{ every: string; ratio: number; cpuUs: number }[]> {
  const frames = Array.from({ length: 2000 }, (_, seq) =>
    Buffer.from(
      `id: 1-${seq}\nevent: tick\ndata: ${JSON.stringify({ symbol: 'ACME', price: Math.round((100 + Math.sin(seq) * 5) * 100) / 100, volume: 1000 + (seq % 97), seq })}\n\n`,
    ),
  );
  const plain = frames.reduce((n, f) => n + f.length, 0);
  const out = [];
  for (const every of [1, 4, 8, 16, 32, 64, 0]) {
    const ratios: number[] = [];
    const cpus: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      const d = zlib.createDeflateRaw({ windowBits: 12, memLevel: 5, flush: zlib.constants.Z_SYNC_FLUSH });
      let bytes = 0;
      d.on('data', (b: Buffer) => {
        bytes += b.length;
      });
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < frames.length; i++) {
        if (every > 0 && i > 0 && i % every === 0) d.flush(zlib.constants.Z_FULL_FLUSH);
        await new Promise((r) => d.write(frames[i], r));
      }
      const cpu = process.cpuUsage(cpu0);
      d.destroy();
      ratios.push(bytes / plain);
      cpus.push((cpu.user + cpu.system) / frames.length);
    }
    out.push({ every: every === 0 ? '∞' : String(every), ratio: median(ratios), cpuUs: median(cpus) });
  }
  return out;
}

const runs: Run[] = [];
for (let rep = 1; rep <= REPS; rep++) {
  // Interleaved: a noisy neighbour hits every mode alike.
  for (const mode of MODES) {
    const r = await runOnce(mode, rep);
    runs.push(r);
    log(
      `rep ${rep} ${mode}: ${(r.rssPerStream / 1024).toFixed(1)} KiB RSS/stream, ${(r.heapExtPerStream / 1024).toFixed(1)} KiB heap+ext/stream, ${r.wirePerEvent.toFixed(1)} B/event, ${r.cpuUsPerDelivery.toFixed(2)} µs CPU/delivery`,
    );
  }
}

const rows: string[] = [];
const summary: Record<string, Record<string, number>> = {};
for (const mode of MODES) {
  const mine = runs.filter((r) => r.mode === mode);
  const ratio = (k: keyof Run) =>
    median(
      mine.map((r) => {
        const base = runs.find((p) => p.mode === 'plain' && p.rep === r.rep) as Run;
        return (r[k] as number) / (base[k] as number);
      }),
    );
  const m = (k: keyof Run) => median(mine.map((r) => r[k] as number));
  summary[mode] = {
    rssPerStreamKiB: m('rssPerStream') / 1024,
    heapExtPerStreamKiB: m('heapExtPerStream') / 1024,
    wireBytesPerEvent: m('wirePerEvent'),
    cpuUsPerDelivery: m('cpuUsPerDelivery'),
    wireRatio: ratio('wirePerEvent'),
    cpuRatio: ratio('cpuUsPerDelivery'),
    rssRatio: ratio('rssPerStream'),
  };
  const s = summary[mode] as Record<string, number>;
  rows.push(
    `| ${mode} | ${s.rssPerStreamKiB?.toFixed(1)} (×${s.rssRatio?.toFixed(1)}) | ${s.heapExtPerStreamKiB?.toFixed(1)} | ${s.wireBytesPerEvent?.toFixed(1)} (×${s.wireRatio?.toFixed(2)}) | ${s.cpuUsPerDelivery?.toFixed(2)} (×${s.cpuRatio?.toFixed(1)}) |`,
  );
}
log('buffered bodies: sync vs thread pool ...');
const shots = await oneShot();
log('shared compressor: keyframe spacing ...');
const keys = await keyframes();
const md = [
  `# compress() on a broadcast SSE stream — ${CLIENTS} subscribers, ${EVENTS} events, median of ${REPS} reps`,
  '',
  '| mode | RSS per stream KiB (× plain) | heap+external per stream KiB | wire bytes per event (× plain) | server CPU µs per delivery (× plain) |',
  '| --- | --- | --- | --- | --- |',
  ...rows,
  '',
  '## Buffered bodies: one-shot compression on the event loop (sync) vs the thread pool (8 in flight)',
  '',
  '| body bytes | coding | sync µs/body | thread pool µs/body |',
  '| --- | --- | --- | --- |',
  ...shots.map((s) => `| ${s.size} | ${s.coding} | ${s.syncUs.toFixed(0)} | ${s.asyncUs.toFixed(0)} |`),
  '',
  "## The channel's shared compressor: a full flush (keyframe) every K events",
  '',
  '| K | bytes × plain | CPU µs per event |',
  '| --- | --- | --- |',
  ...keys.map((k) => `| ${k.every} | ${k.ratio.toFixed(3)} | ${k.cpuUs.toFixed(1)} |`),
  '',
].join('\n');
process.stdout.write(`\n${md}`);
const outDir = path.join(ROOT, 'bench/results');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  path.join(outDir, 'latest-compress.json'),
  `${JSON.stringify({ date: new Date().toISOString(), clients: CLIENTS, events: EVENTS, reps: REPS, runs, summary, shots, keyframes: keys }, null, 2)}\n`,
);
writeFileSync(path.join(outDir, 'latest-compress.md'), md);
