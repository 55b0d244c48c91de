// What one idle SSE connection holds on the V8 heap, by constructor: a heap snapshot of each server
// before and after N idle SSE clients, diffed and divided by N (issue #15, target 2).
//
//   npx tsx bench/heap-diff.ts --servers raw-write,sluice,sluice-send --clients 2000 [--top 25] [--keep 1] [--warmup 200]
// (--keep 1 leaves the snapshots in the temp directory, to open in Chrome's DevTools; --warmup N
// first opens and closes N connections, so the code V8 compiles for the first ones, a one-off cost
// that the default run divides among the N clients, is in both snapshots)
//
// Each server runs in its own process (as in `bench/run.ts`); the clients are raw sockets in this
// one, so none of their objects land in the server's snapshot. Prints, per server, heap and RSS per
// connection after two GCs, and the constructors whose per-connection bytes differ the most.
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Memory } from './servers/protocol.ts';

const args = new Map<string, string>();
for (let i = 2; i + 1 < process.argv.length; i += 2) {
  args.set(String(process.argv[i]).replace(/^--/, ''), String(process.argv[i + 1]));
}
const servers = (args.get('servers') ?? 'raw-write,sluice').split(',');
const clients = Number(args.get('clients') ?? 2000);
const top = Number(args.get('top') ?? 25);
const warmup = Number(args.get('warmup') ?? 0);

interface Counts {
  bytes: Map<string, number>;
  count: Map<string, number>;
}

/** Self size and count per `type:name` (constructor for objects, the function's name for closures). */
function countSnapshot(file: string): Counts {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const bytes = new Map<string, number>();
  const count = new Map<string, number>();
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + iType] as number] ?? '';
    let name = snap.strings[nodes[i + iName] as number] ?? '';
    // Strings and numbers are named by their content: group them by type alone.
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number')
      name = '';
    if (name.length > 60) name = `${name.slice(0, 57)}...`;
    const key = `${type}:${name}`;
    bytes.set(key, (bytes.get(key) ?? 0) + (nodes[i + iSize] as number));
    count.set(key, (count.get(key) ?? 0) + 1);
  }
  return { bytes, count };
}

class Server {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, (m: Record<string, unknown>) => void>();
  readonly port: Promise<number>;

  constructor(name: string) {
    this.child = fork(`bench/servers/${name}.ts`, [], {
      execArgv: ['--expose-gc', '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.port = new Promise((resolve) => {
      this.child.on('message', (raw) => {
        const m = raw as Record<string, unknown>;
        if (m.op === 'listening') resolve(m.port as number);
        const w = this.waiting.get(m.id as number);
        if (w !== undefined) {
          this.waiting.delete(m.id as number);
          w(m);
        }
      });
    });
  }

  ask<T>(req: object): Promise<T> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (m) => (m.ok ? resolve(m as T) : reject(new Error(String(m.error)))));
      this.child.send({ ...req, id });
    });
  }

  kill(): void {
    this.child.kill();
  }
}

/** Opens `n` SSE connections, 200 at a time, resolving once every one has its response head. */
async function openClients(port: number, n: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let done = 0; done < n; ) {
    const batch = Math.min(200, n - done);
    await Promise.all(
      Array.from(
        { length: batch },
        () =>
          new Promise<void>((resolve, reject) => {
            const s = connect(port, '127.0.0.1', () => s.write('GET /sse HTTP/1.1\r\nHost: bench\r\n\r\n'));
            s.once('data', () => resolve());
            s.once('error', reject);
            sockets.push(s);
          }),
      ),
    );
    done += batch;
  }
  return sockets;
}

/** Polls the server's subscriber count until `done` accepts it. */
async function waitForCount(server: Server, done: (n: number) => boolean): Promise<void> {
  for (;;) {
    const { n } = await server.ask<{ n: number }>({ op: 'count' });
    if (done(n)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const results: { name: string; heap: number; rss: number; counts: Counts }[] = [];
for (const name of servers) {
  const server = new Server(name);
  const port = await server.port;
  if (warmup > 0) {
    const warm = await openClients(port, warmup);
    await waitForCount(server, (n) => n >= warmup);
    for (const s of warm) s.destroy();
    await waitForCount(server, (n) => n === 0);
  }
  const before = join(tmpdir(), `heap-${name}-before.heapsnapshot`);
  const after = join(tmpdir(), `heap-${name}-after.heapsnapshot`);
  const m0 = await server.ask<Memory>({ op: 'memory' });
  await server.ask({ op: 'snapshot', file: before });
  const sockets = await openClients(port, clients);
  await waitForCount(server, (n) => n >= clients);
  const m1 = await server.ask<Memory>({ op: 'memory' });
  await server.ask({ op: 'snapshot', file: after });
  for (const s of sockets) s.destroy();
  server.kill();
  const a = countSnapshot(before);
  const b = countSnapshot(after);
  if (!args.has('keep')) {
    rmSync(before);
    rmSync(after);
  }
  const diff: Counts = { bytes: new Map(), count: new Map() };
  for (const [k, v] of b.bytes) diff.bytes.set(k, (v - (a.bytes.get(k) ?? 0)) / clients);
  for (const [k, v] of a.bytes) if (!b.bytes.has(k)) diff.bytes.set(k, -v / clients);
  for (const [k, v] of b.count) diff.count.set(k, (v - (a.count.get(k) ?? 0)) / clients);
  for (const [k, v] of a.count) if (!b.count.has(k)) diff.count.set(k, -v / clients);
  results.push({
    name,
    heap: (m1.heapUsed - m0.heapUsed) / clients,
    rss: (m1.rss - m0.rss) / clients,
    counts: diff,
  });
}

const f1 = (x: number): string => x.toFixed(1);
for (const r of results) {
  let bytes = 0;
  let objects = 0;
  for (const v of r.counts.bytes.values()) bytes += v;
  for (const v of r.counts.count.values()) objects += v;
  console.log(
    `${r.name}: heapUsed ${f1(r.heap / 1024)} KiB/conn (${Math.round(r.heap)} B), RSS ${f1(r.rss / 1024)} KiB/conn; snapshot diff ${f1(bytes)} B in ${f1(objects)} objects per connection`,
  );
}
// One table: the constructors that differ most across the servers, per connection.
const keys = new Set<string>();
for (const r of results) {
  const sorted = [...r.counts.bytes].filter(([, v]) => Math.abs(v) >= 0.5).sort((x, y) => y[1] - x[1]);
  for (const [k] of sorted.slice(0, top)) keys.add(k);
}
console.log(`\n| type:name | ${results.map((r) => `${r.name} B (n)`).join(' | ')} |`);
console.log(`|---|${results.map(() => '---:').join('|')}|`);
const rows = [...keys].sort(
  (x, y) =>
    Math.max(...results.map((r) => r.counts.bytes.get(y) ?? 0)) -
    Math.max(...results.map((r) => r.counts.bytes.get(x) ?? 0)),
);
for (const k of rows) {
  const cells = results.map((r) => `${f1(r.counts.bytes.get(k) ?? 0)} (${f1(r.counts.count.get(k) ?? 0)})`);
  console.log(`| ${k.replace(/\|/g, '\\|')} | ${cells.join(' | ')} |`);
}
process.exit(0);
