import assert from 'node:assert/strict';
import { connect as tcp } from 'node:net';
import { after, before, test } from 'node:test';
import { EventSource } from 'eventsource';
import { ChannelHistory } from '../src/channel/channel-history.ts';
import {
  Channel,
  type ChannelAdapter,
  type ChannelLogOptions,
  type ChannelMessage,
  type ChannelRecord,
  type EventStream,
  MemoryAdapter,
  type ReplayResult,
} from '../src/index.ts';
import { publishFor, restlessClient, seeded } from './helpers/adapter-conformance.ts';
import { connect, contiguousRun, idsOf, type Received, until } from './helpers/channel-clients.ts';
import { startServer, type TestServer } from './helpers/server.ts';

let ts: TestServer;
const channels = new Map<string, Channel>();
const live = new Set<EventStream>();

/** Routes `/c/<name>` to the channel of that name; streams retry after 10 ms. */
before(async () => {
  ts = await startServer((s) => {
    s.get('/c/{name}', async (r) => {
      const channel = channels.get(r.params.name ?? '');
      if (channel === undefined) throw new Error('no such channel');
      const es = r.response.sse({ heartbeat: 0, retry: 10 });
      live.add(es);
      await channel.subscribe(es);
      live.delete(es);
    });
  });
});

after(async () => {
  await Promise.all([...channels.values()].map((c) => c.close()));
  await ts.close();
});

function open(name: string, channel: Channel): string {
  channels.set(name, channel);
  return `${ts.url}/c/${name}`;
}

test('clients that drop and reconnect while publishing goes on get exactly what they missed', async () => {
  const channel = new Channel({ history: 10_000 });
  const url = open('restless', channel);
  const clients = Array.from({ length: 40 }, (_, i) => restlessClient(url, seeded(i + 1)));
  await until(() => channel.size === 40, '40 subscribers');
  const published: string[] = [];
  await publishFor(channel, 2500, 1, published);
  const lastId = published.at(-1);
  await until(() => clients.every((c) => c.ids.at(-1) === lastId), 'every client to catch up', 30_000);
  for (const c of clients) {
    c.stop();
    // Each connected before the first publish, so each must hold the whole sequence.
    assert.equal(contiguousRun(c.ids, published), 0);
    assert.equal(c.ids.length, published.length);
    // Events parsed from the read that used up a budget still count, and one read after a replay can
    // carry hundreds of them: on a busy machine a client needs fewer connections.
    assert.ok(c.reconnects() >= 3, `reconnected ${c.reconnects()} times`);
  }
  await until(() => channel.size === 0, 'all gone');
});

test('EventSource clients cut by the server reconnect on their own and miss nothing', async () => {
  const channel = new Channel({ history: 10_000 });
  const url = open('cut', channel);
  const sources = Array.from({ length: 10 }, () => {
    const got: string[] = [];
    const source = new EventSource(url);
    source.addEventListener('n', (e) => got.push(e.lastEventId));
    return { source, got };
  });
  await until(() => channel.size === 10, '10 subscribers');
  const published: string[] = [];
  const rng = seeded(7);
  let cuts = 0;
  const cutter = setInterval(() => {
    const all = [...live].filter((es) => channel.has(es));
    const victim = all[Math.floor(rng() * all.length)];
    if (victim !== undefined) {
      victim.destroy();
      cuts++;
    }
  }, 25);
  try {
    await publishFor(channel, 1500, 1, published);
    // A busy machine runs the cutter's timer late: publishing goes on until it has cut enough.
    while (cuts < 20 && published.length < 15_000) await publishFor(channel, 250, 1, published);
  } finally {
    clearInterval(cutter);
  }
  await until(
    () => sources.every((s) => s.got.at(-1) === published.at(-1)),
    'every source to catch up',
    15_000,
  );
  for (const s of sources) {
    s.source.close();
    assert.deepEqual(s.got, published);
  }
  assert.ok(cuts >= 20, `cut ${cuts} connections`);
  await until(() => channel.size === 0, 'all gone');
});

