import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { createDemo } from '../examples/demo/server.ts';
import { Channel, compress, InvalidArgumentError, ndjson, silentLogger } from '../src/index.ts';
import { CODINGS, type Coding, openStream, trackZlibStreams } from './helpers/compressed-client.ts';
import { send, waitFor } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';

// compress() against real sockets: every event must decode the moment it arrives (the handler
// waits, sending nothing more, until the client has decoded it), buffered bodies round-trip with
// their compressed Content-Length, and what must stay untouched does.

let ts: TestServer;
let dir: string;
const ticker = new Channel({ history: 100 });

/** Steps the gated handlers: each waits for the test before its next write. */
const gates: (() => void)[] = [];
function gate(): Promise<void> {
  return new Promise((resolve) => gates.push(resolve));
}
async function release(): Promise<void> {
  await waitFor(() => gates.length > 0, 'the handler to wait at its gate', 5000);
  gates.shift()?.();
}

const state = { leftEnded: 0, stallSends: 0, stallResult: undefined as boolean | undefined };

async function* gated(n: number): AsyncGenerator<{ i: number }> {
  for (let i = 0; i < n; i++) {
    await gate();
    yield { i };
  }
}

function bigJson(n: number): { items: { i: number; name: string }[] } {
  return { items: Array.from({ length: n }, (_, i) => ({ i, name: `item number ${i}` })) };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-compress-'));
  writeFileSync(join(dir, 'page.txt'), 'line of text that repeats\n'.repeat(400));
  ts = await startServer((s) => {
    s.use(compress());
    s.get('/sse', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      for (let i = 0; i < 5; i++) {
        await gate();
        await es.send({ id: String(i), event: 'tick', data: { i, price: 100 + i / 4 } });
      }
      await gate();
      es.close();
    });
    s.get('/flush', async (r) => {
      r.response.header.set('Content-Type', 'text/plain; charset=utf-8');
      for (let i = 0; i < 5; i++) {
        await gate();
        r.response.writefln('line %d of a flushed stream', i);
        await r.response.flush();
      }
    });
    s.get('/iterable', () => gated(3));
    s.get('/ndjson', () => ndjson(gated(3)));
    s.get('/beat', async (r) => {
      const es = r.response.sse({ heartbeat: 150 });
      await es.closed;
    });
    s.get('/json', (r) => bigJson(Number(r.getQuery('n') ?? 200)));
    s.get('/small', () => ({ ok: true }));
    s.get('/pre-encoded', (r) => {
      r.response.header.set('Content-Type', 'text/plain');
      r.response.header.set('Content-Encoding', 'gzip');
      return zlib.gzipSync('already compressed by the handler '.repeat(100));
    });
    s.get('/no-transform', (r) => {
      r.response.header.set('Cache-Control', 'no-transform');
      return 'text the handler wants sent as it is '.repeat(100);
    });
    s.get('/png', (r) => {
      r.response.header.set('Content-Type', 'image/png');
      return Buffer.alloc(8192, 7);
    });
    s.get('/file', (r) => r.response.serveFile('page.txt', { root: dir }));
    s.get('/stale', (r) => {
      r.response.header.set('Content-Encoding', 'gzip');
      r.response.header.set('Content-Length', '5');
      const es = r.response.sse({ heartbeat: 0 });
      void es.send({ data: 'after stale headers' }).then(() => es.close());
    });
    s.get('/leave', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      while (await es.send({ data: { t: Date.now(), pad: 'x'.repeat(200) } })) await sleep(10);
      state.leftEnded++;
    });
    s.get('/stall', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      for (;;) {
        state.stallSends++;
        // Random bytes: compression cannot make a stalled client's backlog vanish.
        const ok = await es.send({ data: randomBytes(96 * 1024).toString('base64') });
        if (!ok) break;
      }
      state.stallResult = false;
    });
    s.get('/ticker', (r) => ticker.subscribe(r.response.sse({ heartbeat: 0 })));
  });
});

after(async () => {
  ticker.close();
  await ts.close();
});

function tickFrame(i: number): string {
  return `event: tick\nid: ${i}\ndata: ${JSON.stringify({ i, price: 100 + i / 4 })}\n\n`;
}

