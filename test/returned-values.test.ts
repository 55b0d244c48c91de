// Issue #13, trap 3: a returned web Response is sent as such (status, headers, streamed body), and
// a value JSON would turn into {} is a 500 that names the type and the fix, never `200 {}`.
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'node:test';
import { gzipSync } from 'node:zlib';
import { handlerResponse, UnsupportedReturnValueError } from '../src/index.ts';
import { openSocket, send, waitFor } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

test('a returned Response sends its status, headers, cookies and body', async (t) => {
  const srv = await startServer((s) => {
    // The two lines, as a Hono user writes them.
    s.get('/created', () => new Response('hi', { status: 201 }));
    s.get('/json', () => Response.json({ ok: true }, { headers: { 'X-Request-Id': 'r-1' } }));
    s.get('/cookies', (r) => {
      r.cookie.set('theme', 'dark');
      const headers = new Headers({ 'Content-Type': 'text/plain' });
      headers.append('Set-Cookie', 'a=1; Path=/');
      headers.append('Set-Cookie', 'b=2; Path=/; HttpOnly');
      return new Response('with cookies', { status: 200, statusText: 'Fine', headers });
    });
    s.get('/empty', () => new Response(null, { status: 204 }));
    s.get('/no-body', () => new Response(null, { status: 202 }));
  });
  t.after(() => srv.close());
  const created = await send(`${srv.url}/created`);
  assert.equal(created.status, 201);
  assert.equal(created.text, 'hi');
  assert.equal(created.headers['content-type'], 'text/plain;charset=UTF-8');
  const json = await send(`${srv.url}/json`);
  assert.equal(json.status, 200);
  assert.deepEqual(JSON.parse(json.text), { ok: true });
  assert.equal(json.headers['content-type'], 'application/json');
  assert.equal(json.headers['x-request-id'], 'r-1');
  const cookies = await send(`${srv.url}/cookies`);
  assert.equal(cookies.text, 'with cookies');
  assert.deepEqual(
    cookies.headers['set-cookie']?.map((c) => c.split(';')[0]),
    ['theme=dark', 'a=1', 'b=2'],
  );
  assert.equal(cookies.headers['content-type'], 'text/plain');
  const empty = await send(`${srv.url}/empty`);
  assert.equal(empty.status, 204);
  assert.equal(empty.text, '');
  const noBody = await send(`${srv.url}/no-body`);
  assert.equal(noBody.status, 202);
  assert.equal(noBody.headers['content-length'], '0');
  assert.equal(noBody.text, '');
});

test('a returned fetch() response is proxied decoded, without its hop headers', async (t) => {
  const upstream = createHttpServer((_req, res) => {
    res.writeHead(200, {
      'Content-Type': 'text/csv',
      'Content-Encoding': 'gzip',
      'Set-Cookie': ['u=1', 'v=2'],
      'Keep-Alive': 'timeout=5',
    });
    res.end(gzipSync('a,b\n1,2\n'));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  const srv = await startServer((s) => {
    s.get('/proxy', () => fetch(`http://127.0.0.1:${port}/`));
  });
  t.after(async () => {
    await srv.close();
    upstream.close();
  });
  const got = await send(`${srv.url}/proxy`);
  assert.equal(got.status, 200);
  assert.equal(got.text, 'a,b\n1,2\n');
  assert.equal(got.headers['content-type'], 'text/csv');
  assert.equal(got.headers['content-encoding'], undefined);
  assert.equal(got.headers['keep-alive'], undefined);
  assert.deepEqual(got.headers['set-cookie'], ['u=1', 'v=2']);
});

test('a client leaving cancels the body of a returned Response', async (t) => {
  let cancelled = false;
  let pulls = 0;
  const srv = await startServer((s) => {
    s.get('/stream', () => {
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          pulls++;
          await new Promise((resolve) => setTimeout(resolve, 10));
          c.enqueue(new TextEncoder().encode(`line ${pulls}\n`));
        },
        cancel() {
          cancelled = true;
        },
      });
      return new Response(body, { headers: { 'Content-Type': 'text/plain' } });
    });
  });
  t.after(() => srv.close());
  const socket = await openSocket(srv.port);
  let text = '';
  socket.on('data', (b: Buffer) => {
    text += b.toString();
  });
  socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => text.includes('line 3'), 'three lines');
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.match(text, /content-type: text\/plain/i);
  socket.destroy();
  await waitFor(() => cancelled, 'the body to be cancelled');
});

