import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { after, before, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { Channel, compress } from '../src/index.ts';
import { openStream, type StreamedReply } from './helpers/compressed-client.ts';
import { waitFor } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { CHROMIUM_ARGS } from './helpers/sse-clients.ts';

// A channel compresses each event once for all its gzip and deflate subscribers (one zlib stream
// per channel, not per subscriber). Each client decodes its bytes chunk by chunk with a streaming
// decompressor, as a browser does: after every event, what it decoded must be exactly the events
// it should have by then, whether it joined at the start, late (out of sync with the shared
// compressor until a keyframe), with a replay, or with a filter that skips events.

let ts: TestServer;
let browser: Browser | undefined;
const channels = new Map<string, Channel>();
const PAGE = `<!doctype html><meta charset="utf-8"><title>shared compression</title>
<script>
  window.got = [];
  window.listen = (url) => {
    const source = new EventSource(url);
    source.addEventListener('tick', (e) => window.got.push(e.data));
  };
</script>`;

function channelFor(name: string): Channel {
  let channel = channels.get(name);
  if (channel === undefined) {
    channel = new Channel({ name, history: 1000 });
    channels.set(name, channel);
  }
  return channel;
}

before(async () => {
  ts = await startServer((s) => {
    s.use(compress({ encodings: ['gzip', 'deflate'] }));
    s.get('/', () => new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8' } }));
    s.get('/ch/:name', (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      const only = r.getQuery('only');
      const since = r.getQuery('since');
      return channelFor(r.params.name as string).subscribe(es, {
        lastEventId: typeof since === 'string' ? since : null,
        filter: only === 'even' ? (rec) => ((rec.data as { i: number }).i & 1) === 0 : undefined,
      });
    });
  });
});

after(async () => {
  for (const channel of channels.values()) await channel.close();
  await browser?.close();
  await ts.close();
});

const datas = (c: StreamedReply): number[] =>
  [...c.text.matchAll(/^data: (.*)$/gm)].map((m) => (JSON.parse(m[1] as string) as { i: number }).i);
const ids = (c: StreamedReply): string[] => [...c.text.matchAll(/^id: (.*)$/gm)].map((m) => m[1] as string);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k);

/**
 * Counts the compressors (not the clients' decompressors, which run in this process too) made
 * while `body` runs: what compression costs the server in native streams.
 */
async function compressorsDuring(body: () => Promise<void>): Promise<number> {
  const handles: object[] = [];
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type === 'ZLIB') handles.push(resource);
    },
  }).enable();
  try {
    await body();
  } finally {
    hook.disable();
  }
  const kinds = handles.map((handle) => {
    const owner = Object.getOwnPropertySymbols(handle).find((sym) => sym.description === 'owner_symbol');
    return (handle as Record<symbol, object>)[owner as symbol]?.constructor.name;
  });
  assert.ok(
    kinds.every((k) => k !== undefined),
    `every zlib handle has its stream: ${kinds.join(', ')}`,
  );
  return kinds.filter((k) => /^(?:Gzip|Deflate|DeflateRaw|BrotliCompress)$/.test(k as string)).length;
}

for (const coding of ['gzip', 'deflate'] as const) {
  test(`${coding}: every subscriber decodes exactly its events after each one, with one compressor for all`, async () => {
    const name = `live-${coding}`;
    const channel = channelFor(name);
    const url = `${ts.url}/ch/${name}`;
    const total = 80;
    // Five events past the keyframe at 32: out of sync with the shared stream for three more.
    const lateAt = 37;
    const clients: StreamedReply[] = [];
    let late: StreamedReply | undefined;
    let replayer: StreamedReply | undefined;
    let evens: StreamedReply | undefined;
    let lateFirst = 0;
    const handles = await compressorsDuring(async () => {
      for (let k = 0; k < 3; k++) clients.push(await openStream(url, coding));
      evens = await openStream(`${url}?only=even`, coding);
      await waitFor(() => channel.size === 4, 'four subscribers', 5000);
      let lastIdBeforeLate = channel.lastId;
      for (let i = 0; i < total; i++) {
        if (i === lateAt) {
          // Joins mid-stream: out of sync with the shared compressor until the next keyframe.
          lastIdBeforeLate = channel.lastId;
          late = await openStream(url, coding);
          replayer = await openStream(`${url}?since=${ids(clients[0] as StreamedReply)[10]}`, coding);
          await waitFor(() => channel.size === 6, 'the late joiners', 5000);
          lateFirst = i;
        }
        channel.publish({ event: 'tick', data: { i, price: 100 + (i % 7) / 4, symbol: 'SLC' } });
        for (const c of clients) {
          await waitFor(() => datas(c).length === i + 1, `${coding} event ${i} decoded`, 5000);
          assert.deepEqual(datas(c), range(0, i + 1));
        }
        const e = evens as StreamedReply;
        const wantEven = range(0, i + 1).filter((n) => n % 2 === 0);
        await waitFor(() => datas(e).length === wantEven.length, `${coding} filtered event ${i}`, 5000);
        assert.deepEqual(datas(e), wantEven);
        if (late !== undefined) {
          const l = late;
          await waitFor(() => datas(l).length === i + 1 - lateFirst, `${coding} late joiner at ${i}`, 5000);
          assert.deepEqual(datas(l), range(lateFirst, i + 1));
          const rp = replayer as StreamedReply;
          await waitFor(() => datas(rp).length === i + 1 - 10, `${coding} replayer at ${i}`, 5000);
          assert.deepEqual(datas(rp), range(10, i + 1));
        }
      }
      assert.equal(ids(late as StreamedReply)[0], lastIdBeforeLate, 'the late joiner got its cursor first');
    });
    // One for the channel; per-subscriber compression would have made one per subscriber (6).
    assert.equal(handles, 1, `${handles} compressors for 6 subscribers`);
    for (const c of clients) assert.equal(c.encoding, coding);
    // Compressed at all: the shared stream keeps its history between keyframes.
    const plain = Buffer.byteLength((clients[0] as StreamedReply).text);
    const wire = (clients[0] as StreamedReply).wireBytes;
    assert.ok(wire < plain * 0.6, `${wire} bytes on the wire for ${plain} plain`);

    // The channel closes: every stream ends with a valid trailer (the decoder checks its checksum).
    await channel.close();
    channels.delete(name);
    for (const c of [...clients, evens, late, replayer] as StreamedReply[]) {
      assert.equal(await c.done, null, `${coding} stream ended cleanly`);
    }
  });
}

