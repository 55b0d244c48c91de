import assert from 'node:assert/strict';
import test from 'node:test';
import * as z from 'zod';
import { InvalidArgumentError } from '../src/index.ts';
import { defineRoute } from '../src/schema/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

/*
 * g.bind(controller) is all or nothing: a route that cannot be bound (it clashes with a route
 * already there, or with another route of the same controller) throws before any route of the
 * controller is bound, so a caught error never leaves half an API answering.
 */

const route = (method: 'GET' | 'POST', path: string, answer: string) =>
  defineRoute({ method, path, response: z.string(), handler: () => answer });

test('two routes of one controller on the same method and path: throws, binds neither', async (t) => {
  const srv = await startServer(() => {});
  t.after(() => srv.close());
  const before = srv.server.router.list().length;
  assert.throws(
    () =>
      srv.server.group('/api', (g) =>
        g.bind({
          list: route('GET', '/items', 'a'),
          create: route('POST', '/items', 'b'),
          again: route('GET', '/items/', 'c'),
        }),
      ),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      /two of its routes would both answer GET \/api\/items/.test(e.message),
  );
  assert.equal(srv.server.router.list().length, before);
  assert.equal((await send(`${srv.url}/api/items`)).status, 404);
});

test('a controller whose last route clashes with a bound route: throws, its first routes stay unbound', async (t) => {
  const srv = await startServer((s) => s.get('/users/{name}', () => 'plain'));
  t.after(() => srv.close());
  assert.throws(
    // `{id}` and `{name}` are one route to the router: the names of params do not tell routes apart.
    () =>
      srv.server.bind({ health: route('GET', '/health', 'ok'), one: route('GET', '/users/{id}', 'typed') }),
    (e: unknown) => e instanceof InvalidArgumentError && /already bound/.test(e.message),
  );
  assert.equal((await send(`${srv.url}/health`)).status, 404);
  assert.equal((await send(`${srv.url}/users/ann`)).text, 'plain');
  // After the refusal the same routes, fixed, bind as usual.
  srv.server.bind({ health: route('GET', '/health', 'ok'), one: route('GET', '/people/{id}', 'typed') });
  assert.equal((await send(`${srv.url}/health`)).text, 'ok');
});

test('a plain binding whose param name differs from a bound route gets the clear error, nothing half bound', async (t) => {
  const srv = await startServer((s) => s.post('/u/{id}', () => 'post'));
  t.after(() => srv.close());
  // ALL binds seven methods: before, GET was registered and find-my-way then threw on POST.
  assert.throws(
    () => srv.server.all('/u/{name}', () => 'all'),
    /a route for POST \/u\/:name is already bound/,
  );
  assert.equal((await send(`${srv.url}/u/1`)).status, 405);
});
