import assert from 'node:assert/strict';
import { test } from 'node:test';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

// Without global middleware the body read is the first thing a route with a body does, and the
// server runs it ahead of the chain (`readBodyFirst`) rather than as a step of it: the group
// middleware and the handler must still find the body parsed, the chain must still run once and
// in order, and a refused body must still stop it with its 400.
test('with no global middleware, group middleware and the handler see the parsed body; a bad one stops the chain', async (t) => {
  const ran: string[] = [];
  const srv = await startServer((s) => {
    s.group('/g', (g) => {
      g.middleware(async (r) => {
        ran.push(`group:${JSON.stringify(r.getBody())}`);
        await r.middleware.next();
        ran.push('group:after');
      });
      g.post('/x', async (r) => {
        ran.push('handler');
        // The body read already: the same object, not a second read of a consumed stream.
        return { same: (await r.parseBody()) === r.getBody(), body: r.getBody() };
      });
    });
  });
  t.after(() => srv.close());
  const ok = await send(`${srv.url}/g/x`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{"n":7}',
  });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(JSON.parse(ok.text), { same: true, body: { n: 7 } });
  assert.deepEqual(ran, ['group:{"n":7}', 'handler', 'group:after']);

  ran.length = 0;
  const bad = await send(`${srv.url}/g/x`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{"n":',
  });
  assert.equal(bad.status, 400);
  assert.deepEqual(ran, []);
});
