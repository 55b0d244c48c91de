import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServer, InvalidArgumentError, type Server, silentLogger } from '../src/index.ts';
import { testClient } from '../src/testing/index.ts';

// sluice/testing: an app on a real ephemeral port with real clients, as a user's test would use it.

function buildApp(): Server {
  const s = createServer('app');
  s.get('/health', () => 'ok');
  s.get('/count', async (r) => {
    const es = r.response.sse();
    for (let i = 1; i <= 3; i++) await es.send({ event: 'n', id: i, data: { i } });
    es.close();
  });
  s.get('/forever', async (r) => {
    const es = r.response.sse();
    await es.send({ data: 'open' });
    await es.closed;
  });
  return s;
}

test('fetch reaches the app over 127.0.0.1 on an ephemeral port', async () => {
  const t = await testClient((s) => s.get('/health', () => 'ok'));
  try {
    assert.match(t.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(t.port, 0);
    const res = await t.fetch('/health');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    assert.equal((await t.fetch('/nope')).status, 404);
  } finally {
    await t.close();
  }
  await assert.rejects(fetch(`${t.url}/health`), 'the server is closed');
});

test('an app factory can be tested twice at once: each call gets its own server', async () => {
  const [a, b] = await Promise.all([testClient(buildApp), testClient(buildApp)]);
  try {
    assert.notEqual(a.port, b.port);
    assert.notEqual(a.server, b.server);
    assert.equal(await (await a.fetch('/health')).text(), 'ok');
    assert.equal(await (await b.fetch('/health')).text(), 'ok');
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('sse() yields parsed events and ends with the stream', async () => {
  const t = await testClient(buildApp(), { logger: silentLogger });
  try {
    const got: { type: string; id: string | undefined; i: number }[] = [];
    for await (const ev of t.sse<{ n: { i: number } }>('/count')) {
      if (ev.type === 'n') got.push({ type: ev.type, id: ev.id, i: ev.json().i });
    }
    assert.deepEqual(got, [
      { type: 'n', id: '1', i: 1 },
      { type: 'n', id: '2', i: 2 },
      { type: 'n', id: '3', i: 3 },
    ]);
  } finally {
    await t.close();
  }
});

test('close() ends a stream that is still open, and the loop reading it', async () => {
  const t = await testClient(buildApp);
  const seen: string[] = [];
  const reading = (async () => {
    for await (const ev of t.sse('/forever')) seen.push(ev.data);
  })();
  for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(seen, ['open']);
  const started = performance.now();
  await t.close();
  await reading;
  assert.ok(performance.now() - started < 1000, 'closed without waiting for the shutdown timeout');
});

test('a bad app or a started server is refused with InvalidArgumentError', async () => {
  await assert.rejects(testClient(42 as unknown as Server), InvalidArgumentError);
  const s = buildApp().setAddress('127.0.0.1').setPort(0);
  await s.start();
  try {
    await assert.rejects(testClient(s), /must not be started yet/);
  } finally {
    await s.shutdown({ timeout: 100 });
  }
});
