import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { InvalidArgumentError } from '../src/index.ts';
import { openSocket, parseRawResponse, send } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';

/** Counts what sluice parsed, so a huge body needs no huge echo. */
async function countingServer(
  t: { after(fn: () => unknown): void },
  setup: (s: TestServer['server']) => void = () => {},
): Promise<TestServer> {
  const srv = await startServer((s) => {
    setup(s);
    s.post('/count', (r) => {
      const body = (r.getBody() ?? {}) as Record<string, string | string[]>;
      const values = Object.values(body).reduce((n, v) => n + (Array.isArray(v) ? v.length : 1), 0);
      r.response.writeJson({ names: Object.keys(body).length, values, files: r.getFiles().length });
    });
  });
  t.after(() => srv.close());
  return srv;
}

/** One multipart part per name, each with a short value. */
function multipartFields(boundary: string, names: readonly string[], value: string): Buffer {
  const parts = names.map(
    (name) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  return Buffer.from(`${parts.join('')}--${boundary}--\r\n`);
}

/** Server-side CPU is in this process: what a request costs, in microseconds of user + system time. */
async function cpuOf(fn: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

test('30,000 repeats of one multipart field name cost about what 30,000 distinct names cost', async (t) => {
  const srv = await countingServer(t, (s) => s.setBodyLimit(64 * 1024 * 1024).setBodyFieldLimit(100_000));
  const n = 30_000;
  const boundary = 'rep';
  const value = 'v'.repeat(40);
  const headers = { 'Content-Type': `multipart/form-data; boundary=${boundary}` };
  const repeated = multipartFields(
    boundary,
    Array.from({ length: n }, () => 'same'),
    value,
  );
  const distinct = multipartFields(
    boundary,
    Array.from({ length: n }, (_, i) => `n${i}`.padEnd(4, '_')),
    value,
  );
  // Warm-up, so the first measured request does not pay for compiling busboy's paths.
  await send(`${srv.url}/count`, { method: 'POST', headers, body: distinct });

  let repeatedReply = '';
  const repeatedCpu = await cpuOf(async () => {
    repeatedReply = (await send(`${srv.url}/count`, { method: 'POST', headers, body: repeated })).text;
  });
  let distinctReply = '';
  const distinctCpu = await cpuOf(async () => {
    distinctReply = (await send(`${srv.url}/count`, { method: 'POST', headers, body: distinct })).text;
  });
  assert.deepEqual(JSON.parse(repeatedReply), { names: 1, values: n, files: 0 });
  assert.deepEqual(JSON.parse(distinctReply), { names: n, values: n, files: 0 });
  t.diagnostic(`CPU: repeated names ${repeatedCpu} µs, distinct names ${distinctCpu} µs`);
  // Copying the value array per repeat made this ~30x; linear accumulation keeps it near 1x.
  assert.ok(
    repeatedCpu < 5 * distinctCpu,
    `repeated names took ${repeatedCpu} µs of CPU, distinct names ${distinctCpu} µs`,
  );
});

test('a urlencoded body keeps every field up to the field limit and is refused past it', async (t) => {
  const srv = await countingServer(t);
  const form = (count: number) => Array.from({ length: count }, (_, i) => `f${i}=${i}&tag=t`).join('&');
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };

  // 500 distinct names plus 500 repeats of `tag`: exactly the default limit of 1000 fields.
  const atLimit = await send(`${srv.url}/count`, { method: 'POST', headers, body: form(500) });
  assert.equal(atLimit.status, 200, atLimit.text);
  assert.deepEqual(JSON.parse(atLimit.text), { names: 501, values: 1000, files: 0 });

  // Node's querystring kept the first 1000 and dropped the rest without a word.
  const over = await send(`${srv.url}/count`, { method: 'POST', headers, body: form(750) });
  assert.equal(over.status, 413);
  assert.equal(over.text, 'Request body has more than the limit of 1000 fields');

  srv.server.setBodyFieldLimit(2000);
  const raised = await send(`${srv.url}/count`, { method: 'POST', headers, body: form(750) });
  assert.deepEqual(JSON.parse(raised.text), { names: 751, values: 1500, files: 0 });
});

test('a query string keeps every parameter (find-my-way parses it without a key limit)', async (t) => {
  const srv = await startServer((s) => s.get('/q', (r) => r.response.writeJson(r.getQuery())));
  t.after(() => srv.close());
  const query = Array.from({ length: 1500 }, (_, i) => `k${i}=${i}`).join('&');
  const res = await send(`${srv.url}/q?${query}&k0=again`);
  const parsed = JSON.parse(res.text) as Record<string, unknown>;
  assert.equal(Object.keys(parsed).length, 1500);
  assert.deepEqual(parsed.k0, ['0', 'again']);
  assert.equal(parsed.k1499, '1499');
});

test('a multipart body past the field or file limit is a 413 that names the limit', async (t) => {
  const srv = await countingServer(t);
  const boundary = 'lim';
  const headers = { 'Content-Type': `multipart/form-data; boundary=${boundary}` };
  const names = (count: number) => Array.from({ length: count }, (_, i) => `f${i}`);

  const fields = await send(`${srv.url}/count`, {
    method: 'POST',
    headers,
    body: multipartFields(boundary, names(1001), ''),
  });
  assert.equal(fields.status, 413);
  assert.equal(fields.text, 'Request body has more than the limit of 1000 fields');

  const emptyFile = `--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="e.txt"\r\n\r\n\r\n`;
  const files = (count: number) => Buffer.from(`${emptyFile.repeat(count)}--${boundary}--\r\n`);
  const tooManyFiles = await send(`${srv.url}/count`, { method: 'POST', headers, body: files(101) });
  assert.equal(tooManyFiles.status, 413);
  assert.equal(tooManyFiles.text, 'Request body has more than the limit of 100 files');

  const atLimit = await send(`${srv.url}/count`, { method: 'POST', headers, body: files(100) });
  assert.deepEqual(JSON.parse(atLimit.text), { names: 0, values: 0, files: 100 });
});

/** The heap's live size, measured after a full collection so garbage does not count. */
const liveHeap = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    return process.memoryUsage().heapUsed;
  };
})();

