import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { type Handler, handlerResponse } from '../src/index.ts';
import { parseRawResponse, rawExchange, send } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const LIMIT = 1024;

/** Echoes what sluice parsed, so the client sees the server's view of the body. */
const echoBody: Handler = (r) => {
  r.response.writeJson({
    body: r.getBody() ?? null,
    files: r.getFiles().map((f) => ({ ...f, data: f.data.toString('base64') })),
  });
};

async function bodyServer(t: { after(fn: () => unknown): void }): Promise<TestServer> {
  const srv = await startServer((s) => {
    s.setBodyLimit(LIMIT);
    s.post('/echo', echoBody);
    s.get('/ping', (r) => r.response.write('pong'));
    s.get('/item/{id}', (r) => r.response.write(`id=${r.get('id')}`));
  });
  t.after(() => srv.close());
  return srv;
}

/** The server still answers an ordinary request on a fresh connection. */
async function assertStillServing(srv: TestServer): Promise<void> {
  const res = await send(`${srv.url}/ping`);
  assert.equal(res.status, 200);
  assert.equal(res.text, 'pong');
}

function multipart(
  boundary: string,
  parts: { name: string; filename?: string; type?: string; data: string | Buffer }[],
) {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`;
    let head = `--${boundary}\r\nContent-Disposition: ${disposition}\r\n`;
    if (p.type !== undefined) head += `Content-Type: ${p.type}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`), Buffer.from(p.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

test('JSON, urlencoded and text bodies are parsed before the handler runs', async (t) => {
  const srv = await bodyServer(t);
  const json = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'ann', n: 3, nested: { ok: true } }),
  });
  assert.deepEqual(JSON.parse(json.text), { body: { name: 'ann', n: 3, nested: { ok: true } }, files: [] });

  const vendorJson = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/vnd.api+json; charset=utf-8' },
    body: '[1,2]',
  });
  assert.deepEqual(JSON.parse(vendorJson.text).body, [1, 2]);

  const form = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'a=1&b=h%C3%A9llo+world&tag=x&tag=y',
  });
  assert.deepEqual(JSON.parse(form.text).body, { a: '1', b: 'héllo world', tag: ['x', 'y'] });

  const text = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain' },
    body: 'just text ✓',
  });
  assert.equal(JSON.parse(text.text).body, 'just text ✓');
});

test('a multipart body gives its fields and its files (parsed by busboy)', async (t) => {
  const srv = await bodyServer(t);
  const boundary = 'sluice-boundary-42';
  const fileBytes = Buffer.from([0, 1, 2, 250, 255, 10, 13]);
  const res = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    body: multipart(boundary, [
      { name: 'title', data: 'hello ✓' },
      { name: 'tag', data: 'a' },
      { name: 'tag', data: 'b' },
      { name: 'upload', filename: 'blob.bin', type: 'application/octet-stream', data: fileBytes },
      { name: 'notes', filename: 'notes.txt', type: 'text/plain', data: 'line1\r\nline2' },
    ]),
  });
  assert.equal(res.status, 200, res.text);
  const parsed = JSON.parse(res.text);
  assert.deepEqual(parsed.body, { title: 'hello ✓', tag: ['a', 'b'] });
  assert.deepEqual(parsed.files, [
    {
      field: 'upload',
      filename: 'blob.bin',
      mimeType: 'application/octet-stream',
      size: fileBytes.length,
      data: fileBytes.toString('base64'),
    },
    {
      field: 'notes',
      filename: 'notes.txt',
      mimeType: 'text/plain',
      size: 12,
      data: Buffer.from('line1\r\nline2').toString('base64'),
    },
  ]);
});

test('malformed JSON is a 400 and the server keeps serving', async (t) => {
  const srv = await bodyServer(t);
  const res = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{"name": "ann",',
  });
  assert.equal(res.status, 400);
  assert.match(res.text, /^Malformed JSON body: /);
  assert.ok(
    srv.logger.lines.some((l) => l.level === 'warn' && /-> 400: Malformed JSON/.test(String(l.args[0]))),
  );
  await assertStillServing(srv);
});

test('a malformed multipart body is a 400 and the server keeps serving', async (t) => {
  const srv = await bodyServer(t);
  const noBoundary = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': 'multipart/form-data' },
    body: 'whatever',
  });
  assert.equal(noBoundary.status, 400);
  assert.match(noBoundary.text, /^Malformed multipart body/);
  const truncated = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': 'multipart/form-data; boundary=zz' },
    body: '--zz\r\nContent-Disposition: form-data; name="a"\r\n\r\nunfinished',
  });
  assert.equal(truncated.status, 400);
  // A file part cut short: busboy fails the file stream too, which must not become an uncaught error.
  const truncatedFile = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': 'multipart/form-data; boundary=zz' },
    body: '--zz\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhalf a fi',
  });
  assert.equal(truncatedFile.status, 400);
  assert.match(truncatedFile.text, /^Malformed multipart body: Unexpected end of form/);
  await assertStillServing(srv);
});

test('an oversized body is a 413, whether announced, chunked or multipart, and the server keeps serving', async (t) => {
  const srv = await bodyServer(t);
  const big = JSON.stringify({ pad: 'x'.repeat(LIMIT * 2) });

  const announced = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: big,
  });
  assert.equal(announced.status, 413);
  assert.equal(announced.text, `Request body is larger than the limit of ${LIMIT} bytes`);
  assert.equal(announced.headers.connection, 'close');

  // Chunked: no Content-Length to refuse up front, so the limit is enforced while reading.
  const chunked = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      `${srv.url}/echo`,
      { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.write(big.slice(0, 700));
    req.end(big.slice(700));
  });
  assert.equal(chunked.status, 413);

  const boundary = 'b0und';
  const upload = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Transfer-Encoding': 'chunked' },
    body: multipart(boundary, [{ name: 'f', filename: 'big.bin', data: Buffer.alloc(LIMIT * 3, 7) }]),
  });
  assert.equal(upload.status, 413);
  // The limit counts bytes: three fields of 200 three-byte characters are 1800 bytes, over it.
  const wide = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Transfer-Encoding': 'chunked' },
    body: multipart(
      boundary,
      ['a', 'b', 'c'].map((name) => ({ name, data: '\u20ac'.repeat(200) })),
    ),
  });
  assert.equal(wide.status, 413);
  await assertStillServing(srv);

  const justUnder = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain' },
    body: 'y'.repeat(LIMIT),
  });
  assert.equal(justUnder.status, 200);
  assert.equal(JSON.parse(justUnder.text).body.length, LIMIT);
});

test('a bad percent-encoding in the path is a 400 and the server keeps serving', async (t) => {
  const srv = await bodyServer(t);
  for (const path of ['/item/%zz', '/item/%E0%A4%A', '/unknown%zz', '/item/%']) {
    const raw = parseRawResponse(
      await rawExchange(srv.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    assert.equal(raw.status, 400, path);
    assert.equal(raw.body.toString(), 'Malformed URL: bad percent-encoding', path);
  }
  assert.equal((await send(`${srv.url}/item/%C3%A9`)).text, 'id=é');
  await assertStillServing(srv);
});

test('r.get looks in the path, then the query, then the body', async (t) => {
  const srv = await startServer((s) =>
    s.post('/p/{id}', (r) =>
      r.response.writeJson({
        id: r.get('id'),
        name: r.get('name'),
        extra: r.get('extra'),
        missing: r.get('missing', 'fallback'),
        queryName: r.getQuery('name'),
        queryAll: r.getQuery(),
        proto: r.get('toString') ?? null,
      }),
    ),
  );
  t.after(() => srv.close());
  const res = await send(`${srv.url}/p/from-path?id=from-query&name=from-query`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: 'from-body', name: 'from-body', extra: 'from-body' }),
  });
  assert.deepEqual(JSON.parse(res.text), {
    id: 'from-path',
    name: 'from-query',
    extra: 'from-body',
    missing: 'fallback',
    queryName: 'from-query',
    queryAll: { id: 'from-query', name: 'from-query' },
    proto: null,
  });
});

test('bodies of other types are left unread on r.raw for the handler', async (t) => {
  const srv = await startServer((s) =>
    s.post('/upload', async (r) => {
      const chunks: Buffer[] = [];
      for await (const c of r.raw) chunks.push(c as Buffer);
      r.response.write(`parsed=${r.getBody() === undefined} raw=${Buffer.concat(chunks).toString('hex')}`);
    }),
  );
  t.after(() => srv.close());
  const res = await send(`${srv.url}/upload`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: Buffer.from([1, 2, 3, 255]),
  });
  assert.equal(res.text, 'parsed=true raw=010203ff');
});

test('fields named like Object members keep their values (no prototype confusion)', async (t) => {
  const srv = await bodyServer(t);
  const boundary = 'proto';
  const names = ['toString', 'constructor', '__proto__', 'hasOwnProperty'];
  const res = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    body: multipart(
      boundary,
      names.map((name) => ({ name, data: `v-${name}` })),
    ),
  });
  assert.equal(res.status, 200, res.text);
  const expected = Object.fromEntries(names.map((n) => [n, `v-${n}`]));
  assert.deepEqual(JSON.parse(res.text).body, expected);

  const form = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: names.map((n) => `${n}=v-${n}`).join('&'),
  });
  assert.deepEqual(JSON.parse(form.text).body, expected);
});

test('r.get finds only real parameters, never inherited members, matched or not', async (t) => {
  const seen: Record<string, unknown> = {};
  const srv = await startServer((s) => {
    s.use(async (r) => {
      seen[r.path] = [r.get('toString') ?? null, r.get('constructor', 'def'), r.getQuery('valueOf') ?? null];
      await r.middleware.next();
    });
    s.post('/m', (r) => r.response.write('ok'));
  });
  t.after(() => srv.close());
  await send(`${srv.url}/m`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  await send(`${srv.url}/unmatched`);
  assert.deepEqual(seen, { '/m': [null, 'def', null], '/unmatched': [null, 'def', null] });
});

test('a refused body still passes through global middleware, as a 404 does', async (t) => {
  const passed: string[] = [];
  const srv = await startServer((s) => {
    s.setBodyLimit(LIMIT);
    s.use(async (r) => {
      r.response.header.set('Access-Control-Allow-Origin', '*');
      passed.push(r.path);
      await r.middleware.next();
    });
    s.use(handlerResponse);
    s.group('/g', (g) => {
      g.middleware(() => {
        throw new Error('group middleware must not run for a refused body');
      });
      g.post('/x', echoBody);
    });
  });
  t.after(() => srv.close());
  const malformed = await send(`${srv.url}/g/x`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{oops',
  });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.headers['access-control-allow-origin'], '*');
  const envelope = JSON.parse(malformed.text);
  assert.equal(envelope.code, 400);
  assert.match(envelope.message, /^Malformed JSON body: /);
  assert.equal(envelope.data, null);

  const oversized = await send(`${srv.url}/g/x`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain' },
    body: 'z'.repeat(LIMIT + 1),
  });
  assert.equal(oversized.status, 413);
  assert.equal(oversized.headers['access-control-allow-origin'], '*');
  assert.equal(oversized.headers.connection, 'close');
  assert.deepEqual(JSON.parse(oversized.text), {
    code: 413,
    message: `Request body is larger than the limit of ${LIMIT} bytes`,
    data: null,
  });
  assert.deepEqual(passed, ['/g/x', '/g/x']);
  assert.ok(!srv.logger.lines.some((l) => l.level === 'error'), JSON.stringify(srv.logger.lines));
});
