import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HttpError, InvalidArgumentError, type Server, type UploadedFile } from '../src/index.ts';
import { defineRoute } from '../src/schema/index.ts';
import { openSocket, type Reply, send, waitFor } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const BOUNDARY = 'sluice-disk-7';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;

/** A directory of its own, so counting its files is not disturbed by anything else on the machine. */
async function scratchDir(t: { after(fn: () => unknown): void }, label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `sluice-test-${label}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function serve(t: { after(fn: () => unknown): void }, setup: (s: Server) => void): Promise<TestServer> {
  const srv = await startServer(setup);
  t.after(() => srv.close());
  return srv;
}

/** Polls an asynchronous condition until it holds, for at most 5 s. */
async function until(check: () => Promise<boolean>, what: () => string): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!(await check())) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what()}`);
    await sleep(5);
  }
}

/** Waits until `dir` holds exactly `count` entries: temp files go when the response has closed. */
async function expectFiles(dir: string, count: number, what: string): Promise<void> {
  let seen: string[] = [];
  await until(
    async () => {
      seen = await readdir(dir);
      return seen.length === count;
    },
    () => `${what}: ${dir} holds ${JSON.stringify(seen)}`,
  );
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

type Part = { name: string; filename?: string; type?: string; data: string | Buffer };

function multipart(parts: Part[]): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition =
      p.filename === undefined
        ? `form-data; name="${p.name}"`
        : `form-data; name="${p.name}"; filename="${p.filename}"`;
    const type = p.type === undefined ? '' : `Content-Type: ${p.type}\r\n`;
    chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`));
    chunks.push(Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

function upload(url: string, parts: Part[]): Promise<Reply> {
  return send(url, { method: 'POST', headers: { 'Content-Type': MULTIPART }, body: multipart(parts) });
}

/** Describes each file as the handler saw it, with the bytes' hash read back from disk. */
async function describeFiles(files: readonly UploadedFile[]) {
  return Promise.all(
    files.map(async (f) => ({
      field: f.field,
      filename: f.filename,
      mimeType: f.mimeType,
      size: f.size,
      path: f.path,
      mode: f.path === undefined ? undefined : (await stat(f.path)).mode & 0o777,
      sha: createHash('sha256')
        .update(await f.bytes())
        .digest('hex'),
    })),
  );
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

test('with storage disk each file is a 0o600 temp file under a random name, deleted when the request ends', async (t) => {
  const dir = await scratchDir(t, 'tmp');
  let seen: Awaited<ReturnType<typeof describeFiles>> = [];
  const srv = await serve(t, (s) => {
    s.post(
      '/up',
      async (r) => {
        seen = await describeFiles(r.getFiles());
        return { body: r.getBody(), files: r.getFiles() };
      },
      { uploads: { storage: 'disk', dir } },
    );
  });
  const big = Buffer.alloc(300_000, 7);
  const small = Buffer.from([0, 1, 2, 255]);
  const res = await upload(`${srv.url}/up`, [
    { name: 'title', data: 'hello' },
    // Client file names that would escape the directory if they were ever used in a path.
    { name: 'big', filename: '../../../../etc/passwd', type: 'application/octet-stream', data: big },
    { name: 'small', filename: '..\\..\\evil.exe', type: 'image/png', data: small },
    { name: 'empty', filename: 'empty.txt', data: '' },
  ]);
  assert.equal(res.status, 200, res.text);
  const json = JSON.parse(res.text);
  assert.deepEqual(json.body, { title: 'hello' });
  // busboy keeps only the last segment of a client's file name; sluice uses none of it.
  assert.deepEqual(
    seen.map(({ field, filename, mimeType, size, sha }) => ({ field, filename, mimeType, size, sha })),
    [
      {
        field: 'big',
        filename: 'passwd',
        mimeType: 'application/octet-stream',
        size: big.length,
        sha: sha(big),
      },
      { field: 'small', filename: 'evil.exe', mimeType: 'image/png', size: 4, sha: sha(small) },
      { field: 'empty', filename: 'empty.txt', mimeType: 'text/plain', size: 0, sha: sha('') },
    ],
  );
  for (const f of seen) {
    assert.equal(dirname(f.path!), dir);
    assert.match(basename(f.path!), /^sluice-upload-[0-9a-f]{32}$/);
    assert.equal(f.mode, 0o600);
  }
  // JSON shows the description and the path, never the bytes.
  assert.deepEqual(
    json.files.map((f: Record<string, unknown>) => Object.keys(f).sort()),
    [0, 1, 2].map(() => ['field', 'filename', 'mimeType', 'path', 'size']),
  );
  await expectFiles(dir, 0, 'the temp files to be deleted after the response');
});

test("the temp directory defaults to os.tmpdir(), read when the file arrives; the server's setUploads applies", async (t) => {
  let path: string | undefined;
  const srv = await serve(t, (s) => {
    s.setUploads({ storage: 'disk' });
    s.post('/up', (r) => {
      path = r.getFiles()[0]?.path;
      return 'ok';
    });
    s.post('/mem', (r) => String(r.getFiles()[0]?.data), { uploads: { storage: 'memory' } });
  });
  const res = await upload(`${srv.url}/up`, [{ name: 'f', filename: 'a.txt', data: 'abc' }]);
  assert.equal(res.status, 200, res.text);
  assert.equal(dirname(path!), tmpdir());
  await until(
    async () => !(await exists(path!)),
    () => `${path} in os.tmpdir() to be deleted`,
  );
  // A route's own storage wins over the server's.
  const mem = await upload(`${srv.url}/mem`, [{ name: 'f', filename: 'a.txt', data: 'in memory' }]);
  assert.equal(mem.text, 'in memory');
});

test('file.save(dir) keeps a file past the request, under a random or a checked name, never replacing one', async (t) => {
  const temp = await scratchDir(t, 'tmp');
  const keep = await scratchDir(t, 'keep');
  await writeFile(join(keep, 'taken.bin'), 'already here');
  const outcomes: Record<string, unknown> = {};
  const srv = await serve(t, (s) => {
    const saveAll = async (r: { getFiles(): readonly UploadedFile[] }) => {
      const [a, b] = r.getFiles() as UploadedFile[];
      outcomes.random = await a!.save(keep);
      outcomes.named = await b!.save(keep, 'chosen.bin');
      outcomes.afterSave = (await b!.bytes()).toString();
      for (const bad of ['../escape.bin', 'a/b', '..', '.', '', 'nul\0']) {
        try {
          await b!.save(keep, bad);
          outcomes[`bad:${bad}`] = 'saved';
        } catch (e) {
          outcomes[`bad:${bad}`] = e instanceof InvalidArgumentError ? e.argument : String(e);
        }
      }
      outcomes.taken = await b!.save(keep, 'taken.bin').catch((e: NodeJS.ErrnoException) => e.code);
      return 'ok';
    };
    s.post('/disk', saveAll, { uploads: { storage: 'disk', dir: temp } });
    s.post('/memory', saveAll);
  });
  for (const route of ['/disk', '/memory']) {
    const res = await upload(`${srv.url}${route}`, [
      { name: 'a', filename: '../../x.sh', data: `first ${route}` },
      { name: 'b', filename: 'b.bin', data: `second ${route}` },
    ]);
    assert.equal(res.status, 200, res.text);
    assert.equal(dirname(outcomes.random as string), keep);
    assert.match(basename(outcomes.random as string), /^[0-9a-f]{32}$/);
    assert.equal(await readFile(outcomes.random as string, 'utf8'), `first ${route}`);
    assert.equal(outcomes.named, join(keep, 'chosen.bin'));
    assert.equal(outcomes.afterSave, `second ${route}`);
    for (const bad of ['../escape.bin', 'a/b', '..', '.', '', 'nul\0'])
      assert.equal(outcomes[`bad:${bad}`], 'name');
    assert.equal(outcomes.taken, 'EEXIST');
    assert.equal(await readFile(join(keep, 'taken.bin'), 'utf8'), 'already here');
    assert.equal((await stat(outcomes.named as string)).mode & 0o777, 0o600);
    await rm(outcomes.random as string);
    await rm(outcomes.named as string);
  }
  await expectFiles(temp, 0, 'the temp directory to be empty (the saved files moved out)');
  assert.deepEqual((await readdir(keep)).sort(), ['taken.bin']);
});

test('a file past maxFileSize is a 413 naming that limit, and its partial temp file is removed', async (t) => {
  const dir = await scratchDir(t, 'tmp');
  const max = 64 * 1024;
  let handled = 0;
  const srv = await serve(t, (s) => {
    s.post(
      '/up',
      (r) => {
        handled++;
        return { size: r.getFiles()[0]?.size };
      },
      { bodyLimit: 16 * 2 ** 20, uploads: { storage: 'disk', dir, maxFileSize: max } },
    );
    s.post('/mem', (r) => ({ size: r.getFiles()[0]?.size }), { uploads: { maxFileSize: max } });
  });
  for (const path of ['/up', '/mem']) {
    const exact = await upload(`${srv.url}${path}`, [
      { name: 'f', filename: 'f', data: Buffer.alloc(max, 1) },
    ]);
    assert.deepEqual(JSON.parse(exact.text), { size: max });
    // Several megabytes past it, so part of it was on disk when the limit hit.
    const over = await upload(`${srv.url}${path}`, [
      { name: 'f', filename: 'f', data: Buffer.alloc(4 * 2 ** 20, 2) },
    ]);
    assert.equal(over.status, 413);
    assert.equal(over.text, `Uploaded file is larger than the limit of ${max} bytes`);
  }
  assert.equal(handled, 1);
  await expectFiles(dir, 0, 'the partial file to be removed');
});

test('a body past the body limit in the middle of a file on disk is a 413, and nothing stays on disk', async (t) => {
  const dir = await scratchDir(t, 'tmp');
  const srv = await serve(t, (s) => {
    s.post('/up', () => 'never', { bodyLimit: 2 ** 20, uploads: { storage: 'disk', dir } });
  });
  // Chunked, so no Content-Length gives it away: the first file is written and the second begun
  // when the count passes the limit.
  const res = await send(`${srv.url}/up`, {
    method: 'POST',
    headers: { 'Content-Type': MULTIPART, 'Transfer-Encoding': 'chunked' },
    body: multipart([
      { name: 'a', filename: 'a', data: Buffer.alloc(200_000, 1) },
      { name: 'b', filename: 'b', data: Buffer.alloc(3 * 2 ** 20, 2) },
    ]),
  });
  assert.equal(res.status, 413);
  assert.equal(res.text, `Request body is larger than the limit of ${2 ** 20} bytes`);
  await expectFiles(dir, 0, 'the temp files of a refused body to be removed');
});

test('a client that leaves in the middle of a file leaves no temp file behind', async (t) => {
  const dir = await scratchDir(t, 'tmp');
  let handled = false;
  const srv = await serve(t, (s) => {
    s.post(
      '/up',
      () => {
        handled = true;
      },
      { bodyLimit: 64 * 2 ** 20, uploads: { storage: 'disk', dir } },
    );
    s.get('/ping', () => 'pong');
  });
  const socket = await openSocket(srv.port);
  socket.on('error', () => {});
  const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="f.bin"\r\n\r\n`;
  socket.write(
    `POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: ${MULTIPART}\r\nContent-Length: ${32 * 2 ** 20}\r\n\r\n${head}`,
  );
  socket.write(Buffer.alloc(2 ** 20, 3));
  // The file is on its way to disk before the client vanishes.
  await until(
    async () => {
      const [name] = await readdir(dir);
      return name !== undefined && (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size > 0;
    },
    () => 'part of the file to be written',
  );
  socket.destroy();
  await expectFiles(dir, 0, 'the partial temp file to be removed after the client left');
  await waitFor(() => srv.server.active === 0, 'the request to end');
  assert.equal(handled, false);
  assert.equal((await send(`${srv.url}/ping`)).text, 'pong');
});

