/**
 * The demo's streams described as typed routes (`defineRoute` from `sluice/schema`): the same
 * handlers as the standalone examples, plus what each one sends, so the server can serve its own
 * OpenAPI document (`/api.json`) and docs page (`/swagger`), each stream listed with its events.
 */
import type { Channel } from 'sluice';
import { defineRoute } from 'sluice/schema';
import * as z from 'zod';
import { chatAnswer } from '../chat-tokens.ts';
import { sendJsonMessages } from '../seed-json-messages.ts';
import { writeCounter } from '../seed-writefln.ts';

const Tick = z.object({
  symbol: z.string(),
  price: z.number(),
  t: z.number().int().describe('Server time of the tick, epoch ms'),
  seq: z.number().int().min(1).describe('1, 2, 3, …: a client can check that nothing was lost'),
});

/** What a channel sends when it cannot replay a gap (see `sluice/client`'s `ResetInfo`). */
const Reset = z.object({
  reason: z.enum(['unknown-id', 'expired', 'dropped']),
  lastEventId: z.string().nullable(),
  resumeId: z.string(),
  dropped: z.number().int().optional(),
});

/**
 * The demo's routes, as one controller. `ticker` is the broadcast channel the ticker route
 * subscribes each client to.
 *
 * @example
 * ```ts
 * const ticker = startTicker(200);
 * s.bind(demoApi(ticker.channel));
 * ```
 */
export function demoApi(ticker: Channel) {
  return {
    counter: defineRoute({
      method: 'GET',
      path: '/',
      tags: ['seed'],
      summary: "The seed's counter: 100 events, 200 ms apart",
      description:
        'Written with writefln() and flush(), as the seed program does; resumes after Last-Event-ID.',
      events: { message: z.number().int() },
      resumable: true,
      handler: (_input, r) => writeCounter(r),
    }),
    messages: defineRoute({
      method: 'GET',
      path: '/stream',
      tags: ['seed'],
      summary: "The seed's JSON messages",
      events: { message: z.object({ Name: z.string(), Value: z.string() }) },
      handler: (_input, r) => sendJsonMessages(r),
    }),
    chat: defineRoute({
      method: 'POST',
      path: '/chat',
      tags: ['chat'],
      summary: 'A chat answer, streamed token by token by a fake model',
      body: z.object({
        prompt: z.string().min(1).max(4000),
        maxTokens: z.number().int().min(1).max(2000).optional(),
      }),
      events: {
        token: z.object({ text: z.string() }),
        done: z.object({ tokens: z.number().int(), finishReason: z.enum(['stop', 'length']) }),
      },
      handler: (_input, r) => chatAnswer(r),
    }),
    ticker: defineRoute({
      method: 'GET',
      path: '/ticker',
      tags: ['broadcast'],
      summary: 'A broadcast channel of price ticks, with Last-Event-ID replay',
      description: 'Every client gets the same ticks; a reconnecting one gets what it missed, or a reset.',
      events: { tick: Tick, reset: Reset },
      resumable: true,
      handler: async (input) => {
        // A short retry: a dropped browser is back (and caught up) within a second.
        await ticker.subscribe(input.sse({ retry: 1000 }).stream);
      },
    }),
  };
}