/** The raw body of a connection, until `done` says it is complete. */
async function rawBody(url: string, lastEventId: string | undefined, done: (t: string) => boolean) {
  const { port, pathname } = new URL(url);
  const socket = tcp(Number(port), '127.0.0.1');
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    text += d;
  });
  const header = lastEventId === undefined ? '' : `Last-Event-ID: ${lastEventId}\r\n`;
  socket.write(`GET ${pathname} HTTP/1.0\r\n${header}\r\n`);
  await until(() => done(text), 'the expected bytes');
  socket.destroy();
  return text.slice(text.indexOf('\r\n\r\n') + 4);
}

test('a client without Last-Event-ID first gets an id-only cursor at the newest event', async () => {
  const channel = new Channel();
  const url = open('cursor', channel);
  channel.publish({ data: 'old' });
  const head = channel.publish({ data: 'older news' }) as string;
  const body = await rawBody(url, undefined, (t) => t.includes(`id: ${head}\n\n`));
  assert.equal(body, `retry: 10\n\nid: ${head}\n\n`);
});

test('an unknown id gets the documented reset, then live events; resuming from it loses nothing', async () => {
  const channel = new Channel({ history: 100 });
  const url = open('unknown', channel);
  for (let i = 0; i < 5; i++) channel.publish({ event: 'n', data: i });
  const [epoch, seq] = channel.lastId.split('-') as [string, string];
  const unknown = [
    'garbage',
    '1-3',
    `${Number(epoch) - 1}-3`,
    `${epoch}-${Number(seq) + 1000}`,
    `${epoch}-x`,
    // Hostile: what a client controls must come back only as JSON inside the reset's data.
    'x'.repeat(4000),
    '"},"reason":"expired","x":{"',
    'data: injected',
    `${epoch}-1e3`,
    `-${epoch}--${seq}`,
    `${epoch}-${seq}-${seq}`,
  ];
  for (const lastEventId of unknown) {
    const c = await connect(url, { lastEventId });
    await until(() => c.events.length === 1, `the reset for ${lastEventId}`);
    const reset = c.events[0] as Received;
    assert.equal(reset.event, 'reset');
    assert.equal(reset.id, channel.lastId);
    assert.deepEqual(JSON.parse(reset.data), { reason: 'unknown-id', lastEventId, resumeId: channel.lastId });
    const next = channel.publish({ event: 'n', data: 'live' }) as string;
    await until(() => c.events.length === 2, 'a live event after the reset');
    assert.equal(c.events[1]?.id, next);
    c.close();
    // The reset's id is a position: resuming from it replays exactly what followed.
    const missed = [channel.publish({ event: 'n', data: 'missed' }) as string];
    const again = await connect(url, { lastEventId: reset.id });
    await until(() => again.events.length === 2, 'the replay');
    assert.deepEqual(idsOf(again.events), [next, ...missed]);
    again.close();
  }
  await until(() => channel.size === 0, 'all gone');
});

test('an id older than the history (by count or by age) gets reset "expired"; one just inside replays', async () => {
  const channel = new Channel({ history: 10 });
  const url = open('expired', channel);
  const ids = Array.from({ length: 30 }, (_, i) => channel.publish({ event: 'n', data: i }) as string);
  const replay = async (lastEventId: string, expect: number) => {
    const c = await connect(url, { lastEventId });
    await until(() => c.events.length === expect, `${expect} events after ${lastEventId}`);
    c.close();
    return c.events;
  };
  const [reset] = await replay(ids[4] as string, 1);
  assert.equal(reset?.event, 'reset');
  assert.deepEqual(JSON.parse(reset?.data ?? ''), {
    reason: 'expired',
    lastEventId: ids[4],
    resumeId: ids[29],
  });
  assert.equal((await replay(ids[18] as string, 1))[0]?.event, 'reset', 'seq 20 is gone: a gap');
  assert.deepEqual(idsOf(await replay(ids[19] as string, 10)), ids.slice(20));
  assert.deepEqual(idsOf(await replay(ids[28] as string, 1)), [ids[29]]);

  const aging = new Channel({ history: { count: 100, maxAge: 100 } });
  const agingUrl = open('aging', aging);
  const old = [0, 1, 2].map((i) => aging.publish({ event: 'n', data: i }) as string);
  await new Promise((r) => setTimeout(r, 150));
  const fresh = aging.publish({ event: 'n', data: 3 }) as string;
  const aged = await connect(agingUrl, { lastEventId: old[0] });
  await until(() => aged.events.length === 1, 'the reset');
  assert.equal(aged.events[0]?.event, 'reset');
  assert.equal(JSON.parse(aged.events[0]?.data ?? '').reason, 'expired');
  aged.close();
  const inside = await connect(agingUrl, { lastEventId: old[2] });
  await until(() => inside.events.length === 1, 'the replay');
  assert.deepEqual(idsOf(inside.events), [fresh]);
  inside.close();
});

