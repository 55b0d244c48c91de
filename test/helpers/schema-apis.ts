import { toStandardJsonSchema } from '@valibot/to-json-schema';
import { type } from 'arktype';
import * as v from 'valibot';
import * as z from 'zod';
import { defineRoute } from '../../src/schema/index.ts';

/*
 * The same small API written with three Standard Schema libraries, so the tests can show that
 * sluice/schema takes any of them and answers (and documents) alike.
 */

export type Library = 'zod' | 'valibot' | 'arktype';
export const LIBRARIES: readonly Library[] = ['zod', 'valibot', 'arktype'];

const vs = toStandardJsonSchema;

function schemas(lib: Library) {
  if (lib === 'zod') {
    return {
      idParams: z.object({ id: z.coerce.number().int() }),
      user: z.object({ id: z.number(), name: z.string() }),
      users: z.array(z.object({ id: z.number(), name: z.string() })),
      listQuery: z.object({ limit: z.coerce.number().int().min(1).max(100) }),
      tenant: z.object({ 'x-tenant': z.string().min(1) }),
      newUser: z.object({ name: z.string().min(1), age: z.number().int().min(0) }),
      tickQuery: z.object({ count: z.coerce.number().int().min(0).max(50) }),
      tick: z.object({ n: z.number().int(), label: z.string() }),
      note: z.string(),
      done: z.object({ total: z.number().int() }),
    };
  }
  if (lib === 'valibot') {
    const int = v.pipe(v.string(), v.regex(/^-?\d+$/), v.transform(Number));
    return {
      idParams: vs(v.object({ id: int })),
      user: vs(v.object({ id: v.number(), name: v.string() })),
      users: vs(v.array(v.object({ id: v.number(), name: v.string() }))),
      listQuery: vs(v.object({ limit: v.pipe(int, v.minValue(1), v.maxValue(100)) })),
      tenant: vs(v.object({ 'x-tenant': v.pipe(v.string(), v.minLength(1)) })),
      newUser: vs(
        v.object({
          name: v.pipe(v.string(), v.minLength(1)),
          age: v.pipe(v.number(), v.integer(), v.minValue(0)),
        }),
      ),
      tickQuery: vs(v.object({ count: v.pipe(int, v.minValue(0), v.maxValue(50)) })),
      tick: vs(v.object({ n: v.pipe(v.number(), v.integer()), label: v.string() })),
      note: vs(v.string()),
      done: vs(v.object({ total: v.pipe(v.number(), v.integer()) })),
    };
  }
  return {
    idParams: type({ id: 'string.integer.parse' }),
    user: type({ id: 'number', name: 'string' }),
    users: type({ id: 'number', name: 'string' }).array(),
    listQuery: type({ limit: type('string.integer.parse').to('1 <= number.integer <= 100') }),
    tenant: type({ 'x-tenant': 'string > 0' }),
    newUser: type({ name: 'string > 0', age: 'number.integer >= 0' }),
    tickQuery: type({ count: type('string.integer.parse').to('0 <= number.integer <= 50') }),
    tick: type({ n: 'number.integer', label: 'string' }),
    note: type('string'),
    done: type({ total: 'number.integer' }),
  };
}

/** A users controller and a ticker, written with `lib`. `break` makes the ticker send a bad event after that many. */
export function usersApi(lib: Library) {
  const s = schemas(lib);
  const names = new Map<number, string>([[7, 'Ann']]);
  return {
    getUser: defineRoute({
      method: 'GET',
      path: '/users/{id}',
      tags: ['users'],
      summary: 'One user',
      params: s.idParams,
      response: s.user,
      handler: ({ params }) => ({ id: params.id, name: names.get(params.id) ?? `user ${params.id}` }),
    }),
    listUsers: defineRoute({
      method: 'GET',
      path: '/users',
      tags: ['users'],
      summary: 'Users of a tenant',
      query: s.listQuery,
      headers: s.tenant,
      response: s.users,
      handler: ({ query, headers }) =>
        Array.from({ length: Math.min(query.limit, 3) }, (_, i) => ({
          id: i,
          name: `${headers['x-tenant']} ${i}`,
        })),
    }),
    createUser: defineRoute({
      method: 'POST',
      path: '/users',
      tags: ['users'],
      summary: 'Creates a user',
      body: s.newUser,
      response: s.user,
      handler: ({ body }) => {
        const id = names.size + 100;
        names.set(id, body.name);
        return { id, name: body.name };
      },
    }),
    brokenUser: defineRoute({
      method: 'GET',
      path: '/broken/{id}',
      summary: 'Answers a wrong shape',
      response: s.user,
      // The lie a schema must catch: the id is not a number.
      handler: ({ params }) => ({ id: params.id as unknown as number, name: 'x' }),
    }),
    ticker: defineRoute({
      method: 'GET',
      path: '/ticker',
      tags: ['streams'],
      summary: 'Ticks, a note, then done',
      query: s.tickQuery,
      events: { tick: s.tick, note: s.note, done: s.done },
      resumable: true,
      async *handler({ query, lastEventId }) {
        const from = lastEventId === undefined ? 0 : Number(lastEventId) + 1;
        for (let n = from; n < query.count; n++)
          yield { event: 'tick', id: n, data: { n, label: `tick ${n}` } };
        yield { event: 'note', data: 'line one\nline two' };
        yield { event: 'done', data: { total: query.count } };
      },
    }),
  };
}
