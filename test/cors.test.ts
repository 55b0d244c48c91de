import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cors, InvalidArgumentError } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { read } from './helpers/sse-clients.ts';

// cors() as global middleware on a real server, asked the way browsers ask: preflights, simple and
// credentialed requests, 404s and SSE, from allowed and refused origins.

const APP = 'http://app.example:3000';
let ts: TestServer;
const asked: string[] = [];

before(async () => {
  ts = await startServer((s) => {
    s.use(
      cors({
        origin: [APP, /^https:\/\/[a-z]+\.preview\.example$/g],
        credentials: true,
        exposeHeaders: ['X-Request-Id'],
      }),
    );
    s.get('/items', (r) => {
      r.response.header.set('X-Request-Id', 'req-1');
      return { items: [1, 2] };
    });
    s.post('/items', () => ({ created: true }));
    s.get('/vary', (r) => {
      // A handler that sets its own Vary must not lose Origin, nor clobber it.
      r.response.header.set('Vary', 'Accept-Encoding');
      return 'ok';
    });
    s.get('/events', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      await es.send({ data: 'hello' });
      es.close();
    });
  });
});

after(() => ts.close());

describe('preflight', () => {
  test('an OPTIONS preflight of a GET/POST-only route is answered 204 by cors, not 405 by the router', async () => {
    const res = await send(`${ts.url}/items`, {
      method: 'OPTIONS',
      headers: {
        Origin: APP,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'Content-Type, X-Token',
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.equal(res.headers['access-control-allow-origin'], APP);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers['access-control-allow-methods'], 'GET, HEAD, PUT, PATCH, POST, DELETE');
    assert.equal(res.headers['access-control-allow-headers'], 'Content-Type, X-Token');
    assert.equal(res.headers['access-control-max-age'], '600');
    assert.equal(res.headers.vary, 'Origin, Access-Control-Request-Headers');
    assert.equal(res.headers.allow, undefined, 'the 405 path never ran');
  });

  test('a preflight from a refused origin gets no Allow headers, so the browser refuses', async () => {
    const res = await send(`${ts.url}/items`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal(res.headers['access-control-allow-methods'], undefined);
  });

  test('a preflight of a path no route has is answered too (the browser asks before it knows)', async () => {
    const res = await send(`${ts.url}/nowhere`, {
      method: 'OPTIONS',
      headers: { Origin: APP, 'Access-Control-Request-Method': 'DELETE' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers['access-control-allow-origin'], APP);
  });

  test('an OPTIONS without Access-Control-Request-Method is no preflight and reaches the router', async () => {
    const res = await send(`${ts.url}/items`, { method: 'OPTIONS', headers: { Origin: APP } });
    assert.equal(res.status, 405);
    assert.equal(res.headers['access-control-allow-origin'], APP, 'the 405 is readable by the page');
  });
});

describe('actual requests', () => {
  test('an allowed origin gets its own origin back, credentials and the exposed headers', async () => {
    const res = await send(`${ts.url}/items`, { headers: { Origin: APP } });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.text), { items: [1, 2] });
    assert.equal(res.headers['access-control-allow-origin'], APP);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers['access-control-expose-headers'], 'X-Request-Id');
    assert.equal(res.headers.vary, 'Origin');
  });

  test('a global RegExp matches on every request, not every other one', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await send(`${ts.url}/items`, { headers: { Origin: 'https://pr.preview.example' } });
      assert.equal(res.headers['access-control-allow-origin'], 'https://pr.preview.example', `request ${i}`);
    }
  });

  test('a refused origin is still served, without CORS headers (the browser hides it from the page)', async () => {
    const res = await send(`${ts.url}/items`, { headers: { Origin: 'https://evil.preview.example.com' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
    assert.equal(res.headers.vary, 'Origin', 'caches must still key on Origin');
  });

  test('a request without Origin gets no CORS headers but Vary: Origin', async () => {
    const res = await send(`${ts.url}/items`);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal(res.headers.vary, 'Origin');
  });

  test("a handler's own Vary is kept and Origin appended", async () => {
    const res = await send(`${ts.url}/vary`, { headers: { Origin: APP } });
    assert.equal(res.headers.vary, 'Accept-Encoding, Origin');
  });

  test('a 404 carries the CORS headers, so the page can read the error', async () => {
    const res = await send(`${ts.url}/missing`, { headers: { Origin: APP } });
    assert.equal(res.status, 404);
    assert.equal(res.headers['access-control-allow-origin'], APP);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
  });

  test('an SSE response commits with the CORS headers', async () => {
    const res = await read(`${ts.url}/events`, { headers: { Origin: APP } });
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(res.headers['access-control-allow-origin'], APP);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers.vary, 'Origin');
    assert.match(res.body, /data: hello/);
  });
});

describe('origin functions', () => {
  let fn: TestServer;
  before(async () => {
    fn = await startServer((s) => {
      s.use(
        cors({
          origin: async (origin, r) => {
            asked.push(`${r.method} ${origin}`);
            await new Promise((resolve) => setTimeout(resolve, 5));
            if (origin === 'http://boom.example') throw new Error('tenant lookup failed');
            return origin.endsWith('.tenant.example');
          },
        }),
      );
      s.get('/', () => 'ok');
    });
  });
  after(() => fn.close());

  test('an async function decides per request and sees the request', async () => {
    const yes = await send(`${fn.url}/`, { headers: { Origin: 'https://a.tenant.example' } });
    const no = await send(`${fn.url}/`, { headers: { Origin: 'https://a.other.example' } });
    assert.equal(yes.headers['access-control-allow-origin'], 'https://a.tenant.example');
    assert.equal(no.headers['access-control-allow-origin'], undefined);
    assert.deepEqual(asked.slice(-2), ['GET https://a.tenant.example', 'GET https://a.other.example']);
  });

  test('a function that throws gives a logged 500, not a crash', async () => {
    const res = await send(`${fn.url}/`, { headers: { Origin: 'http://boom.example' } });
    assert.equal(res.status, 500);
    assert.ok(fn.logger.lines.some((l) => l.level === 'error'));
  });

  test("'*' sends '*' and no credentials", async () => {
    const star = await startServer((s) => {
      s.use(cors());
      s.get('/', () => 'ok');
    });
    try {
      const res = await send(`${star.url}/`, { headers: { Origin: 'http://any.example' } });
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
      assert.equal(res.headers.vary, undefined, 'a fixed * does not vary');
    } finally {
      await star.close();
    }
  });
});

describe('options are checked when cors() is called', () => {
  const bad: [string, () => unknown, string][] = [
    ["credentials with '*'", () => cors({ credentials: true }), 'origin'],
    ['an origin with a trailing slash', () => cors({ origin: 'https://app.example/' }), 'origin'],
    ['an origin with a path', () => cors({ origin: ['https://app.example/api'] }), 'origin'],
    ["'*' inside a list", () => cors({ origin: ['*'] }), 'origin'],
    ['an empty list', () => cors({ origin: [] }), 'origin'],
    ['a negative maxAge', () => cors({ maxAge: -1 }), 'maxAge'],
    ['a method that is no token', () => cors({ methods: ['GET POST'] }), 'methods'],
    ['a header with CR LF', () => cors({ exposeHeaders: ['X-A\r\nSet-Cookie: a=1'] }), 'exposeHeaders'],
    [
      'credentials that is no boolean',
      () => cors({ credentials: 'yes' as unknown as boolean }),
      'credentials',
    ],
  ];
  for (const [what, call, argument] of bad) {
    test(`refuses ${what}, naming "${argument}"`, () => {
      assert.throws(call, (e: unknown) => e instanceof InvalidArgumentError && e.argument === argument);
    });
  }
});
