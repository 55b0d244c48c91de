// Issue #15, target 3: the header view holds what is set through it until a buffered response's
// one writeHead (Node's own header map is not built), and gives it to Node's response the moment
// anything else may read or write headers there. These pin down what a user sees either way.
import assert from 'node:assert/strict';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { ResponseCommittedError, type ResponseHeader } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { h2connect, h2request, startHttp2Server } from './helpers/http2-client.ts';
import { startServer } from './helpers/server.ts';

test('a header set through the view is on Node response for code that reads it there; a change made there wins', async (t) => {
  const seen: unknown[] = [];
  const srv = await startServer((s) => {
    s.get('/raw', (r) => {
      r.response.header.set('X-A', '1').append('Set-Cookie', 'a=1');
      const raw = r.response.rawWriter();
      seen.push(raw.getHeader('x-a'), raw.getHeader('set-cookie'));
      raw.setHeader('X-A', '2');
      seen.push(r.response.header.get('x-a'));
      r.response.header.set('X-B', '3');
      seen.push(raw.getHeader('x-b'));
      return { ok: true };
    });
  });
  t.after(() => srv.close());
  const reply = await send(`${srv.url}/raw`);
  assert.equal(reply.status, 200);
  assert.deepEqual(seen, ['1', 'a=1', '2', '3']);
  assert.equal(reply.headers['x-a'], '2');
  assert.equal(reply.headers['x-b'], '3');
  assert.deepEqual(reply.headers['set-cookie'], ['a=1']);
  assert.equal(reply.text, '{"ok":true}');
});

test('serveFile() keeps a Cache-Control set before it (send reads it on Node response)', async (t) => {
  const srv = await startServer((s) => {
    s.get('/file', (r) => {
      r.response.header.set('Cache-Control', 'private, max-age=5');
      return r.response.serveFile(fileURLToPath(import.meta.url));
    });
  });
  t.after(() => srv.close());
  const reply = await send(`${srv.url}/file`);
  assert.equal(reply.status, 200);
  assert.equal(reply.headers['cache-control'], 'private, max-age=5');
  assert.match(reply.text, /the header view holds/);
});

test('the view reads what was sent after the end, and refuses changes then', async (t) => {
  let view: ResponseHeader | undefined;
  const srv = await startServer((s) => {
    s.get('/sent', (r) => {
      r.response.header.set('X-A', '1').append('X-List', 'p').append('X-List', ['q', 'r']);
      view = r.response.header;
      return { sent: true };
    });
  });
  t.after(() => srv.close());
  const reply = await send(`${srv.url}/sent`);
  assert.equal(reply.headers['x-list'], 'p, q, r');
  assert.ok(view !== undefined);
  assert.equal(view.get('x-a'), '1');
  assert.equal(view.get('X-List'), 'p, q, r');
  assert.equal(view.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(view.get('content-length'), String(reply.body.length));
  assert.equal(view.has('x-a'), true);
  assert.equal(view.has('x-missing'), false);
  assert.deepEqual(Object.keys(view.toObject()).sort(), ['content-length', 'content-type', 'x-a', 'x-list']);
  assert.throws(() => view?.set('X-Late', '1'), ResponseCommittedError);
});

test('held headers are seen by middleware after next(), isStreaming() and delete()', async (t) => {
  const seen: unknown[] = [];
  const srv = await startServer((s) => {
    s.group('/g', (g) => {
      g.middleware(async (r) => {
        r.response.header.set('X-Gone', 'yes').set('x-kept', 'a');
        await r.middleware.next();
        seen.push(r.response.header.get('X-Kept'), r.response.header.has('x-gone'), r.response.isStreaming());
        seen.push(r.response.header.toObject());
      });
      g.get('/nd', (r) => {
        r.response.header.delete('x-gone').set('X-Kept', 'b').set('Content-Type', 'application/x-ndjson');
        r.response.write('{"n":1}\n');
      });
    });
  });
  t.after(() => srv.close());
  const reply = await send(`${srv.url}/g/nd`);
  assert.equal(reply.status, 200);
  assert.deepEqual(seen, ['b', false, true, { 'x-kept': 'b', 'content-type': 'application/x-ndjson' }]);
  assert.equal(reply.headers['x-kept'], 'b');
  assert.equal(reply.headers['x-gone'], undefined);
  assert.equal(reply.headers['content-type'], 'application/x-ndjson');
  assert.equal(reply.text, '{"n":1}\n');
});

test('over HTTP/2 the held headers go out with the response', async (t) => {
  const srv = await startHttp2Server(false, (s) => {
    s.group('/g', (g) => {
      g.middleware(async (r) => {
        r.response.header.set('X-Request-Id', 'h2-1');
        await r.middleware.next();
      });
      g.get('/json', () => ({ h2: true }));
    });
  });
  t.after(() => srv.close());
  const session = await h2connect(srv.url);
  t.after(() => session.close());
  const reply = await h2request(session, '/g/json');
  assert.equal(reply.headers[':status'], 200);
  assert.equal(reply.headers['x-request-id'], 'h2-1');
  assert.equal(reply.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(reply.body, '{"h2":true}');
});
