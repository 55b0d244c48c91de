import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { validate as validate32 } from '@hyperjump/json-schema/openapi-3-2';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createDemo, type Demo } from '../examples/demo/server.ts';
import { silentLogger } from '../src/index.ts';
import { CHROMIUM_ARGS } from './helpers/sse-clients.ts';

let browser: Browser;
let demo: Demo;
let base: string;
let port: number;

before(async () => {
  demo = createDemo(`demo-test-${process.pid}`);
  demo.server.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
  await demo.server.start();
  port = demo.server.getListenedPort();
  base = `http://127.0.0.1:${port}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  demo?.stopTicker();
  await demo?.server.shutdown({ timeout: 500 });
});

async function number(page: Page, selector: string): Promise<number> {
  return Number((await page.textContent(selector))?.trim());
}

test('the demo page shows live streams, a streamed chat answer, and replay after a server restart', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${base}/demo`);

  // Counter and JSON stream: values change over time, which a static page cannot fake.
  await page.waitForFunction(() => Number(document.querySelector('#counter-value')?.textContent) >= 2);
  const first = await number(page, '#counter-value');
  await page.waitForFunction((v) => Number(document.querySelector('#counter-value')?.textContent) > v, first);
  await page.waitForFunction(() =>
    (document.querySelector('#stream-last')?.textContent ?? '').includes('Name'),
  );
  const message = JSON.parse((await page.textContent('#stream-last')) ?? '');
  assert.match(message.Name, /^Name\d+$/);

  // Ticker: events arrive over an open EventSource.
  await page.waitForFunction(() => document.querySelector('#ticker-status')?.textContent === 'open');
  await page.waitForFunction(() => Number(document.querySelector('#ticker-events')?.textContent) >= 3);

  // Chat: the answer streams in token by token and the stream ends with `done`.
  await page.fill('#chat-input', 'Tell me about streams');
  await page.click('#chat-send');
  await page.waitForFunction(() => document.querySelector('#chat-state')?.textContent === 'streaming');
  const partial = (await page.textContent('#chat-output')) ?? '';
  await page.waitForFunction(() => document.querySelector('#chat-state')?.textContent === 'done', null, {
    timeout: 20_000,
  });
  const answer = (await page.textContent('#chat-output')) ?? '';
  assert.ok(answer.length > partial.length, 'the answer grew while it streamed');
  assert.ok(answer.trim().length > 0);

  // Restart the server while the ticker keeps publishing: the page must reconnect and replay the gap.
  const seqsBefore: number[] = await page.evaluate(() => [
    ...(window as unknown as DemoWindow).__demo.tickerSeqs,
  ]);
  await demo.server.shutdown({ timeout: 500 });
  await page.waitForFunction(() => document.querySelector('#ticker-status')?.textContent !== 'open');
  await sleep(1200);
  demo.server.setPort(port);
  await demo.server.start();
  await page.waitForFunction(
    () => Number(document.querySelector('#ticker-reconnects')?.textContent) >= 1,
    null,
    {
      timeout: 15_000,
    },
  );
  await page.waitForFunction(() => document.querySelector('#ticker-status')?.textContent === 'open');
  await page.waitForFunction(
    () => Number(document.querySelector('#ticker-replayed')?.getAttribute('data-total')) > 0,
    null,
    {
      timeout: 10_000,
    },
  );
  const lastBefore = seqsBefore.at(-1) ?? -1;
  await page.waitForFunction(
    (n) => (window as unknown as DemoWindow).__demo.tickerSeqs.some((s) => s > n + 8),
    lastBefore,
  );
  const seqs: number[] = await page.evaluate(() => [...(window as unknown as DemoWindow).__demo.tickerSeqs]);
  const fromRestart = seqs.slice(seqsBefore.length);
  assert.ok(fromRestart.length > 0);
  // No gap and no duplicate across the restart: each seq is exactly one more than the one before.
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1, `seq ${i} follows ${i - 1}`);
  assert.equal(await number(page, '#ticker-gaps'), 0);
  assert.equal(await number(page, '#ticker-resets'), 0);

  const shot = join(tmpdir(), 'sluice-demo.png');
  await page.screenshot({ path: shot });
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('the demo describes itself: /api.json validates as OpenAPI 3.2, /swagger lists every stream and its events', async () => {
  const doc = await (await fetch(`${base}/api.json`)).json();
  assert.equal(doc.openapi, '3.2.0');
  assert.equal((await validate32('https://spec.openapis.org/oas/3.2/schema-base', doc)).valid, true);
  // Only the API: the page's own files are left out.
  assert.deepEqual(Object.keys(doc.paths).sort(), ['/', '/chat', '/stream', '/ticker']);
  const ticker = doc.paths['/ticker'].get;
  assert.ok(ticker.parameters.some((p: { name: string }) => p.name === 'Last-Event-ID'));

  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${base}/swagger`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
  const ops = await page.$$eval('.op', (els) =>
    els.map((e) => `${(e as HTMLElement).dataset.method} ${(e as HTMLElement).dataset.path}`),
  );
  assert.deepEqual(ops.sort(), ['get /', 'get /stream', 'get /ticker', 'post /chat']);
  const eventsOf = (path: string) =>
    page.$$eval(`.op[data-path="${path}"] .event`, (els) => els.map((e) => (e as HTMLElement).dataset.event));
  assert.deepEqual(await eventsOf('/ticker'), ['tick', 'reset']);
  assert.deepEqual(await eventsOf('/chat'), ['token', 'done']);
  assert.deepEqual(pageErrors, []);
  await page.close();
});

interface DemoWindow {
  __demo: { tickerSeqs: number[] };
}
