import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { type ClientHttp2Session, constants } from 'node:http2';
import { get as httpsGet } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AccessEntry,
  accessLog,
  Channel,
  createServer,
  HttpError,
  InvalidArgumentError,
  ndjson,
  type Server,
} from '../src/index.ts';
import {
  captureWarnings,
  dataOf,
  forbiddenIn,
  h2connect,
  h2open,
  h2request,
  startHttp2Server,
  TLS,
} from './helpers/http2-client.ts';
import type { TestServer } from './helpers/server.ts';

/** The headers HTTP/2 forbids, as a handler or middleware might set them after HTTP/1.1 habits. */
const CONNECTION_HEADERS: [string, string][] = [
  ['Connection', 'keep-alive'],
  ['Keep-Alive', 'timeout=5'],
  ['Transfer-Encoding', 'chunked'],
  ['Upgrade', 'websocket'],
  ['Proxy-Connection', 'keep-alive'],
];

/** The same routes on every protocol: what HTTP/1.1 tests check, over HTTP/2. */
function mount(channel: Channel, entries: AccessEntry[], gone: Map<string, number>) {
  return (s: Server) => {
    s.use(
      accessLog({
        format: (e) => {
          entries.push(e);
          return `${e.status} ${e.path}`;
        },
      }),
    );
    // Middleware sets every forbidden header through sluice's API and through Node's.
    s.use(async (r) => {
      for (const [name, value] of CONNECTION_HEADERS.slice(0, 2)) r.response.header.set(name, value);
      for (const [name, value] of CONNECTION_HEADERS.slice(2)) r.response.rawWriter().setHeader(name, value);
      r.response.header.set('X-Mw', 'before');
      await r.middleware.next();
    });
    s.get('/buffered', (r) => {
      r.response.header.append('Connection', 'close');
      r.response.write('hello ', r.host ?? '?', ' ', r.protocol);
    });
    s.post('/echo', (r) => ({ got: r.getBody() }));
    s.get('/flush', async (r) => {
      for (let i = 0; i < 3; i++) {
        r.response.writeln(`line ${i}`);
        if (!(await r.response.flush())) return;
        await sleep(10);
      }
    });
    s.get('/writehead', (r) => {
      // The raw writer's writeHead with a header object, the path around setHeader.
      r.response.rawWriter().writeHead(201, 'Made', { 'Transfer-Encoding': 'chunked', 'X-Raw': '1' });
      r.response.rawWriter().end('raw');
    });
    s.get('/sse', (r) => {
      const es = r.response.sse({ heartbeat: 50 });
      void es.send({ data: `last=${es.lastEventId ?? 'none'}` });
      let i = 0;
      const t = setInterval(() => void es.send({ id: String(++i), data: `tick ${i}` }), 20);
      es.signal.addEventListener('abort', () => clearInterval(t));
      r.signal.addEventListener('abort', () => gone.set(r.getQuery('name') as string, performance.now()));
    });
    s.get('/iterable', async function* () {
      for (let i = 0; i < 3; i++) {
        await sleep(5);
        yield { n: i };
      }
    });
    s.get('/ndjson', () => ndjson([{ a: 1 }, { a: 2 }]));
    s.get('/channel', async (r) => {
      await channel.subscribe(r.response.sse({ heartbeat: 0 }));
    });
    s.get('/fails-late', async (r) => {
      r.response.write('partial');
      await r.response.flush();
      await sleep(10);
      throw new HttpError(500, 'late');
    });
    s.get('/status', (r) => r.response.writeStatus(404));
  };
}

