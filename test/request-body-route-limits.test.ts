import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { HttpError, InvalidArgumentError, type RouteOptions, type Server } from '../src/index.ts';
import { defineRoute } from '../src/schema/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';

/** How much of the body the handler saw, so a big body needs no big echo. */
const sizeOf = (r: { getBody(): unknown }) => ({ length: JSON.stringify(r.getBody()).length });

async function serve(t: { after(fn: () => unknown): void }, setup: (s: Server) => void): Promise<TestServer> {
  const srv = await startServer(setup);
  t.after(() => srv.close());
  return srv;
}

/** A JSON body of about `bytes` bytes. */
function jsonOf(bytes: number): string {
  return JSON.stringify({ pad: 'x'.repeat(Math.max(0, bytes - 10)) });
}

function postJson(url: string, body: string, chunked = false) {
  return send(url, {
    method: 'POST',
    headers: chunked
      ? { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }
      : { 'Content-Type': 'application/json' },
    body,
  });
}

function multipart(boundary: string, parts: { name: string; filename?: string; data: string }[]): Buffer {
  const text = parts
    .map(
      (p) =>
        `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"` +
        `${p.filename === undefined ? '' : `; filename="${p.filename}"`}\r\n\r\n${p.data}\r\n`,
    )
    .join('');
  return Buffer.from(`${text}--${boundary}--\r\n`);
}

test("a route's bodyLimit wins over the server's, larger or smaller, announced or chunked", async (t) => {
  const srv = await serve(t, (s) => {
    s.setBodyLimit(1024);
    s.post('/small', sizeOf);
    s.post('/big', sizeOf, { bodyLimit: 64 * 1024 });
    s.put('/tiny', sizeOf, { bodyLimit: 100 });
  });
  const body = jsonOf(10_000);
  for (const chunked of [false, true]) {
    const big = await postJson(`${srv.url}/big`, body, chunked);
    assert.equal(big.status, 200, big.text);
    assert.deepEqual(JSON.parse(big.text), { length: body.length });

    const small = await postJson(`${srv.url}/small`, body, chunked);
    assert.equal(small.status, 413);
    assert.equal(small.text, 'Request body is larger than the limit of 1024 bytes');

    const tiny = await send(`${srv.url}/tiny`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: jsonOf(500),
    });
    assert.equal(tiny.status, 413);
    assert.equal(tiny.text, 'Request body is larger than the limit of 100 bytes');
  }
  // Past the route's own limit is a 413 too, naming the route's limit.
  const over = await postJson(`${srv.url}/big`, jsonOf(70_000));
  assert.equal(over.status, 413);
  assert.equal(over.text, `Request body is larger than the limit of ${64 * 1024} bytes`);
});

test("a group's options apply to its routes and subgroups; a route's own key wins, the rest are inherited", async (t) => {
  const srv = await serve(t, (s) => {
    s.setBodyLimit(1024);
    s.group(
      '/api',
      (g) => {
        g.post('/inherits', sizeOf);
        g.post('/own', sizeOf, { bodyLimit: 200 });
        g.group('/deep', (d) => d.post('/x', sizeOf));
        g.group('/fields', (d) => d.post('/x', sizeOf, { bodyFieldLimit: 5 }), { bodyFieldLimit: 2 });
      },
      { bodyLimit: 32 * 1024, bodyFieldLimit: 3 },
    );
    s.post('/outside', sizeOf);
  });
  const body = jsonOf(10_000);
  assert.equal((await postJson(`${srv.url}/api/inherits`, body)).status, 200);
  assert.equal((await postJson(`${srv.url}/api/deep/x`, body)).status, 200);
  const own = await postJson(`${srv.url}/api/own`, body);
  assert.equal(own.text, 'Request body is larger than the limit of 200 bytes');
  const outside = await postJson(`${srv.url}/outside`, body);
  assert.equal(outside.text, 'Request body is larger than the limit of 1024 bytes');

  const form = (n: number) => ({
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: Array.from({ length: n }, (_, i) => `f${i}=${i}`).join('&'),
  });
  // The group's field limit (3), not the server's 1000.
  const inherits = await send(`${srv.url}/api/inherits`, form(4));
  assert.equal(inherits.status, 413);
  assert.equal(inherits.text, 'Request body has more than the limit of 3 fields');
  // The inner group says 2, its route says 5: the route's key wins.
  assert.equal((await send(`${srv.url}/api/fields/x`, form(5))).status, 200);
  const six = await send(`${srv.url}/api/fields/x`, form(6));
  assert.equal(six.text, 'Request body has more than the limit of 5 fields');
  // ...and bodyLimit, which the route does not set, still comes from the outer group.
  assert.equal((await postJson(`${srv.url}/api/fields/x`, body)).status, 200);
});

