// A route of one handler (no middleware) runs without a Middleware cursor until the handler asks
// for `r.middleware`: made then, the cursor must stand where the chain is — inside the handler, or
// after it returned — exactly as one made up front would.
import assert from 'node:assert/strict';
import test from 'node:test';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

test("next() from a route's only handler: resolves once, then throws NextCalledTwiceError", async (t) => {
  const srv = await startServer((s) => {
    s.get('/inside', async (r) => {
      await r.middleware.next();
      const second = await r.middleware.next().then(
        () => 'resolved',
        (e: Error) => e.name,
      );
      r.response.write(`first=ok;second=${second}`);
    });
  });
  t.after(() => srv.close());
  const reply = await send(`${srv.url}/inside`);
  assert.equal(reply.status, 200);
  assert.equal(reply.text, 'first=ok;second=NextCalledTwiceError');
});

test('the cursor first asked for after the only handler returned: the handler counts as returned', async (t) => {
  const seen: string[] = [];
  const srv = await startServer((s) => {
    s.get('/after', (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      // The stream outlives the handler; its chain is over by the time this runs.
      setTimeout(() => {
        r.middleware.next().then(
          () => seen.push('resolved'),
          (e: Error) => seen.push(e.name),
        );
        setTimeout(() => es.close(), 10);
      }, 20);
    });
  });
  t.after(() => srv.close());
  const reply = await send(`${srv.url}/after`);
  assert.equal(reply.status, 200);
  assert.deepEqual(seen, ['NextCalledTwiceError']);
});
