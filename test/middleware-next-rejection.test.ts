import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

// `next()` hands a middleware the promise of the rest of the chain. When the middleware does not
// await it (GoFrame's synchronous `Next()` habit) and the rest fails while the middleware is still
// running, that promise rejects with no one listening: it must not surface as an unhandled
// rejection, which the project's runner (--unhandled-rejections=strict) turns into a crash.
test('a next() no one awaits rejecting while its caller still runs is no unhandled rejection', async (t) => {
  const unhandled: unknown[] = [];
  const onRejection = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onRejection);
  t.after(() => process.off('unhandledRejection', onRejection));
  const srv = await startServer((s) => {
    s.use(async (r) => {
      r.middleware.next();
      // Still running when the middleware below rejects.
      await sleep(40);
    });
    s.group('/g', (g) => {
      g.middleware(async () => {
        await sleep(5);
        throw new Error('the middleware below failed');
      });
      g.get('/x', () => 'not reached');
    });
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/g/x`);
  assert.notEqual(res.text, 'not reached');
  // The rejection would be reported after the microtask queue drains; give it a few turns.
  await sleep(50);
  assert.deepEqual(unhandled, []);
});
