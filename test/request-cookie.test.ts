import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError, ResponseCommittedError } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { read } from './helpers/sse-clients.ts';

// r.cookie against a real server: what a browser would store (the Set-Cookie lines) and what it
// sends back (the Cookie header), signed values, rotation, and the committed-response rule.

const SECRET = 'a'.repeat(32);
const NEW_SECRET = 'b'.repeat(32);
let ts: TestServer;
let lateSet: unknown;

before(async () => {
  ts = await startServer((s) => {
    s.setCookieSecret(SECRET);
    s.get('/read', (r) => ({
      theme: r.cookie.get('theme') ?? null,
      name: r.cookie.get('name') ?? null,
      hasTheme: r.cookie.has('theme'),
    }));
    s.get('/set', (r) => {
      r.cookie.set('theme', 'dark');
      r.cookie.set('name', 'Zoë & co', { maxAge: 3600, httpOnly: false, sameSite: 'strict', path: '/app' });
      return 'ok';
    });
    s.get('/cross-site', (r) => {
      r.cookie.set('embed', '1', { sameSite: 'none', partitioned: true });
      return 'ok';
    });
    s.post('/login', (r) => {
      r.cookie.set('session', 'user-42', { signed: true });
      return 'ok';
    });
    s.get('/me', (r) => ({ user: r.cookie.get('session', { signed: true }) ?? null }));
    s.get('/signed/{name}', (r) => ({ value: r.cookie.get(r.params.name ?? '', { signed: true }) ?? null }));
    s.get('/logout', (r) => {
      r.cookie.remove('session');
      return 'ok';
    });
    s.get('/late', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      try {
        r.cookie.set('late', '1');
      } catch (e) {
        lateSet = e;
      }
      await es.send({ data: 'still streaming' });
      es.close();
    });
    s.get('/bad-name', (r) => {
      r.cookie.set('a b', '1');
    });
  });
});

after(() => ts.close());

function setCookies(headers: Record<string, unknown>): string[] {
  return (headers['set-cookie'] as string[] | undefined) ?? [];
}

describe('reading', () => {
  test('cookies the client sent are read by name, percent-decoded', async () => {
    const res = await send(`${ts.url}/read`, { headers: { Cookie: 'theme=dark; name=Zo%C3%AB%20%26%20co' } });
    assert.deepEqual(JSON.parse(res.text), { theme: 'dark', name: 'Zoë & co', hasTheme: true });
  });

  test('no Cookie header reads as no cookies', async () => {
    const res = await send(`${ts.url}/read`);
    assert.deepEqual(JSON.parse(res.text), { theme: null, name: null, hasTheme: false });
  });

  test('a malformed Cookie header is read as far as it goes, never a 500', async () => {
    const res = await send(`${ts.url}/read`, { headers: { Cookie: 'name=%E0%A4%A; =x; theme; "a=b' } });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.text).name, '%E0%A4%A');
  });
});

