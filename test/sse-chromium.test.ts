import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { startServer, type TestServer } from './helpers/server.ts';
import {
  CHROMIUM_ARGS,
  type Received,
  SPEC_EVENTS,
  SPEC_RECEIVED,
  SPEC_TYPES,
} from './helpers/sse-clients.ts';

// Chromium's own EventSource: the parser that browsers ship, and the strictest judge of framing, ids and
// reconnects. One browser for the whole file.

let ts: TestServer;
let browser: Browser;
const seenLastIds: (string | undefined)[] = [];

const PAGE = `<!doctype html><meta charset="utf-8"><title>sse</title>
<script>
  // Records what EventSource dispatches; the test reads window.got.
  window.got = [];
  window.opens = 0;
  window.listen = (url, types) => {
    const source = new EventSource(url);
    window.source = source;
    source.onopen = () => window.opens++;
    for (const type of types) {
      source.addEventListener(type, (e) => window.got.push({ type: e.type, data: e.data, lastEventId: e.lastEventId }));
    }
  };
</script>`;

before(async () => {
  ts = await startServer((s) => {
    s.get('/', (r) => {
      r.response.header.set('Content-Type', 'text/html; charset=utf-8');
      r.response.write(PAGE);
    });
    s.get('/spec', async (r) => {
      const es = r.response.sse();
      for (const ev of SPEC_EVENTS) await es.send(ev);
      await es.closed;
    });
    s.get('/resume', async (r) => {
      const es = r.response.sse({ retry: 50 });
      seenLastIds.push(es.lastEventId);
      if (es.lastEventId === undefined) {
        for (let i = 1; i <= 3; i++) await es.send({ id: i, data: `event ${i}` });
        await es.send({ data: 'no id of its own' });
        es.close();
        return;
      }
      for (let i = Number(es.lastEventId) + 1; i <= 5; i++) await es.send({ id: i, data: `event ${i}` });
      await es.closed;
    });
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await ts?.close();
});

async function openPage(): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${ts.url}/`);
  return page;
}

async function received(page: Page, count: number): Promise<Received[]> {
  await page.waitForFunction((n) => (window as unknown as { got: unknown[] }).got.length >= n, count, {
    timeout: 5000,
  });
  return page.evaluate(() => {
    const w = window as unknown as { got: Received[]; source: EventSource };
    w.source.close();
    return w.got;
  });
}

test("Chromium's EventSource receives the exact sequence, ids carried forward", async () => {
  const page = await openPage();
  try {
    await page.evaluate(
      (types) => (window as unknown as { listen: (u: string, t: string[]) => void }).listen('/spec', types),
      [...SPEC_TYPES],
    );
    const got = await received(page, SPEC_RECEIVED.length);
    assert.deepEqual(got, SPEC_RECEIVED);
  } finally {
    await page.close();
  }
});

test('Chromium reconnects after the server ends the stream, sending Last-Event-ID', async () => {
  const page = await openPage();
  try {
    await page.evaluate(() =>
      (window as unknown as { listen: (u: string, t: string[]) => void }).listen('/resume', ['message']),
    );
    const got = await received(page, 6);
    assert.deepEqual(
      got.map((e) => [e.data, e.lastEventId]),
      [
        ['event 1', '1'],
        ['event 2', '2'],
        ['event 3', '3'],
        ['no id of its own', '3'],
        ['event 4', '4'],
        ['event 5', '5'],
      ],
    );
    assert.equal(await page.evaluate(() => (window as unknown as { opens: number }).opens), 2);
    assert.deepEqual(seenLastIds, [undefined, '3']);
  } finally {
    await page.close();
  }
});
