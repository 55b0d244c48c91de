// `npm run bench:http2`: a Channel broadcast to many SSE streams over HTTP/2 against HTTP/1.1,
// cleartext (h2c vs http) and over TLS (h2 vs https/1.1): deliveries per second and server memory
// per open stream (V8 heap + external + array buffers after a GC: nghttp2's and the kernel's
// buffers are not in it). The server runs in a child process (so its memory is its own), the clients
// here; the modes are interleaved round by round and the medians compared as ratios against
// HTTP/1.1 measured in the same run, as every figure on this shared, noisy machine must be.
//
//   npm run bench:http2 -- [streams=500] [events=200] [rounds=3]
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, get as httpGet, type IncomingMessage } from 'node:http';
import { type ClientHttp2Session, connect } from 'node:http2';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { fileURLToPath } from 'node:url';

type Mode = 'http1' | 'h2c' | 'https1' | 'h2';
const MODES: Mode[] = ['http1', 'h2c', 'https1', 'h2'];
const cert = readFileSync(new URL('../test/fixtures/tls/cert.pem', import.meta.url));
const key = readFileSync(new URL('../test/fixtures/tls/key.pem', import.meta.url));

interface ServerMsg {
  port?: number;
  memory?: number;
  published?: boolean;
  subscribers?: number;
}

/** The child: one server, one channel, commands over IPC. */
async function serve(mode: Mode): Promise<void> {
  const { Channel, createServer, silentLogger } = await import('../src/index.ts');
  const channel = new Channel({ name: 'bench', maxBuffered: 64 * 1024 * 1024 });
  const s = createServer('bench-h2').setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
  if (mode === 'https1' || mode === 'h2') s.setHttps({ cert, key });
  if (mode === 'h2c' || mode === 'h2') s.setHttp2(true);
  s.get('/ch', async (r) => {
    await channel.subscribe(r.response.sse({ heartbeat: 0 }));
  });
  await s.start();
  const send = (m: ServerMsg) => process.send?.(m);
  process.on('message', (m: { cmd: string; events?: number }) => {
    if (m.cmd === 'memory') {
      globalThis.gc?.();
      const u = process.memoryUsage();
      send({ memory: u.heapUsed + u.external + u.arrayBuffers, subscribers: channel.stats().subscribers });
    } else if (m.cmd === 'publish') {
      const data = JSON.stringify({ symbol: 'ACME', price: 101.25, volume: 1200, at: Date.now() });
      for (let i = 0; i < (m.events ?? 0); i++) channel.publish({ event: 'tick', data });
      send({ published: true });
    } else if (m.cmd === 'stop') {
      void s.shutdown({ timeout: 200 }).then(() => process.exit(0));
    }
  });
  send({ port: s.getListenedPort() });
}

/** Counts complete SSE events ("\n\n") across chunk boundaries. */
class Counter {
  events = 0;
  private last = '';
  add(chunk: string): void {
    const text = this.last + chunk;
    let i = text.indexOf('\n\n');
    while (i !== -1) {
      this.events++;
      i = text.indexOf('\n\n', i + 2);
    }
    this.last = chunk.length > 0 ? chunk[chunk.length - 1]! : this.last;
  }
}

interface Round {
  mode: Mode;
  deliveriesPerSec: number;
  bytesPerStream: number;
}

