import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type ClientHttp2Session, constants, type IncomingHttpHeaders } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { type AccessEntry, accessLog, compress, type Server, session } from '../src/index.ts';
import { CODINGS, decompressorFor, trackZlibStreams } from './helpers/compressed-client.ts';
import { waitFor } from './helpers/http-client.ts';
import { forbiddenIn, h2connect, h2request, startHttp2Server } from './helpers/http2-client.ts';
import type { TestServer } from './helpers/server.ts';

// The gaps of HTTP/2 the first version left (issue #12): compression over HTTP/2, a refused
// upload that must stop the client sending, the access log's end reason for a reset buffered
// response, and the streaming cases of the HTTP/1.1 suite not covered by http2.test.ts.

/** Steps the gated handlers: each waits for the test before its next write. */
const gates: (() => void)[] = [];
function gate(): Promise<void> {
  return new Promise((resolve) => gates.push(resolve));
}
async function release(): Promise<void> {
  await waitFor(() => gates.length > 0, 'the handler to wait at its gate', 5000);
  gates.shift()?.();
}

function bigJson(n: number): { items: { i: number; name: string }[] } {
  return { items: Array.from({ length: n }, (_, i) => ({ i, name: `item number ${i}` })) };
}

function tickFrame(i: number): string {
  return `event: tick\nid: ${i}\ndata: ${JSON.stringify({ i, price: 100 + i / 4 })}\n\n`;
}

const FILE_TEXT = 'line of text that repeats\n'.repeat(400);

interface State {
  leftAborted: number;
  leftEnded: number;
}

function mount(dir: string, state: State, entries: AccessEntry[]) {
  return (s: Server) => {
    s.use(
      accessLog({
        format: (e) => {
          entries.push(e);
          return `${e.status} ${e.path} ${e.ended}`;
        },
      }),
    );
    s.use(compress());
    s.use(session());
    s.get('/json', (r) => bigJson(Number(r.getQuery('n') ?? 300)));
    s.get('/sse', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      for (let i = 0; i < 5; i++) {
        await gate();
        await es.send({ id: String(i), event: 'tick', data: { i, price: 100 + i / 4 } });
      }
      await gate();
      es.close();
    });
    s.get('/beat', async (r) => {
      const es = r.response.sse({ heartbeat: 100 });
      await es.closed;
    });
    s.get('/leave', async (r) => {
      r.signal.addEventListener('abort', () => state.leftAborted++);
      const es = r.response.sse({ heartbeat: 0 });
      while (await es.send({ data: { t: Date.now(), pad: 'x'.repeat(200) } })) await sleep(10);
      state.leftEnded++;
    });
    s.post('/upload', (r) => r.parseBody().then(() => 'accepted'), { bodyLimit: 1024 * 1024 });
    // A buffered answer that takes a while: never watched (no r.signal, no stream).
    s.get('/slow-buffered', async () => {
      await sleep(150);
      return 'late answer';
    });
    s.get('/readable', () => {
      const parts = ['alpha ', 'beta ', 'gamma'];
      return Readable.from(
        parts.map((p) => Buffer.from(p)),
        { objectMode: false },
      );
    });
    s.get(
      '/fetch-response',
      () => new globalThis.Response('from fetch', { status: 202, headers: { 'x-fetch': 'yes' } }),
    );
    s.get('/file', (r) => r.response.serveFile('page.txt', { root: dir }));
    s.get('/cookies', (r) => {
      r.cookie.set('a', '1');
      r.cookie.set('b', '2');
      r.session.set('visits', Number(r.session.get('visits') ?? 0) + 1);
      return { visits: r.session.get('visits') };
    });
  };
}

/** A streamed HTTP/2 response decoded as a browser decodes it: every DATA frame at once. */
interface DecodedStream {
  headers: IncomingHttpHeaders;
  text: string;
  wireBytes: number;
  /** `null` when the body ended as a complete, valid stream. */
  done: Promise<Error | null>;
  close(code?: number): void;
}