test('a subscriber whose stream already sent bytes keeps its own compressor, and all decode', async () => {
  const name = 'mixed';
  const channel = channelFor(name);
  const local = await startServer((s) => {
    s.use(compress({ encodings: ['gzip'] }));
    s.get('/early', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      await es.send({ event: 'hello', data: { i: -1 } });
      return channel.subscribe(es, { lastEventId: null });
    });
    s.get('/shared', (r) =>
      channel.subscribe(r.response.sse({ heartbeat: 0, retry: undefined }), { lastEventId: null }),
    );
  });
  try {
    const early = await openStream(`${local.url}/early`, 'gzip');
    const shared = await openStream(`${local.url}/shared`, 'gzip');
    await waitFor(() => channel.size === 2, 'two subscribers', 5000);
    for (let i = 0; i < 40; i++) channel.publish({ event: 'tick', data: { i } });
    await waitFor(() => datas(shared).length === 40, 'the shared subscriber', 5000);
    await waitFor(() => datas(early).length === 41, 'the early writer', 5000);
    assert.deepEqual(datas(early), range(-1, 40));
    assert.deepEqual(datas(shared), range(0, 40));
    await channel.close();
    channels.delete(name);
    assert.equal(await early.done, null);
    assert.equal(await shared.done, null);
  } finally {
    await local.close();
  }
});

test('a stream subscribed to two channels decodes the events of both, in order', async () => {
  const a = channelFor('two-a');
  const b = channelFor('two-b');
  const local = await startServer((s) => {
    s.use(compress({ encodings: ['deflate'] }));
    s.get('/both', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      void a.subscribe(es, { lastEventId: null });
      await b.subscribe(es, { lastEventId: null });
    });
    s.get('/a', (r) => a.subscribe(r.response.sse({ heartbeat: 0 }), { lastEventId: null }));
  });
  try {
    const both = await openStream(`${local.url}/both`, 'deflate');
    const onlyA = await openStream(`${local.url}/a`, 'deflate');
    await waitFor(() => a.size === 2 && b.size === 1, 'the subscribers', 5000);
    for (let i = 0; i < 70; i++) {
      (i % 3 === 0 ? b : a).publish({ event: 'tick', data: { i } });
      await waitFor(() => datas(both).length === i + 1, `event ${i} on the stream of both`, 5000);
    }
    const wantA = range(0, 70).filter((i) => i % 3 !== 0);
    await waitFor(() => datas(onlyA).length === wantA.length, "channel a's own subscriber", 5000);
    assert.deepEqual(datas(both), range(0, 70));
    assert.deepEqual(datas(onlyA), wantA);
    // b's events never enter a's shared stream, which would put a's own subscribers out of sync.
    const ratio = onlyA.wireBytes / Buffer.byteLength(onlyA.text);
    assert.ok(ratio < 0.7, `a's subscriber got ${ratio.toFixed(2)} of the plain bytes`);
    await a.close();
    await b.close();
    channels.delete('two-a');
    channels.delete('two-b');
    assert.equal(await both.done, null);
    assert.equal(await onlyA.done, null);
  } finally {
    await local.close();
  }
});

test('Chromium EventSources decode a shared-compressed channel, joiners late and early alike', async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const channel = channelFor('browser');
  const pages = [await browser.newPage(), await browser.newPage()];
  const got = (page: (typeof pages)[number]) =>
    page.evaluate(() => (window as unknown as { got: string[] }).got.map((d) => JSON.parse(d).i as number));
  try {
    for (const page of pages) {
      await page.goto(`${ts.url}/`);
      await page.evaluate(() => (window as unknown as { listen: (u: string) => void }).listen('/ch/browser'));
    }
    await waitFor(() => channel.size === 2, 'two EventSources', 5000);
    let lateFirst = -1;
    for (let i = 0; i < 70; i++) {
      // A few events after the keyframe at 32: out of sync until the next one, which it asks for early.
      if (i === 35) {
        const late = await browser.newPage();
        await late.goto(`${ts.url}/`);
        await late.evaluate(() =>
          (window as unknown as { listen: (u: string) => void }).listen('/ch/browser'),
        );
        await waitFor(() => channel.size === 3, 'the late EventSource', 5000);
        pages.push(late);
        lateFirst = i;
      }
      channel.publish({ event: 'tick', data: { i, symbol: 'SLC', price: 100 + (i % 5) } });
      for (const [k, page] of pages.entries()) {
        const want = k === 2 ? i + 1 - lateFirst : i + 1;
        await page.waitForFunction((n) => (window as unknown as { got: unknown[] }).got.length === n, want, {
          timeout: 5000,
        });
      }
    }
    assert.deepEqual(await got(pages[0] as (typeof pages)[number]), range(0, 70));
    assert.deepEqual(await got(pages[1] as (typeof pages)[number]), range(0, 70));
    assert.deepEqual(await got(pages[2] as (typeof pages)[number]), range(35, 70));
  } finally {
    await Promise.all(pages.map((p) => p.close()));
  }
});