test('a handler that throws, or reads file.data of a file on disk, gets its error answered and the temp files deleted', async (t) => {
  const dir = await scratchDir(t, 'tmp');
  let dataError = '';
  let streamed = '';
  const srv = await serve(t, (s) => {
    s.post(
      '/throws',
      () => {
        throw new HttpError(422, 'not this file');
      },
      { uploads: { storage: 'disk', dir } },
    );
    s.post(
      '/data',
      async (r) => {
        const file = r.getFiles()[0]!;
        try {
          void file.data;
        } catch (e) {
          dataError = (e as Error).message;
        }
        for await (const chunk of file.stream()) streamed += String(chunk);
        throw new Error('boom');
      },
      { uploads: { storage: 'disk', dir } },
    );
  });
  const parts = [{ name: 'f', filename: 'f.txt', data: 'file body' }];
  const thrown = await upload(`${srv.url}/throws`, parts);
  assert.equal(thrown.status, 422);
  assert.equal(thrown.text, 'not this file');
  const failed = await upload(`${srv.url}/data`, parts);
  assert.equal(failed.status, 500);
  assert.match(
    dataError,
    /field "f" was streamed to disk.*file\.path, with file\.stream\(\) or await file\.bytes\(\)/,
  );
  assert.equal(streamed, 'file body');
  await expectFiles(dir, 0, 'the temp files of failed handlers to be deleted');
});

