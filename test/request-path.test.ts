import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Handler } from '../src/index.ts';
import { parseRawResponse, rawExchange, send } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';

/** What a guard and the handler saw of one request, keyed by the target the client sent. */
interface Seen {
  guardPath?: string;
  handlerPath?: string;
  url?: string;
  query?: unknown;
}

/** A server with a string-prefix guard (the pattern users write) in front of /admin/secret. */
async function guardedServer(seen: Seen): Promise<TestServer> {
  const guard: Handler = async (r) => {
    seen.guardPath = r.path;
    if (r.path.startsWith('/admin')) r.response.writeStatus(403, 'guarded');
    else await r.middleware.next();
  };
  return startServer((s) => {
    s.use(guard);
    s.get('/admin/secret', (r) => {
      seen.handlerPath = r.path;
      seen.url = r.url;
      seen.query = r.getQuery('x');
      return 'the secret';
    });
    s.get('/files/*path', (r) => ({ path: r.path, param: r.get('path') }));
  });
}

async function rawGet(port: number, target: string): Promise<{ status: number; body: string }> {
  const raw = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  const res = parseRawResponse(raw);
  return { status: res.status, body: res.body.toString() };
}

test('an absolute-form target gives r.path the path the router matched, so a prefix guard holds', async (t) => {
  const seen: Seen = {};
  const srv = await guardedServer(seen);
  t.after(() => srv.close());
  const res = await rawGet(srv.port, `http://127.0.0.1:${srv.port}/admin/secret?x=1`);
  assert.equal(seen.guardPath, '/admin/secret');
  assert.equal(res.status, 403);
  assert.doesNotMatch(res.body, /the secret/);
});

test('the handler sees an absolute-form target in origin form: r.url, r.path and the query', async (t) => {
  const seen: Seen = {};
  const srv = await startServer((s) => {
    s.get('/admin/secret', (r) => {
      seen.handlerPath = r.path;
      seen.url = r.url;
      seen.query = r.getQuery('x');
      return 'ok';
    });
  });
  t.after(() => srv.close());
  const res = await rawGet(srv.port, `HTTP://127.0.0.1:${srv.port}/admin/secret?x=1`);
  assert.equal(res.status, 200);
  assert.deepEqual(seen, { handlerPath: '/admin/secret', url: '/admin/secret?x=1', query: '1' });
});

test('percent-encoded letters and a trailing slash do not get past a guard on r.path', async (t) => {
  const seen: Seen = {};
  const srv = await guardedServer(seen);
  t.after(() => srv.close());
  for (const target of ['/%61dmin/secret', '/admin/secr%65t', '/admin/secret/', '/%61dmin/secret/?x=1']) {
    const res = await rawGet(srv.port, target);
    assert.equal(seen.guardPath, '/admin/secret', target);
    assert.equal(res.status, 403, target);
  }
});

test('reserved characters stay encoded in r.path, while path params are decoded', async (t) => {
  const srv = await guardedServer({});
  t.after(() => srv.close());
  const res = await send(`${srv.url}/files/a%2Fb%3Fc%2541`);
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.text), { path: '/files/a%2Fb%3Fc%2541', param: 'a/b?c%41' });
});

test('a malformed absolute-form target is a 400, never routed', async (t) => {
  const seen: Seen = {};
  const srv = await guardedServer(seen);
  t.after(() => srv.close());
  for (const target of ['http:///admin/secret', 'http://h#/admin/secret', 'ftp://h/admin/secret']) {
    const res = await rawGet(srv.port, target);
    assert.equal(res.status, 400, target);
  }
  assert.equal(seen.handlerPath, undefined);
});

test('a guard bound as group middleware covers every spelling of the path', async (t) => {
  let reached = 0;
  const srv = await startServer((s) => {
    s.group('/admin', (g) => {
      g.middleware((r) => r.response.writeStatus(403, 'guarded'));
      g.get('/secret', () => {
        reached++;
        return 'the secret';
      });
    });
  });
  t.after(() => srv.close());
  for (const target of [
    '/admin/secret',
    '/%61dmin/secret',
    '/admin/secret/',
    `http://h:${srv.port}/admin/secret`,
  ]) {
    assert.equal((await rawGet(srv.port, target)).status, 403, target);
  }
  assert.equal(reached, 0);
});
