// `npm run bench:redis`: what sharing a channel through Redis costs.
// - Fan-out: the same clients on 1 process with the memory adapter, then
//   split over 2 processes sharing the channel through Redis; one process
//   publishes at a fixed rate, then as fast as it can. Deliveries/s and
//   publish-to-receive latency (p50/p99), measured by the clients.
// - Publishing: events/s one process can publish through Redis, one at a
//   time and 64 in flight.
// Needs `redis-server` on PATH (it starts its own on a free port).
// Options: --clients N (default 200), --seconds S (default 3), --rate R (events/s, default 500).
// Writes bench/results/latest-redis.{json,md}.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVER = path.join(ROOT, 'bench/servers/redis-fanout.ts');
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const CLIENTS = arg('clients', 200);
const SECONDS = arg('seconds', 3);
const RATE = arg('rate', 500);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as { port: number }).port;
      probe.close(() => resolve(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  port: number;
  call<T>(msg: object): Promise<T>;
  stop(): Promise<void>;
}

async function startServer(mode: string, url: string): Promise<Proc> {
  const child = fork(SERVER, [mode, url], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const first = await new Promise<{ port: number }>((r) =>
    child.once('message', (m) => r(m as { port: number })),
  );
  return {
    child,
    port: first.port,
    call: <T>(msg: object) =>
      new Promise<T>((resolve) => {
        child.once('message', (m) => resolve(m as T));
        child.send(msg);
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.send({ op: 'stop' });
      }),
  };
}

/** N SSE clients that record, per event, the delay from its publish time to now. */
class Clients {
  latencies: number[] = [];
  delivered = 0;
  lastAt = 0;
  private readonly reqs: ReturnType<typeof get>[] = [];

  async connect(port: number, n: number): Promise<void> {
    await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<void>((resolve, reject) => {
            const req = get({ host: '127.0.0.1', port, path: '/sse', agent: false }, (res) => {
              res.setEncoding('utf8');
              // A socket read may end inside an event (a burst fills a read); only whole events
              // are counted, the rest waits for the next read.
              let carry = '';
              res.on('data', (text: string) => {
                const all = carry + text;
                const end = all.lastIndexOf('\n\n');
                carry = end === -1 ? all : all.slice(end + 2);
                if (end !== -1) this.take(all.slice(0, end));
              });
              resolve();
            });
            req.on('error', reject);
            this.reqs.push(req);
          }),
      ),
    );
  }

  /** Each `"t":` in whole events is one event. */
  private take(text: string): void {
    const at = now();
    for (let i = text.indexOf('"t":'); i !== -1; i = text.indexOf('"t":', i + 4)) {
      const t = Number.parseFloat(text.slice(i + 4, i + 30));
      this.delivered++;
      if (this.latencies.length < 2_000_000) this.latencies.push(at - t);
      this.lastAt = at;
    }
  }

  reset(): void {
    this.latencies = [];
    this.delivered = 0;
  }

  close(): void {
    for (const r of this.reqs) r.destroy();
  }
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

interface Phase {
  /** Publishes that failed (a command timeout under load): their events are not expected. */
  failed: number;
  deliveriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  complete: boolean;
}

async function phase(
  pub: Proc,
  clients: Clients,
  events: number,
  rate: number,
  fromSeq: number,
): Promise<Phase> {
  clients.reset();
  const start = now();
  const sent = await pub.call<{ published: number; failed: number }>({
    op: 'publish',
    count: events,
    rate,
    concurrency: rate > 0 ? 1 : 64,
    fromSeq,
  });
  const expected = sent.published * CLIENTS;
  const deadline = now() + 30_000;
  while (clients.delivered < expected && now() < deadline) await sleep(20);
  const span = (clients.lastAt - start) / 1000;
  return {
    failed: sent.failed,
    deliveriesPerSec: clients.delivered / span,
    p50Ms: pct(clients.latencies, 50),
    p99Ms: pct(clients.latencies, 99),
    complete: clients.delivered === expected,
  };
}

async function scenario(label: string, mode: string, url: string, processes: number) {
  const procs = await Promise.all(Array.from({ length: processes }, () => startServer(mode, url)));
  const clients = new Clients();
  for (let i = 0; i < processes; i++) {
    await clients.connect((procs[i] as Proc).port, Math.floor(CLIENTS / processes));
  }
  for (const p of procs)
    while ((await p.call<{ n: number }>({ op: 'count' })).n < CLIENTS / processes) await sleep(20);
  const pub = procs[0] as Proc;
  process.stderr.write(`${label}: connected\n`);
  const rate = await phase(pub, clients, RATE * SECONDS, RATE, 1);
  process.stderr.write(`${label}: rate ${JSON.stringify(rate)}\n`);
  const burst = await phase(pub, clients, RATE * SECONDS, 0, RATE * SECONDS + 1);
  clients.close();
  await Promise.all(procs.map((p) => p.stop()));
  process.stderr.write(`${label}: ${JSON.stringify({ rate, burst })}\n`);
  return { label, processes, rate, burst };
}

async function publishCost(url: string) {
  const p = await startServer('redis', url);
  const one = await p.call<{ published: number; ms: number }>({
    op: 'publish',
    count: 3000,
    rate: 0,
    concurrency: 1,
    fromSeq: 1,
  });
  const many = await p.call<{ published: number; ms: number }>({
    op: 'publish',
    count: 20_000,
    rate: 0,
    concurrency: 64,
    fromSeq: 1,
  });
  await p.stop();
  return { oneAtATime: (one.published / one.ms) * 1000, inFlight64: (many.published / many.ms) * 1000 };
}

const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
  stdio: 'ignore',
});
await sleep(300);
const url = `redis://127.0.0.1:${port}`;
try {
  const memory = await scenario('1 process, memory adapter', 'memory', '', 1);
  const shared = await scenario('2 processes, Redis adapter', 'redis', url, 2);
  const publishing = await publishCost(url);
  const f = (n: number) => Math.round(n).toLocaleString('en');
  const ms = (n: number) => n.toFixed(2);
  const row = (s: typeof memory, p: Phase, what: string) =>
    `| ${s.label} | ${what} | ${f(p.deliveriesPerSec)} | ${ms(p.p50Ms)} | ${ms(p.p99Ms)} | ${p.complete ? 'yes' : 'NO'} | ${p.failed} |`;
  const md = [
    `# Redis adapter: ${CLIENTS} clients, ${SECONDS} s phases (${new Date().toISOString()}, load average ${loadavg()[0]?.toFixed(1)})`,
    '',
    '| setup | phase | deliveries/s | p50 ms | p99 ms | all delivered | failed publishes |',
    '| --- | --- | ---: | ---: | ---: | --- | ---: |',
    row(memory, memory.rate, `${RATE} events/s`),
    row(shared, shared.rate, `${RATE} events/s`),
    row(memory, memory.burst, 'burst'),
    row(shared, shared.burst, 'burst'),
    '',
    `Burst deliveries/s, Redis over memory: ${(shared.burst.deliveriesPerSec / memory.burst.deliveriesPerSec).toFixed(2)}.`,
    `Publishing through Redis from one process: ${f(publishing.oneAtATime)} events/s one at a time, ${f(publishing.inFlight64)} events/s with 64 in flight.`,
    '',
  ].join('\n');
  process.stdout.write(md);
  const out = path.join(ROOT, 'bench/results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, 'latest-redis.json'),
    `${JSON.stringify({ memory, shared, publishing }, null, 2)}\n`,
  );
  writeFileSync(path.join(out, 'latest-redis.md'), md);
} finally {
  redis.kill('SIGKILL');
}