function openDecoded(session: ClientHttp2Session, path: string, coding: string): Promise<DecodedStream> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, 'accept-encoding': coding });
    stream.on('error', () => {});
    stream.once('response', (headers) => {
      const decoder = decompressorFor(headers['content-encoding'] as string | undefined);
      let settle!: (e: Error | null) => void;
      const out: DecodedStream = {
        headers,
        text: '',
        wireBytes: 0,
        done: new Promise((r) => {
          settle = r;
        }),
        close: (code = constants.NGHTTP2_CANCEL) => stream.close(code),
      };
      if (decoder === undefined) {
        reject(new Error(`not encoded: ${headers['content-encoding']}`));
        return;
      }
      decoder.on('data', (c: Buffer) => {
        out.text += c.toString();
      });
      decoder.on('error', (e) => settle(e));
      decoder.on('end', () => settle(null));
      stream.on('data', (c: Buffer) => {
        out.wireBytes += c.length;
        decoder.write(c);
      });
      stream.on('end', () => decoder.end());
      stream.on('close', () => {
        if (stream.rstCode !== 0) settle(new Error(`reset ${stream.rstCode}`));
      });
      resolve(out);
    });
  });
}

function decode(coding: string, body: Buffer): string {
  if (coding === 'gzip') return zlib.gunzipSync(body).toString();
  if (coding === 'br') return zlib.brotliDecompressSync(body).toString();
  return zlib.inflateSync(body).toString();
}

/** One request whose body is kept as bytes. */
function h2bytes(
  session: ClientHttp2Session,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer; rstCode: number }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ...headers });
    const chunks: Buffer[] = [];
    let response: IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      response = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('close', () => {
      if (response[':status'] === undefined) reject(new Error(`no response (rst ${stream.rstCode})`));
      else
        resolve({
          status: Number(response[':status']),
          headers: response,
          body: Buffer.concat(chunks),
          rstCode: stream.rstCode ?? 0,
        });
    });
  });
}

