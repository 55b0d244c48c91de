import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { serveStatic } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { CHROMIUM_ARGS } from './helpers/sse-clients.ts';

// Static files as a browser uses them: a media element asks for byte ranges, `fetch` may too,
// and a reload revalidates with the validators the first answer carried.

interface Seen {
  path: string;
  range: string | undefined;
  ifNoneMatch: string | undefined;
  status: number;
}

let base: string;
let ts: TestServer;
let browser: Browser;
const seen: Seen[] = [];
const CLIP = Buffer.alloc(64 * 1024);
for (let i = 0; i < CLIP.length; i++) CLIP[i] = (i * 7) & 0xff;

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'sluice-static-browser-'));
  mkdirSync(join(base, 'site'));
  writeFileSync(
    join(base, 'site', 'index.html'),
    '<!doctype html><meta charset="utf-8"><title>static</title><video id="v" preload="auto" src="/clip.webm"></video>',
  );
  writeFileSync(join(base, 'site', 'clip.webm'), CLIP);
  ts = await startServer((s) => {
    s.use(async (r) => {
      await r.middleware.next();
      const h = r.headers;
      seen.push({ path: r.path, range: h.range, ifNoneMatch: h['if-none-match'], status: r.response.status });
    });
    s.use(serveStatic(join(base, 'site')));
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await ts?.close();
  rmSync(base, { recursive: true, force: true });
});

test('a <video> asks for a byte range and gets 206; fetch with Range gets exactly its bytes', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${ts.url}/`);
    await waitFor(() => seen.some((s) => s.path === '/clip.webm' && s.range !== undefined));
    const media = seen.find((s) => s.path === '/clip.webm' && s.range !== undefined)!;
    assert.match(media.range!, /^bytes=\d+-/);
    assert.equal(media.status, 206);

    const got = await page.evaluate(async () => {
      const res = await fetch('/clip.webm', { headers: { Range: 'bytes=1000-1009' } });
      return {
        status: res.status,
        range: res.headers.get('content-range'),
        bytes: [...new Uint8Array(await res.arrayBuffer())],
      };
    });
    assert.equal(got.status, 206);
    assert.equal(got.range, `bytes 1000-1009/${CLIP.length}`);
    assert.deepEqual(got.bytes, [...CLIP.subarray(1000, 1010)]);
  } finally {
    await page.close();
  }
});

test('a reload revalidates with If-None-Match and gets 304', async () => {
  const page = await browser.newPage();
  try {
    const first = await page.goto(`${ts.url}/index.html`);
    assert.equal(first?.status(), 200);
    seen.length = 0;
    await page.reload();
    await waitFor(() => seen.some((s) => s.path === '/index.html'));
    const again = seen.find((s) => s.path === '/index.html')!;
    assert.match(again.ifNoneMatch ?? '', /^W\/"/);
    assert.equal(again.status, 304);
    assert.equal(await page.title(), 'static', 'the page is shown from the cache');
  } finally {
    await page.close();
  }
});

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), 'timed out waiting');
}
