// Issue #13, trap 2: a returned byte stream (a file, a fetch body) streams as bytes with the
// handler's content type; only streams of values become SSE events.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSocket, send, waitFor } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';
import { parseEvents } from './helpers/sse-clients.ts';

const CSV = 'id,name\n1,Ada\n2,Grace\n';

test('a returned file stream keeps the handler content type and its bytes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bytes-'));
  const file = join(dir, 'report.csv');
  await writeFile(file, CSV);
  const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13, 0x64, 0x61, 0x74, 0x61, 0x3a]);
  const srv = await startServer((s) => {
    // As in the issue: a file, with the type set by hand.
    s.get('/report.csv', (r) => {
      r.response.header.set('Content-Type', 'text/csv');
      return createReadStream(file);
    });
    s.get('/blob.bin', () => Readable.from([binary], { objectMode: false }));
  });
  t.after(async () => {
    await srv.close();
    await rm(dir, { recursive: true });
  });
  const csv = await send(`${srv.url}/report.csv`);
  assert.equal(csv.status, 200);
  assert.equal(csv.headers['content-type'], 'text/csv');
  assert.equal(csv.text, CSV);
  const bin = await send(`${srv.url}/blob.bin`);
  assert.equal(bin.headers['content-type'], 'application/octet-stream');
  assert.deepEqual(bin.body, binary);
});

test('a web ReadableStream of bytes, a Blob and a fetch body stream as bytes; values become events', async (t) => {
  const enc = new TextEncoder();
  const srv = await startServer((s) => {
    s.get('/web-bytes', (r) => {
      r.response.header.set('Content-Type', 'text/plain; charset=utf-8');
      return new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(enc.encode('hello '));
          c.enqueue(enc.encode('bytes'));
          c.close();
        },
      });
    });
    s.get(
      '/web-values',
      () =>
        new ReadableStream({
          start(c) {
            c.enqueue({ n: 1 });
            c.close();
          },
        }),
    );
    s.get('/object-mode', () => Readable.from([{ n: 1 }, { n: 2 }]));
    s.get('/blob', () => new Blob(['<svg/>'], { type: 'image/svg+xml' }));
    s.get('/upstream', (r) => {
      r.response.header.set('Content-Type', 'text/csv');
      r.response.write(CSV);
    });
    s.get('/proxy', async (r) => {
      const upstream = await fetch(`http://127.0.0.1:${r.server.getListenedPort()}/upstream`);
      r.response.header.set('Content-Type', upstream.headers.get('content-type') ?? 'text/plain');
      return upstream.body;
    });
  });
  t.after(() => srv.close());
  const bytes = await send(`${srv.url}/web-bytes`);
  assert.equal(bytes.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(bytes.text, 'hello bytes');
  const values = await send(`${srv.url}/web-values`);
  assert.match(String(values.headers['content-type']), /^text\/event-stream/);
  assert.deepEqual(
    parseEvents(values.text).map((e) => e.data),
    ['{"n":1}'],
  );
  const objects = await send(`${srv.url}/object-mode`);
  assert.match(String(objects.headers['content-type']), /^text\/event-stream/);
  assert.deepEqual(
    parseEvents(objects.text).map((e) => e.data),
    ['{"n":1}', '{"n":2}'],
  );
  const blob = await send(`${srv.url}/blob`);
  assert.equal(blob.headers['content-type'], 'image/svg+xml');
  assert.equal(blob.headers['content-length'], '6');
  assert.equal(blob.text, '<svg/>');
  const proxied = await send(`${srv.url}/proxy`);
  assert.equal(proxied.headers['content-type'], 'text/csv');
  assert.equal(proxied.text, CSV);
});

const CHUNK = 64 * 1024;

/** Waits until `count()` stays the same over 100 ms, and returns it. */
async function settled(count: () => number): Promise<number> {
  let last = count();
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    const now = count();
    if (now === last) return now;
    last = now;
  }
  return last;
}

/** Two endless byte sources that count their pulls and say when they were stopped. */
const SOURCES = {
  'a Node Readable': (probe: { pulls: number; stopped: boolean }) =>
    new Readable({
      highWaterMark: CHUNK,
      read() {
        probe.pulls++;
        this.push(Buffer.alloc(CHUNK, 0x61));
      },
      destroy(err, cb) {
        probe.stopped = true;
        cb(err);
      },
    }),
  'a web ReadableStream': (probe: { pulls: number; stopped: boolean }) =>
    new ReadableStream<Uint8Array>({
      pull(c) {
        probe.pulls++;
        c.enqueue(new Uint8Array(CHUNK));
      },
      cancel() {
        probe.stopped = true;
      },
    }),
};

for (const [kind, make] of Object.entries(SOURCES)) {
  test(`${kind} is pulled only as fast as the client reads, and stopped when it leaves`, async (t) => {
    const probe = { pulls: 0, stopped: false };
    const srv = await startServer((s) => {
      s.get('/endless', () => make(probe));
    });
    t.after(() => srv.close());
    const socket = await openSocket(srv.port);
    socket.pause(); // reads nothing
    socket.write('GET /endless HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => probe.pulls > 0, 'the first pull');
    // Socket buffers on both sides fill up, then the producer waits: the pulls stop.
    const held = await settled(() => probe.pulls);
    await sleep(300);
    assert.equal(probe.pulls, held, 'the source kept being pulled for a client that reads nothing');
    assert.ok(held * CHUNK < 64 * 1024 * 1024, `pulled ${held} chunks of 64 KiB`);
    assert.equal(probe.stopped, false);
    socket.destroy();
    await waitFor(() => probe.stopped, 'the source to be stopped');
  });
}

const SILENT = {
  'a web ReadableStream': (stopped: () => void) => new ReadableStream({ cancel: stopped }),
  'a Node Readable': (stopped: () => void) =>
    new Readable({
      read() {},
      destroy(err, cb) {
        stopped();
        cb(err);
      },
    }),
};

for (const [kind, make] of Object.entries(SILENT)) {
  test(`${kind} that has sent nothing yet is stopped when the client leaves, and nothing is logged`, async (t) => {
    let stopped = false;
    const srv = await startServer((s) => {
      s.get('/silent', () =>
        make(() => {
          stopped = true;
        }),
      );
    });
    t.after(() => srv.close());
    const socket = await openSocket(srv.port);
    socket.write('GET /silent HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(100);
    socket.destroy();
    await waitFor(() => stopped, 'the source to be stopped');
    await sleep(50);
    assert.deepEqual(srv.logger.lines, []);
  });
}