for (const tls of [true, false]) {
  describe(tls ? 'HTTP/2 over TLS' : 'HTTP/2 cleartext (h2c)', () => {
    const channel = new Channel({ name: `h2-${tls}` });
    const entries: AccessEntry[] = [];
    const gone = new Map<string, number>();
    let ts: TestServer;
    let session: ClientHttp2Session;
    let warnings: ReturnType<typeof captureWarnings>;

    before(async () => {
      warnings = captureWarnings();
      ts = await startHttp2Server(tls, mount(channel, entries, gone));
      session = await h2connect(ts.url);
    });
    after(async () => {
      session.close();
      await ts.close();
      const seen = warnings.stop();
      assert.deepEqual(
        seen.map((w) => `${w.name}: ${w.message}`),
        [],
        'Node printed no warning while serving HTTP/2',
      );
    });

    test('a buffered response arrives whole, with no connection-specific header and Content-Length', async () => {
      const res = await h2request(session, '/buffered');
      assert.equal(res.rstCode, 0);
      assert.equal(res.status, 200);
      assert.equal(res.body, `hello 127.0.0.1:${ts.port} ${tls ? 'https' : 'http'}`);
      assert.deepEqual(forbiddenIn(res.headers), []);
      assert.equal(res.headers['x-mw'], 'before');
      assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
    });

    test('a body without Content-Length (ended by the stream) is parsed', async () => {
      const res = await h2request(
        session,
        '/echo',
        { ':method': 'POST', 'content-type': 'application/json' },
        '{"a":1}',
      );
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body), { got: { a: 1 } });
    });

    test('flush() streams each piece as it is flushed', async () => {
      const st = h2open(session, '/flush');
      await st.until((t) => t === 'line 0\n');
      await st.until((t) => t.endsWith('line 2\n'));
      await st.closed;
      assert.equal(st.stream.rstCode, 0);
      assert.deepEqual(forbiddenIn(await st.headers), []);
    });

    test('writeHead with connection headers in its object sends the rest, silently', async () => {
      const res = await h2request(session, '/writehead');
      assert.equal(res.status, 201);
      assert.equal(res.body, 'raw');
      assert.equal(res.headers['x-raw'], '1');
      assert.deepEqual(forbiddenIn(res.headers), []);
    });

    test('SSE: events, heartbeat and Last-Event-ID, with no Content-Length', async () => {
      const st = h2open(session, '/sse?name=sse', { 'last-event-id': '41' });
      const headers = await st.headers;
      assert.equal(headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(headers['content-length'], undefined);
      assert.deepEqual(forbiddenIn(headers), []);
      await st.until((t) => dataOf(t).includes('tick 3'));
      assert.equal(dataOf(st.text)[0], 'last=41');
      st.stream.close(constants.NGHTTP2_CANCEL);
    });

    test('returned iterables: an async generator as SSE and ndjson as a stream', async () => {
      const sse = await h2request(session, '/iterable');
      assert.equal(sse.rstCode, 0);
      assert.deepEqual(dataOf(sse.body), ['{"n":0}', '{"n":1}', '{"n":2}']);
      const nd = await h2request(session, '/ndjson');
      assert.equal(nd.body, '{"a":1}\n{"a":2}\n');
    });

    test('a channel broadcast reaches every HTTP/2 subscriber once per event, through the stream', async () => {
      const clients = [h2open(session, '/channel'), h2open(session, '/channel'), h2open(session, '/channel')];
      await Promise.all(clients.map((c) => c.headers));
      const deadline = Date.now() + 3000;
      while (channel.stats().subscribers < 3 && Date.now() < deadline) await sleep(5);
      for (let i = 0; i < 20; i++) channel.publish({ data: `e${i}` });
      for (const c of clients) {
        await c.until((t) => dataOf(t).includes('e19'));
        assert.deepEqual(
          dataOf(c.text),
          Array.from({ length: 20 }, (_, i) => `e${i}`),
        );
        c.stream.close(constants.NGHTTP2_CANCEL);
      }
      // The chunked-socket shortcut is HTTP/1.1's: on HTTP/2 every frame goes through the stream.
      assert.equal(channel.stats().socketWrites, 0);
    });

    test('an error after the first flush resets the stream after the bytes already written', async () => {
      const res = await h2request(session, '/fails-late');
      assert.equal(res.body, 'partial');
      assert.equal(
        res.rstCode,
        constants.NGHTTP2_INTERNAL_ERROR,
        'the client can tell the body is truncated',
      );
      const again = await h2request(session, '/buffered');
      assert.equal(again.status, 200, 'the connection serves on');
    });

    test('the access log has a line per request, with status and bytes', async () => {
      await h2request(session, '/status');
      const deadline = Date.now() + 2000;
      while (!entries.some((e) => e.path === '/status') && Date.now() < deadline) await sleep(5);
      const e = entries.find((x) => x.path === '/status');
      assert.equal(e?.status, 404);
      assert.equal(e?.bytes, 'Not Found'.length);
      assert.equal(e?.ended, 'complete');
      assert.ok(entries.some((x) => x.path === '/buffered' && x.status === 200));
    });

    test("a client's RST_STREAM aborts r.signal promptly", async () => {
      const st = h2open(session, '/sse?name=rst');
      await st.until((t) => dataOf(t).includes('tick 1'));
      const t0 = performance.now();
      st.stream.close(constants.NGHTTP2_CANCEL);
      const deadline = Date.now() + 2000;
      while (!gone.has('rst') && Date.now() < deadline) await sleep(1);
      const ms = (gone.get('rst') ?? Number.POSITIVE_INFINITY) - t0;
      assert.ok(ms < 200, `r.signal aborted ${ms.toFixed(1)} ms after the reset`);
    });
  });
}