for (const tls of [true, false]) {
  describe(tls ? 'HTTP/2 gaps over TLS' : 'HTTP/2 gaps over h2c', () => {
    const state: State = { leftAborted: 0, leftEnded: 0 };
    const entries: AccessEntry[] = [];
    let ts: TestServer;
    let h2: ClientHttp2Session;

    before(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sluice-h2gap-'));
      writeFileSync(join(dir, 'page.txt'), FILE_TEXT);
      ts = await startHttp2Server(tls, mount(dir, state, entries));
      h2 = await h2connect(ts.url);
    });
    after(async () => {
      h2.destroy();
      await ts.close();
    });

    for (const coding of CODINGS) {
      test(`${coding}: a buffered body round-trips compressed, with Vary and its compressed Content-Length`, async () => {
        const res = await h2bytes(h2, '/json?n=300', { 'accept-encoding': coding });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-encoding'], coding);
        assert.equal(res.headers.vary, 'Accept-Encoding');
        assert.equal(Number(res.headers['content-length']), res.body.length);
        assert.deepEqual(forbiddenIn(res.headers), []);
        assert.equal(decode(coding, res.body), JSON.stringify(bigJson(300)));
      });

      test(`${coding}: each SSE event decodes the moment it arrives`, async () => {
        const st = await openDecoded(h2, '/sse', coding);
        assert.equal(st.headers['content-encoding'], coding);
        assert.equal(st.headers.vary, 'Accept-Encoding');
        assert.equal(st.headers['content-length'], undefined);
        assert.deepEqual(forbiddenIn(st.headers), []);
        let expected = '';
        for (let i = 0; i < 5; i++) {
          await release();
          expected += tickFrame(i);
          // The handler waits at its gate now, writing nothing: only a flushed event decodes here.
          await waitFor(() => st.text === expected, `event ${i} to decode on arrival (${coding})`, 3000);
        }
        await release();
        assert.equal(await st.done, null, 'the stream ends with a valid trailer');
        assert.equal(st.text, expected);
      });
    }

    test('a reset mid compressed stream aborts r.signal and destroys the compressor at once', async () => {
      const zlibStreams = trackZlibStreams();
      try {
        const aborted = state.leftAborted;
        const ended = state.leftEnded;
        // No decoder on this side: every zlib handle made meanwhile is the server's.
        const streams = await Promise.all(
          Array.from(
            { length: 10 },
            () =>
              new Promise<() => void>((resolve, reject) => {
                const st = h2.request({ ':path': '/leave', 'accept-encoding': 'br' });
                st.on('error', () => {});
                st.once('response', (h) => {
                  if (h['content-encoding'] !== 'br') reject(new Error('not compressed'));
                  st.once('data', () => resolve(() => st.close(constants.NGHTTP2_CANCEL)));
                });
              }),
          ),
        );
        const made = zlibStreams.made();
        assert.equal(made.length, 10, 'one compressor per compressed stream');
        assert.equal(made.filter((c) => c.destroyed).length, 0);
        for (const reset of streams) reset();
        await waitFor(() => state.leftAborted === aborted + 10, 'every r.signal to abort', 3000);
        await waitFor(() => state.leftEnded === ended + 10, 'every handler to end', 3000);
        await waitFor(
          () => made.every((c) => c.destroyed),
          `every compressor to be destroyed (${made.filter((c) => !c.destroyed).length} left)`,
          3000,
        );
      } finally {
        zlibStreams.stop();
      }
    });

    for (const declared of [true, false]) {
      test(`a 413 while the body is still arriving stops the upload early (${declared ? 'Content-Length over the limit' : 'no Content-Length'})`, async (t) => {
        const total = 50 * 1024 * 1024;
        const chunk = Buffer.alloc(64 * 1024, 120);
        const t0 = performance.now();
        const result = await new Promise<{ status: number; body: string; sent: number; rstCode: number }>(
          (resolve) => {
            const headers: Record<string, string> = {
              ':path': '/upload',
              ':method': 'POST',
              'content-type': 'application/json',
            };
            if (declared) headers['content-length'] = String(total);
            const st = h2.request(headers);
            let status = 0;
            let body = '';
            let sent = 0;
            st.setEncoding('utf8');
            st.on('response', (h) => {
              status = Number(h[':status']);
            });
            st.on('data', (c: string) => {
              body += c;
            });
            st.on('error', () => {});
            // Sends as fast as flow control lets it, as a browser uploading a file does.
            const pump = () => {
              while (sent < total && !st.destroyed && !st.closed) {
                sent += chunk.length;
                if (!st.write(chunk)) {
                  st.once('drain', pump);
                  return;
                }
              }
              if (sent >= total && !st.closed) st.end();
            };
            pump();
            // Node's client, told to stop while writes are queued, ends its side but never closes
            // the stream (it waits for those writes): 'aborted' is how it learns of the reset.
            let ended = false;
            let stopped = false;
            const done = () => {
              resolve({ status, body, sent, rstCode: st.rstCode ?? 0 });
              st.destroy();
            };
            st.on('end', () => {
              ended = true;
              if (stopped) done();
            });
            st.on('aborted', () => {
              stopped = true;
              if (ended) done();
            });
            st.on('close', done);
          },
        );
        t.diagnostic(
          `sent ${(result.sent / 2 ** 20).toFixed(1)} MiB, rst ${result.rstCode}, ${(performance.now() - t0).toFixed(0)} ms`,
        );
        assert.equal(result.status, 413);
        assert.match(result.body, /larger than the limit/);
        assert.ok(
          result.sent < total / 5,
          `the client sent ${(result.sent / 2 ** 20).toFixed(1)} MiB of 50 before it was stopped`,
        );
        const again = await h2request(h2, '/json?n=1');
        assert.equal(again.status, 200, 'the connection serves on');
      });
    }

    test('the access log says ended=client for a buffered response the client reset', async () => {
      const st = h2.request({ ':path': '/slow-buffered' });
      st.on('error', () => {});
      await sleep(30);
      st.close(constants.NGHTTP2_CANCEL);
      await waitFor(
        () => entries.some((e) => e.path === '/slow-buffered'),
        'the access log line of the reset request',
        3000,
      );
      const e = entries.find((x) => x.path === '/slow-buffered');
      assert.equal(e?.ended, 'client');
      // And a buffered response that did arrive says complete.
      await h2request(h2, '/json?n=1');
      await waitFor(
        () => entries.some((x) => x.path === '/json' && x.status === 200),
        'the /json line',
        3000,
      );
      assert.equal(entries.find((x) => x.path === '/json')?.ended, 'complete');
    });

    test('a compressed SSE heartbeat decodes on arrival, with no event to push it out', async () => {
      const st = await openDecoded(h2, '/beat', 'gzip');
      assert.equal(st.headers['content-encoding'], 'gzip');
      await waitFor(() => st.text.includes(':'), 'a heartbeat comment to decode', 3000);
      assert.equal(st.text.replace(/:[^\n]*\n\n?/g, ''), '', 'only comments: no event was sent');
      st.close();
    });

    test('a returned Readable of bytes streams through', async () => {
      const res = await h2request(h2, '/readable');
      assert.equal(res.status, 200);
      assert.equal(res.rstCode, 0);
      assert.equal(res.body, 'alpha beta gamma');
      assert.deepEqual(forbiddenIn(res.headers), []);
    });

    test('a returned Fetch Response keeps its status, headers and body', async () => {
      const res = await h2request(h2, '/fetch-response');
      assert.equal(res.status, 202);
      assert.equal(res.headers['x-fetch'], 'yes');
      assert.equal(res.body, 'from fetch');
      assert.deepEqual(forbiddenIn(res.headers), []);
    });

    test('serveFile with Range answers 206 with the bytes asked for; a whole file has its length', async () => {
      const part = await h2request(h2, '/file', { range: 'bytes=26-51' });
      assert.equal(part.status, 206);
      assert.equal(part.headers['content-range'], `bytes 26-51/${FILE_TEXT.length}`);
      assert.equal(part.body, FILE_TEXT.slice(26, 52));
      assert.equal(part.headers['content-encoding'], undefined);
      const whole = await h2request(h2, '/file');
      assert.equal(whole.status, 200);
      assert.equal(whole.headers['content-length'], String(FILE_TEXT.length));
      assert.equal(whole.body, FILE_TEXT);
      assert.deepEqual(forbiddenIn(whole.headers), []);
    });

    test('several Set-Cookie headers arrive apart, and the session cookie carries the session', async () => {
      const first = await h2request(h2, '/cookies');
      const cookies = first.headers['set-cookie'] as string[] | undefined;
      assert.ok(Array.isArray(cookies), 'set-cookie is a list');
      const names = cookies.map((c) => c.split('=')[0]);
      assert.deepEqual(names.slice().sort(), ['a', 'b', 'sluice.sid']);
      assert.deepEqual(JSON.parse(first.body), { visits: 1 });
      const sid = cookies.find((c) => c.startsWith('sluice.sid='))?.split(';')[0] as string;
      const second = await h2request(h2, '/cookies', { cookie: `${sid}; a=1` });
      assert.deepEqual(JSON.parse(second.body), { visits: 2 });
    });
  });
}