test('a global guard refuses a disk upload before a single temp file is made', async (t) => {
  const dir = await scratchDir(t, 'tmp');
  const srv = await serve(t, (s) => {
    s.use(async (r) => {
      if (r.headers.authorization !== 'yes') throw new HttpError(401);
      await r.middleware.next();
    });
    s.post('/up', (r) => ({ files: r.getFiles().length }), { uploads: { storage: 'disk', dir } });
  });
  let created = 0;
  const sampler = setInterval(() => {
    readdir(dir).then((names) => {
      created = Math.max(created, names.length);
    });
  }, 2);
  t.after(() => clearInterval(sampler));
  const body = multipart([{ name: 'f', filename: 'f', data: Buffer.alloc(2 ** 20) }]);
  const refused = await send(`${srv.url}/up`, {
    method: 'POST',
    headers: { 'Content-Type': MULTIPART },
    body,
  });
  assert.equal(refused.status, 401);
  clearInterval(sampler);
  assert.equal(created, 0);
  const allowed = await send(`${srv.url}/up`, {
    method: 'POST',
    headers: { 'Content-Type': MULTIPART, Authorization: 'yes' },
    body,
  });
  assert.deepEqual(JSON.parse(allowed.text), { files: 1 });
});

test('defineRoute and group options send uploads to disk as route options do', async (t) => {
  const dir = await scratchDir(t, 'tmp');
  const paths: (string | undefined)[] = [];
  const route = defineRoute({
    method: 'POST',
    path: '/typed',
    uploads: { storage: 'disk', dir },
    handler: (_input, r) => {
      paths.push(r.getFiles()[0]?.path);
      return 'ok';
    },
  });
  const srv = await serve(t, (s) => {
    s.bind({ route });
    s.group(
      '/g',
      (g) =>
        g.post('/x', (r) => {
          paths.push(r.getFiles()[0]?.path);
          return 'ok';
        }),
      { uploads: { storage: 'disk', dir } },
    );
  });
  for (const path of ['/typed', '/g/x']) {
    const res = await upload(`${srv.url}${path}`, [{ name: 'f', filename: 'f', data: 'x' }]);
    assert.equal(res.status, 200, res.text);
  }
  assert.equal(paths.length, 2);
  for (const p of paths) assert.equal(dirname(p!), dir);
  await expectFiles(dir, 0, 'the temp files to be deleted');
});