test("a route's field and file limits are 413s naming the route's numbers", async (t) => {
  const srv = await serve(t, (s) => {
    s.post('/one-file', (r) => ({ files: r.getFiles().length }), { bodyFileLimit: 1, bodyFieldLimit: 2 });
    s.post('/default', (r) => ({ files: r.getFiles().length }));
  });
  const headers = { 'Content-Type': 'multipart/form-data; boundary=b' };
  const twoFiles = multipart('b', [
    { name: 'a', filename: 'a.txt', data: 'A' },
    { name: 'b', filename: 'b.txt', data: 'B' },
  ]);
  const refused = await send(`${srv.url}/one-file`, { method: 'POST', headers, body: twoFiles });
  assert.equal(refused.status, 413);
  assert.equal(refused.text, 'Request body has more than the limit of 1 files');
  const threeFields = multipart('b', [
    { name: 'a', data: '1' },
    { name: 'b', data: '2' },
    { name: 'c', data: '3' },
  ]);
  const fields = await send(`${srv.url}/one-file`, { method: 'POST', headers, body: threeFields });
  assert.equal(fields.text, 'Request body has more than the limit of 2 fields');
  const fine = await send(`${srv.url}/default`, { method: 'POST', headers, body: twoFiles });
  assert.deepEqual(JSON.parse(fine.text), { files: 2 });
});

test('defineRoute takes the same options, bound on the server or in a group', async (t) => {
  const upload = defineRoute({
    method: 'POST',
    path: '/upload',
    bodyLimit: 16 * 1024,
    body: z.object({ pad: z.string() }),
    handler: ({ body }) => ({ length: body.pad.length }),
  });
  const plain = defineRoute({
    method: 'POST',
    path: '/plain',
    body: z.object({ pad: z.string() }),
    handler: ({ body }) => ({ length: body.pad.length }),
  });
  const srv = await serve(t, (s) => {
    s.setBodyLimit(1024);
    s.bind({ upload, plain });
    s.group('/v2', (g) => g.bind({ upload }));
    s.group('/v3', (g) => g.bind({ plain }), { bodyLimit: 4096 });
  });
  const body = jsonOf(10_000);
  for (const path of ['/upload', '/v2/upload']) {
    const res = await postJson(`${srv.url}${path}`, body);
    assert.equal(res.status, 200, `${path}: ${res.text}`);
    assert.deepEqual(JSON.parse(res.text), { length: JSON.parse(body).pad.length });
  }
  const plainRes = await postJson(`${srv.url}/plain`, body);
  assert.equal(plainRes.text, 'Request body is larger than the limit of 1024 bytes');
  const grouped = await postJson(`${srv.url}/v3/plain`, body);
  assert.equal(grouped.text, 'Request body is larger than the limit of 4096 bytes');
});

test("r.parseBody() in global middleware already reads under the matched route's limit", async (t) => {
  const srv = await serve(t, (s) => {
    s.setBodyLimit(1024);
    s.use(async (r) => {
      const body = await r.parseBody<{ pad?: string }>();
      if (typeof body?.pad !== 'string') throw new HttpError(401);
      await r.middleware.next();
    });
    s.post('/big', sizeOf, { bodyLimit: 64 * 1024 });
    s.post('/small', sizeOf);
  });
  const body = jsonOf(10_000);
  assert.equal((await postJson(`${srv.url}/big`, body)).status, 200);
  const small = await postJson(`${srv.url}/small`, body);
  assert.equal(small.status, 413);
  assert.equal(small.text, 'Request body is larger than the limit of 1024 bytes');
});

