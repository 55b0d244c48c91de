import assert from 'node:assert/strict';
import { type IncomingMessage, request } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpError } from '../src/index.ts';
import { openSocket, send, waitFor } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

/** The first half of a body of each parsed type, announced at its full length. */
const HALF_BODIES: Record<string, { type: string; half: string }> = {
  multipart: {
    type: 'multipart/form-data; boundary=cut',
    half: '--cut\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\nfirst half of',
  },
  json: { type: 'application/json', half: '{"first": "half of' },
  urlencoded: { type: 'application/x-www-form-urlencoded', half: 'a=1&b=first+half' },
  text: { type: 'text/plain', half: 'first half of' },
};

for (const [kind, { type, half }] of Object.entries(HALF_BODIES)) {
  test(`a client that leaves mid-way through a ${kind} body does not hold up a graceful shutdown`, async (t) => {
    let handled = false;
    const srv = await startServer((s) =>
      s.post('/up', () => {
        handled = true;
      }),
    );
    t.after(() => srv.close());
    const socket = await openSocket(srv.port);
    socket.on('error', () => {});
    socket.write(
      `POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${half.length * 2}\r\n\r\n${half}`,
    );
    await waitFor(() => srv.server.active === 1, 'the request to be in flight');
    // Let the server take in the half that was sent before the client vanishes.
    await sleep(50);
    socket.destroy();

    const started = performance.now();
    await srv.server.shutdown({ timeout: 5000 });
    const took = performance.now() - started;
    t.diagnostic(`shutdown took ${took.toFixed(0)} ms`);
    // A read that never settled kept the request in flight until the 5 s timeout.
    assert.ok(took < 2000, `shutdown took ${took.toFixed(0)} ms`);
    assert.equal(srv.server.active, 0);
    assert.equal(handled, false);
  });
}

test('a client that left before global middleware let its body be read does not hang the request', async (t) => {
  const srv = await startServer((s) => {
    s.use(async (r) => {
      await sleep(150); // an auth check against a slow store, say
      await r.middleware.next();
    });
    s.post('/up', () => 'never');
  });
  t.after(() => srv.close());
  const socket = await openSocket(srv.port);
  socket.on('error', () => {});
  const { type, half } = HALF_BODIES.multipart!;
  socket.write(
    `POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${half.length * 2}\r\n\r\n${half}`,
  );
  await waitFor(() => srv.server.active === 1, 'the request to be in flight');
  socket.destroy();
  await waitFor(() => srv.server.active === 0, 'the request to leave the in-flight count', 2000);
});

test('GET, HEAD and OPTIONS bodies are never parsed, whatever their Content-Type', async (t) => {
  const srv = await startServer((s) =>
    s.all('/any', async (r) => {
      r.response.header.set('X-Body', JSON.stringify({ before: r.getBody(), parsed: await r.parseBody() }));
      r.response.write('ok');
    }),
  );
  t.after(() => srv.close());
  // Not even valid multipart: parsing it would answer 400.
  const body = 'no boundary anywhere in here';
  // TRACE is refused too, but sluice routes cannot bind it, so it is never answered with a body.
  for (const method of ['GET', 'HEAD', 'OPTIONS']) {
    const res = await send(`${srv.url}/any`, {
      method,
      headers: { 'Content-Type': 'multipart/form-data; boundary=zz', 'Content-Length': body.length },
      body,
    });
    assert.equal(res.status, 200, `${method}: ${res.text}`);
    assert.equal(res.headers['x-body'], '{}', method);
  }
  const post = await send(`${srv.url}/any`, {
    method: 'POST',
    headers: { 'Content-Type': 'multipart/form-data; boundary=zz' },
    body,
  });
  assert.equal(post.status, 400);
});

/** Starts an upload that never finishes; resolves with the response the server gives meanwhile. */
function answerBeforeBodyEnds(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers }, (res) => {
      resolve(res);
      res.resume();
      res.on('end', () => req.destroy());
    });
    req.on('error', reject);
    req.write('--up\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n\r\n');
    req.write(Buffer.alloc(64 * 1024, 1));
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('no answer while the body was still on its way'));
    }, 3000);
    req.on('close', () => clearTimeout(timer));
  });
}

test('global middleware runs before the body is read: a guard refuses an upload it never reads', async (t) => {
  let handled = false;
  let parsedByGuard: unknown = 'not called';
  const srv = await startServer((s) => {
    s.use((r) => {
      parsedByGuard = r.getBody();
      if (r.headers.authorization !== 'Bearer ok') throw new HttpError(401);
      return r.middleware.next();
    });
    s.post('/upload', () => {
      handled = true;
    });
  });
  t.after(() => srv.close());
  const res = await answerBeforeBodyEnds(`${srv.url}/upload`, {
    'Content-Type': 'multipart/form-data; boundary=up',
  });
  assert.equal(res.statusCode, 401);
  assert.equal(parsedByGuard, undefined);
  assert.equal(handled, false);
});

test('r.parseBody() in global middleware reads the body once; group middleware and the handler see it', async (t) => {
  const seen: Record<string, unknown> = {};
  const srv = await startServer((s) => {
    s.use(async (r) => {
      seen.before = r.getBody();
      const first = await r.parseBody<{ n: number }>();
      seen.same = first === (await r.parseBody()) && first === r.getBody();
      seen.n = first.n;
      await r.middleware.next();
    });
    s.group('/g', (g) => {
      g.middleware(async (r) => {
        seen.group = r.getBody();
        await r.middleware.next();
      });
      g.post('/x', (r) => ({ handler: r.getBody() }));
    });
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/g/x`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{"n": 7}',
  });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(JSON.parse(res.text), { handler: { n: 7 } });
  assert.deepEqual(seen, { before: undefined, same: true, n: 7, group: { n: 7 } });
});

test('a body refused inside r.parseBody() rejects the same way on every call and answers 413', async (t) => {
  const errors: unknown[] = [];
  const srv = await startServer((s) => {
    s.setBodyLimit(16);
    s.use(async (r) => {
      for (let i = 0; i < 2; i++) await r.parseBody().catch((e: unknown) => errors.push(e));
      await r.middleware.next(); // the body step rejects again: the usual error answer follows
    });
    s.post('/x', () => 'never');
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/x`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain' },
    body: 'x'.repeat(100),
  });
  assert.equal(res.status, 413);
  assert.equal(res.headers.connection, 'close');
  assert.equal(errors.length, 2);
  assert.ok(errors[0] instanceof HttpError && errors[0].status === 413);
  assert.equal(errors[0], errors[1]);
});
