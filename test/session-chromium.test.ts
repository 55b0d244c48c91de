import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { HttpError, session } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { CHROMIUM_ARGS } from './helpers/sse-clients.ts';

// The browser as the session's client: a page logs in with fetch, then opens an EventSource that
// is authenticated by the session cookie alone (EventSource sends no custom headers), while other
// requests of the same browser keep working beside the open stream.

let ts: TestServer;
let browser: Browser;

const PAGE = `<!doctype html><meta charset="utf-8"><title>app</title>
<script>
  window.login = () => fetch('/login', { method: 'POST' }).then((r) => r.json());
  window.me = () => fetch('/me').then((r) => r.json());
  window.firstEvent = () =>
    new Promise((resolve, reject) => {
      const source = new EventSource('/events');
      window.source = source;
      source.addEventListener('hello', (e) => resolve(JSON.parse(e.data)));
      source.onerror = () => { source.close(); reject(new Error('EventSource failed')); };
    });
</script>`;

before(async () => {
  ts = await startServer((s) => {
    s.setCookieSecret('session-chromium-test-secret-32b!');
    s.use(session());
    s.get('/', (r) => {
      r.response.header.set('Content-Type', 'text/html; charset=utf-8');
      r.response.write(PAGE);
    });
    s.post('/login', async (r) => {
      await r.session.regenerate();
      r.session.set('user', 'ada');
      return { ok: true };
    });
    s.get('/me', (r) => ({ user: r.session.get('user') ?? null, streams: r.session.get('streams') ?? 0 }));
    s.get('/events', (r) => {
      const user = r.session.get<string>('user');
      if (user === undefined) throw new HttpError(401);
      r.session.set('streams', r.session.get('streams', 0) + 1); // before sse(): it commits
      const es = r.response.sse({ heartbeat: 0 });
      void es.send({ event: 'hello', data: { user } });
    });
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await ts?.close();
});

test('an EventSource is authenticated by the session cookie, and the open stream blocks no other request', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(ts.url);
    await assert.rejects(page.evaluate('firstEvent()'), /EventSource failed/, 'no session: 401');
    assert.deepEqual(await page.evaluate('login()'), { ok: true });
    const cookies = await page.context().cookies();
    const sid = cookies.find((c) => c.name === 'sluice.sid');
    assert.ok(sid, 'the browser stored the session cookie');
    assert.equal(sid.httpOnly, true);
    assert.equal(sid.sameSite, 'Lax');
    assert.deepEqual(await page.evaluate('firstEvent()'), { user: 'ada' });
    // The stream is still open; the session it changed before streaming is saved already.
    assert.deepEqual(await page.evaluate('me()'), { user: 'ada', streams: 1 });
    await page.evaluate('window.source.close()');
  } finally {
    await page.close();
  }
});
