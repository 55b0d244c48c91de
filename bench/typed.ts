// `npx tsx bench/typed.ts [pairs] [seconds]`: issue #11's target, hello-JSON through a validated
// route (defineRoute, query + response schemas) within 10% of the same route unvalidated.
//
// One server process serves both (bench/servers/sluice-validated.ts: /hello validated, /plain
// not), and wrk alternates between them in short windows, the order flipped every pair, so both
// sides of a ratio ran seconds apart under the same load from the rest of the machine. Reported:
// the median of the per-pair ratios of req/s and of server CPU per request.
import { spawn } from 'node:child_process';
import { Child, killChildrenOnExit, listeningOrReason, REPO_ROOT } from './lib/children.ts';
import type { CpuSample } from './servers/protocol.ts';

killChildrenOnExit();
const pairs = Math.min(Math.max(Number(process.argv[2] ?? 20) || 20, 1), 200);
const seconds = Math.min(Math.max(Number(process.argv[3] ?? 2) || 2, 1), 30);

function wrk(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const proc = spawn('wrk', ['-t1', '-c50', `-d${seconds}s`, url], { cwd: REPO_ROOT });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.on('error', reject);
    proc.on('close', () => {
      const m = /(\d+) requests in ([\d.]+)s/.exec(out);
      if (m === null || /Non-2xx|Socket errors/.test(out)) reject(new Error(`wrk: ${out.trim()}`));
      else resolve(Number(m[1]));
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

const server = Child.spawn('sluice-validated', 'bench/servers/sluice-validated.ts');
try {
  const started = await listeningOrReason(server);
  if ('reason' in started) throw new Error(started.reason);
  const base = `http://127.0.0.1:${started.hello.port}`;
  const measure = async (path: string): Promise<{ rps: number; cpu: number }> => {
    const c0 = await server.call<CpuSample>({ op: 'cpu' }, 5000);
    const n = await wrk(`${base}${path}`);
    const c1 = await server.call<CpuSample>({ op: 'cpu' }, 5000);
    return { rps: n / seconds, cpu: (c1.cpuUs - c0.cpuUs) / n };
  };
  await measure('/plain'); // warm-up of both paths, not counted
  await measure('/hello');
  const rps: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const first = i % 2 === 0 ? '/plain' : '/hello';
    const a = await measure(first);
    const b = await measure(first === '/plain' ? '/hello' : '/plain');
    const [plain, valid] = first === '/plain' ? [a, b] : [b, a];
    rps.push(valid.rps / plain.rps);
    cpu.push(valid.cpu / plain.cpu);
    console.log(
      `pair ${i + 1}: plain ${Math.round(plain.rps)} req/s ${plain.cpu.toFixed(1)} us/req, ` +
        `validated ${Math.round(valid.rps)} req/s ${valid.cpu.toFixed(1)} us/req`,
    );
  }
  console.log(
    `validated / unvalidated, medians of ${pairs} pairs of ${seconds} s: req/s ${median(rps).toFixed(3)}x, ` +
      `server CPU per request ${median(cpu).toFixed(3)}x`,
  );
} finally {
  await server.kill();
}
