import assert from 'node:assert/strict';
import test from 'node:test';
import * as z from 'zod';
import { defineRoute, ResponseValidationError, typedChannel } from '../src/schema/index.ts';
import { startServer } from './helpers/server.ts';
import { parseEvents, read } from './helpers/sse-clients.ts';

/*
 * A typed Channel: the compiler refuses a wrong event name or data type (the @ts-expect-error lines
 * are checked by `npm run typecheck`), and publish() checks each event against its schema before it
 * reaches the channel's history, so neither a live subscriber nor a later replay gets a bad one.
 */

const Tick = z.object({ price: z.number(), symbol: z.string() });
const events = { tick: Tick, halt: z.object({ reason: z.string() }) };

export function wrongPublishesDoNotCompile(): void {
  const ticker = typedChannel(events);
  ticker.publish({ event: 'tick', data: { price: 1, symbol: 'SLC' } });
  // @ts-expect-error 'tock' is not an event of the channel
  ticker.publish({ event: 'tock', data: { price: 1, symbol: 'SLC' } });
  // @ts-expect-error a tick's price is a number
  ticker.publish({ event: 'tick', data: { price: '1', symbol: 'SLC' } });
  // @ts-expect-error a halt has a reason, not a price
  ticker.publish({ event: 'halt', data: { price: 1 } });
}

test('publish checks each event: an invalid one throws and is neither delivered nor kept for replay', async (t) => {
  const ticker = typedChannel(events, { history: 100, validate: true });
  const route = defineRoute({
    method: 'GET',
    path: '/ticker',
    events: ticker.events,
    resumable: true,
    handler: async (input) => {
      await ticker.subscribe(input.sse());
    },
  });
  const srv = await startServer((s) => s.bind({ route }));
  t.after(async () => {
    await ticker.close();
    await srv.close();
  });
  const start = await ticker.publish({ event: 'halt', data: { reason: 'start' } });
  await ticker.publish({ event: 'tick', data: { price: 1, symbol: 'SLC' } });
  assert.throws(
    () => ticker.publish({ event: 'tick', data: { price: 'NaN', symbol: 'SLC' } } as never),
    (e: unknown) => e instanceof ResponseValidationError && e.problems[0]?.path.join('.') === 'data.price',
  );
  assert.throws(() => ticker.publish({ event: 'tock', data: {} } as never), ResponseValidationError);
  await ticker.publish({ event: 'halt', data: { reason: 'close' } });
  // A client resuming after the first event replays exactly the valid two that followed it.
  const reply = await read(`${srv.url}/ticker`, {
    headers: { 'last-event-id': start },
    onChunk: (_c, all) =>
      all
        .map((c) => c.text)
        .join('')
        .includes('close'),
  });
  const got = parseEvents(reply.body);
  assert.deepEqual(
    got.map((e) => [e.event, JSON.parse(e.data)]),
    [
      ['tick', { price: 1, symbol: 'SLC' }],
      ['halt', { reason: 'close' }],
    ],
  );
  assert.equal(typeof wrongPublishesDoNotCompile, 'function');
});
