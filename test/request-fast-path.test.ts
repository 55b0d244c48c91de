// Issue #15, targets 2 and 3: a chain of one handler runs without async frames of its own. A
// synchronous handler is answered before the first microtask turn; an idle event stream holds one
// 'close' listener on its response and no suspended run()/next() frames, and still ends its request.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import test from 'node:test';
import { HttpError, type Server } from '../src/index.ts';
import { send, waitFor } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

test('a synchronous handler without middleware is answered before any microtask turn', async (t) => {
  const seen: boolean[] = [];
  const srv = await startServer((s) => {
    s.get('/sync', (r) => {
      r.response.writeJson({ hello: 'world' });
      queueMicrotask(() => seen.push(r.response.raw.writableEnded));
    });
    s.get('/returned', (r) => {
      queueMicrotask(() => seen.push(r.response.raw.writableEnded));
      return { hello: 'returned' };
    });
    s.get('/thrown', (r) => {
      queueMicrotask(() => seen.push(r.response.raw.writableEnded));
      throw new HttpError(418, 'teapot', { expose: true });
    });
  });
  t.after(() => srv.close());
  const a = await send(`${srv.url}/sync`);
  assert.equal(a.status, 200);
  assert.deepEqual(JSON.parse(a.text), { hello: 'world' });
  const b = await send(`${srv.url}/returned`);
  assert.deepEqual(JSON.parse(b.text), { hello: 'returned' });
  const c = await send(`${srv.url}/thrown`);
  assert.equal(c.status, 418);
  assert.equal(c.text, 'teapot');
  assert.deepEqual(seen, [true, true, true], 'each response had ended when the first microtask ran');
});

test('an idle event stream holds one close listener, and its end ends the request', async (t) => {
  let listeners = -1;
  let s0: Server | undefined;
  const srv = await startServer((s) => {
    s0 = s;
    s.get('/sse', (r) => {
      r.response.sse({ heartbeat: 0 });
      listeners = r.response.raw.listenerCount('close');
    });
  });
  t.after(() => srv.close());
  const server = s0 as Server;
  await new Promise<void>((resolve, reject) => {
    const req = request(`${srv.url}/sse`, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
      resolve();
      // Leave once the stream is open: the server must see it and end the request.
      setTimeout(() => req.destroy(), 50);
    });
    req.on('error', () => {});
    req.on('close', () => {});
    req.end();
    req.on('timeout', reject);
  });
  assert.equal(listeners, 1, "the request's 'close' listener also ends the event stream");
  await waitFor(() => server.active === 0, 'the request ended with its stream');
});