test('HTTP/1.1 is still served on the TLS port (ALPN http/1.1), headers as set', async (t) => {
  const ts = await startHttp2Server(true, (s) => {
    s.get('/hi', (r) => {
      r.response.header.set('Keep-Alive', 'timeout=7');
      return `v${r.raw.httpVersion}`;
    });
  });
  t.after(() => ts.close());
  const res = await new Promise<{ body: string; alpn: unknown; keepAlive: unknown }>((resolve, reject) => {
    let alpn: unknown;
    const req = httpsGet(
      `${ts.url}/hi`,
      { ca: TLS.cert, ALPNProtocols: ['http/1.1'] } as import('node:https').RequestOptions,
      (res) => {
        alpn = (res.socket as import('node:tls').TLSSocket).alpnProtocol;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ body, alpn, keepAlive: res.headers['keep-alive'] }));
      },
    );
    req.on('error', reject);
  });
  assert.deepEqual(res, { body: 'v1.1', alpn: 'http/1.1', keepAlive: 'timeout=7' });
});

test('the h2c listener does not speak HTTP/1.1, as documented', async (t) => {
  const ts = await startHttp2Server(false, (s) => s.get('/hi', () => 'hi'));
  t.after(() => ts.close());
  const outcome = await new Promise<string>((resolve) => {
    const req = httpRequest(`${ts.url}/hi`, (res) => resolve(`status ${res.statusCode}`));
    req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    req.end();
  });
  assert.match(outcome, /^error /);
});

test('setHttp2 checks its options', () => {
  const s = createServer();
  assert.throws(() => s.setHttp2({ maxConcurrentStreams: 0 }), InvalidArgumentError);
  assert.throws(() => s.setHttp2({ initialWindowSize: 1000 }), /initialWindowSize.*65535/);
  assert.throws(() => s.setHttp2({ connectionWindowSize: 2 ** 31 }), InvalidArgumentError);
  assert.throws(() => s.setHttp2({ maxSessionMemory: 1.5 }), /maxSessionMemory/);
  assert.throws(() => s.setHttp2('yes' as never), InvalidArgumentError);
  s.setHttp2({ maxConcurrentStreams: 10 }).setHttp2(false).setHttp2(true);
});

test('200 SSE streams on one connection: a stalled reader delays no other; resets abort within the bound', async (t) => {
  const channel = new Channel({ name: 'h2-many' });
  const abortedAt = new Map<number, number>();
  const ts = await startHttp2Server(true, (s) => {
    s.get('/ch/{n}', async (r) => {
      const n = Number(r.params.n);
      r.signal.addEventListener('abort', () => abortedAt.set(n, performance.now()));
      await channel.subscribe(r.response.sse({ heartbeat: 0 }));
    });
  });
  t.after(() => ts.close());
  // A small stream window: the stalled stream's window fills after 16 KiB and the server's stream buffer fills behind it.
  const session = await h2connect(ts.url, { settings: { initialWindowSize: 16 * 1024 } });
  // A browser's connection window (Chrome: 15 MB): the stalled stream's 16 KiB cannot use it up.
  session.setLocalWindowSize(16 * 1024 * 1024);
  t.after(() => session.destroy());
  const clients = Array.from({ length: 200 }, (_, n) => h2open(session, `/ch/${n}`));
  await Promise.all(clients.map((c) => c.headers));
  const deadline = Date.now() + 5000;
  while (channel.stats().subscribers < 200 && Date.now() < deadline) await sleep(5);
  assert.equal(channel.stats().subscribers, 200);
  const stalled = clients[0]!;
  stalled.stream.pause();
  // Far more than the stalled stream's window and the server's stream buffer: 100 x 1 KiB.
  const pad = 'x'.repeat(1000);
  const t0 = performance.now();
  for (let i = 0; i < 100; i++) channel.publish({ data: `${i} ${pad}` });
  const last = (text: string) => text.includes('data: 99 ');
  await Promise.all(clients.slice(1).map((c) => c.until(last, 10_000)));
  const allMs = performance.now() - t0;
  assert.ok(!last(stalled.text), 'the stalled stream has not received everything');
  t.diagnostic(
    `199 readers got all 100 events (20 MB in all) ${allMs.toFixed(0)} ms after the first publish, ` +
      `while one reader was stalled`,
  );

  // Resets: ten streams, one after another; each handler's r.signal must abort promptly.
  const delays: number[] = [];
  for (let n = 1; n <= 10; n++) {
    const at = performance.now();
    clients[n]!.stream.close(constants.NGHTTP2_CANCEL);
    const until = Date.now() + 2000;
    while (!abortedAt.has(n) && Date.now() < until) await sleep(1);
    delays.push((abortedAt.get(n) ?? Number.POSITIVE_INFINITY) - at);
  }
  delays.sort((a, b) => a - b);
  t.diagnostic(
    `RST_STREAM to r.signal abort, ms: median ${delays[5]!.toFixed(1)}, max ${delays[9]!.toFixed(1)}`,
  );
  assert.ok(delays[9]! < 200, `slowest abort ${delays[9]!.toFixed(1)} ms`);
  // The stalled stream resumes and still gets its events in order.
  stalled.stream.resume();
  await stalled.until(last, 10_000);
  const ids = dataOf(stalled.text).map((d) => Number(d.split(' ')[0]));
  assert.deepEqual(ids.slice(0, 3), [0, 1, 2]);
});

