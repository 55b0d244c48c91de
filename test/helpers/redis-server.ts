import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './http-client.ts';

/**
 * A real `redis-server` of our own, on a free port, in a temp dir, without
 * persistence unless asked: tests may kill it (`kill -9`), restart it empty,
 * or keep it down for a while, and nothing outside the test sees it.
 */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Runs `redis-cli` against it; resolves to its trimmed stdout. */
  cli(...args: string[]): Promise<string>;
  /** `kill -9`: no shutdown, nothing saved. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty unless `appendonly` was on). */
  restart(): Promise<void>;
  /** Stops it for good and removes its directory. */
  stop(): Promise<void>;
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout.trim());
    });
  });
}

/**
 * Starts `redis-server`; `extra` adds config flags (`['--appendonly', 'yes']`,
 * cluster options); `port` picks the port (default: a free one).
 */
export async function startRedis(extra: string[] = [], port?: number): Promise<RedisServer> {
  port ??= await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'sluice-redis-'));
  let child: ChildProcess | undefined;
  const cli = (...args: string[]) => run('redis-cli', ['-p', String(port), ...args]);
  const up = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
    if (!extra.includes('--appendonly')) args.push('--appendonly', 'no');
    child = spawn('redis-server', [...args, ...extra], { stdio: 'ignore' });
    let ready = false;
    const poll = setInterval(() => {
      cli('PING').then(
        (r) => {
          ready = r === 'PONG';
        },
        () => {},
      );
    }, 20);
    try {
      await waitFor(() => ready, `redis-server on port ${port}`, 10_000);
    } finally {
      clearInterval(poll);
    }
  };
  const down = async () => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await up();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cli,
    kill: down,
    restart: up,
    async stop() {
      await down();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
