import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type ApiClient,
  type ApiEvents,
  type ApiRequest,
  type ApiResponse,
  type ApiStream,
  type ApiStreamItem,
  createApiClient,
  type ResetInfo,
  type SseClient,
} from '../src/client/index.ts';
import type { Routes, routes } from './helpers/typed-api.ts';

/*
 * Type tests of the typed API client, compiled by `npm run typecheck` (tsconfig.json includes
 * test/): an exact-type check that stops holding, or an `@ts-expect-error` line that stops being
 * an error, fails the typecheck. The functions are never called; the runtime test only loads them.
 */

type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type User = { id: number; name: string; tags: string[] };

declare const api: ApiClient<Routes>;

export async function jsonCallsAreExact(): Promise<void> {
  const user = await api.users.get({ params: { id: 7 } });
  const userExact: Exact<typeof user, User> = true;
  const listed = await api.users.list({ query: { limit: 10, tag: ['a', 'b'] } });
  const listExact: Exact<typeof listed, { limit: number; tags: string[]; users: User[] }> = true;
  const created = await api.users.create({ headers: { 'x-tenant': 't1' }, body: { name: 'Bo' } });
  const createdExact: Exact<typeof created, User> = true;
  // A wildcard param is a path param like the others.
  const file = await api.files({ params: { dir: 'docs', rest: 'a/b.txt' } });
  const fileExact: Exact<typeof file, { dir: string; rest: string }> = true;
  // @ts-expect-error a wrong expectation fails too, or Exact proves nothing
  const notExact: Exact<typeof user, { id: string; name: string; tags: string[] }> = true;
  void [userExact, listExact, createdExact, fileExact, notExact];
}

export function wrongRequestsDoNotCompile(): void {
  // @ts-expect-error the path names {id}: params are required
  void api.users.get();
  // @ts-expect-error the path names {id}, not {user}
  void api.users.get({ params: { user: 7 } });
  // @ts-expect-error an object is not a path value
  void api.users.get({ params: { id: { n: 7 } } });
  // @ts-expect-error limit is required by the query schema
  void api.users.list({ query: {} });
  // @ts-expect-error a coerced query field still travels as URL text: an object is no value for it
  void api.users.list({ query: { limit: { n: 1 } } });
  // @ts-expect-error the body needs a name (a string)
  void api.users.create({ headers: { 'x-tenant': 't' }, body: { name: 1 } });
  // @ts-expect-error the headers schema asks for x-tenant
  void api.users.create({ body: { name: 'Bo' } });
  // @ts-expect-error a GET route without a body schema takes no body
  void api.users.get({ params: { id: 1 }, body: { x: 1 } });
  // @ts-expect-error storeName is not a route: the client has no such member
  void api.users.storeName;
  // @ts-expect-error nothing called tickers
  void api.tickers;
}

export async function streamsYieldTypedEvents(): Promise<void> {
  const stream = api.ticker.events({ params: { room: 'r1' }, query: { count: 3 } }, { lastEventId: '2' });
  const streamExact: Exact<
    typeof stream,
    SseClient<{ tick: { n: number; at: string }; done: { total: number }; note: string }>
  > = true;
  void streamExact;
  for await (const ev of stream) {
    if (ev.type === 'tick') {
      const n: number = ev.json().n;
      // @ts-expect-error a tick has no total
      void ev.json().total;
      void n;
    } else if (ev.type === 'done') {
      const total: number = ev.json().total;
      void total;
    } else if (ev.type === 'note') {
      const note: string = ev.json();
      void note;
    } else {
      const info: ResetInfo = ev.json();
      const type: 'reset' = ev.type;
      void info;
      void type;
    }
  }
  // @ts-expect-error 'tock' is not an event of the route
  stream.on('tock', () => {});
  // @ts-expect-error the room is required
  api.ticker.events({ query: { count: 3 } });
  // @ts-expect-error a POST stream needs its body
  api.ticker.chat();
  const chat = api.ticker.chat({ body: { prompt: 'hi' } });
  chat.on('token', (ev) => {
    const text: string = ev.json().text;
    void text;
  });
}

type Row = { id: number; name: string };

export async function byteStreamsYieldTypedItems(): Promise<void> {
  const rows = api.reports.rows(
    { params: { prefix: 'p' }, query: { count: 3 } },
    { signal: AbortSignal.timeout(1000) },
  );
  const rowsExact: Exact<typeof rows, ApiStream<Row>> = true;
  for await (const row of rows) {
    const rowExact: Exact<typeof row, Row> = true;
    // @ts-expect-error an item has no total: it is typed by the ndjson schema, not unknown
    void row.total;
    void rowExact;
  }
  rows.close();
  const log = api.reports.log({ body: { lines: ['a'] } });
  const logExact: Exact<typeof log, ApiStream<string>> = true;
  for await (const chunk of log) {
    const chunkExact: Exact<typeof chunk, string> = true;
    void chunkExact;
  }
  // @ts-expect-error the query schema needs count
  api.reports.rows({ params: { prefix: 'p' }, query: {} });
  // @ts-expect-error the body's lines are strings
  api.reports.log({ body: { lines: [1] } });
  // @ts-expect-error a byte stream is not a promise of an answer
  await api.reports.rows({ params: { prefix: 'p' }, query: { count: 1 } }).then;
  // @ts-expect-error the gate and the log of ended streams are not routes
  void api.reports.gate;
  void [rowsExact, logExact];
}

// The building blocks, for apps that write their own wrappers.
type GetUser = (typeof routes)['users']['get'];
const requestExact: Exact<
  ApiRequest<GetUser>['params'],
  { readonly id: string | number | boolean | bigint }
> = true;
const responseExact: Exact<ApiResponse<GetUser>, User> = true;
const eventsExact: Exact<ApiEvents<GetUser>, never> = true;
const itemExact: Exact<ApiStreamItem<(typeof routes)['reports']['rows']>, Row> = true;
const noItemExact: Exact<ApiStreamItem<GetUser>, never> = true;

test('the typed-client checks in this file compile (see npm run typecheck)', () => {
  assert.equal(typeof jsonCallsAreExact, 'function');
  assert.equal(typeof createApiClient, 'function');
  assert.ok(requestExact && responseExact && eventsExact && itemExact && noItemExact);
  assert.equal(typeof byteStreamsYieldTypedItems, 'function');
  assert.equal(typeof wrongRequestsDoNotCompile, 'function');
  assert.equal(typeof streamsYieldTypedEvents, 'function');
});
