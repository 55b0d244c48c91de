import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { accessLog, handlerResponse, InvalidArgumentError, type Server, serveStatic } from '../src/index.ts';
import { parseRawResponse, rawExchange, send } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';

// Static files through the `send` package, checked over real sockets: conditional GET, ranges,
// MIME types, index files, dotfiles and every traversal spelling we know of.

const SECRET = 'TOP-SECRET-OUTSIDE-ROOT';
let base: string;
let root: string;
let ts: TestServer;
let mw: TestServer;
const access: string[] = [];
/** 200 KiB of a known pattern: big enough to span many socket writes. */
const BIG = Buffer.alloc(200 * 1024, 0);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 31) & 0xff;

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'sluice-static-'));
  root = join(base, 'public');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(root, '.hidden'), { recursive: true });
  mkdirSync(join(root, 'empty'), { recursive: true });
  writeFileSync(join(root, 'hello.txt'), 'hello world');
  writeFileSync(join(root, 'app.js'), 'console.log(1)');
  writeFileSync(join(root, 'style.css'), 'body{}');
  writeFileSync(join(root, 'big.bin'), BIG);
  writeFileSync(join(root, 'sub', 'index.html'), '<p>sub index</p>');
  writeFileSync(join(root, '.env'), SECRET);
  writeFileSync(join(root, '.hidden', 'x.txt'), SECRET);
  writeFileSync(join(root, 'about.html'), '<p>about</p>');
  writeFileSync(join(base, 'secret.txt'), SECRET);
  // A fixed, second-aligned time: If-Modified-Since compares whole seconds.
  utimesSync(join(root, 'hello.txt'), new Date('2026-01-02T03:04:05Z'), new Date('2026-01-02T03:04:05Z'));

  ts = await startServer((s) => {
    s.use(accessLog({ logger: { info: (line) => access.push(String(line)), warn() {}, error() {} } }));
    s.get('/assets/*path', serveStatic(root));
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.get('/file/{name}', (r) => r.response.serveFile(r.params.name!, { root }));
    });
    s.get('/report', (r) => r.response.serveFile(join(root, 'hello.txt')));
    s.get('/unawaited', (r) => {
      // The handler forgets to await: the response must still be the file, not an empty 200.
      void r.response.serveFile(join(root, 'hello.txt'));
    });
    s.get('/unawaited-missing', async (r) => {
      void r.response.serveFile(join(root, 'nope.txt'));
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    s.get('/download', (r) =>
      r.response.serveFileDownload(join(root, 'hello.txt'), 'Résumé "final" (1).txt'),
    );
    s.get('/download-missing', (r) => r.response.serveFileDownload(join(root, 'nope.txt')));
  });
  mw = await startServer((s: Server) => {
    s.use(serveStatic(root, { extensions: ['html'] }));
    s.get('/api/ping', () => 'pong');
  });
});

after(async () => {
  await ts?.close();
  await mw?.close();
  rmSync(base, { recursive: true, force: true });
});

/** A raw request, so no client normalises the target before the server sees it. */
async function raw(
  server: TestServer,
  target: string,
  headers = '',
): Promise<ReturnType<typeof parseRawResponse>> {
  const bytes = await rawExchange(
    server.port,
    `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`,
  );
  return parseRawResponse(bytes);
}

