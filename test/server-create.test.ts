// Issue #13, trap 8: server() is a process-wide singleton. An app factory called twice (one app per
// test) gets a fresh server from createServer(); with server() the error says why.
import assert from 'node:assert/strict';
import test from 'node:test';
import { createServer, InvalidArgumentError, type Server, server, silentLogger } from '../src/index.ts';
import { send } from './helpers/http-client.ts';

let built = 0;

/** The per-test set-up, as users write it. */
function buildApp(make: () => Server): Server {
  const s = make();
  const n = ++built;
  s.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
  s.get('/health', () => `ok ${n}`);
  return s;
}

test('buildApp() with server() fails the second time with an error that names the singleton', () => {
  const name = `trap8-${process.pid}`;
  buildApp(() => server(name));
  assert.throws(
    () => buildApp(() => server(name)),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      e.message.includes('a route for GET /health is already bound') &&
      e.message.includes(
        'server() returns the same named server on every call — use createServer() for a fresh one (tests, buildApp())',
      ),
  );
});

test('buildApp() with createServer() gives independent servers that each serve their own routes', async (t) => {
  const a = buildApp(() => createServer());
  const b = buildApp(() => createServer());
  assert.notEqual(a, b);
  assert.notEqual(a, server(), 'createServer() is not the default singleton');
  await a.start();
  await b.start();
  t.after(() => Promise.all([a.shutdown({ timeout: 500 }), b.shutdown({ timeout: 500 })]));
  const fromA = await send(`http://127.0.0.1:${a.getListenedPort()}/health`);
  const fromB = await send(`http://127.0.0.1:${b.getListenedPort()}/health`);
  assert.notEqual(fromA.text, fromB.text);
  assert.match(fromA.text, /^ok \d+$/);
  // A fresh server binding twice is a plain mistake: no hint about a singleton it is not.
  assert.throws(
    () => a.get('/health', () => 'again'),
    (e: unknown) => e instanceof InvalidArgumentError && !e.message.includes('createServer'),
  );
  assert.throws(() => createServer(42 as unknown as string), InvalidArgumentError);
});
