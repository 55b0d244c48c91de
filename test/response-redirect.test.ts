// Issue #13, trap 5: redirectTo ends the handler, as GoFrame's RedirectTo does, so a guard ported
// from GoFrame cannot let the protected handler run after redirecting.
import assert from 'node:assert/strict';
import test from 'node:test';
import { handlerResponse, type Request } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

test('a ported auth middleware that redirects keeps the protected handler from running', async (t) => {
  const ran: string[] = [];
  // GoFrame: `if !loggedIn { r.Response.RedirectTo("/login") }; r.Middleware.Next()`.
  const auth = async (r: Request) => {
    if (!r.headers.cookie?.includes('session=')) r.response.redirectTo('/login');
    await r.middleware.next();
  };
  const srv = await startServer((s) => {
    s.group('/admin', (g) => {
      g.middleware(auth);
      g.get('/secret', () => {
        ran.push('secret');
        return 'top secret';
      });
    });
    s.group('/api', (g) => {
      g.middleware(handlerResponse, auth);
      g.get('/me', () => {
        ran.push('me');
        return { user: 'ada' };
      });
    });
    s.get('/old', (r) => {
      r.response.redirectTo('/new', 301);
      ran.push('after redirect');
    });
  });
  t.after(() => srv.close());
  const secret = await send(`${srv.url}/admin/secret`);
  assert.equal(secret.status, 302);
  assert.equal(secret.headers.location, '/login');
  assert.equal(secret.text, '');
  const me = await send(`${srv.url}/api/me`);
  assert.equal(me.status, 302, 'the envelope leaves a redirect alone');
  assert.equal(me.text, '');
  const old = await send(`${srv.url}/old`);
  assert.equal(old.status, 301);
  assert.equal(old.headers.location, '/new');
  assert.deepEqual(ran, []);
  const allowed = await send(`${srv.url}/admin/secret`, { headers: { cookie: 'session=1' } });
  assert.equal(allowed.status, 200);
  assert.equal(allowed.text, 'top secret');
  assert.deepEqual(ran, ['secret']);
});
