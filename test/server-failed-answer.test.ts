// A request whose error answer itself fails (here: an exposed HttpError whose `data` JSON cannot
// serialize, a BigInt) has its connection cut, and must still be counted out of the server's
// running requests, or a graceful shutdown waits for it until its timeout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpError } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

const unserializable = () => {
  throw new HttpError(422, 'bad input', { expose: true, data: { n: 1n } });
};

for (const [kind, withMiddleware] of [
  ['a handler alone', false],
  ['a handler behind middleware', true],
] as const) {
  test(`${kind} whose error answer cannot be written is counted out: shutdown does not wait for it`, async (t) => {
    const srv = await startServer((s) => {
      if (withMiddleware) {
        s.use(async (r) => {
          await r.middleware.next();
        });
      }
      s.get('/x', unserializable);
    });
    t.after(() => srv.close());
    await assert.rejects(send(`${srv.url}/x`));
    assert.equal(srv.server.active, 0);
    const started = performance.now();
    await srv.server.shutdown({ timeout: 5000 });
    const took = performance.now() - started;
    assert.ok(took < 2000, `shutdown took ${took.toFixed(0)} ms`);
  });
}
