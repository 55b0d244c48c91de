/**
 * A typed API in GoFrame's controller style: a users controller and a typed
 * price stream, one file, described by the OpenAPI document the server serves.
 * Run `npx tsx examples/typed-users.ts`, then open http://127.0.0.1:8999/swagger
 * (the docs page, no network needed), fetch http://127.0.0.1:8999/api.json, or:
 *
 *   curl -s 127.0.0.1:8999/api/users/1                    # {"code":0,"message":"OK","data":{...}}
 *   curl -s 127.0.0.1:8999/api/users/one                  # 400, data.problems names params.id
 *   curl -sN '127.0.0.1:8999/api/prices?symbol=ACME&count=3'
 *
 * Any Standard Schema library works the same (valibot, arktype); zod is used here.
 */
import { pathToFileURL } from 'node:url';
import { HttpError, handlerResponse, type Server, server } from 'sluice';
import { serveOpenApi } from 'sluice/openapi';
import { defineRoute } from 'sluice/schema';
import * as z from 'zod';

const User = z.object({ id: z.number().int(), name: z.string(), email: z.email() });
const NewUser = User.omit({ id: true });
const Price = z.object({ symbol: z.string(), price: z.number(), seq: z.number().int() });

/**
 * The users controller. A class, so its routes share the store it holds; `g.bind()` binds every
 * route field and skips the rest.
 */
export class Users {
  private readonly rows = new Map<number, z.infer<typeof User>>([
    [1, { id: 1, name: 'Ann', email: 'ann@example.com' }],
  ]);

  get = defineRoute({
    method: 'GET',
    path: '/users/{id}',
    tags: ['users'],
    summary: 'One user by id',
    params: z.object({ id: z.coerce.number().int().positive() }),
    response: User,
    handler: ({ params }) => {
      const row = this.rows.get(params.id);
      if (row === undefined) throw new HttpError(404, `no user ${params.id}`);
      return row;
    },
  });

  create = defineRoute({
    method: 'POST',
    path: '/users',
    tags: ['users'],
    summary: 'Creates a user',
    body: NewUser,
    response: User,
    handler: ({ body }) => {
      const row = { id: this.rows.size + 1, ...body };
      this.rows.set(row.id, row);
      return row;
    },
  });
}

/** A typed stream: each event is checked against its schema before it is framed. */
export const prices = defineRoute({
  method: 'GET',
  path: '/prices',
  tags: ['streams'],
  summary: 'A random walk of one symbol, then done',
  query: z.object({
    symbol: z.string().min(1).max(8),
    count: z.coerce.number().int().min(1).max(1000).default(10),
  }),
  events: { price: Price, done: z.object({ sent: z.number().int() }) },
  resumable: true,
  async *handler({ query, lastEventId }, r) {
    let price = 100;
    const from = lastEventId === undefined ? 1 : Number(lastEventId) + 1;
    for (let seq = from; seq <= query.count && !r.signal.aborted; seq++) {
      price = Math.round((price + (Math.random() - 0.5) * 2) * 100) / 100;
      yield { event: 'price', id: seq, data: { symbol: query.symbol, price, seq } };
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    yield { event: 'done', data: { sent: query.count } };
  },
});

/** Builds the server: the API under /api with the envelope, the document and its docs page. */
export function buildApp(name = 'typed-users'): Server {
  const s = server(name);
  s.group('/api', (g) => {
    g.middleware(handlerResponse);
    g.bind(new Users());
    g.bind({ prices });
  });
  serveOpenApi(s, {
    path: '/api.json',
    docsPath: '/swagger',
    version: '3.2',
    envelope: true,
    info: { title: 'Typed users', version: '1.0.0' },
  });
  return s;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = buildApp();
  s.setPort(Number(process.env.PORT ?? 8999));
  await s.run();
}
