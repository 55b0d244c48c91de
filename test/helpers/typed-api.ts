import * as z from 'zod';
import { HttpError } from '../../src/index.ts';
import { defineRoute } from '../../src/schema/index.ts';

/*
 * A small API for the typed client's tests: a users controller (a class, as an app writes one),
 * a ticker controller with a resumable stream, and routes that exercise every input place. The
 * type tests read its types; the socket tests bind it and call it through createApiClient.
 */

export const User = z.object({ id: z.number().int(), name: z.string(), tags: z.array(z.string()) });

export class Users {
  private readonly rows = new Map<number, z.infer<typeof User>>([[1, { id: 1, name: 'Ann', tags: ['a'] }]]);
  /** Not a route: the client must not offer it. */
  readonly storeName = 'memory';

  get = defineRoute({
    method: 'GET',
    path: '/users/{id}',
    params: z.object({ id: z.coerce.number().int().positive() }),
    response: User,
    handler: ({ params }) => {
      const row = this.rows.get(params.id);
      if (row === undefined) throw new HttpError(404, `no user ${params.id}`);
      return row;
    },
  });

  list = defineRoute({
    method: 'GET',
    path: '/users',
    query: z.object({
      limit: z.coerce.number().int().min(1).max(50),
      tag: z.union([z.string(), z.array(z.string())]).optional(),
    }),
    response: z.object({ limit: z.number(), tags: z.array(z.string()), users: z.array(User) }),
    handler: ({ query }) => ({
      limit: query.limit,
      tags: query.tag === undefined ? [] : ([] as string[]).concat(query.tag),
      users: [...this.rows.values()].slice(0, query.limit),
    }),
  });

  create = defineRoute({
    method: 'POST',
    path: '/users',
    headers: z.object({ 'x-tenant': z.string().min(1) }),
    body: z.object({ name: z.string().min(1), tags: z.array(z.string()).default([]) }),
    response: User,
    handler: ({ body, headers }) => {
      const row = { id: this.rows.size + 1, name: `${headers['x-tenant']}:${body.name}`, tags: body.tags };
      this.rows.set(row.id, row);
      return row;
    },
  });
}

export const files = defineRoute({
  method: 'GET',
  path: '/files/{dir}/*rest',
  response: z.object({ dir: z.string(), rest: z.string() }),
  handler: ({ params }) => ({ dir: params.dir, rest: params.rest }),
});

export const Tick = z.object({ n: z.number().int(), at: z.string() });

export const ticker = {
  events: defineRoute({
    method: 'GET',
    path: '/ticker/{room}',
    query: z.object({ count: z.coerce.number().int().min(1).max(100) }),
    events: { tick: Tick, done: z.object({ total: z.number().int() }), note: z.string() },
    resumable: true,
    async *handler({ params, query, lastEventId }) {
      const from = lastEventId === undefined ? 1 : Number(lastEventId) + 1;
      for (let n = from; n <= query.count; n++) {
        yield { event: 'tick', id: n, data: { n, at: params.room } };
      }
      yield { event: 'note', data: `room ${params.room}` };
      yield { event: 'done', data: { total: query.count } };
    },
  }),
  chat: defineRoute({
    method: 'POST',
    path: '/chat',
    body: z.object({ prompt: z.string().min(1) }),
    events: { token: z.object({ text: z.string() }) },
    async *handler({ body }) {
      for (const text of body.prompt.split(' ')) yield { event: 'token', data: { text } };
    },
  }),
};

export const Row = z.object({ id: z.number().int(), name: z.string() });

/**
 * Byte streams. `rows` waits for `gate` (when a test set one) after its first item, so a test can
 * show the client had that item before the server wrote the rest; `bad` sends an item that
 * fails its schema after that many (the server then cuts the body short).
 */
export const reports = {
  gate: undefined as Promise<void> | undefined,
  /** Resolved when a rows stream ends, cleanly or because the client left. */
  ended: [] as string[],
  rows: defineRoute({
    method: 'GET',
    path: '/rows/{prefix}',
    query: z.object({
      count: z.coerce.number().int().min(0).max(1000),
      bad: z.coerce.number().int().optional(),
    }),
    stream: { ndjson: Row },
    validateEvents: true,
    async *handler({ params, query }, r) {
      try {
        for (let id = 1; id <= query.count; id++) {
          if (id === query.bad) yield { id, name: 7 } as never;
          else yield { id, name: `${params.prefix} ${id}` };
          if (id === 1 && reports.gate !== undefined) {
            const left = new Promise((leave) => r.signal.addEventListener('abort', leave, { once: true }));
            await Promise.race([reports.gate, left]);
          }
          if (r.signal.aborted) return;
        }
      } finally {
        reports.ended.push(r.signal.aborted ? 'left' : 'done');
      }
    },
  }),
  log: defineRoute({
    method: 'POST',
    path: '/log',
    body: z.object({ lines: z.array(z.string()).min(1) }),
    stream: { text: true },
    *handler({ body }) {
      for (const line of body.lines) yield `${line}\n`;
      // Bytes of one character split over two chunks: the client must not cut it in half.
      const euro = new TextEncoder().encode('€\n');
      yield euro.subarray(0, 1);
      yield euro.subarray(1);
    },
  }),
};

/** The whole API, as a client is typed from it. */
export const routes = { users: new Users(), files, ticker, reports };
export type Routes = typeof routes;
