import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { send } from './http-client.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/redis-node.ts', import.meta.url));

/** A server process of test/fixtures/redis-node.ts, sharing channels with its siblings through Redis. */
export interface NodeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Every JSON line it printed (logs included). */
  readonly lines: Record<string, unknown>[];
  /** Resolves with its exit code (or signal name) once it ended. */
  readonly exited: Promise<number | string | null>;
  /** Publishes `count` events through it; resolves to the ids and the error codes, in order. */
  publish(channel: string, count: number, from?: number): Promise<{ ids: string[]; errors: string[] }>;
  /** `kill -9`. */
  kill(): Promise<void>;
}

/** Starts one process with `--unhandled-rejections=strict` and waits until it listens. */
export async function startNode(redisUrl: string): Promise<NodeProcess> {
  const child = spawn(
    process.execPath,
    ['--unhandled-rejections=strict', '--import', 'tsx', FIXTURE, redisUrl],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: Record<string, unknown>[] = [];
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal));
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        msg = { event: 'stdout', line };
      }
      lines.push(msg);
      if (msg.event === 'listening') resolve(Number(msg.port));
    });
    void exited.then((code) => reject(new Error(`node exited (${code}) before listening: ${stderr}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    url,
    lines,
    exited,
    async publish(channel, count, from = 0) {
      const reply = await send(`${url}/p/${channel}?count=${count}&from=${from}`, { method: 'POST' });
      if (reply.status !== 200) throw new Error(`publish: HTTP ${reply.status} ${reply.text}`);
      return JSON.parse(reply.text) as { ids: string[]; errors: string[] };
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Starts `n` processes in parallel. */
export function startNodes(redisUrl: string, n: number): Promise<NodeProcess[]> {
  return Promise.all(Array.from({ length: n }, () => startNode(redisUrl)));
}

/** Whether a process is still running (it would have died on an unhandled rejection). */
export function alive(node: NodeProcess): boolean {
  return node.child.exitCode === null && node.child.signalCode === null;
}
