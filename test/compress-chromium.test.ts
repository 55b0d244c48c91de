import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { Channel, compress } from '../src/index.ts';
import { waitFor } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { CHROMIUM_ARGS } from './helpers/sse-clients.ts';

// Chromium's own EventSource over a compressed stream: the browser decodes brotli or gzip itself,
// and each event must be dispatched while the server sends nothing more.

let ts: TestServer;
let browser: Browser;
const encodings: (string | undefined)[] = [];
const gates: (() => void)[] = [];
const ticker = new Channel({ history: 10 });

const PAGE = `<!doctype html><meta charset="utf-8"><title>compressed sse</title>
<script>
  window.got = [];
  window.listen = (url) => {
    const source = new EventSource(url);
    window.source = source;
    source.addEventListener('tick', (e) => window.got.push(e.data));
  };
</script>`;

before(async () => {
  ts = await startServer((s) => {
    s.use(compress());
    s.get('/', () => new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8' } }));
    s.get('/live', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      encodings.push(r.response.header.get('content-encoding'));
      for (let i = 0; i < 5; i++) {
        await new Promise<void>((resolve) => gates.push(resolve));
        await es.send({ event: 'tick', data: { i } });
      }
      await es.closed;
    });
    s.get('/ticker', (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      encodings.push(r.response.header.get('content-encoding'));
      return ticker.subscribe(es);
    });
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  ticker.close();
  await browser?.close();
  await ts?.close();
});

test('an EventSource over a compressed stream receives each event live', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${ts.url}/`);
    encodings.length = 0;
    await page.evaluate(() => (window as unknown as { listen: (u: string) => void }).listen('/live'));
    for (let i = 0; i < 5; i++) {
      await waitFor(() => gates.length > 0, 'the handler to wait at its gate', 5000);
      gates.shift()?.();
      // Nothing more is sent until the page has dispatched this event: only a flushed one can arrive.
      await page.waitForFunction((n) => (window as unknown as { got: unknown[] }).got.length === n, i + 1, {
        timeout: 5000,
      });
    }
    const got = await page.evaluate(() => (window as unknown as { got: string[] }).got);
    assert.deepEqual(
      got,
      [0, 1, 2, 3, 4].map((i) => JSON.stringify({ i })),
    );
    assert.ok(
      encodings[0] === 'br' || encodings[0] === 'gzip',
      `Chromium was sent a compressed stream (${encodings[0]})`,
    );
  } finally {
    await page.close();
  }
});

test('channel events reach several compressed EventSources, each as it is published', async () => {
  const pages = await Promise.all([browser.newPage(), browser.newPage(), browser.newPage()]);
  try {
    encodings.length = 0;
    for (const page of pages) {
      await page.goto(`${ts.url}/`);
      await page.evaluate(() => (window as unknown as { listen: (u: string) => void }).listen('/ticker'));
    }
    await waitFor(() => ticker.stats().subscribers === 3, 'three subscribers', 5000);
    for (let i = 0; i < 3; i++) {
      ticker.publish({ event: 'tick', data: { i } });
      for (const page of pages) {
        await page.waitForFunction((n) => (window as unknown as { got: unknown[] }).got.length === n, i + 1, {
          timeout: 5000,
        });
      }
    }
    assert.ok(
      encodings.every((e) => e === 'br' || e === 'gzip'),
      `compressed: ${encodings.join(', ')}`,
    );
  } finally {
    await Promise.all(pages.map((p) => p.close()));
  }
});
