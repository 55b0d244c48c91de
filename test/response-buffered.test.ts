import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseRawResponse, rawExchange, send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

const UNICODE = 'héllo wörld ✓ 雪 🚀';

test('a header set after writes, even after an await, still reaches the client', async (t) => {
  const srv = await startServer((s) =>
    s.get('/late', async (r) => {
      r.response.write('first ');
      r.response.header.set('X-Early', 'before-await');
      await sleep(20);
      r.response.write('second');
      r.response.header.set('X-Late', 'after-writes');
      r.response.header.append('X-Multi', 'a');
      r.response.header.append('X-Multi', 'b');
      r.response.status = 201;
      assert.equal(r.response.headersSent, false);
      assert.equal(r.response.isCommitted(), false);
    }),
  );
  t.after(() => srv.close());
  const res = await send(`${srv.url}/late`);
  assert.equal(res.status, 201);
  assert.equal(res.text, 'first second');
  assert.equal(res.headers['x-early'], 'before-await');
  assert.equal(res.headers['x-late'], 'after-writes');
  assert.equal(res.headers['x-multi'], 'a, b');
});

test('the buffer leaves in one piece with an exact Content-Length, not chunked', async (t) => {
  const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe]);
  const srv = await startServer((s) =>
    s.get('/mixed', (r) => {
      r.response.write(UNICODE, bytes, 42, { k: 'v' });
      r.response.writeln();
      r.response.write(new Uint8Array([65, 66]));
    }),
  );
  t.after(() => srv.close());
  const expected = Buffer.concat([Buffer.from(`${UNICODE}`), bytes, Buffer.from('42{"k":"v"}\nAB')]);
  const raw = parseRawResponse(
    await rawExchange(srv.port, 'GET /mixed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  assert.equal(raw.status, 200);
  assert.equal(raw.headers['content-length'], String(expected.length));
  assert.equal(raw.headers['transfer-encoding'], undefined);
  assert.equal(raw.headers['content-type'], 'text/plain; charset=utf-8');
  assert.deepEqual(raw.body, expected);
});

test('writeJson sets a JSON type unless one was chosen; an empty body has length 0 and no type', async (t) => {
  const srv = await startServer((s) => {
    s.get('/json', (r) => r.response.writeJson({ a: [1, 'ü'] }));
    s.get('/typed', (r) => {
      r.response.header.set('Content-Type', 'application/vnd.x+json');
      r.response.writeJson(null);
    });
    s.get('/empty', () => {});
  });
  t.after(() => srv.close());
  const json = await send(`${srv.url}/json`);
  assert.equal(json.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(json.text, '{"a":[1,"ü"]}');
  assert.equal(json.headers['content-length'], String(Buffer.byteLength('{"a":[1,"ü"]}')));
  const typed = await send(`${srv.url}/typed`);
  assert.equal(typed.headers['content-type'], 'application/vnd.x+json');
  assert.equal(typed.text, 'null');
  const empty = await send(`${srv.url}/empty`);
  assert.equal(empty.status, 200);
  assert.equal(empty.headers['content-length'], '0');
  assert.equal(empty.headers['content-type'], undefined);
  assert.equal(empty.body.length, 0);
});

test('HEAD gets the headers GET would, with the same Content-Length, and no body', async (t) => {
  let headRan = 0;
  const srv = await startServer((s) =>
    s.get('/page', (r) => {
      if (r.method === 'HEAD') headRan++;
      r.response.header.set('X-Page', '1');
      r.response.write(UNICODE);
    }),
  );
  t.after(() => srv.close());
  const get = parseRawResponse(
    await rawExchange(srv.port, 'GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  // A raw socket, read until the server closes it: any body byte would show up after the head.
  const head = parseRawResponse(
    await rawExchange(srv.port, 'HEAD /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  assert.equal(headRan, 1);
  assert.equal(head.status, 200);
  assert.equal(head.headers['x-page'], '1');
  assert.equal(head.headers['content-length'], String(Buffer.byteLength(UNICODE)));
  assert.equal(head.headers['content-length'], get.headers['content-length']);
  assert.equal(head.body.length, 0);
  assert.equal(get.body.toString(), UNICODE);
});

test('HEAD on a keep-alive connection leaves the next response intact', async (t) => {
  const srv = await startServer((s) => s.get('/page', (r) => r.response.write('body-bytes')));
  t.after(() => srv.close());
  const raw = (
    await rawExchange(
      srv.port,
      'HEAD /page HTTP/1.1\r\nHost: x\r\n\r\nGET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
  ).toString();
  // Exactly one body on the wire: the GET's.
  assert.equal(raw.split('body-bytes').length, 2);
  assert.ok(raw.endsWith('\r\n\r\nbody-bytes'), raw);
  assert.equal(raw.match(/Content-Length: 10\r\n/g)?.length, 2);
});

test('204 and 304 are sent without a body or a Content-Length', async (t) => {
  const srv = await startServer((s) => {
    s.get('/204', (r) => {
      r.response.status = 204;
      r.response.write('dropped');
    });
    s.get('/304', (r) => {
      r.response.status = 304;
    });
  });
  t.after(() => srv.close());
  for (const code of ['204', '304']) {
    const raw = parseRawResponse(
      await rawExchange(srv.port, `GET /${code} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    assert.equal(String(raw.status), code);
    assert.equal(raw.headers['content-length'], undefined);
    assert.equal(raw.body.length, 0);
  }
});

test('HTTP/1.0 clients get the buffered body with its length', async (t) => {
  const srv = await startServer((s) => s.get('/old', (r) => r.response.write('for HTTP/1.0')));
  t.after(() => srv.close());
  const raw = parseRawResponse(await rawExchange(srv.port, 'GET /old HTTP/1.0\r\n\r\n'));
  assert.match(raw.statusLine, /^HTTP\/1\.1 200/);
  assert.equal(raw.headers['content-length'], '12');
  assert.equal(raw.body.toString(), 'for HTTP/1.0');
});

test('many concurrent buffered requests each get their own body', async (t) => {
  const srv = await startServer((s) =>
    s.get('/n/{n}', async (r) => {
      r.response.write(`n=${r.get('n')};`);
      await sleep(Math.random() * 20);
      r.response.write(`done=${r.get('n')}`);
    }),
  );
  t.after(() => srv.close());
  const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => send(`${srv.url}/n/${i}`)));
  replies.forEach((res, i) => {
    assert.equal(res.text, `n=${i};done=${i}`);
  });
});