test("the server's settings changed later still reach routes that do not set that key", async (t) => {
  const srv = await serve(t, (s) => {
    s.post('/fields', sizeOf, { bodyFieldLimit: 10 });
    s.post('/limit', sizeOf, { bodyLimit: 100 });
  });
  const body = jsonOf(2000);
  assert.equal((await postJson(`${srv.url}/fields`, body)).status, 200);
  srv.server.setBodyLimit(500);
  assert.equal(
    (await postJson(`${srv.url}/fields`, body)).text,
    'Request body is larger than the limit of 500 bytes',
  );
  srv.server.setBodyLimit(10_000);
  // The route's own 100 stays, whatever the server says.
  assert.equal(
    (await postJson(`${srv.url}/limit`, body)).text,
    'Request body is larger than the limit of 100 bytes',
  );
});

test('bad route options throw InvalidArgumentError naming the option and the rule, binding nothing', async (t) => {
  const srv = await serve(t, () => {});
  const s = srv.server;
  const cases: [unknown, string, RegExp][] = [
    [{ bodyLimit: -1 }, 'bodyLimit', /non-negative integer of bytes/],
    [{ bodyLimit: 1.5 }, 'bodyLimit', /non-negative integer of bytes/],
    [{ bodyLimit: '1mb' }, 'bodyLimit', /non-negative integer of bytes/],
    [{ bodyFieldLimit: Number.NaN }, 'bodyFieldLimit', /non-negative integer/],
    [{ bodyFileLimit: -3 }, 'bodyFileLimit', /non-negative integer/],
    [
      { fieldLimit: 5 },
      'options.fieldLimit',
      /not a route option; the options are bodyLimit, bodyFieldLimit/,
    ],
    [{ uploads: { storage: 'tape' } }, 'uploads.storage', /'memory' or 'disk'/],
    [{ uploads: { dir: '' } }, 'uploads.dir', /non-empty directory path/],
    [{ uploads: { maxFileSize: -1 } }, 'uploads.maxFileSize', /non-negative integer of bytes/],
    [{ uploads: { maxSize: 1 } }, 'uploads.maxSize', /not an upload option/],
    [{ uploads: 'disk' }, 'uploads', /must be an object/],
    [5, 'options', /must be an object/],
  ];
  for (const [options, argument, rule] of cases) {
    const check = (e: unknown) =>
      e instanceof InvalidArgumentError && e.argument === argument && rule.test(e.message);
    assert.throws(() => s.post('/x', () => 'x', options as RouteOptions), check, JSON.stringify(options));
    assert.throws(() => s.group('/g', () => {}, options as RouteOptions), check, JSON.stringify(options));
  }
  assert.throws(
    () => defineRoute({ method: 'POST', path: '/d', bodyLimit: -5, handler: () => 'x' }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'bodyLimit',
  );
  assert.throws(
    () => s.setUploads({ storage: 'cloud' as 'disk' }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'options.storage',
  );
  // The types say so first: a misspelt option or a string limit does not compile.
  // @ts-expect-error fieldLimit is not a route option (bodyFieldLimit is)
  assert.throws(() => s.post('/y', () => 'y', { fieldLimit: 5 }), InvalidArgumentError);
  // @ts-expect-error a limit is a number of bytes
  assert.throws(() => s.group('/z', () => {}, { bodyLimit: '1mb' }), InvalidArgumentError);
  // @ts-expect-error storage is 'memory' or 'disk'
  assert.throws(() => s.post('/y', () => 'y', { uploads: { storage: 's3' } }), InvalidArgumentError);
  // Refused before anything was registered: the path is still free.
  s.post('/x', () => 'bound');
  const res = await send(`${srv.url}/x`, { method: 'POST' });
  assert.equal(res.text, 'bound');
});

test("options are copied when given: changing the caller's object later changes nothing", async (t) => {
  const options = { bodyLimit: 50 };
  const srv = await serve(t, (s) => s.post('/x', sizeOf, options));
  options.bodyLimit = 1_000_000;
  const res = await postJson(`${srv.url}/x`, jsonOf(500));
  assert.equal(res.text, 'Request body is larger than the limit of 50 bytes');
});