/**
 * Streams `total` bytes of empty file parts as a chunked body, the way an attacker would: it
 * stops when the server answers or hangs up, and resolves with the raw response.
 */
async function streamEmptyFiles(port: number, total: number): Promise<Buffer> {
  const socket: Socket = await openSocket(port);
  const received: Buffer[] = [];
  let closed = false;
  socket.on('data', (c: Buffer) => received.push(c));
  socket.on('error', () => {}); // the server may reset a connection whose body it refused
  const done = new Promise<void>((resolve) =>
    socket.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  socket.write(
    'POST /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n' +
      'Content-Type: multipart/form-data; boundary=e\r\n\r\n',
  );
  const part = '--e\r\nContent-Disposition: form-data; name="f"; filename="e"\r\n\r\n\r\n';
  const slab = Buffer.from(part.repeat(Math.floor(65_536 / part.length)));
  const chunk = Buffer.concat([Buffer.from(`${slab.length.toString(16)}\r\n`), slab, Buffer.from('\r\n')]);
  for (let sent = 0; sent < total && !closed && received.length === 0; sent += slab.length) {
    if (!socket.write(chunk)) await Promise.race([new Promise((r) => socket.once('drain', r)), done]);
  }
  // The closing boundary (7 bytes) and the last chunk, unless the server already answered.
  if (!closed && received.length === 0) socket.write('7\r\n--e--\r\n\r\n0\r\n\r\n');
  await done;
  return Buffer.concat(received);
}

test('every byte of a multipart body counts toward the limit: 10 MB of empty file parts is a 413', async (t) => {
  // The count limits are lifted, so only the byte count can stop this body.
  const srv = await countingServer(t, (s) =>
    s
      .setBodyLimit(1024 * 1024)
      .setBodyFileLimit(1_000_000)
      .setBodyFieldLimit(1_000_000),
  );
  const baseline = liveHeap();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, liveHeap());
  }, 50);
  let raw: Buffer;
  try {
    raw = await streamEmptyFiles(srv.port, 10 * 1024 * 1024);
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, liveHeap());
  const response = parseRawResponse(raw);
  assert.equal(response.status, 413, response.body.toString());
  assert.equal(response.body.toString(), 'Request body is larger than the limit of 1048576 bytes');
  const grownMb = (peak - baseline) / 1024 / 1024;
  t.diagnostic(`live heap grew by ${grownMb.toFixed(1)} MB`);
  // Counting only values held ~150,000 empty files, ~60 MB of heap, before answering 200.
  assert.ok(grownMb < 20, `the live heap grew by ${grownMb.toFixed(1)} MB`);
});

test('error answers carry nosniff and do not echo the body back', async (t) => {
  const srv = await countingServer(t);
  const res = await send(`${srv.url}/count`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{"a": <script>alert(1)</script>}',
  });
  assert.equal(res.status, 400);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  // V8's own message quotes the body: `Unexpected token '<', "{"a": <script>al"... is not valid JSON`.
  assert.equal(res.text, 'Malformed JSON body: Unexpected token');
  const cut = await send(`${srv.url}/count`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{"a": [1, 2',
  });
  assert.match(cut.text, /^Malformed JSON body: .* at position 11\b/);
  const notFound = await send(`${srv.url}/nowhere`);
  assert.equal(notFound.status, 404);
  assert.equal(notFound.headers['x-content-type-options'], 'nosniff');
});

test('the field and file limits take only non-negative integers', async (t) => {
  const srv = await countingServer(t);
  for (const bad of [-1, 1.5, Number.NaN, '10' as unknown as number]) {
    for (const set of [
      (n: number) => srv.server.setBodyFieldLimit(n),
      (n: number) => srv.server.setBodyFileLimit(n),
    ]) {
      assert.throws(
        () => set(bad),
        (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'count',
      );
    }
  }
});