async function round(mode: Mode, streams: number, events: number): Promise<Round> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', mode], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
  });
  const next = () =>
    new Promise<ServerMsg>((resolve) => child.once('message', (m) => resolve(m as ServerMsg)));
  const { port } = await next();
  child.send({ cmd: 'memory' });
  const base = (await next()).memory ?? 0;
  const counters: Counter[] = [];
  const closers: (() => void)[] = [];
  let session: ClientHttp2Session | undefined;
  if (mode === 'h2c' || mode === 'h2') {
    session = connect(`${mode === 'h2' ? 'https' : 'http'}://127.0.0.1:${port}`, { ca: cert });
    await new Promise((resolve, reject) => {
      session?.once('connect', resolve);
      session?.once('error', reject);
    });
    session.on('error', () => {});
    session.setLocalWindowSize(16 * 1024 * 1024);
    for (let i = 0; i < streams; i++) {
      const c = new Counter();
      counters.push(c);
      const st = session.request({ ':path': '/ch' });
      st.setEncoding('utf8');
      st.on('data', (d: string) => c.add(d));
      st.on('error', () => {});
    }
    closers.push(() => session?.destroy());
  } else {
    const tls = mode === 'https1';
    const agent = tls
      ? new HttpsAgent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, ca: cert })
      : new HttpAgent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
    for (let i = 0; i < streams; i++) {
      const c = new Counter();
      counters.push(c);
      const onRes = (res: IncomingMessage) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => c.add(d));
      };
      const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}/ch`;
      const req = tls ? httpsGet(url, { agent }, onRes) : httpGet(url, { agent }, onRes);
      req.on('error', () => {});
      closers.push(() => req.destroy());
    }
    closers.push(() => agent.destroy());
  }
  // Every stream subscribed: the server says so.
  const subscribing = performance.now();
  for (;;) {
    child.send({ cmd: 'memory' });
    const m = await next();
    if ((m.subscribers ?? 0) >= streams) {
      const perStream = ((m.memory ?? 0) - base) / streams;
      const t0 = performance.now();
      child.send({ cmd: 'publish', events });
      await next();
      const want = streams * events;
      for (;;) {
        let got = 0;
        for (const c of counters) got += c.events;
        if (got >= want) break;
        if (performance.now() - t0 > 60_000)
          throw new Error(`${mode}: ${got} of ${want} deliveries after 60 s`);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const seconds = (performance.now() - t0) / 1000;
      for (const close of closers) close();
      child.send({ cmd: 'stop' });
      await new Promise((resolve) => child.once('exit', resolve));
      return { mode, deliveriesPerSec: want / seconds, bytesPerStream: perStream };
    }
    if (performance.now() - subscribing > 30_000) {
      child.kill();
      throw new Error(`${mode}: ${m.subscribers} of ${streams} streams subscribed after 30 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const [streams = 500, events = 200, rounds = 3] = process.argv.slice(2).map(Number);
  const results: Round[] = [];
  for (let r = 0; r < rounds; r++) {
    // Interleaved, and the order rotated per round, so load drifting on the machine hits every mode.
    const order = MODES.map((_, i) => MODES[(i + r) % MODES.length]!);
    for (const mode of order) {
      const res = await round(mode, streams, events);
      results.push(res);
      process.stderr.write(
        `round ${r + 1} ${mode}: ${Math.round(res.deliveriesPerSec)} deliveries/s, ${Math.round(res.bytesPerStream)} B/stream\n`,
      );
    }
  }
  const med = (mode: Mode, key: 'deliveriesPerSec' | 'bytesPerStream') =>
    median(results.filter((x) => x.mode === mode).map((x) => x[key]));
  const lines = [
    `Channel broadcast, ${streams} SSE streams x ${events} events, ${rounds} interleaved rounds, medians:`,
    '| mode | deliveries/s | vs HTTP/1.1 | server memory per stream | vs HTTP/1.1 |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const [mode, baseline] of [
    ['http1', 'http1'],
    ['h2c', 'http1'],
    ['https1', 'https1'],
    ['h2', 'https1'],
  ] as [Mode, Mode][]) {
    const d = med(mode, 'deliveriesPerSec');
    const m = med(mode, 'bytesPerStream');
    lines.push(
      `| ${mode} | ${Math.round(d)} | ${(d / med(baseline, 'deliveriesPerSec')).toFixed(2)} | ${(m / 1024).toFixed(1)} KiB | ${(m / med(baseline, 'bytesPerStream')).toFixed(2)} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

// Last, so every class above is initialised before either side runs.
if (process.argv[2] === '--serve') await serve(process.argv[3] as Mode);
else await main();
