// Issue #13, trap 9: a request under a group's prefix that matches no route (404) or not with its
// method (405) runs that group's middleware, so the envelope, CORS and guards of an API see it; and
// a 4xx costs one log line, not a warning plus the access line.
import assert from 'node:assert/strict';
import test from 'node:test';
import { accessLog, HttpError, handlerResponse, type Request } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

const tag = (name: string) => async (r: Request) => {
  r.response.header.append('X-Groups', name);
  await r.middleware.next();
};

test('404 and 405 inside an /api group with handlerResponse are envelopes', async (t) => {
  const srv = await startServer((s) => {
    s.group('/api', (g) => {
      g.middleware(handlerResponse, tag('api'));
      g.get('/user/{id}', (r) => ({ id: r.get('id') }));
      g.group('/v2', (v2) => {
        v2.middleware(tag('v2'));
        v2.get('/user/{id}', (r) => ({ id: r.get('id'), v: 2 }));
      });
    });
    s.group('/org/{org}', (g) => {
      g.middleware(tag('org'));
      g.get('/info', () => 'info');
    });
    s.get('/plain', () => 'plain');
  });
  t.after(() => srv.close());

  const missing = await send(`${srv.url}/api/nope`);
  assert.equal(missing.status, 404);
  assert.match(String(missing.headers['content-type']), /^application\/json/);
  assert.deepEqual(JSON.parse(missing.text), { code: 404, message: 'Not Found', data: null });
  assert.equal(missing.headers['x-groups'], 'api');

  const wrongMethod = await send(`${srv.url}/api/user/7`, { method: 'DELETE' });
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.allow, 'GET, HEAD');
  assert.deepEqual(JSON.parse(wrongMethod.text), { code: 405, message: 'Method Not Allowed', data: null });

  // The deepest group wins, with its parents' middleware first, as for its routes.
  const deep = await send(`${srv.url}/api/v2/nope/deeper`);
  assert.equal(deep.status, 404);
  assert.equal(deep.headers['x-groups'], 'api, v2');
  assert.equal(JSON.parse(deep.text).code, 404);
  // The prefix itself, with or without a trailing slash, belongs to the group.
  assert.equal((await send(`${srv.url}/api`)).headers['x-groups'], 'api');
  assert.equal((await send(`${srv.url}/api/`)).headers['x-groups'], 'api');
  // A prefix with a parameter matches like a route pattern.
  assert.equal((await send(`${srv.url}/org/acme/nope`)).headers['x-groups'], 'org');
  // Only whole segments: /apix is not under /api.
  const outside = await send(`${srv.url}/apix`);
  assert.equal(outside.headers['x-groups'], undefined);
  assert.equal(outside.text, 'Not Found');
  assert.equal((await send(`${srv.url}/nope`)).text, 'Not Found');
  // Matched routes are unchanged.
  assert.deepEqual(JSON.parse((await send(`${srv.url}/api/v2/user/7`)).text).data, { id: '7', v: 2 });
});

test('a guard in a group also refuses requests for paths it does not have', async (t) => {
  const srv = await startServer((s) => {
    s.group('/admin', (g) => {
      g.middleware(async (r) => {
        if (r.headers.authorization !== 'Bearer ok') throw new HttpError(401);
        await r.middleware.next();
      });
      g.get('/stats', () => 'stats');
    });
  });
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/admin/secret-path`)).status, 401);
  assert.equal(
    (await send(`${srv.url}/admin/secret-path`, { headers: { authorization: 'Bearer ok' } })).status,
    404,
  );
});

test('with an access log a 4xx is logged once; without one, once as a warning; a 5xx as an error', async (t) => {
  const logged = await startServer((s) => {
    s.use(accessLog());
    s.get('/bad', () => {
      throw new HttpError(400, 'no');
    });
    s.get('/boom', () => {
      throw new Error('boom');
    });
  });
  const quiet = await startServer((s) => {
    s.get('/bad', () => {
      throw new HttpError(400, 'no');
    });
  });
  t.after(() => Promise.all([logged.close(), quiet.close()]));
  for (const path of ['/nope', '/bad']) {
    logged.logger.lines.length = 0;
    await send(`${logged.url}${path}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(
      logged.logger.lines.map((l) => l.level),
      ['info'],
      `${path}: ${JSON.stringify(logged.logger.lines.map((l) => l.args[0]))}`,
    );
  }
  logged.logger.lines.length = 0;
  await send(`${logged.url}/boom`);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(logged.logger.lines.map((l) => l.level).sort(), ['error', 'info']);
  await send(`${quiet.url}/bad`);
  assert.deepEqual(
    quiet.logger.lines.map((l) => [l.level, l.args[0]]),
    [['warn', 'sluice: GET /bad -> 400: no']],
  );
});
