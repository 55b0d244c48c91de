import assert from 'node:assert/strict';
import test from 'node:test';
import type { StandardSchemaV1 as OfficialSchema } from '@standard-schema/spec';
import * as z from 'zod';
import {
  defineRoute,
  type EventItem,
  type RouteEvents,
  type RouteRequest,
  type RouteResponse,
  type StandardSchemaV1,
} from '../src/schema/index.ts';

/*
 * Type tests: this file is compiled by `npm run typecheck` (tsconfig.json includes test/). Each
 * `@ts-expect-error` line must be an error, or the typecheck fails on the unused directive; so a
 * wrong event name, event data or body shape that stopped failing would break `npm test`.
 */

const Tick = z.object({ n: z.number() });
const events = { tick: Tick, note: z.string() };

const ticker = defineRoute({
  method: 'GET',
  path: '/ticker/{room}',
  events,
  async *handler({ params }) {
    const room: string = params.room;
    yield { event: 'tick', data: { n: 1 } };
    yield { event: 'note', data: room };
  },
});

const createUser = defineRoute({
  method: 'POST',
  path: '/users/{id}',
  params: z.object({ id: z.coerce.number() }),
  body: z.object({ name: z.string() }),
  response: z.object({ id: z.number(), name: z.string() }),
  handler: ({ params, body }) => ({ id: params.id, name: body.name }),
});

// A wrong event name.
// @ts-expect-error 'tock' is not one of the events { tick, note }
const wrongName: EventItem<typeof events> = { event: 'tock', data: { n: 1 } };
// Data of the wrong type for its event.
// @ts-expect-error tick's data is { n: number }, not { n: string }
const wrongData: EventItem<typeof events> = { event: 'tick', data: { n: '1' } };

// The same mistakes inside a route's generator make the definition fail to compile.
// @ts-expect-error the handler yields an event the route does not declare
const yieldsUnknownEvent = defineRoute({
  method: 'GET',
  path: '/t',
  events,
  async *handler() {
    yield { event: 'tock', data: { n: 1 } };
  },
});

// @ts-expect-error the handler yields tick data of the wrong shape
const yieldsWrongData = defineRoute({
  method: 'GET',
  path: '/t',
  events,
  async *handler() {
    yield { event: 'tick', data: { n: 'one' } };
  },
});

const sendsThroughSse = defineRoute({
  method: 'GET',
  path: '/t',
  events,
  handler: async (input) => {
    const es = input.sse();
    // @ts-expect-error send() only takes the route's event names
    await es.send('tock', { n: 1 });
    // @ts-expect-error send() checks the data type of the named event
    await es.send('tick', { n: '1' });
    await es.send('tick', { n: 1 });
  },
});

// A wrong body shape: body.name is a string, the handler may not treat it as a number.
const wrongBodyUse = defineRoute({
  method: 'POST',
  path: '/u',
  body: z.object({ name: z.string() }),
  handler: ({ body }) => {
    // @ts-expect-error body.name is a string
    const n: number = body.name;
    return n;
  },
});

// The handler's answer must match the response schema.
const wrongAnswer = defineRoute({
  method: 'GET',
  path: '/u/{id}',
  response: z.object({ id: z.number() }),
  // @ts-expect-error id must be a number, and params.id is a string
  handler: ({ params }) => ({ id: params.id }),
});

// Path params are typed from the path when there is no params schema.
const pathOnly = defineRoute({
  method: 'GET',
  path: '/files/{dir}/*rest',
  handler: ({ params }) => {
    const both: string = params.dir + params.rest;
    // @ts-expect-error the path names no {other}
    return both + params.other;
  },
});

// The hooks a typed client reads: exact types from the definitions.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const eventsExact: Exact<
  RouteEvents<typeof ticker>,
  { readonly event: 'tick'; readonly data: { n: number } } | { readonly event: 'note'; readonly data: string }
> = true;
const responseExact: Exact<RouteResponse<typeof createUser>, { id: number; name: string }> = true;
const requestBodyExact: Exact<RouteRequest<typeof createUser>['body'], { name: string }> = true;
// @ts-expect-error a wrong expectation must fail too, or Exact proves nothing
const notExact: Exact<RouteResponse<typeof createUser>, { id: string; name: string }> = true;

// sluice's copy of the Standard Schema interface and the official one are assignable both ways.
const officialToOurs: StandardSchemaV1<string, number> = {} as OfficialSchema<string, number>;
const oursToOfficial: OfficialSchema<string, number> = {} as StandardSchemaV1<string, number>;
// @ts-expect-error and the copy is not so loose that any output type fits
const wrongOutput: StandardSchemaV1<string, string> = {} as OfficialSchema<string, number>;

test('the type tests compile, and each @ts-expect-error above is a real error', () => {
  // The assertions are the typecheck; at run time the definitions exist and carry their events.
  assert.deepEqual(Object.keys(ticker.events), ['tick', 'note']);
  assert.equal(createUser.method, 'POST');
  const unused = [wrongName, wrongData, yieldsUnknownEvent, yieldsWrongData, sendsThroughSse, wrongBodyUse];
  assert.equal(unused.length + [wrongAnswer, pathOnly].length, 8);
  assert.ok(eventsExact && responseExact && requestBodyExact && notExact);
  assert.equal([officialToOurs, oursToOfficial, wrongOutput].length, 3);
});
