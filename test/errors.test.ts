import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpError, InvalidArgumentError, server } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

/** Asserts that `fn` throws an InvalidArgumentError naming `argument`, with that name in its message. */
function assertNamesArgument(fn: () => unknown, argument: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(e)}`);
    assert.ok(e instanceof TypeError);
    assert.equal(e.argument, argument);
    assert.equal(e.code, 'SLUICE_INVALID_ARGUMENT');
    assert.ok(e.message.startsWith(`Invalid argument "${argument}": `), e.message);
    return true;
  });
}

test('HttpError carries its status; 4xx messages are exposed, 5xx are not unless asked', () => {
  const notFound = new HttpError(404);
  assert.equal(notFound.status, 404);
  assert.equal(notFound.message, 'Not Found');
  assert.equal(notFound.expose, true);
  assert.equal(notFound.code, 'HTTP_404');
  assert.equal(notFound.name, 'HttpError');
  assert.ok(notFound instanceof Error);

  const internal = new HttpError(500, 'db down');
  assert.equal(internal.expose, false);
  assert.equal(internal.message, 'db down');

  const cause = new Error('root');
  const custom = new HttpError(503, 'maintenance', { expose: true, code: 'MAINT', cause });
  assert.equal(custom.expose, true);
  assert.equal(custom.code, 'MAINT');
  assert.equal(custom.cause, cause);
  assert.equal(new HttpError(422, 'bad', { expose: false }).expose, false);

  for (const status of [200, 399, 600, 404.5, Number.NaN]) {
    assertNamesArgument(() => new HttpError(status), 'status');
  }
});

test('a thrown HttpError reaches the client with its status, and its message only when exposed', async (t) => {
  const srv = await startServer((s) => {
    s.get('/e/{status}', (r) => {
      const status = Number(r.get('status'));
      throw new HttpError(status, `detail for ${status}`, {
        expose: r.getQuery('expose') === '1' || undefined,
      });
    });
  });
  t.after(() => srv.close());
  const cases: [string, number, string][] = [
    ['/e/400', 400, 'detail for 400'],
    ['/e/429', 429, 'detail for 429'],
    ['/e/500', 500, 'Internal Server Error'],
    ['/e/503', 503, 'Service Unavailable'],
    ['/e/503?expose=1', 503, 'detail for 503'],
  ];
  for (const [path, status, text] of cases) {
    const res = await send(srv.url + path);
    assert.equal(res.status, status, path);
    assert.equal(res.text, text, path);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
  }
});

test('bad ports are refused by name', () => {
  const s = server(`errors-ports-${process.pid}`);
  for (const port of [-1, 65536, 1.5, Number.NaN, '80' as unknown as number]) {
    assertNamesArgument(() => s.setPort(port), 'port');
  }
  assertNamesArgument(() => s.setPort(), 'ports');
  assertNamesArgument(() => s.setBodyLimit(-1), 'bytes');
  assertNamesArgument(() => s.setAddress(''), 'host');
  assertNamesArgument(() => s.setLogger({} as never), 'logger');
  assertNamesArgument(() => server(42 as unknown as string), 'name');
  // Valid values are accepted and chain.
  assert.equal(s.setPort(0, 8080), s);
});

test('bad route patterns are refused by name when bound, not at the first request', () => {
  const s = server(`errors-patterns-${process.pid}`);
  const ok = () => {};
  for (const pattern of [
    '',
    'no-slash',
    'FETCH:/x',
    '/a/*rest/b',
    '/a/{bad-name}',
    '/a/x{id}',
    '/a/{}',
    42 as unknown as string,
  ]) {
    assertNamesArgument(() => s.bindHandler(pattern, ok), 'pattern');
  }
  s.bindHandler('GET:/dup', ok);
  assertNamesArgument(() => s.bindHandler('GET:/dup', ok), 'pattern');
  assertNamesArgument(() => s.get('/dup', ok), 'pattern');
  assert.throws(() => s.bindHandler('/dup2', ok).bindHandler('POST:/dup2', ok), /already bound/);
  assertNamesArgument(() => s.group(7 as unknown as string, () => {}), 'prefix');
});

test('a refused bindHandler leaves the route table as it was', async (t) => {
  let caught: unknown;
  const srv = await startServer((s) => {
    s.post('/y', (r) => r.response.write('post'));
    try {
      // GET and HEAD are free, POST is taken: none of the three may be bound.
      s.bindHandler('/y', (r) => r.response.write('all'));
    } catch (e) {
      caught = e;
    }
  });
  t.after(() => srv.close());
  assert.ok(caught instanceof InvalidArgumentError && caught.argument === 'pattern');
  const get = await send(`${srv.url}/y`);
  assert.equal(get.status, 405);
  assert.equal(get.headers.allow, 'POST');
  assert.equal((await send(`${srv.url}/y`, { method: 'POST' })).text, 'post');
});

test('handlers and middleware that are not functions are refused by name', () => {
  const s = server(`errors-handlers-${process.pid}`);
  for (const bad of [undefined, null, 'handler', { handle() {} }]) {
    assertNamesArgument(() => s.bindHandler('/x', bad as never), 'handler');
    assertNamesArgument(() => s.get('/y', bad as never), 'handler');
    assertNamesArgument(() => s.use(bad as never), 'middleware');
    assertNamesArgument(() => s.group('/g', (g) => g.middleware(bad as never)), 'middleware');
    assertNamesArgument(() => s.group('/g', bad as never), 'fn');
  }
  assertNamesArgument(() => s.setHttps(null as never), 'options');
});

test('shutdown and start refuse bad calls by name', async (t) => {
  const srv = await startServer(() => {});
  t.after(() => srv.close());
  await assert.rejects(
    srv.server.start(),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'start',
  );
  await assert.rejects(
    srv.server.shutdown({ timeout: -1 }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'timeout',
  );
  const sigterms = process.listenerCount('SIGTERM');
  await assert.rejects(
    srv.server.run({ timeout: Number.NaN }),
    (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'timeout',
  );
  assert.equal(process.listenerCount('SIGTERM'), sigterms);
  // The refused calls did not stop the server.
  assert.equal((await send(`${srv.url}/nothing`)).status, 404);
});

test('the message shows the offending value, shortened when long', () => {
  try {
    server(`errors-msg-${process.pid}`).setPort(70000);
    assert.fail('setPort(70000) did not throw');
  } catch (e) {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.message, 'Invalid argument "port": must be an integer from 0 to 65535 (got 70000)');
    assert.equal(e.rule, 'must be an integer from 0 to 65535');
  }
  const long = `/${'x'.repeat(100)}{`;
  assert.throws(
    () => server(`errors-msg-${process.pid}`).bindHandler(long, () => {}),
    (e: unknown) => e instanceof InvalidArgumentError && e.message.includes('…') && e.message.length < 200,
  );
});
