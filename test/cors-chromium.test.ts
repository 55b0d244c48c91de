import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { cors, HttpError } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { CHROMIUM_ARGS } from './helpers/sse-clients.ts';

// The browser as the client that enforces CORS: a page served by one sluice server logs in to an API
// on another port with credentials, calls it with a preflighted request, and opens a cookie-
// authenticated EventSource on it. One browser for the file.

let site: TestServer;
let api: TestServer;
let browser: Browser;
let pageOrigin = '';
let profileCalls = 0;

const PAGE = `<!doctype html><meta charset="utf-8"><title>app</title>
<script>
  window.login = (api) =>
    fetch(api + '/login', { method: 'POST', credentials: 'include' }).then((r) => r.status);
  // JSON and a custom header make this a non-simple request: the browser preflights it.
  window.saveProfile = async (api) => {
    const r = await fetch(api + '/profile', {
      method: 'PUT',
      credentials: 'include',
      headers: { 'Content-Type': 'application/json', 'X-Token': 't-1' },
      body: JSON.stringify({ name: 'Ada' }),
    });
    return { status: r.status, requestId: r.headers.get('X-Request-Id'), body: await r.json() };
  };
  window.firstEvent = (api) =>
    new Promise((resolve, reject) => {
      const source = new EventSource(api + '/events', { withCredentials: true });
      source.addEventListener('hello', (e) => { source.close(); resolve(JSON.parse(e.data)); });
      source.onerror = () => { source.close(); reject(new Error('EventSource failed')); };
    });
</script>`;

before(async () => {
  api = await startServer((s) => {
    s.setCookieSecret('cors-chromium-test-secret-32-bytes!');
    // A function, read per request: the page's port is known only once its server is up.
    s.use(
      cors({ origin: (origin) => origin === pageOrigin, credentials: true, exposeHeaders: ['X-Request-Id'] }),
    );
    s.post('/login', (r) => {
      r.cookie.set('session', 'ada', { signed: true });
      return { ok: true };
    });
    s.put('/profile', async (r) => {
      profileCalls++;
      const user = r.cookie.get('session', { signed: true });
      if (user === undefined) throw new HttpError(401);
      r.response.header.set('X-Request-Id', 'req-7');
      return { user, body: await r.parseBody(), token: r.headers['x-token'] };
    });
    s.get('/events', async (r) => {
      const user = r.cookie.get('session', { signed: true });
      if (user === undefined) throw new HttpError(401);
      const es = r.response.sse({ heartbeat: 0 });
      await es.send({ event: 'hello', data: { user } });
      await es.closed;
    });
  });
  site = await startServer((s) => {
    s.get('/', (r) => {
      r.response.header.set('Content-Type', 'text/html; charset=utf-8');
      r.response.write(PAGE);
    });
  });
  pageOrigin = site.url;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await site?.close();
  await api?.close();
});

async function openPage(origin: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  return page;
}

test('a cross-origin page logs in with credentials, passes a preflight and reads an exposed header', async () => {
  const page = await openPage(site.url);
  try {
    assert.equal(
      await page.evaluate(
        (url) => (window as never as { login(u: string): Promise<number> }).login(url),
        api.url,
      ),
      200,
    );
    const saved = await page.evaluate(
      (url) => (window as never as { saveProfile(u: string): Promise<unknown> }).saveProfile(url),
      api.url,
    );
    assert.deepEqual(saved, {
      status: 200,
      requestId: 'req-7',
      body: { user: 'ada', body: { name: 'Ada' }, token: 't-1' },
    });
  } finally {
    await page.context().clearCookies();
    await page.close();
  }
});

test('an EventSource with withCredentials gets a cookie-authenticated stream cross-origin', async () => {
  const page = await openPage(site.url);
  try {
    await page.evaluate(
      (url) => (window as never as { login(u: string): Promise<number> }).login(url),
      api.url,
    );
    const event = await page.evaluate(
      (url) => (window as never as { firstEvent(u: string): Promise<unknown> }).firstEvent(url),
      api.url,
    );
    assert.deepEqual(event, { user: 'ada' });
  } finally {
    await page.context().clearCookies();
    await page.close();
  }
});

test('a page of an origin the policy does not list is refused at the preflight; the handler never runs', async () => {
  // Same port, other origin: localhost is not 127.0.0.1 to the browser.
  const page = await openPage(site.url.replace('127.0.0.1', 'localhost'));
  const before = profileCalls;
  try {
    const outcome = await page.evaluate(
      (url) =>
        (window as never as { saveProfile(u: string): Promise<unknown> }).saveProfile(url).then(
          () => 'read',
          (e: Error) => e.name,
        ),
      api.url,
    );
    assert.equal(outcome, 'TypeError', 'fetch rejects as CORS failures do');
    assert.equal(profileCalls, before);
  } finally {
    await page.close();
  }
});