describe('writing', () => {
  test('defaults are Path=/, HttpOnly, SameSite=Lax, and no Secure over plain HTTP', async () => {
    const res = await send(`${ts.url}/set`);
    assert.deepEqual(setCookies(res.headers), [
      'theme=dark; Path=/; HttpOnly; SameSite=Lax',
      'name=Zo%C3%AB%20%26%20co; Max-Age=3600; Path=/app; SameSite=Strict',
    ]);
  });

  test('SameSite=None is always Secure, as browsers require', async () => {
    const res = await send(`${ts.url}/cross-site`);
    assert.deepEqual(setCookies(res.headers), [
      'embed=1; Path=/; HttpOnly; Secure; Partitioned; SameSite=None',
    ]);
  });

  test('Secure is added when a trusted proxy says the client used HTTPS, and only then', async () => {
    const spoofed = await send(`${ts.url}/set`, { headers: { 'X-Forwarded-Proto': 'https' } });
    assert.ok(
      !setCookies(spoofed.headers)[0]?.includes('Secure'),
      'an untrusted X-Forwarded-Proto is ignored',
    );
    ts.server.setTrustProxy('loopback');
    try {
      const proxied = await send(`${ts.url}/set`, { headers: { 'X-Forwarded-Proto': 'https' } });
      assert.equal(setCookies(proxied.headers)[0], 'theme=dark; Path=/; HttpOnly; Secure; SameSite=Lax');
    } finally {
      ts.server.setTrustProxy(false);
    }
  });

  test('remove() expires the cookie on the path it was set with', async () => {
    const res = await send(`${ts.url}/logout`);
    assert.deepEqual(setCookies(res.headers), [
      'session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
    ]);
  });

  test('setting a cookie after sse() committed the response throws ResponseCommittedError; the stream goes on', async () => {
    const res = await read(`${ts.url}/late`);
    assert.ok(lateSet instanceof ResponseCommittedError, String(lateSet));
    assert.match((lateSet as Error).message, /set cookie "late"/);
    assert.equal(res.headers['set-cookie'], undefined);
    assert.match(res.body, /data: still streaming/);
  });

  test('a name that is no token is refused with InvalidArgumentError (a 500, logged)', async () => {
    const res = await send(`${ts.url}/bad-name`);
    assert.equal(res.status, 500);
    const logged = ts.logger.lines.find(
      (l) => l.level === 'error' && l.args.some((a) => a instanceof InvalidArgumentError),
    );
    assert.ok(logged, 'the InvalidArgumentError was logged');
  });
});

describe('signed cookies', () => {
  async function login(): Promise<string> {
    const res = await send(`${ts.url}/login`, { method: 'POST' });
    const line = setCookies(res.headers)[0] ?? '';
    assert.match(line, /^session=user-42\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
    return line.split(';')[0] ?? '';
  }

  async function me(cookie: string): Promise<unknown> {
    const res = await send(`${ts.url}/me`, { headers: { Cookie: cookie } });
    return JSON.parse(res.text).user;
  }

  test('a signed cookie reads back as its value; a forged or unsigned one reads as undefined', async () => {
    const cookie = await login();
    assert.equal(await me(cookie), 'user-42');
    assert.equal(await me(cookie.replace('user-42', 'user-1')), null, 'value changed, signature kept');
    assert.equal(await me(`${cookie.slice(0, -2)}AA`), null, 'signature changed');
    assert.equal(await me('session=user-42'), null, 'no signature');
    assert.equal(await me('session=user-42.'), null, 'empty signature');
  });

  test('a value signed for one cookie name is refused under another', async () => {
    const cookie = await login();
    const same = await send(`${ts.url}/signed/session`, { headers: { Cookie: cookie } });
    assert.equal(JSON.parse(same.text).value, 'user-42');
    const moved = await send(`${ts.url}/signed/other`, {
      headers: { Cookie: cookie.replace('session=', 'other=') },
    });
    assert.equal(JSON.parse(moved.text).value, null);
  });

  test('rotation: cookies signed with the old secret verify while it is still listed, not after', async () => {
    const old = await login();
    try {
      ts.server.setCookieSecret([NEW_SECRET, SECRET]);
      assert.equal(await me(old), 'user-42', 'old secret still verifies');
      const fresh = await login();
      assert.notEqual(fresh, old, 'the new secret signs');
      ts.server.setCookieSecret(NEW_SECRET);
      assert.equal(await me(old), null, 'the retired secret no longer verifies');
      assert.equal(await me(fresh), 'user-42');
    } finally {
      ts.server.setCookieSecret(SECRET);
    }
  });

  test('secrets shorter than 32 bytes are refused', () => {
    assert.throws(
      () => ts.server.setCookieSecret('secret'),
      (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'secret',
    );
    assert.throws(
      () => ts.server.setCookieSecret([]),
      (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'secret',
    );
  });

  test('a signed cookie without any secret configured is a clear error', async () => {
    const bare = await startServer((s) => {
      s.get('/', (r) => {
        try {
          r.cookie.get('session', { signed: true });
          return 'no error';
        } catch (e) {
          return e instanceof InvalidArgumentError ? e.argument : String(e);
        }
      });
    });
    try {
      const res = await send(`${bare.url}/`, { headers: { Cookie: 'session=x.y' } });
      assert.equal(res.text, 'signed');
    } finally {
      await bare.close();
    }
  });
});
