import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

// The "server killed and restarted" case of the client's reconnect matrix, shared by the Node and the
// Chromium test: a sluice server in a child process (test/fixtures/client-child-server.ts) is killed with
// SIGKILL mid-stream, and another one is started on the same port. The client program is plain JavaScript
// source, run unchanged in both places.

const CHILD = fileURLToPath(new URL('../fixtures/client-child-server.ts', import.meta.url));

export interface Child {
  child: ChildProcess;
  port: number;
  /** The `Last-Event-ID` of each request to /feed (`-` for none). */
  seen: string[];
  /** CORS preflights (`OPTIONS`) it answered. */
  preflights: number;
}

/** Starts the child server (on `port`, or a free one) and resolves once it listens. */
export async function startChild(port = 0): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seen: string[] = [];
  const state = { preflights: 0 };
  let buffered = '';
  const ready = new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      buffered += text;
      let nl = buffered.indexOf('\n');
      while (nl !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('port ')) resolve(Number(line.slice(5)));
        else if (line.startsWith('seen ')) seen.push(line.slice(5));
        else if (line === 'preflight') state.preflights++;
        nl = buffered.indexOf('\n');
      }
    });
  });
  const listening = await ready;
  return {
    child,
    port: listening,
    seen,
    get preflights() {
      return state.preflights;
    },
  };
}

/** What the program returns. */
export interface RestartResult {
  got: string[];
  errors: string[];
  state: number;
}

/**
 * `async (connect, url, progress) => RestartResult`: reads the feed, pushing each event's data to
 * `progress` (which the driver watches), until two events came from the restarted server.
 */
export const RESTART_CLIENT = `async (connect, url, progress) => {
  const client = connect(url, { backoff: { initialDelay: 20, maxDelay: 100 } });
  const errors = [];
  client.onerror = (e) => errors.push(e.kind);
  let fromSecond = 0;
  for await (const ev of client) {
    progress.push(ev.data);
    if (ev.data.startsWith('second') && ++fromSecond === 2) break;
  }
  return { got: progress.slice(), errors, state: client.readyState };
}`;

/**
 * Drives the case: `start(url)` runs the program and returns its result and a way to read how many
 * events it has seen so far. The first server is killed after two events.
 */
export async function killAndRestart(
  start: (url: string) => { done: Promise<RestartResult>; progress: () => Promise<number> },
  crossOrigin: boolean,
): Promise<void> {
  const first = await startChild();
  let second: Child | undefined;
  try {
    const { done, progress } = start(`http://127.0.0.1:${first.port}/feed`);
    const deadline = performance.now() + 10_000;
    while ((await progress()) < 2) {
      if (performance.now() > deadline) assert.fail('no events from the first server');
      await sleep(5);
    }
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    // Connection refused until it is back: those failures must be retried too.
    await sleep(150);
    second = await startChild(first.port);
    const result = await done;

    // The first server may have sent a few more events before it died; what matters is the seam.
    const firsts = result.got.filter((d) => d.startsWith('first '));
    const n = firsts.length;
    assert.ok(n >= 2, result.got.join());
    assert.deepEqual(result.got, [
      ...firsts.map((_, i) => `first ${i + 1}`),
      `second ${n + 1}`,
      `second ${n + 2}`,
    ]);
    assert.deepEqual(first.seen, ['-']);
    assert.deepEqual(
      second.seen,
      [`first ${n}`],
      'the restarted server was asked to resume after the last event',
    );
    assert.ok(result.errors.includes('network'), result.errors.join());
    assert.equal(result.state, 2);
    // Across origins the reconnect's Last-Event-ID is not a simple header: the browser asked first.
    assert.equal(second.preflights > 0, crossOrigin, `${second.preflights} preflights`);
  } finally {
    first.child.kill('SIGKILL');
    second?.child.kill('SIGKILL');
  }
}
