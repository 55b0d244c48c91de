// `npx tsx bench/session.ts [rounds]`: what session() costs a hello-JSON route, as ratios of
// req/s to the same route without it, measured in the same run. The server runs in a child
// process, autocannon in another; targets are interleaved in a new order each round and the
// median of the rounds is reported, since the machine is shared and noisy.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createServer, session } from '../src/index.ts';

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const SELF = fileURLToPath(import.meta.url);

if (process.argv[2] === 'serve') {
  const s = createServer().setAddress('127.0.0.1').setPort(0);
  s.get('/plain', () => ({ user: 'ada' }));
  s.get('/cpu', () => {
    const u = process.cpuUsage();
    return { us: u.user + u.system };
  });
  s.group('/m', (g) => {
    // What any async middleware costs, so the session's own share can be read off.
    g.middleware(async (r) => {
      await r.middleware.next();
    });
    g.get('/read', () => ({ user: 'ada' }));
  });
  s.group('/s', (g) => {
    g.middleware(session());
    g.post('/login', (r) => void r.session.set('user', 'ada'));
    g.get('/read', (r) => ({ user: r.session.get('user') ?? 'ada' }));
  });
  s.group('/r', (g) => {
    g.middleware(session({ rolling: true, name: 'rolling' }));
    g.post('/login', (r) => void r.session.set('user', 'ada'));
    g.get('/read', (r) => ({ user: r.session.get('user') ?? 'ada' }));
  });
  await s.start();
  process.stdout.write(`${s.getListenedPort()}\n`);
} else {
  await main(Number(process.argv[2] ?? 5));
}

async function main(rounds: number): Promise<void> {
  const server = spawn(process.execPath, ['--import', 'tsx', SELF, 'serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve) => {
    createInterface({ input: server.stdout! }).once('line', resolve);
  });
  const base = `http://127.0.0.1:${port}`;
  const cookieOf = async (path: string) =>
    (await fetch(base + path, { method: 'POST' })).headers.get('set-cookie')!.split(';')[0]!;
  const targets: { name: string; url: string; cookie?: string }[] = [
    { name: 'no session() (baseline)', url: `${base}/plain` },
    { name: 'an empty async middleware', url: `${base}/m/read` },
    { name: 'session(), no cookie', url: `${base}/s/read` },
    { name: 'session(), memory session read', url: `${base}/s/read`, cookie: await cookieOf('/s/login') },
    {
      name: 'rolling session(), read + touch + cookie',
      url: `${base}/r/read`,
      cookie: await cookieOf('/r/login'),
    },
  ];
  const cpu = async () => ((await (await fetch(`${base}/cpu`)).json()) as { us: number }).us;
  const rps = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  const cpuPerReq = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= rounds; round++) {
    const order = [...targets].sort(() => Math.random() - 0.5);
    for (const t of order) {
      const before = await cpu();
      const run = await autocannon(t.url, t.cookie);
      // Server CPU per request does not depend on how much of the shared cores autocannon took.
      const us = (await cpu()) - before;
      rps.get(t.name)!.push(run.average);
      cpuPerReq.get(t.name)!.push(us / run.total);
      process.stderr.write(
        `round ${round}: ${t.name}: ${Math.round(run.average)} req/s, ${(us / run.total).toFixed(1)} µs CPU/req\n`,
      );
    }
  }
  server.kill();
  const baseRps = median(rps.get(targets[0]!.name)!);
  const baseCpu = median(cpuPerReq.get(targets[0]!.name)!);
  console.log(
    '\n| target | median req/s | ratio | median server µs CPU/req | ratio |\n| --- | --- | --- | --- | --- |',
  );
  for (const t of targets) {
    const r = median(rps.get(t.name)!);
    const c = median(cpuPerReq.get(t.name)!);
    console.log(
      `| ${t.name} | ${Math.round(r)} | ${(r / baseRps).toFixed(2)} | ${c.toFixed(1)} | ${(c / baseCpu).toFixed(2)} |`,
    );
  }
}

function autocannon(url: string, cookie: string | undefined): Promise<{ average: number; total: number }> {
  const args = [AUTOCANNON, '-c', '32', '-d', '3', '--json', url];
  if (cookie !== undefined) args.push('-H', `cookie=${cookie}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c;
    });
    child.on('error', reject);
    child.on('close', () => {
      const result = JSON.parse(out) as {
        requests: { average: number; total: number };
        non2xx: number;
        errors: number;
      };
      if (result.non2xx > 0 || result.errors > 0)
        reject(new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`));
      else resolve(result.requests);
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
