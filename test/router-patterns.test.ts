import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Handler, Request } from '../src/index.ts';
import { parseRawResponse, rawExchange, send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

/** Echoes what routing produced, so each assertion reads the server's view of the request. */
const echo: Handler = (r) => {
  r.response.writeJson({ method: r.method, path: r.path, params: { ...r.params } });
};

test('a plain /path answers every method and ignores a trailing slash', async (t) => {
  const srv = await startServer((s) => s.bindHandler('/hello', echo));
  t.after(() => srv.close());
  for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const res = await send(`${srv.url}/hello`, { method });
    assert.equal(res.status, 200, method);
    assert.deepEqual(JSON.parse(res.text), { method, path: '/hello', params: {} });
  }
  const slash = await send(`${srv.url}/hello/`);
  assert.equal(slash.status, 200);
  // r.path is the path the router matched, so an exact-match guard cannot be passed with a '/'.
  assert.equal(JSON.parse(slash.text).path, '/hello');
});

test('/user/{id} and /member/:id capture a decoded segment, reachable through r.get', async (t) => {
  const srv = await startServer((s) => {
    s.bindHandler('/user/{id}', (r) => r.response.write(`user=${r.get('id')} params=${r.params.id}`));
    s.bindHandler('/member/:id/posts/{post}', (r) =>
      r.response.write(`member=${r.get('id')} post=${r.get('post')}`),
    );
  });
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/user/42`)).text, 'user=42 params=42');
  assert.equal((await send(`${srv.url}/user/a%20b`)).text, 'user=a b params=a b');
  assert.equal((await send(`${srv.url}/member/7/posts/x9`)).text, 'member=7 post=x9');
  // A parameter is one segment: a deeper path is not this route.
  assert.equal((await send(`${srv.url}/user/42/extra`)).status, 404);
});

test('/files/*path captures the rest of the path under the wildcard name', async (t) => {
  const srv = await startServer((s) => {
    s.bindHandler('/files/*path', (r) => r.response.write(`path=${r.get('path')}`));
    s.bindHandler('/raw/*', (r) => r.response.write(`star=${r.params['*']}`));
  });
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/files/a/b/c.txt`)).text, 'path=a/b/c.txt');
  assert.equal((await send(`${srv.url}/files/one`)).text, 'path=one');
  assert.equal((await send(`${srv.url}/raw/x/y`)).text, 'star=x/y');
});

