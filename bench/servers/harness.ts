// What every bench server process shares: the broadcast driver (so that all
// servers are driven by the very same loop and only their publish differs),
// memory reporting and the IPC link to the runner.
import { writeHeapSnapshot } from 'node:v8';
import { nowUs } from '../lib/clock.ts';
import { answerRequests, errorText, send } from '../lib/ipc-child.ts';
import type { Listening, Memory, Published, ServerRequest } from './protocol.ts';

export interface Broadcaster {
  /** Sends one SSE event whose data is `payload` to every subscriber. */
  publish(payload: string): void;
  /** Subscribers registered right now. */
  subscribers(): number;
}

export interface BenchServer {
  /** Listens on 127.0.0.1, port 0; resolves to the port. */
  listen(): Promise<number>;
  broadcaster?: Broadcaster;
  /** Why `broadcaster` is missing. */
  sseUnavailable?: string;
}

/** Builds the server, listens and serves the runner's requests; any failure to start exits 2 with a one-line reason. */
export async function runBenchServer(build: () => Promise<BenchServer> | BenchServer): Promise<void> {
  let server: BenchServer;
  let port: number;
  try {
    server = await build();
    port = await server.listen();
  } catch (err) {
    process.stderr.write(`cannot start: ${errorText(err)}\n`);
    process.exit(2);
  }
  const b = server.broadcaster;
  answerRequests<ServerRequest>((req) => {
    if (req.op === 'memory') return memory();
    if (req.op === 'snapshot') return snapshot(req.file);
    if (req.op === 'cpu') return { cpuUs: cpuNow(), nowUs: nowUs() };
    if (!b) throw new Error(server.sseUnavailable ?? 'no SSE broadcast in this server');
    switch (req.op) {
      case 'count':
        return { n: b.subscribers() };
      case 'ping':
        b.publish(`0 ${Math.floor(nowUs())}`);
        return {};
      case 'burst':
        return burst(b, req.fromSeq, req.seconds, req.maxEvents);
      case 'rate':
        return rate(b, req.fromSeq, req.seconds, req.rate);
    }
  });
  const hello: Listening = { op: 'listening', port };
  if (!b) hello.sseUnavailable = server.sseUnavailable ?? 'no SSE broadcast in this server';
  send(hello);
}

function memory(): Memory {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the server with --expose-gc');
  // Twice: the first pass can leave finalizer-held objects for the second.
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** A heap snapshot after two GCs, for `bench/heap-diff.ts`: what each idle connection holds, by constructor. */
function snapshot(file: string): { file: string } {
  memory();
  return { file: writeHeapSnapshot(file) };
}

function cpuNow(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

/**
 * One event per turn of the event loop, for `seconds` or `maxEvents`. Yielding
 * with setImmediate after each event lets socket I/O and `drain` run between
 * events, as it would in a real server; publishing in a tight synchronous
 * loop would measure how fast a library can fill memory instead.
 */
function burst(b: Broadcaster, fromSeq: number, seconds: number, maxEvents: number): Promise<Published> {
  return new Promise((resolve) => {
    const first = nowUs();
    const end = first + seconds * 1e6;
    const lastAllowed = fromSeq + maxEvents - 1;
    let seq = fromSeq;
    const step = (): void => {
      const t = nowUs();
      b.publish(`${seq} ${Math.floor(t)}`);
      if (seq >= lastAllowed || t >= end) {
        resolve({ fromSeq, lastSeq: seq, firstUs: first, lastUs: t, maxLagUs: 0 });
        return;
      }
      seq++;
      setImmediate(step);
    };
    step();
  });
}

/**
 * `rate` events per second on a fixed schedule. Each event carries the time of
 * its publish call; how far publishing fell behind the schedule is reported
 * as `maxLagUs`, so a server that cannot keep up is visible rather than hidden.
 */
function rate(b: Broadcaster, fromSeq: number, seconds: number, perSecond: number): Promise<Published> {
  return new Promise((resolve) => {
    const period = 1e6 / perSecond;
    const total = Math.max(1, Math.floor(seconds * perSecond));
    const start = nowUs();
    let i = 0;
    let maxLag = 0;
    let first = 0;
    let last = 0;
    const tick = (): void => {
      let t = nowUs();
      while (i < total && start + i * period <= t) {
        const lag = t - (start + i * period);
        if (lag > maxLag) maxLag = lag;
        b.publish(`${fromSeq + i} ${Math.floor(t)}`);
        if (i === 0) first = t;
        last = t;
        i++;
        t = nowUs();
      }
      if (i >= total) {
        resolve({ fromSeq, lastSeq: fromSeq + total - 1, firstUs: first, lastUs: last, maxLagUs: maxLag });
        return;
      }
      setTimeout(tick, Math.max(0, (start + i * period - t) / 1000));
    };
    tick();
  });
}
