import assert from 'node:assert/strict';
import { get as httpsGet } from 'node:https';
import { after, before, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { createDemo, type Demo } from '../examples/demo/server.ts';
import { silentLogger } from '../src/index.ts';
import { startHttp2Server, TLS } from './helpers/http2-client.ts';
import type { TestServer } from './helpers/server.ts';
import { CHROMIUM_ARGS } from './helpers/sse-clients.ts';

let browser: Browser;

before(async () => {
  // The test certificate is self-signed: Chromium is told to accept it.
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, '--ignore-certificate-errors'],
  });
});

after(async () => {
  await browser?.close();
});

test('EventSource over HTTP/2: events with ids, and a reconnect that sends Last-Event-ID', async (t) => {
  const ts: TestServer = await startHttp2Server(true, (s) => {
    s.get('/', (r) => {
      r.response.header.set('Content-Type', 'text/html; charset=utf-8');
      return '<!doctype html><title>h2</title>';
    });
    s.get('/events', async (r) => {
      const es = r.response.sse({ heartbeat: 1000, retry: 100 });
      const from = Number(es.lastEventId ?? 0);
      for (let i = from + 1; i <= from + 3; i++) await es.send({ id: String(i), data: `event ${i}` });
      // The first connection ends after three events; the browser reconnects with Last-Event-ID: 3.
      if (from === 0) es.close();
    });
  });
  t.after(() => ts.close());
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(`${ts.url}/`);
  const got = await page.evaluate(
    () =>
      new Promise<string[]>((resolve, reject) => {
        const seen: string[] = [];
        const source = new EventSource('/events');
        source.onmessage = (e) => {
          seen.push(`${e.lastEventId}:${e.data}`);
          if (seen.length === 6) {
            source.close();
            resolve(seen);
          }
        };
        setTimeout(() => reject(new Error(`only ${JSON.stringify(seen)}`)), 5000);
      }),
  );
  assert.deepEqual(got, ['1:event 1', '2:event 2', '3:event 3', '4:event 4', '5:event 5', '6:event 6']);
  const protocols = await page.evaluate(() =>
    performance
      .getEntries()
      .filter((e) => e.entryType === 'navigation' || e.entryType === 'resource')
      .map((e) => (e as PerformanceResourceTiming).nextHopProtocol),
  );
  assert.equal(protocols[0], 'h2', 'the page itself came over HTTP/2');
  assert.ok(
    protocols.every((p) => p === 'h2'),
    `every resource over HTTP/2: ${protocols.join(',')}`,
  );
});

let demo: Demo | undefined;

function warm(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca: TLS.cert }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    }).on('error', reject);
  });
}

test('the demo opened in eight tabs at once over HTTP/2: every tab is live within 8 s of loading', async (t) => {
  demo = createDemo(`demo-h2-${process.pid}`);
  const s = demo.server;
  s.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
  s.setHttps(TLS).setHttp2(true);
  await s.start();
  t.after(async () => {
    demo?.stopTicker();
    await s.shutdown({ timeout: 500 });
  });
  const base = `https://127.0.0.1:${s.getListenedPort()}`;
  // The demo transpiles its browser client on first request (loading TypeScript takes seconds on
  // this machine): done once here, so the clock below measures connections, not the compiler.
  await warm(`${base}/demo/client/index.js`);
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  t.after(() => context.close());
  const pages = await Promise.all(Array.from({ length: 8 }, () => context.newPage()));
  const t0 = performance.now();
  // Live: the counter stream has delivered, and the ticker's EventSource is open and has events.
  const live = () =>
    Number(document.querySelector('#counter-value')?.textContent) >= 1 &&
    document.querySelector('#ticker-status')?.textContent === 'open' &&
    Number(document.querySelector('#ticker-events')?.textContent) >= 1;
  const times = await Promise.all(
    pages.map(async (page) => {
      await page.goto(`${base}/demo`, { waitUntil: 'load', timeout: 20_000 });
      const loaded = performance.now() - t0;
      await page.waitForFunction(live, null, { timeout: 20_000, polling: 20 });
      return { loaded, live: performance.now() - t0 };
    }),
  );
  t.diagnostic(
    `tabs loaded / live after (ms): ${times.map((x) => `${x.loaded.toFixed(0)}/${x.live.toFixed(0)}`).join(', ')}`,
  );
  for (const page of pages) {
    const protocol = await page.evaluate(
      () => (performance.getEntries()[0] as PerformanceNavigationTiming).nextHopProtocol,
    );
    assert.equal(protocol, 'h2');
  }
  // Loading eight pages at once is CPU-bound on a busy 2-core machine (one tab alone takes
  // ~1.8 s to load here under load): what the connection decides is the wait from a page's load
  // to its streams being live. Over HTTP/1.1 the third tab waits ~20 s and the fifth never gets there;
  // over HTTP/2 it is ~1 s on a quiet machine and up to 2.2 s was seen under load (a CI run beside
  // benchmarks), so the bound sits well between the two.
  for (const [i, x] of times.entries()) {
    const wait = x.live - x.loaded;
    assert.ok(wait < 8000, `tab ${i} was live ${wait.toFixed(0)} ms after it loaded`);
  }
});
