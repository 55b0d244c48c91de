import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Channel, type ChannelAdapter, type ChannelOptions, parseId } from '../../src/index.ts';
import { connect, contiguousRun, idsOf, type Received, type SseClient, until } from './channel-clients.ts';
import { startServer, type TestServer } from './server.ts';
import { read } from './sse-clients.ts';

/**
 * The contract of `ChannelAdapter` (see channel-adapter.ts), checked through
 * channels on a real server with real SSE clients, so that every adapter —
 * the memory one, Redis, or one a user writes — is held to the same
 * behaviour: ids that increase, delivery once and in order, replay without
 * gap or duplicate under reconnects, and the documented resets.
 *
 * Usage: `adapterConformance('redis', () => new RedisAdapter({ url }), () => adapter.quit())`.
 */
export function adapterConformance(
  label: string,
  makeAdapter: () => ChannelAdapter,
  teardown: () => Promise<void> = async () => {},
): void {
  describe(`ChannelAdapter conformance: ${label}`, () => {
    let ts: TestServer;
    let adapter: ChannelAdapter;
    let n = 0;
    const channels = new Map<string, Channel>();

    before(async () => {
      adapter = makeAdapter();
      ts = await startServer((s) => {
        s.get('/c/{name}', async (r) => {
          const channel = channels.get(r.params.name ?? '');
          if (channel === undefined) throw new Error('no such channel');
          await channel.subscribe(r.response.sse({ heartbeat: 0, retry: 10 }));
        });
      });
    });

    after(async () => {
      await Promise.all([...channels.values()].map((c) => c.close()));
      await ts.close();
      await teardown();
    });

    /** A fresh channel on the adapter, open (its log answered) before the test uses it. */
    async function open(options: Omit<ChannelOptions, 'adapter' | 'name'> = {}) {
      const name = `conf-${process.pid}-${Date.now()}-${++n}`;
      const channel = new Channel({ ...options, name, adapter });
      channels.set(name, channel);
      await until(() => channel.lastId !== '', 'the channel to open');
      return { channel, url: `${ts.url}/c/${name}` };
    }

    const publish = async (channel: Channel, count: number, from = 0) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push(await channel.publish({ event: 'n', data: from + i }));
      return ids;
    };

    const replay = async (url: string, lastEventId: string, expect: number) => {
      const c = await connect(url, { lastEventId });
      await until(() => c.events.length >= expect, `${expect} events after ${lastEventId}`);
      await new Promise((r) => setTimeout(r, 30));
      c.close();
      return c.events;
    };

    test('ids are <major>-<minor> and increase; every subscriber gets every event once, in order', async () => {
      const { channel, url } = await open({ history: 1000 });
      const clients = await Promise.all(Array.from({ length: 5 }, () => connect(url)));
      await until(() => channel.size === 5, '5 subscribers');
      const ids = await Promise.all(
        Array.from({ length: 200 }, (_, i) => channel.publish({ event: 'n', data: i })),
      );
      for (const id of ids) assert.notEqual(parseId(id), undefined, `well-formed id ${id}`);
      const sorted = [...ids].sort(
        (a, b) =>
          (parseId(a)?.[0] ?? 0) - (parseId(b)?.[0] ?? 0) || (parseId(a)?.[1] ?? 0) - (parseId(b)?.[1] ?? 0),
      );
      assert.equal(new Set(ids).size, 200, 'no id twice');
      const count = (c: SseClient) => c.events.filter((e) => e.event === 'n').length;
      await until(() => clients.every((c) => count(c) >= 200), 'every client to get 200 events');
      for (const c of clients) {
        const events = c.events.filter((e) => e.event === 'n');
        assert.deepEqual(idsOf(events), sorted, 'delivered once each, in id order');
        c.close();
      }
    });

    test('a client without Last-Event-ID gets a cursor; reconnecting from it replays the rest', async () => {
      const { channel, url } = await open({ history: 100 });
      // Before the first event the cursor is the log's zero id: replaying from it must start at the first event.
      const zero = await cursorOf(url);
      assert.equal(zero, channel.lastId);
      const ids = await publish(channel, 3);
      assert.deepEqual(idsOf(await replay(url, zero, 3)), ids);
      assert.equal(await cursorOf(url), ids[2]);
    });

    test('an unknown id gets the documented reset, then live events; resuming from it loses nothing', async () => {
      const { channel, url } = await open({ history: 100 });
      await publish(channel, 5);
      const [major, minor] = parseId(channel.lastId) as [number, number];
      for (const lastEventId of [
        'garbage',
        '1-3',
        `${major - 1}-3`,
        `${major}-${minor + 1000}`,
        `${major}-x`,
      ]) {
        const c: SseClient = await connect(url, { lastEventId });
        await until(() => c.events.length === 1, `the reset for ${lastEventId}`);
        const reset = c.events[0] as Received;
        assert.equal(reset.event, 'reset');
        assert.equal(reset.id, channel.lastId);
        assert.deepEqual(JSON.parse(reset.data), {
          reason: 'unknown-id',
          lastEventId,
          resumeId: channel.lastId,
        });
        const next = await channel.publish({ event: 'n', data: 'live' });
        await until(() => c.events.length === 2, 'a live event after the reset');
        assert.equal(c.events[1]?.id, next);
        c.close();
        const missed = await channel.publish({ event: 'n', data: 'missed' });
        assert.deepEqual(idsOf(await replay(url, reset.id as string, 2)), [next, missed]);
      }
    });

    test('an id older than the history by count gets reset "expired"; one just inside replays', async () => {
      const { channel, url } = await open({ history: 10 });
      const ids = await publish(channel, 30);
      const [reset] = await replay(url, ids[4] as string, 1);
      assert.equal(reset?.event, 'reset');
      assert.deepEqual(JSON.parse(reset?.data ?? ''), {
        reason: 'expired',
        lastEventId: ids[4],
        resumeId: ids[29],
      });
      assert.equal((await replay(url, ids[18] as string, 1))[0]?.event, 'reset', 'the 20th is gone: a gap');
      assert.deepEqual(idsOf(await replay(url, ids[19] as string, 10)), ids.slice(20));
      assert.deepEqual(idsOf(await replay(url, ids[28] as string, 1)), [ids[29]]);
    });

    test('an id whose successor is older than maxAge gets reset "expired"', async () => {
      const { channel, url } = await open({ history: { count: 100, maxAge: 200 } });
      const old = await publish(channel, 3);
      await new Promise((r) => setTimeout(r, 300));
      const [fresh] = await publish(channel, 1, 3);
      const [aged] = await replay(url, old[0] as string, 1);
      assert.equal(aged?.event, 'reset');
      assert.equal(JSON.parse(aged?.data ?? '').reason, 'expired');
      assert.deepEqual(idsOf(await replay(url, old[2] as string, 1)), [fresh]);
    });

    test('history: false keeps nothing, yet an up-to-date client resumes without a reset', async () => {
      const { channel } = await open({ history: false });
      const [a, b] = await publish(channel, 2);
      assert.deepEqual(await adapter.replay(channel.name, b as string), { records: [], lastId: b });
      assert.deepEqual(await adapter.replay(channel.name, a as string), { reset: 'expired', lastId: b });
    });

    test('clients that drop and reconnect while publishing goes on get exactly what they missed', async () => {
      const { channel, url } = await open({ history: 10_000 });
      const clients = Array.from({ length: 15 }, (_, i) => restlessClient(url, seeded(i + 1)));
      await until(() => channel.size === 15, '15 subscribers');
      const published: string[] = [];
      await publishFor(channel, 800, 1, published);
      await until(
        () => clients.every((c) => c.ids.at(-1) === published.at(-1)),
        'every client to catch up',
        15_000,
      );
      for (const c of clients) {
        c.stop();
        assert.equal(contiguousRun(c.ids, published), 0);
        assert.equal(c.ids.length, published.length);
        assert.ok(c.reconnects() >= 3, `reconnected ${c.reconnects()} times`);
      }
    });
  });
}