for (const coding of CODINGS) {
  test(`${coding}: after each SSE event the bytes received so far decode to exactly the events sent so far`, async () => {
    const reply = await openStream(`${ts.url}/sse`, coding);
    assert.equal(reply.encoding, coding);
    assert.equal(reply.res.headers.vary, 'Accept-Encoding');
    assert.equal(reply.res.headers['content-length'], undefined);
    let expected = '';
    for (let i = 0; i < 5; i++) {
      await release();
      expected += tickFrame(i);
      // The handler now waits at its gate, writing nothing: only a flushed event can decode here.
      await waitFor(() => reply.text === expected, `event ${i} to decode on arrival (${coding})`, 3000);
    }
    await release();
    assert.equal(await reply.done, null, 'the stream ends with a valid trailer');
    assert.equal(reply.text, expected);
    assert.ok(reply.wireBytes > 0);
  });

  test(`${coding}: each flush() of a streamed response decodes on arrival`, async () => {
    // The head leaves with the first flush, so the first step comes before the reply.
    const opening = openStream(`${ts.url}/flush`, coding);
    let expected = '';
    for (let i = 0; i < 5; i++) {
      await release();
      const reply = await opening;
      assert.equal(reply.encoding, coding);
      expected += `line ${i} of a flushed stream\n`;
      await waitFor(() => reply.text === expected, `flush ${i} to decode on arrival (${coding})`, 3000);
    }
    const reply = await opening;
    assert.equal(await reply.done, null);
    assert.equal(reply.text, expected);
  });

  test(`${coding}: a buffered body round-trips with its compressed Content-Length and Vary`, async () => {
    const reply = await send(`${ts.url}/json?n=300`, { headers: { 'Accept-Encoding': coding } });
    assert.equal(reply.headers['content-encoding'], coding);
    assert.equal(reply.headers.vary, 'Accept-Encoding');
    assert.equal(Number(reply.headers['content-length']), reply.body.length);
    const plain = JSON.stringify(bigJson(300));
    assert.ok(reply.body.length < plain.length / 3, `compressed to ${reply.body.length} of ${plain.length}`);
    const decoded =
      coding === 'gzip'
        ? zlib.gunzipSync(reply.body)
        : coding === 'br'
          ? zlib.brotliDecompressSync(reply.body)
          : zlib.inflateSync(reply.body);
    assert.equal(decoded.toString(), plain);
  });
}

test('a returned iterable decodes item by item, as SSE and as NDJSON', async () => {
  for (const [path, frame] of [
    ['/iterable', (i: number) => `data: ${JSON.stringify({ i })}\n\n`],
    ['/ndjson', (i: number) => `${JSON.stringify({ i })}\n`],
  ] as const) {
    const reply = await openStream(`${ts.url}${path}`, 'gzip');
    assert.equal(reply.encoding, 'gzip');
    let expected = '';
    for (let i = 0; i < 3; i++) {
      await release();
      expected += frame(i);
      await waitFor(() => reply.text === expected, `item ${i} of ${path} to decode on arrival`, 3000);
    }
    assert.equal(await reply.done, null);
  }
});

test('a large buffered body (compressed off the event loop) round-trips', async () => {
  const reply = await send(`${ts.url}/json?n=5000`, { headers: { 'Accept-Encoding': 'gzip' } });
  const plain = JSON.stringify(bigJson(5000));
  assert.ok(plain.length > 64 * 1024, 'above the size compressed in the thread pool');
  assert.equal(reply.headers['content-encoding'], 'gzip');
  assert.equal(Number(reply.headers['content-length']), reply.body.length);
  assert.equal(zlib.gunzipSync(reply.body).toString(), plain);
});

test('a heartbeat comment decodes on arrival, with no event to push it out', async () => {
  const reply = await openStream(`${ts.url}/beat`, 'br');
  assert.equal(reply.encoding, 'br');
  await waitFor(() => reply.text.startsWith(':'), 'a heartbeat to decode', 3000);
  reply.close();
});

test('Accept-Encoding is negotiated by q-value, with the server order breaking ties', async () => {
  const cases: [string | undefined, string | undefined][] = [
    ['gzip, deflate, br', 'br'],
    ['gzip;q=1.0, br;q=0.5', 'gzip'],
    ['br;q=0, *', 'gzip'],
    ['deflate', 'deflate'],
    ['x-gzip', 'gzip'],
    ['identity', undefined],
    ['gzip;q=0.2, identity;q=0.8', undefined],
    ['gzip;q=0', undefined],
    ['zstd', undefined],
    ['gzip;q=banana', undefined],
    [undefined, undefined],
  ];
  for (const [accept, chosen] of cases) {
    const headers: Record<string, string> = accept === undefined ? {} : { 'Accept-Encoding': accept };
    const reply = await send(`${ts.url}/json`, { headers });
    assert.equal(reply.headers['content-encoding'], chosen, `for Accept-Encoding: ${accept}`);
    // Compressed or not, the answer depended on the header.
    assert.equal(reply.headers.vary, 'Accept-Encoding', `Vary for Accept-Encoding: ${accept}`);
  }
});