test('the request timeout resets an HTTP/2 stream whose body is late, and never cuts a long response', async (t) => {
  const ts = await startHttp2Server(true, (s) => {
    s.setTimeouts({ headers: 200, request: 300 });
    s.post('/slow-upload', (r) => r.parseBody().then(() => 'read'));
    s.post('/long-answer', async (r) => {
      await r.parseBody();
      for (let i = 0; i < 6; i++) {
        r.response.writeln(`part ${i}`);
        await r.response.flush();
        await sleep(100);
      }
    });
  });
  t.after(() => ts.close());
  const h2 = await h2connect(ts.url);
  t.after(() => h2.destroy());
  const t0 = performance.now();
  const slow = h2.request({ ':path': '/slow-upload', ':method': 'POST', 'content-type': 'application/json' });
  slow.on('error', () => {});
  slow.write('{"a":');
  const rst = await Promise.race([
    new Promise<number>((resolve) => slow.once('close', () => resolve(slow.rstCode ?? 0))),
    sleep(3000).then(() => -1),
  ]);
  const ms = performance.now() - t0;
  t.diagnostic(`a body left unfinished was cut after ${ms.toFixed(0)} ms (request timeout 300 ms)`);
  assert.equal(rst, constants.NGHTTP2_CANCEL);
  assert.ok(ms >= 250 && ms < 2000, `cut after ${ms.toFixed(0)} ms`);
  // A body sent at once and an answer streaming for 600 ms: past the timeout, and never cut.
  const long = await h2request(
    h2,
    '/long-answer',
    { ':method': 'POST', 'content-type': 'application/json' },
    '{"a":1}',
  );
  assert.equal(long.rstCode, 0);
  assert.equal(long.body, 'part 0\npart 1\npart 2\npart 3\npart 4\npart 5\n');
});