/** Live heap plus Buffer memory, after a full collection: a file held in memory is in the second. */
const liveMemory = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
})();

/** Streams one file of `size` bytes in a multipart body, writing with backpressure like a real client. */
function streamUpload(url: string, size: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const head = Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="video"; filename="v.bin"\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
    const req = request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'Content-Type': MULTIPART, 'Content-Length': head.length + size + tail.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString() });
        });
      },
    );
    req.on('error', reject);
    const slab = Buffer.alloc(256 * 1024, 0x61);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(slab.length, size - sent);
        sent += n;
        if (!req.write(n === slab.length ? slab : slab.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end(tail);
    };
    req.write(head);
    pump();
  });
}

test('a 200 MB upload streamed to disk keeps memory flat', async (t) => {
  const dir = await scratchDir(t, 'tmp');
  const size = 200 * 2 ** 20;
  let onDisk = -1;
  const srv = await serve(t, (s) => {
    s.post(
      '/video',
      async (r) => {
        const f = r.getFiles()[0]!;
        onDisk = (await stat(f.path!)).size;
        return { size: f.size };
      },
      { bodyLimit: 256 * 2 ** 20, uploads: { storage: 'disk', dir } },
    );
  });
  const baseline = liveMemory();
  let peak = baseline;
  // Collected before each sample: what is measured is what the upload holds, not garbage that
  // a later collection would have freed anyway.
  let samples = 0;
  const sampler = setInterval(() => {
    samples++;
    peak = Math.max(peak, liveMemory());
  }, 50);
  let res: Reply;
  try {
    res = await streamUpload(`${srv.url}/video`, size);
  } finally {
    clearInterval(sampler);
  }
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(JSON.parse(res.text), { size });
  assert.equal(onDisk, size);
  const grownMb = (peak - baseline) / 2 ** 20;
  t.diagnostic(
    `heap + buffers grew by at most ${grownMb.toFixed(1)} MB in ${samples} samples while 200 MB went to disk`,
  );
  // The upload takes seconds: a sampler that never ran would measure nothing.
  assert.ok(samples >= 5, `only ${samples} memory samples were taken`);
  // Held in memory, the file alone would be 200 MB.
  assert.ok(grownMb < 30, `memory grew by ${grownMb.toFixed(1)} MB`);
  await expectFiles(dir, 0, 'the 200 MB temp file to be deleted');
});