test('options.encodings orders the preference and limits what is offered', async () => {
  const local = await startServer((s) => {
    s.use(compress({ encodings: ['gzip', 'br'] }));
    s.get('/json', () => bigJson(200));
  });
  try {
    const tie = await send(`${local.url}/json`, { headers: { 'Accept-Encoding': 'br, gzip' } });
    assert.equal(tie.headers['content-encoding'], 'gzip');
    const deflate = await send(`${local.url}/json`, { headers: { 'Accept-Encoding': 'deflate' } });
    assert.equal(deflate.headers['content-encoding'], undefined);
  } finally {
    await local.close();
  }
});

test('untouched: already-encoded, no-transform, small, HEAD, images, files and 206 ranges', async () => {
  const gz = { 'Accept-Encoding': 'gzip, br' };
  const pre = await send(`${ts.url}/pre-encoded`, { headers: gz });
  assert.equal(pre.headers['content-encoding'], 'gzip');
  assert.equal(zlib.gunzipSync(pre.body).toString(), 'already compressed by the handler '.repeat(100));

  const noTransform = await send(`${ts.url}/no-transform`, { headers: gz });
  assert.equal(noTransform.headers['content-encoding'], undefined);
  assert.equal(noTransform.text, 'text the handler wants sent as it is '.repeat(100));

  const small = await send(`${ts.url}/small`, { headers: gz });
  assert.equal(small.headers['content-encoding'], undefined);
  assert.equal(small.headers.vary, 'Accept-Encoding', 'a larger answer would have been compressed');
  assert.equal(small.text, '{"ok":true}');

  const head = await send(`${ts.url}/json`, { method: 'HEAD', headers: gz });
  assert.equal(head.headers['content-encoding'], undefined);
  assert.equal(head.body.length, 0);

  const png = await send(`${ts.url}/png`, { headers: gz });
  assert.equal(png.headers['content-encoding'], undefined);
  assert.equal(png.headers.vary, undefined, 'an image is never compressed, so nothing varies');
  assert.equal(png.body.length, 8192);

  const file = await send(`${ts.url}/file`, { headers: gz });
  assert.equal(file.headers['content-encoding'], undefined);
  assert.equal(file.text, 'line of text that repeats\n'.repeat(400));

  const range = await send(`${ts.url}/file`, { headers: { ...gz, Range: 'bytes=0-9' } });
  assert.equal(range.status, 206);
  assert.equal(range.headers['content-encoding'], undefined);
  assert.equal(range.text, 'line of te');
});

test('sse() leaves no stale Content-Encoding or Content-Length behind', async () => {
  const plain = await openStream(`${ts.url}/stale`, undefined);
  assert.equal(plain.res.headers['content-encoding'], undefined);
  assert.equal(plain.res.headers['content-length'], undefined);
  assert.equal(await plain.done, null);
  assert.equal(plain.text, 'data: after stale headers\n\n');

  const gzip = await openStream(`${ts.url}/stale`, 'gzip');
  assert.equal(gzip.encoding, 'gzip');
  assert.equal(gzip.res.headers['content-length'], undefined);
  assert.equal(await gzip.done, null);
  assert.equal(gzip.text, 'data: after stale headers\n\n');
});

test('a client leaving mid-stream ends the handler, and every compressor is destroyed at once', async () => {
  const zlibStreams = trackZlibStreams();
  try {
    const before = state.leftEnded;
    const clients = await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<() => void>((resolve, reject) => {
            const req = get(
              `${ts.url}/leave`,
              { headers: { 'Accept-Encoding': 'br' }, agent: false },
              (res) => {
                assert.equal(res.headers['content-encoding'], 'br');
                res.once('data', () => resolve(() => req.destroy()));
              },
            );
            req.on('error', reject);
          }),
      ),
    );
    // No decoder on this side: every zlib handle is the server's.
    const made = zlibStreams.made();
    assert.equal(made.length, 20, 'one compressor per compressed stream');
    assert.equal(made.filter((c) => c.destroyed).length, 0);
    for (const leave of clients) leave();
    await waitFor(() => state.leftEnded === before + 20, 'every handler to see its client leave', 3000);
    await waitFor(
      () => made.every((c) => c.destroyed),
      `every compressor to be destroyed (${made.filter((c) => !c.destroyed).length} left)`,
      3000,
    );
  } finally {
    zlibStreams.stop();
  }
});

test('backpressure passes the compressor: a stalled client stalls send(), which resolves false when it leaves', async () => {
  state.stallSends = 0;
  state.stallResult = undefined;
  let response: import('node:http').IncomingMessage | undefined;
  const req = get(`${ts.url}/stall`, { headers: { 'Accept-Encoding': 'gzip' }, agent: false }, (res) => {
    response = res;
    res.pause(); // reads nothing: the socket fills up
  });
  req.on('error', () => {});
  await waitFor(() => response !== undefined && state.stallSends > 0, 'the stream to start', 3000);
  // The kernel's buffers grow for a while; then no send completes while the client reads nothing.
  let stalledAt = -1;
  for (let i = 0; i < 20 && stalledAt !== state.stallSends; i++) {
    stalledAt = state.stallSends;
    await sleep(500);
  }
  assert.equal(state.stallSends, stalledAt, 'the producer stopped, waiting for the socket');
  // 96 KiB of random base64 per event: an unbounded producer would be in the thousands by now.
  assert.ok(stalledAt < 200, `the producer waited for the socket (${stalledAt} sends)`);
  assert.equal(state.stallResult, undefined);
  req.destroy();
  await waitFor(() => state.stallResult === false, 'the pending send to resolve false', 3000);
});

