import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AccessEntry, accessLog, formatEntry, InvalidArgumentError, ndjson } from '../src/index.ts';
import { curl, send, waitFor } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

test('accessLog logs one line per request when its response closes', async (t) => {
  const entries: AccessEntry[] = [];
  const srv = await startServer((s) => {
    s.use(
      accessLog({
        format: (e) => {
          entries.push(e);
          return `line ${e.path}`;
        },
      }),
    );
    s.get('/hi', () => 'hello');
  });
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/hi`)).text, 'hello');
  await sleep(20);
  assert.equal(entries.length, 1);
  assert.equal(entries[0]?.status, 200);
  assert.equal(entries[0]?.bytes, 5);
  assert.equal(entries[0]?.ended, 'complete');
  assert.ok(srv.logger.lines.some((l) => l.level === 'info' && l.args[0] === 'line /hi'));
});

test('a format or logger that throws is reported, and the server keeps serving', async (t) => {
  const srv = await startServer((s) => {
    s.use(
      accessLog({
        format: () => {
          throw new Error('format broke');
        },
      }),
    );
    s.get('/hi', () => 'hello');
  });
  t.after(() => srv.close());
  for (let i = 0; i < 2; i++) assert.equal((await send(`${srv.url}/hi`)).text, 'hello');
  await sleep(20);
  const errors = srv.logger.lines.filter((l) => l.level === 'error');
  assert.equal(errors.length, 2);
  assert.match(String(errors[0]?.args[0]), /accessLog failed/);
  assert.equal((errors[0]?.args[1] as Error | undefined)?.message, 'format broke');
});

test('accessLog refuses bad options by name when it is created', () => {
  const refused = (options: unknown) => {
    try {
      accessLog(options as never);
    } catch (e) {
      assert.ok(e instanceof InvalidArgumentError);
      return e.argument;
    }
    return undefined;
  };
  assert.equal(refused({ format: 'short' }), 'format');
  assert.equal(refused({ logger: {} }), 'logger');
  assert.equal(refused(null), 'options');
  assert.equal(refused({}), undefined);
});

test('a stream the server cut short after a handler error is logged ended=error, not ended=client', async (t) => {
  const entries: AccessEntry[] = [];
  const srv = await startServer((s) => {
    s.use(
      accessLog({
        format: (e) => {
          entries.push(e);
          return formatEntry(e);
        },
      }),
    );
    s.get('/flushed', async (r) => {
      r.response.write('partial ');
      await r.response.flush();
      throw new Error('disk gone');
    });
    s.get('/ndjson', () =>
      ndjson(
        (async function* () {
          yield { n: 1 };
          throw new Error('cursor lost');
        })(),
      ),
    );
    s.get('/sse', async (r) => {
      await r.response.sse().send({ data: 'one' });
      throw new Error('feed lost');
    });
    s.get('/left', async (r) => {
      await r.response.flush();
      await sleep(5000, undefined, { signal: r.signal });
    });
  });
  t.after(() => srv.close());
  for (const path of ['/flushed', '/ndjson']) {
    const res = await curl(['-sS', '-N', `${srv.url}${path}`]);
    assert.equal(res.code, 18, `${path}: curl saw a complete response`);
  }
  assert.equal((await curl(['-sS', '-N', `${srv.url}/sse`])).code, 0);
  // The one that really is the client leaving, for contrast.
  assert.equal((await curl(['-sS', '-N', '--max-time', '0.3', `${srv.url}/left`])).code, 28);
  await waitFor(() => entries.length === 4, 'four access lines', 5000);
  const ended = Object.fromEntries(entries.map((e) => [e.path, e.ended]));
  assert.deepEqual(ended, { '/flushed': 'error', '/ndjson': 'error', '/sse': 'error', '/left': 'client' });
  const line = formatEntry(entries.find((e) => e.path === '/flushed')!);
  assert.match(line, /^GET \/flushed 200 8B \S+ ended=error error="disk gone"$/);
});

test('a 4xx keeps its reason in the access line, which the core no longer warns about', async (t) => {
  const entries: AccessEntry[] = [];
  const srv = await startServer((s) => {
    s.setBodyLimit(16);
    s.use(
      accessLog({
        format: (e) => {
          entries.push(e);
          return formatEntry(e);
        },
      }),
    );
    s.post('/echo', (r) => r.getBody());
    s.get('/ok', () => 'ok');
  });
  t.after(() => srv.close());
  const big = await send(`${srv.url}/echo`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: 'x'.repeat(64),
  });
  assert.equal(big.status, 413);
  assert.equal((await send(`${srv.url}/nowhere`)).status, 404);
  assert.equal((await send(`${srv.url}/ok`)).status, 200);
  assert.equal((await send(`${srv.url}/a%0D%0AGET%20/b%E2%80%A8`)).status, 404);
  await waitFor(() => entries.length === 4, 'four access lines', 5000);
  const byPath = Object.fromEntries(entries.map((e) => [e.path, e]));
  assert.match(String(byPath['/echo']?.error), /16/, 'the 413 names the limit');
  assert.equal(byPath['/nowhere']?.error, 'Not Found');
  assert.equal(byPath['/ok']?.error, undefined);
  assert.match(formatEntry(byPath['/echo']!), /^POST \/echo 413 \S+ \S+ error="[^"\n]*16[^"\n]*"$/);
  assert.equal(srv.logger.lines.filter((l) => l.level === 'warn').length, 0);
  // The path is decoded; a line break in it must not start a forged line.
  const forged = formatEntry(entries.find((e) => e.path.startsWith('/a'))!);
  assert.match(forged, /^GET \/a%0D%0AGET%20\/b%E2%80%A8 404 /);
});