/** The id of the id-only cursor block a channel sends a client that connects without Last-Event-ID. */
async function cursorOf(url: string): Promise<string> {
  const done = (text: string) => /(?:^|\n)id: [^\n]*\n\n/.test(text);
  const res = await read(url, { onChunk: (_, all) => done(all.map((c) => c.text).join('')) });
  const id = /(?:^|\n)id: ([^\n]*)\n\n/.exec(res.body)?.[1];
  assert.notEqual(id, undefined, `a cursor in ${JSON.stringify(res.body)}`);
  return id as string;
}

/** Publishes `count` events, one every `everyMs` on average (several per timer tick when the timer is late). */
export async function publishFor(
  channel: Channel,
  count: number,
  everyMs: number,
  ids: string[],
): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < count; ) {
    const due = Math.min(count, Math.floor((performance.now() - start) / everyMs) + 1);
    for (; i < due; i++) ids.push(await channel.publish({ event: 'n', data: i }));
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * A client that drops its connection every few events and reconnects with the
 * last id it saw; `url` may choose a new target (another process) each time.
 */
export function restlessClient(url: string | (() => string), rng: () => number) {
  let connected = false;
  const ids: string[] = [];
  let reconnects = 0;
  let stopped = false;
  let current: SseClient | undefined;
  let last: string | undefined;
  const run = async () => {
    while (!stopped) {
      let budget = 5 + Math.floor(rng() * 60);
      current = await connect(typeof url === 'string' ? url : url(), {
        lastEventId: last,
        onEvent: (e: Received, c) => {
          if (e.event !== 'n') throw new Error(`unexpected ${e.event}: ${e.data}`);
          ids.push(e.id ?? '');
          last = e.id;
          if (--budget === 0) c.close();
        },
      });
      connected = true;
      // stop() came while this connection was being made: it closed the previous one, not this.
      if (stopped) current.close();
      await current.ended;
      if (stopped) return;
      reconnects++;
      await new Promise((r) => setTimeout(r, rng() * 15));
    }
  };
  // A connect that fails once the test is over (the server closing) is no failure of the test.
  void run().catch((err: unknown) => {
    if (!stopped) throw err;
  });
  return {
    ids,
    connected: () => connected,
    reconnects: () => reconnects,
    stop() {
      stopped = true;
      current?.close();
    },
  };
}

/** A small deterministic generator, so a failing schedule can be replayed. */
export function seeded(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff;
  };
}
