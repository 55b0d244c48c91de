import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { waitFor } from './helpers/http-client.ts';
import { freePort, type RedisServer, startRedis } from './helpers/redis-server.ts';
import { CHROMIUM_ARGS } from './helpers/sse-clients.ts';

const DEMO = fileURLToPath(new URL('../examples/demo/server.ts', import.meta.url));

let redis: RedisServer;
let browser: Browser;
let demo: ChildProcess | undefined;

before(async () => {
  redis = await startRedis();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await stopDemo();
  await redis?.stop();
});

/** Starts the demo as `npm start` runs it, with REDIS_URL set; resolves once it listens. */
async function startDemo(port: number): Promise<void> {
  const child = spawn(process.execPath, ['--unhandled-rejections=strict', '--import', 'tsx', DEMO], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redis.url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  demo = child;
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  await waitFor(
    () => out.includes('sluice demo on') || child.exitCode !== null,
    'the demo to listen',
    20_000,
  );
  assert.equal(child.exitCode, null, `the demo exited: ${out}`);
}

/** Stops it the way a deploy does: SIGTERM, a graceful shutdown, exit. */
async function stopDemo(): Promise<void> {
  const child = demo;
  demo = undefined;
  if (child === undefined || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
  await exited;
}

const ticker = (page: Page, what: string) =>
  page.evaluate((sel) => Number(document.querySelector(sel)?.textContent), what);

test('with REDIS_URL, stopping and starting the whole demo process replays the ticker with no reset', async () => {
  const port = await freePort();
  await startDemo(port);
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/demo`);
  await page.waitForFunction(() => document.querySelector('#ticker-status')?.textContent === 'open');
  await page.waitForFunction(() => Number(document.querySelector('#ticker-events')?.textContent) >= 5);
  const seqsBefore: number[] = await page.evaluate(() => [
    ...(window as unknown as DemoWindow).__demo.tickerSeqs,
  ]);

  await stopDemo();
  // Down long enough that the browser's reconnects fail a few times: the new process starts with nothing in memory.
  await sleep(1500);
  await startDemo(port);
  await page.waitForFunction(
    () => Number(document.querySelector('#ticker-reconnects')?.textContent) >= 1,
    null,
    {
      timeout: 15_000,
    },
  );
  await page.waitForFunction(() => document.querySelector('#ticker-status')?.textContent === 'open');
  const lastBefore = seqsBefore.at(-1) ?? 0;
  await page.waitForFunction(
    (n) => (window as unknown as DemoWindow).__demo.tickerSeqs.some((s) => s > n + 5),
    lastBefore,
    { timeout: 15_000 },
  );
  const seqs: number[] = await page.evaluate(() => [...(window as unknown as DemoWindow).__demo.tickerSeqs]);
  assert.ok(seqs.length > seqsBefore.length);
  for (let i = 1; i < seqs.length; i++)
    assert.equal(seqs[i], (seqs[i - 1] as number) + 1, `seq ${i} follows`);
  assert.equal(await ticker(page, '#ticker-resets'), 0, 'no reset across the restart');
  assert.equal(await ticker(page, '#ticker-gaps'), 0);
  assert.deepEqual(pageErrors, []);
  await page.close();
});

interface DemoWindow {
  __demo: { tickerSeqs: number[] };
}