describe('a file under the root', () => {
  test('is sent with its MIME type, length, validators and Accept-Ranges', async () => {
    const res = await send(`${ts.url}/assets/hello.txt`);
    assert.equal(res.status, 200);
    assert.equal(res.text, 'hello world');
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.headers['content-length'], '11');
    assert.equal(res.headers['accept-ranges'], 'bytes');
    assert.equal(res.headers['last-modified'], 'Fri, 02 Jan 2026 03:04:05 GMT');
    assert.match(String(res.headers.etag), /^W\/".+"$/);
    assert.equal(
      (await send(`${ts.url}/assets/app.js`)).headers['content-type'],
      'text/javascript; charset=utf-8',
    );
    assert.equal(
      (await send(`${ts.url}/assets/style.css`)).headers['content-type'],
      'text/css; charset=utf-8',
    );
  });

  test('a large file arrives whole, and the access log counts its bytes', async () => {
    access.length = 0;
    const res = await send(`${ts.url}/assets/big.bin`);
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(BIG));
    await waitFor(() => access.some((l) => l.includes('/assets/big.bin')));
    assert.match(access.find((l) => l.includes('/assets/big.bin'))!, / 200 200\.0KiB /);
  });

  test('answers 304 to a matching If-None-Match or a later If-Modified-Since', async () => {
    const first = await send(`${ts.url}/assets/hello.txt`);
    const byTag = await send(`${ts.url}/assets/hello.txt`, {
      headers: { 'If-None-Match': String(first.headers.etag) },
    });
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body.length, 0);
    const byDate = await send(`${ts.url}/assets/hello.txt`, {
      headers: { 'If-Modified-Since': 'Fri, 02 Jan 2026 03:04:05 GMT' },
    });
    assert.equal(byDate.status, 304);
    const stale = await send(`${ts.url}/assets/hello.txt`, { headers: { 'If-None-Match': 'W/"other"' } });
    assert.equal(stale.status, 200);
    assert.equal(stale.text, 'hello world');
  });

  test('answers a Range with 206 and exactly those bytes, and an impossible one with 416', async () => {
    const part = await send(`${ts.url}/assets/big.bin`, { headers: { Range: 'bytes=1000-1999' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 1000-1999/${BIG.length}`);
    assert.ok(part.body.equals(BIG.subarray(1000, 2000)));
    const tail = await send(`${ts.url}/assets/big.bin`, { headers: { Range: 'bytes=-10' } });
    assert.ok(tail.body.equals(BIG.subarray(BIG.length - 10)));
    const none = await send(`${ts.url}/assets/hello.txt`, { headers: { Range: 'bytes=50-60' } });
    assert.equal(none.status, 416);
    assert.equal(none.headers['content-range'], 'bytes */11');
  });

  test('HEAD gets the headers and length and no body', async () => {
    const res = await send(`${ts.url}/assets/hello.txt`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '11');
    assert.equal(res.body.length, 0);
  });
});

describe('directories, dotfiles and traversal', () => {
  test('a directory serves its index.html, and without the slash redirects to it', async () => {
    const index = await send(`${ts.url}/assets/sub/`);
    assert.equal(index.status, 200);
    assert.equal(index.text, '<p>sub index</p>');
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    const redirect = await send(`${ts.url}/assets/sub?x=1`);
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, '/assets/sub/?x=1');
    assert.equal((await send(`${ts.url}/assets/empty/`)).status, 404, 'no listing');
  });

  test('a redirect never becomes protocol-relative (//host)', async () => {
    const res = await raw(mw, '//sub');
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, '/sub/');
  });

  test('dotfiles and dot-directories are refused', async () => {
    for (const target of ['/assets/.env', '/assets/.hidden/x.txt', '/assets/%2eenv', '/assets/%2Eenv']) {
      const res = await raw(ts, target);
      assert.ok(res.status === 403 || res.status === 404, `${target}: ${res.status}`);
      assert.ok(!res.body.toString().includes(SECRET), target);
    }
    assert.equal((await raw(ts, '/assets/.env')).status, 403);
  });

  test('no spelling of a path reaches a file outside the root', async () => {
    const outside = join(base, 'secret.txt');
    const targets = [
      '/assets/../secret.txt',
      '/assets/%2e%2e/secret.txt',
      '/assets/%2E%2E%2Fsecret.txt',
      '/assets/..%2fsecret.txt',
      '/assets/..%5csecret.txt',
      '/assets/..\\secret.txt',
      '/assets/%252e%252e/secret.txt',
      '/assets/sub/../../secret.txt',
      '/assets/sub/%2e%2e/%2e%2e/secret.txt',
      `/assets/${outside}`,
      `/assets/%2F${encodeURIComponent(outside.slice(1))}`,
      `/assets//${outside}`,
      '/assets/%00secret.txt',
      '/../secret.txt',
      '/%2e%2e/secret.txt',
    ];
    for (const target of targets) {
      for (const server of [ts, mw]) {
        const res = await raw(server, target);
        assert.ok([400, 403, 404].includes(res.status), `${target}: ${res.status}`);
        assert.ok(!res.body.toString().includes(SECRET), `${target} leaked the file`);
      }
    }
  });
});