test('a value JSON would send as {} is a 500 naming the type and the fix', async (t) => {
  class Point {
    #x = 1;
    get x(): number {
      return this.#x;
    }
  }
  const cases: [string, () => unknown, RegExp][] = [
    [
      'map',
      () => new Map([['a', 1]]),
      /returned a Map, which JSON sends as \{\}; return Object\.fromEntries\(map\)/,
    ],
    ['set', () => new Set([1]), /returned a Set.*return \[\.\.\.set\]/],
    ['function', () => () => 1, /returned a function.*call it/],
    ['bigint', () => 10n, /returned a bigint, which JSON cannot encode/],
    ['symbol', () => Symbol('x'), /returned a symbol/],
    ['class', () => new Point(), /returned a Point with no enumerable properties.*toJSON\(\)/],
    ['error', () => new Error('oops'), /returned an Error \(oops\).*throw it instead/],
  ];
  const srv = await startServer((s) => {
    for (const [name, make] of cases) s.get(`/${name}`, make);
    // What JSON sends faithfully stays JSON.
    s.get('/plain', () => ({ at: new Date(0), list: [1, 2], none: null }));
    s.get('/null', () => null);
    s.get('/number', () => 42);
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.get('/map', () => new Map([['a', 1]]));
    });
  });
  t.after(() => srv.close());
  for (const [name, , message] of cases) {
    const got = await send(`${srv.url}/${name}`);
    assert.equal(got.status, 500, name);
    assert.equal(got.text, 'Internal Server Error', name);
    const logged = srv.logger.lines.find(
      (l) => l.level === 'error' && String(l.args[0]).includes(`/${name} `),
    );
    const err = logged?.args[1];
    assert.ok(err instanceof UnsupportedReturnValueError, `${name}: ${String(err)}`);
    assert.match(err.message, message);
  }
  assert.equal(
    (await send(`${srv.url}/plain`)).text,
    '{"at":"1970-01-01T00:00:00.000Z","list":[1,2],"none":null}',
  );
  assert.equal((await send(`${srv.url}/null`)).text, 'null');
  assert.equal((await send(`${srv.url}/number`)).text, '42');
  const enveloped = await send(`${srv.url}/api/map`);
  assert.equal(enveloped.status, 500);
  assert.deepEqual(JSON.parse(enveloped.text), { code: 500, message: 'Internal Server Error', data: null });
  assert.ok(
    srv.logger.lines.some(
      (l) =>
        l.level === 'error' &&
        l.args[1] instanceof UnsupportedReturnValueError &&
        String(l.args[0]).includes('/api/map'),
    ),
  );
});

test('a returned plain object that is async-iterable streams as events; other symbol keys leave it JSON, with and without middleware', async (t) => {
  const events = () => ({
    async *[Symbol.asyncIterator]() {
      yield 'a';
      yield { n: 2 };
    },
  });
  const tagged = () => ({ a: 1, [Symbol('tag')]: 2 });
  const pass = async (r: { middleware: { next(): Promise<void> } }) => {
    await r.middleware.next();
  };
  const srv = await startServer((s) => {
    // One handler (the server's one-handler path) and after a middleware (the chain's step()).
    s.get('/events', events);
    s.get('/tagged', tagged);
    s.group('/mw', (g) => {
      g.middleware(pass);
      g.get('/events', events);
      g.get('/tagged', tagged);
    });
  });
  t.after(() => srv.close());
  for (const prefix of ['', '/mw']) {
    const streamed = await send(`${srv.url}${prefix}/events`);
    assert.equal(streamed.status, 200, prefix);
    assert.match(String(streamed.headers['content-type']), /^text\/event-stream/, prefix);
    assert.equal(streamed.text, 'data: a\n\ndata: {"n":2}\n\n', prefix);
    const json = await send(`${srv.url}${prefix}/tagged`);
    assert.equal(json.status, 200, prefix);
    assert.equal(json.text, '{"a":1}', prefix);
  }
});
