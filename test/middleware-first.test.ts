// The first middleware of a chain: the server awaits its own promise, where every later one is
// followed by the next() that started it (see `Middleware.run`). What a followed promise did for
// it — an exit() of that middleware alone ends only it, an error is answered, and its finishing
// counts for the chain's bookkeeping — must hold for the first one too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { NextCalledTwiceError } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

test('an exit() in the first middleware, after a next() it did not await, still waits for the handler', async (t) => {
  const srv = await startServer((s) => {
    s.use(async (r) => {
      r.response.write('first;');
      void r.middleware.next();
      await sleep(1);
      r.exit();
    });
    s.get('/slow', async (r) => {
      await sleep(30);
      r.response.write('handler;');
    });
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/slow`);
  assert.equal(res.status, 200);
  assert.equal(res.text, 'first;handler;');
});

test('an exitAll() in the first middleware ends the request with what it wrote', async (t) => {
  let handlerRan = false;
  const srv = await startServer((s) => {
    s.use(async (r) => {
      r.response.status = 403;
      r.response.write('stopped;');
      await sleep(1);
      r.exitAll();
    });
    s.get('/x', () => {
      handlerRan = true;
    });
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/x`);
  assert.equal(res.status, 403);
  assert.equal(res.text, 'stopped;');
  assert.equal(handlerRan, false);
});

test('an error the first middleware throws after the handler ran is answered and logged once', async (t) => {
  const srv = await startServer((s) => {
    s.use(async (r) => {
      await r.middleware.next();
      throw new Error('after next');
    });
    s.post('/x', (r) => ({ got: r.getBody() }));
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/x`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"a":1}',
  });
  assert.equal(res.status, 500);
  assert.equal(srv.logger.lines.filter((l) => l.level === 'error').length, 1);
});

test('a first middleware that declined cannot run the handler later with a next() from a timer', async (t) => {
  let handlerRan = false;
  const late: unknown[] = [];
  const srv = await startServer((s) => {
    s.use(async (r) => {
      r.response.status = 401;
      r.response.write('denied');
      setTimeout(() => {
        r.middleware.next().then(
          () => late.push('resolved'),
          (e: unknown) => late.push(e),
        );
      }, 5);
    });
    s.get('/x', () => {
      handlerRan = true;
    });
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/x`);
  assert.equal(res.status, 401);
  assert.equal(res.text, 'denied');
  await sleep(40);
  assert.equal(handlerRan, false);
  assert.equal(late.length, 1);
  assert.ok(late[0] instanceof NextCalledTwiceError, String(late[0]));
});