test('GET:/path binds one method; others get 405 with Allow, HEAD comes with GET', async (t) => {
  const srv = await startServer((s) => {
    s.bindHandler('GET:/only-get', (r) => r.response.write('got it'));
    s.bindHandler('post:/only-post', (r) => r.response.write('posted'));
  });
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/only-get`)).text, 'got it');

  const post = await send(`${srv.url}/only-get`, { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  assert.equal(post.text, 'Method Not Allowed');

  const get = await send(`${srv.url}/only-post`);
  assert.equal(get.status, 405);
  assert.equal(get.headers.allow, 'POST');
  assert.equal((await send(`${srv.url}/only-post`, { method: 'POST' })).text, 'posted');

  const head = parseRawResponse(
    await rawExchange(srv.port, 'HEAD /only-get HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String('got it'.length));
  assert.equal(head.body.length, 0);
});

test('s.get/post/put/delete/patch share a path by method; s.all takes any method', async (t) => {
  const srv = await startServer((s) => {
    const by =
      (name: string): Handler =>
      (r) =>
        r.response.write(`${name}:${r.method}`);
    s.get('/res', by('get'))
      .post('/res', by('post'))
      .put('/res', by('put'))
      .delete('/res', by('delete'))
      .patch('/res', by('patch'));
    s.all('/any', by('all'));
  });
  t.after(() => srv.close());
  for (const m of ['get', 'post', 'put', 'delete', 'patch']) {
    const res = await send(`${srv.url}/res`, { method: m.toUpperCase() });
    assert.equal(res.text, `${m}:${m.toUpperCase()}`);
  }
  const options = await send(`${srv.url}/res`, { method: 'OPTIONS' });
  assert.equal(options.status, 405);
  assert.equal(options.headers.allow, 'GET, HEAD, POST, PUT, DELETE, PATCH');
  for (const m of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    assert.equal((await send(`${srv.url}/any`, { method: m })).text, `all:${m}`);
  }
});

test('an explicit HEAD route replaces the one a GET route implies', async (t) => {
  const srv = await startServer((s) => {
    s.get('/doc', (r) => r.response.write('the document'));
    s.bindHandler('HEAD:/doc', (r) => {
      r.response.header.set('X-Head', 'explicit');
    });
  });
  t.after(() => srv.close());
  const head = await send(`${srv.url}/doc`, { method: 'HEAD' });
  assert.equal(head.headers['x-head'], 'explicit');
  assert.equal(head.headers['content-length'], '0');
  assert.equal((await send(`${srv.url}/doc`)).text, 'the document');
});

test('nested groups run global, then outer, then inner middleware around the handler', async (t) => {
  const trailOf = (r: Request): string[] => {
    let trail = r.ctx.values.get('trail') as string[] | undefined;
    if (trail === undefined) {
      trail = [];
      r.ctx.values.set('trail', trail);
    }
    return trail;
  };
  const mark =
    (name: string): Handler =>
    async (r) => {
      trailOf(r).push(`>${name}`);
      await r.middleware.next();
      trailOf(r).push(`<${name}`);
      r.response.header.set('X-Trail', trailOf(r).join(','));
    };
  const handler: Handler = (r) => {
    trailOf(r).push('handler');
    r.response.write(r.path);
  };
  const srv = await startServer((s) => {
    s.use(mark('global'));
    s.group('/api', (api) => {
      api.middleware(mark('api'));
      api.get('/a', handler);
      api.group('/v1', (v1) => {
        v1.middleware(mark('v1'));
        v1.get('/b', handler);
        v1.bindHandler('GET:/', handler);
      });
      api.get('/after-nested', handler);
    });
    s.group('/admin', (admin) => {
      admin.middleware(mark('admin'));
      admin.get('/c', handler);
    });
    s.get('/plain', handler);
  });
  t.after(() => srv.close());

  // The outermost middleware sets the header last, on its way out, so it holds the whole trail.
  const cases: [string, string][] = [
    ['/api/a', '>global,>api,handler,<api,<global'],
    ['/api/v1/b', '>global,>api,>v1,handler,<v1,<api,<global'],
    ['/api/v1', '>global,>api,>v1,handler,<v1,<api,<global'],
    ['/api/after-nested', '>global,>api,handler,<api,<global'],
    ['/admin/c', '>global,>admin,handler,<admin,<global'],
    ['/plain', '>global,handler,<global'],
  ];
  for (const [path, trail] of cases) {
    const res = await send(srv.url + path);
    assert.equal(res.status, 200, path);
    assert.equal(res.text, path);
    assert.equal(res.headers['x-trail'], trail, path);
  }
  // Unmatched requests still pass through global middleware (so logs and CORS see them), not group ones.
  const miss = await send(`${srv.url}/api/nope`);
  assert.equal(miss.status, 404);
  assert.equal(miss.text, 'Not Found');
});

test('middleware added to a group after its routes were bound still applies to them', async (t) => {
  const srv = await startServer((s) => {
    s.group('/late', (g) => {
      g.get('/x', (r) => r.response.write('x'));
      g.middleware(async (r) => {
        r.response.header.set('X-Late-Mw', 'yes');
        await r.middleware.next();
      });
    });
    s.use(async (r) => {
      r.response.header.set('X-Late-Global', 'yes');
      await r.middleware.next();
    });
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/late/x`);
  assert.equal(res.headers['x-late-mw'], 'yes');
  assert.equal(res.headers['x-late-global'], 'yes');
  assert.equal((await send(`${srv.url}/late/missing`)).headers['x-late-global'], 'yes');
});

test('unknown paths get 404 and unknown methods on a known path 405, over one keep-alive connection', async (t) => {
  const srv = await startServer((s) => s.put('/thing/{id}', echo));
  t.after(() => srv.close());
  const raw = await rawExchange(
    srv.port,
    'GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n' +
      'DELETE /thing/1 HTTP/1.1\r\nHost: x\r\n\r\n' +
      'PUT /thing/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
  );
  const text = raw.toString();
  const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
  assert.deepEqual(statuses, ['404', '405', '200']);
  assert.match(text, /\r\nAllow: PUT\r\n/);
  assert.ok(text.endsWith('{"method":"PUT","path":"/thing/1","params":{"id":"1"}}'), text);
});