test('channel subscribers with compression receive every event, alongside a plain one', async () => {
  const clients = await Promise.all([
    openStream(`${ts.url}/ticker`, 'gzip'),
    openStream(`${ts.url}/ticker`, 'br'),
    openStream(`${ts.url}/ticker`, 'deflate'),
    openStream(`${ts.url}/ticker`, undefined),
  ]);
  assert.deepEqual(
    clients.map((c) => c.encoding),
    ['gzip', 'br', 'deflate', undefined],
  );
  await waitFor(() => ticker.stats().subscribers === 4, 'four subscribers', 3000);
  for (let i = 0; i < 50; i++) ticker.publish({ event: 'tick', data: { i } });
  const datas = (c: { text: string }) => [...c.text.matchAll(/^data: (.*)$/gm)].map((m) => m[1]);
  const expected = Array.from({ length: 50 }, (_, i) => JSON.stringify({ i }));
  for (const c of clients) {
    await waitFor(() => datas(c).length === 50, `every event to decode (${c.encoding ?? 'plain'})`, 5000);
    assert.deepEqual(datas(c), expected);
  }
  for (const c of clients) c.close();
});

test('a shutdown ends compressed streams promptly, with a complete body', async () => {
  const local = await startServer((s) => {
    s.use(compress());
    s.get('/sse', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      await es.send({ data: 'first' });
      await es.closed;
    });
  });
  const replies = await Promise.all(CODINGS.map((c) => openStream(`${local.url}/sse`, c)));
  for (const reply of replies) await waitFor(() => reply.text === 'data: first\n\n', 'the first event', 3000);
  const started = Date.now();
  await local.close(2000);
  for (const reply of replies) assert.equal(await reply.done, null, `${reply.encoding} ends cleanly`);
  assert.ok(Date.now() - started < 1500, `ended in ${Date.now() - started} ms`);
});

test('bad options throw InvalidArgumentError naming the option', () => {
  assert.throws(
    () => compress({ threshold: -1 }),
    (e) => e instanceof InvalidArgumentError && e.argument === 'threshold',
  );
  assert.throws(
    () => compress({ encodings: ['zstd' as Coding] }),
    (e) => e instanceof InvalidArgumentError && e.argument === 'encodings',
  );
  assert.throws(
    () => compress({ encodings: [] }),
    (e) => e instanceof InvalidArgumentError && e.argument === 'encodings',
  );
  assert.throws(
    () => compress({ streamZlib: { windowBits: 99 } }),
    (e) => e instanceof InvalidArgumentError && e.argument === 'streamZlib',
  );
  assert.throws(
    () => compress({ filter: 'text' as unknown as () => boolean }),
    (e) => e instanceof InvalidArgumentError && e.argument === 'filter',
  );
});

test('a filter that throws sends the body uncompressed and logs, never crashing', async () => {
  const local = await startServer((s) => {
    s.use(
      compress({
        filter: () => {
          throw new Error('filter bug');
        },
      }),
    );
    s.get('/json', () => bigJson(200));
  });
  try {
    const reply = await send(`${local.url}/json`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-encoding'], undefined);
    assert.equal(reply.text, JSON.stringify(bigJson(200)));
    assert.ok(local.logger.lines.some((l) => l.level === 'error'));
  } finally {
    await local.close();
  }
});

test("the demo's ticker stream and page are compressed for a client that accepts it", async () => {
  const demo = createDemo(`demo-compress-${process.pid}`);
  demo.server.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
  await demo.server.start();
  try {
    const url = `http://127.0.0.1:${demo.server.getListenedPort()}`;
    const ticker = await openStream(`${url}/ticker`, 'gzip, deflate, br');
    assert.equal(ticker.encoding, 'br');
    await waitFor(() => (ticker.text.match(/^data: /gm) ?? []).length >= 2, 'two ticks to decode', 5000);
    ticker.close();
    const page = await send(`${url}/demo`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(page.headers['content-encoding'], 'gzip');
    assert.match(zlib.gunzipSync(page.body).toString(), /<html|<!doctype/i);
  } finally {
    demo.stopTicker();
    await demo.server.shutdown({ timeout: 500 });
  }
});
