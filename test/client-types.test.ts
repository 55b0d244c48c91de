import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AnyClientEvent,
  type ClientEvent,
  connect,
  type ResetInfo,
  type ResetReason,
  type SseClient,
  type WithReset,
} from '../src/client/index.ts';

// Typed events, checked by the compiler: `npm run typecheck` (tsconfig.json includes test/) fails when a
// line below stops compiling, and also when a `@ts-expect-error` line stops being an error, so the
// checks cannot pass by the types going loose. The functions are never called; the runtime test below only
// proves the file loads.

type Prices = { tick: { price: number }; halt: { reason: string } };

export function listenersAreTyped(client: SseClient<Prices>): void {
  client.on('tick', (ev) => {
    const price: number = ev.json().price;
    const type: 'tick' = ev.type;
    void price;
    void type;
  });
  client.on('reset', (ev) => {
    const reason: ResetReason = ev.json().reason;
    const resumeId: string = ev.json().resumeId;
    void reason;
    void resumeId;
  });
  // @ts-expect-error: 'tock' is not an event of the map
  client.on('tock', () => {});
  client.on('tick', (ev) => {
    // @ts-expect-error: price is a number
    const price: string = ev.json().price;
    void price;
  });
  client.on('halt', (ev) => {
    // @ts-expect-error: a halt has no price
    void ev.json().price;
  });
}

export async function loopsNarrowByType(): Promise<void> {
  for await (const ev of connect<Prices>('/prices')) {
    if (ev.type === 'tick') {
      const price: number = ev.json().price;
      void price;
      // @ts-expect-error: narrowed to a tick, which has no reason
      void ev.json().reason;
    } else if (ev.type === 'halt') {
      const reason: string = ev.json().reason;
      void reason;
    } else {
      // Only sluice's reset is left.
      const info: ResetInfo = ev.json();
      const type: 'reset' = ev.type;
      void info;
      void type;
    }
  }
}

export function untypedClientsTakeAnyName(): void {
  const client = connect('/anything');
  client.on('whatever', (ev: ClientEvent<string, unknown>) => {
    const data: string = ev.data;
    const lastEventId: string = ev.lastEventId;
    const id: string | undefined = ev.id;
    void data;
    void lastEventId;
    void id;
  });
  // A map that declares its own reset gets sluice's shape for it.
  type Own = WithReset<{ reset: { mine: true } }>;
  const own: AnyClientEvent<Own> = {} as ClientEvent<'reset', ResetInfo>;
  void own;
}

test('the typed-event checks in this file compile (see npm run typecheck)', () => {
  assert.equal(typeof listenersAreTyped, 'function');
  assert.equal(typeof loopsNarrowByType, 'function');
});