describe('serveStatic as middleware', () => {
  test('serves files and lets every other request through to the routes', async () => {
    assert.equal((await send(`${mw.url}/hello.txt`)).text, 'hello world');
    assert.equal((await send(`${mw.url}/about`)).text, '<p>about</p>', 'extensions');
    assert.equal((await send(`${mw.url}/api/ping`)).text, 'pong');
    assert.equal((await send(`${mw.url}/missing.txt`)).status, 404);
    const post = await send(`${mw.url}/api/ping`, { method: 'POST' });
    assert.equal(post.status, 405, 'a POST is not a file request');
  });
});

describe('r.response.serveFile and serveFileDownload', () => {
  test('serveFile sends the file; a missing one is a 404 through handlerResponse', async () => {
    assert.equal((await send(`${ts.url}/report`)).text, 'hello world');
    assert.equal((await send(`${ts.url}/api/file/hello.txt`)).text, 'hello world');
    const missing = await send(`${ts.url}/api/file/nope.txt`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(JSON.parse(missing.text).code, 404);
    const outside = await send(`${ts.url}/api/file/..%2fsecret.txt`);
    assert.equal(outside.status, 403);
  });

  test('a serveFile() the handler did not await still sends the file', async () => {
    const res = await send(`${ts.url}/unawaited`);
    assert.equal(res.status, 200);
    assert.equal(res.text, 'hello world');
  });

  test('a serveFile() that fails while nobody awaits it does not bring the process down', async () => {
    const res = await send(`${ts.url}/unawaited-missing`);
    assert.ok(res.status === 200 || res.status === 404, String(res.status));
    assert.equal((await send(`${ts.url}/report`)).text, 'hello world', 'the server still serves');
  });

  test('serveFileDownload names the attachment safely (RFC 6266)', async () => {
    const res = await send(`${ts.url}/download`);
    assert.equal(res.text, 'hello world');
    assert.equal(
      res.headers['content-disposition'],
      `attachment; filename="R_sum_ _final_ (1).txt"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22%20%281%29.txt`,
    );
    const missing = await send(`${ts.url}/download-missing`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['content-disposition'], undefined, 'a 404 is not saved as the file');
    const refused = await send(`${ts.url}/download`, { headers: { Range: 'bytes=50-60' } });
    assert.equal(refused.status, 416);
    assert.equal(refused.headers['content-disposition'], undefined, 'a 416 is not saved as the file');
  });

  test('bad arguments throw InvalidArgumentError naming the argument', () => {
    assert.throws(
      () => serveStatic(''),
      (e: unknown) => e instanceof InvalidArgumentError && /root/.test(e.message),
    );
    assert.throws(() => serveStatic(join(base, 'nope')), /root.*existing directory/);
    assert.throws(() => serveStatic(root, { dotfiles: 'open' as 'allow' }), /dotfiles/);
    assert.throws(() => serveStatic(root, { maxAge: -1 }), /maxAge/);
    assert.throws(() => serveStatic(root, { prefix: 'assets' }), /prefix/);
    assert.throws(() => serveStatic(root, { index: ['a/b.html'] }), /index/);
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), 'timed out waiting');
}