test('history: false keeps nothing, yet an up-to-date client resumes without a reset', () => {
  const adapter = new MemoryAdapter();
  const channel = new Channel({ history: false, adapter });
  const a = channel.publish({ data: 1 }) as string;
  const b = channel.publish({ data: 2 }) as string;
  assert.equal(adapter.historySize(channel.name), 0);
  assert.deepEqual(adapter.replay(channel.name, b), { records: [], lastId: b });
  assert.deepEqual(adapter.replay(channel.name, a), { reset: 'expired', lastId: b });
  void channel.close();
});

test('the history deque stays bounded and addressable across compactions', () => {
  const h = new ChannelHistory({ count: 100, maxAge: Number.POSITIVE_INFINITY });
  const rec = (i: number): ChannelRecord => ({
    id: `1-${i}`,
    event: undefined,
    data: i,
    body: '',
    time: i,
    wire: undefined,
  });
  for (let i = 1; i <= 5000; i++) h.push(rec(i));
  assert.equal(h.size(), 100);
  assert.equal(h.firstSeq(), 4901);
  assert.deepEqual(
    h.after(4997).map((r) => r.id),
    ['1-4998', '1-4999', '1-5000'],
  );
  assert.equal(h.after(4900).length, 100);
  const aged = new ChannelHistory({ count: 1000, maxAge: 10 });
  for (let i = 1; i <= 50; i++) aged.push(rec(i));
  assert.equal(aged.size(50), 11, 'times 40..50 are within 10 ms of 50');
});

/**
 * An adapter shaped like a networked one: every answer is a promise, and
 * delivery lags publishing (in order, after the event is stored), so live
 * events arrive while a replay is still being fetched.
 */
class LaggingAdapter implements ChannelAdapter {
  private readonly inner = new MemoryAdapter();
  private readonly rng = seeded(99);

  async open(name: string, options: ChannelLogOptions, deliver: (r: ChannelRecord) => void): Promise<string> {
    await new Promise((r) => setTimeout(r, 5));
    let chain = Promise.resolve();
    return this.inner.open(name, options, (record) => {
      chain = chain.then(() => new Promise((r) => setTimeout(r, this.rng() * 3))).then(() => deliver(record));
    });
  }

  async publish(name: string, message: ChannelMessage): Promise<string> {
    return this.inner.publish(name, message);
  }

  async replay(name: string, afterId: string): Promise<ReplayResult> {
    // Half the time the answer is taken before the wait, half after, so the
    // held live events overlap the replay from either side.
    const early = this.rng() < 0.5 ? this.inner.replay(name, afterId) : undefined;
    await new Promise((r) => setTimeout(r, 5 + this.rng() * 20));
    return early ?? this.inner.replay(name, afterId);
  }

  close(name: string): void {
    this.inner.close(name);
  }
}

test('with an asynchronous adapter, the replay hand-over still has no gap and no duplicate', async () => {
  const channel = new Channel({ history: 10_000, adapter: new LaggingAdapter() });
  const url = open('lagging', channel);
  const clients = Array.from({ length: 20 }, (_, i) => restlessClient(url, seeded(100 + i)));
  await until(() => channel.size === 20, '20 subscribers');
  const published: string[] = [];
  await publishFor(channel, 1500, 1, published);
  await until(
    () => clients.every((c) => c.ids.at(-1) === published.at(-1)),
    'every client to catch up',
    15_000,
  );
  for (const c of clients) {
    c.stop();
    assert.equal(contiguousRun(c.ids, published), 0);
    assert.equal(c.ids.length, published.length);
    assert.ok(c.reconnects() >= 5, `reconnected ${c.reconnects()} times`);
  }
});