test('flush() waits for an HTTP/2 reader that stopped, and resolves false once it resets', async (t) => {
  let flushed = 0;
  let result: boolean | undefined;
  const ts = await startHttp2Server(true, (s) => {
    s.get('/firehose', async (r) => {
      const chunk = 'x'.repeat(16 * 1024);
      for (let i = 0; i < 2000; i++) {
        r.response.write(chunk);
        result = await r.response.flush();
        if (!result) return;
        flushed++;
      }
    });
  });
  t.after(() => ts.close());
  const session = await h2connect(ts.url);
  t.after(() => session.destroy());
  const st = h2open(session, '/firehose');
  await st.headers;
  st.stream.pause();
  await sleep(300);
  // The stream window (64 KiB) and the stream's buffer hold a few chunks; without backpressure
  // the producer would have flushed all 2000 (32 MiB) by now.
  assert.ok(flushed < 100, `the producer flushed ${flushed} chunks of 16 KiB to a reader that stopped`);
  const before = flushed;
  st.stream.close(constants.NGHTTP2_CANCEL);
  const deadline = Date.now() + 2000;
  while (result !== false && Date.now() < deadline) await sleep(5);
  assert.equal(result, false, 'the waiting flush() resolved false');
  assert.ok(flushed <= before + 1);
});

test('an HTTP/2 connection without streams is closed after the keep-alive timeout; one with a quiet stream is not', async (t) => {
  const ts = await startHttp2Server(true, (s) => {
    s.setTimeouts({ keepAlive: 150 });
    s.get('/hi', () => 'hi');
    s.get('/quiet', (r) => {
      r.response.sse({ heartbeat: 0 });
    });
  });
  t.after(() => ts.close());
  const idle = await h2connect(ts.url);
  const busy = await h2connect(ts.url);
  t.after(() => busy.destroy());
  const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
  let busyGoaway = false;
  busy.once('goaway', () => {
    busyGoaway = true;
  });
  assert.equal((await h2request(idle, '/hi')).body, 'hi');
  const quiet = h2open(busy, '/quiet');
  await quiet.headers;
  const t0 = performance.now();
  const closed = await Promise.race([idleClosed.then(() => true), sleep(3000).then(() => false)]);
  assert.ok(closed, 'the idle connection was closed');
  t.diagnostic(`idle connection closed ${(performance.now() - t0).toFixed(0)} ms after its last stream`);
  await sleep(400);
  assert.equal(busyGoaway, false, 'a connection with an open stream stays');
  assert.equal(quiet.stream.closed, false);
});

test('shutdown with open HTTP/2 streams: GOAWAY, signals aborted, streams ended cleanly, promptly', async (t) => {
  const reasons: string[] = [];
  const ts = await startHttp2Server(true, (s) => {
    s.get('/sse', (r) => {
      r.signal.addEventListener('abort', () => reasons.push(String((r.signal.reason as Error).message)));
      const es = r.response.sse({ heartbeat: 0 });
      void es.send({ data: 'open' });
    });
    s.get('/slow', async (r) => {
      await sleep(100);
      r.response.write('done');
    });
  });
  const session = await h2connect(ts.url);
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
  const streams = Array.from({ length: 5 }, () => h2open(session, '/sse'));
  await Promise.all(streams.map((s) => s.until((t) => t.includes('data: open'))));
  const slow = h2request(session, '/slow');
  await sleep(20);
  const t0 = performance.now();
  await ts.server.shutdown({ timeout: 3000 });
  const ms = performance.now() - t0;
  assert.equal(await goaway, constants.NGHTTP2_NO_ERROR);
  await Promise.all(streams.map((s) => s.closed));
  for (const s of streams) assert.equal(s.stream.rstCode, 0, 'each stream ended, not reset');
  assert.equal(reasons.length, 5);
  assert.ok(reasons.every((m) => /shutting down/.test(m)));
  const slowRes = await slow;
  assert.equal(slowRes.body, 'done', 'a request in progress finished');
  assert.ok(ms < 1000, `shutdown took ${ms.toFixed(0)} ms`);
  t.diagnostic(`shutdown with 5 open SSE streams and one request in progress: ${ms.toFixed(0)} ms`);
  session.destroy();
});
