import { after, before, describe, test } from 'node:test';
import { connect } from '../src/client/index.ts';
import { type AppSaw, CASES, RECORD, type Seen } from './helpers/client-cases.ts';
import { killAndRestart, RESTART_CLIENT, type RestartResult } from './helpers/client-restart.ts';
import { startServer, type TestServer } from './helpers/server.ts';

// The reconnect matrix in Node, against real sluice servers over real sockets, with Node's own fetch.
// test/client-chromium.test.ts runs the same programs in a browser.

type Program = (c: typeof connect, base: string) => Promise<AppSaw>;

/** Turns a case's source into a function, exactly as the browser test does with the same text. */
export function program(source: string): Program {
  return new Function(`${RECORD}\nreturn (${source});`)() as Program;
}

describe('reconnect matrix (Node fetch)', () => {
  let ts: TestServer;
  const seen = new Map<string, Seen[]>();

  before(async () => {
    ts = await startServer((s) => {
      for (const c of CASES) {
        const list: Seen[] = [];
        seen.set(c.name, list);
        c.mount(s, list);
      }
    });
  });
  after(() => ts?.close());

  for (const c of CASES) {
    test(c.name, async () => {
      const app = await program(c.client)(connect, ts.url);
      await c.check(app, seen.get(c.name) ?? []);
    });
  }
});

test('the server process is killed and restarted on the same port: the client comes back with its last id', {
  timeout: 30_000,
}, async () => {
  await killAndRestart((url) => {
    const progress: string[] = [];
    const run = new Function(`return (${RESTART_CLIENT});`)() as (
      c: typeof connect,
      url: string,
      progress: string[],
    ) => Promise<RestartResult>;
    return { done: run(connect, url, progress), progress: async () => progress.length };
  }, false);
});
