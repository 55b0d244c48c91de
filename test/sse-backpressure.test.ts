import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, type TestServer } from './helpers/server.ts';
import { rawRequest, waitFor } from './helpers/sse-clients.ts';

// send() resolves once the socket took the bytes: a handler that awaits it cannot outrun a stalled
// client, and when that client goes, the pending send resolves false instead of throwing.

const MIB = 1024 * 1024;

let ts: TestServer;
const state = {
  started: 0,
  settled: 0,
  result: undefined as boolean | undefined,
  commentAfter: undefined as boolean | undefined,
  threw: undefined as unknown,
};

before(async () => {
  ts = await startServer((s) => {
    s.get('/stall', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      try {
        for (;;) {
          state.started++;
          const ok = await es.send({ data: 'x'.repeat(MIB) });
          state.settled++;
          if (!ok) {
            state.result = false;
            break;
          }
        }
        state.commentAfter = await es.comment('anyone?');
      } catch (e) {
        state.threw = e;
      }
    });
  });
});

after(() => ts.close());

test('send() stays pending while the client reads nothing, then resolves false when it leaves', async () => {
  const conn = await rawRequest(ts.port, 'GET /stall HTTP/1.1\r\nHost: x\r\n\r\n', { read: false });
  try {
    // Pending: one send started that has not settled, and that stays so while time passes.
    await waitFor(() => state.started > 0 && state.started === state.settled + 1, 'a send to block', 5000);
    const blockedAt = state.started;
    await sleep(500);
    assert.equal(state.started, blockedAt, 'the handler went on without the socket taking its bytes');
    assert.equal(state.settled, blockedAt - 1);
    assert.ok(blockedAt <= 24, `${blockedAt} sends of 1 MiB were accepted by a client that reads nothing`);
    assert.equal(state.result, undefined);

    conn.socket.destroy();
    await waitFor(() => state.commentAfter !== undefined || state.threw !== undefined, 'the handler to end');
    assert.equal(state.threw, undefined);
    assert.equal(state.result, false);
    assert.equal(state.settled, blockedAt);
    assert.equal(state.commentAfter, false);
    assert.equal(
      ts.logger.lines.filter((l) => l.level === 'error').length,
      0,
      'a client leaving is not a server error',
    );
  } finally {
    conn.socket.destroy();
  }
});
