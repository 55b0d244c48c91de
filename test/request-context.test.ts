import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Context, currentRequest, type Request, requestFromCtx } from '../src/index.ts';
import { deferred, send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

const USER = Symbol('user');

/** Service code that knows only the context, as GoFrame's controllers do with `ctx`. */
async function describeCaller(ctx: Context): Promise<string> {
  await sleep(5);
  const r = requestFromCtx(ctx);
  if (r === undefined) return 'no request';
  return `${r.method} ${r.path} id=${r.get('id')} user=${String(ctx.values.get(USER))}`;
}

/** Code that was given neither r nor ctx: it finds the request through AsyncLocalStorage. */
async function deepLogger(label: string): Promise<string> {
  await sleep(Math.random() * 15);
  await Promise.resolve();
  return `${label}:${currentRequest()?.path ?? 'none'}`;
}

test('r.ctx carries the request and middleware values; requestFromCtx gives the request back', async (t) => {
  let seen: Request | undefined;
  let same = false;
  const srv = await startServer((s) => {
    s.use(async (r) => {
      r.ctx.values.set(USER, `user-of-${r.get('id')}`);
      await r.middleware.next();
    });
    s.get('/who/{id}', async (r) => {
      seen = r;
      const ctx = r.ctx;
      // One context per request: reading r.ctx again must not make a new one.
      same = requestFromCtx(ctx) === r && r.ctx === ctx;
      r.response.write(await describeCaller(r.ctx));
    });
  });
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/who/9`)).text, 'GET /who/9 id=9 user=user-of-9');
  assert.ok(seen !== undefined);
  assert.equal(same, true);
});

test('requestFromCtx is safe on anything that is not a sluice context', () => {
  for (const value of [undefined, null, 0, 'ctx', {}, { values: new Map() }, [], () => {}]) {
    assert.equal(requestFromCtx(value), undefined);
  }
});

// Must run before any test that enables tracking: the switch is process-wide and one-way.
test('currentRequest() throws a message naming enableCurrentRequest() until a server enabled it', () => {
  assert.throws(() => currentRequest(), /enableCurrentRequest\(\)/);
});

test('currentRequest() finds the request across awaits, each concurrent request its own', async (t) => {
  const srv = await startServer((s) => {
    s.enableCurrentRequest();
    s.use(async (r) => {
      const before = currentRequest() === r;
      await r.middleware.next();
      r.response.write(`;mw-before=${before};mw-after=${currentRequest() === r}`);
    });
    s.get('/alive/{n}', async (r) => {
      const lines = await Promise.all([deepLogger('a'), deepLogger('b')]);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10));
      lines.push(await deepLogger('c'));
      r.response.write(`${lines.join(',')};same=${currentRequest() === r}`);
    });
  });
  t.after(() => srv.close());
  const replies = await Promise.all(Array.from({ length: 30 }, (_, n) => send(`${srv.url}/alive/${n}`)));
  replies.forEach((res, n) => {
    const p = `/alive/${n}`;
    assert.equal(res.text, `a:${p},b:${p},c:${p};same=true;mw-before=true;mw-after=true`);
  });
});

test('currentRequest() is undefined outside a request, even while one is parked mid-handler', async (t) => {
  assert.equal(currentRequest(), undefined);
  const parked = deferred();
  const release = deferred<string>();
  const srv = await startServer((s) =>
    s.enableCurrentRequest().get('/x', async (r) => {
      parked.resolve();
      // Resolved by the test, from outside any request: the handler must still find its own request.
      const word = await release.promise;
      const viaImmediate = await new Promise<string | undefined>((resolve) =>
        setImmediate(() => resolve(currentRequest()?.path)),
      );
      r.response.write(`${word}:${currentRequest() === r}:${viaImmediate}`);
    }),
  );
  t.after(() => srv.close());
  const reply = send(`${srv.url}/x`);
  await parked.promise;
  assert.equal(currentRequest(), undefined);
  release.resolve('resumed');
  assert.equal((await reply).text, 'resumed:true:/x');
  assert.equal(currentRequest(), undefined);
});

test('the request and its context stay reachable for the whole life of a stream', async (t) => {
  const srv = await startServer((s) =>
    s.enableCurrentRequest().get('/stream', async (r) => {
      for (let i = 0; i < 3; i++) {
        await sleep(10);
        const r2 = currentRequest();
        r.response.write(`${i}:${r2 === r && requestFromCtx(r.ctx) === r2};`);
        await r.response.flush();
      }
    }),
  );
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/stream`)).text, '0:true;1:true;2:true;');
});
