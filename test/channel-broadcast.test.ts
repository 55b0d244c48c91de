import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { connect as tcp } from 'node:net';
import { after, before, test } from 'node:test';
import { chunkedSocketOf } from '../src/channel/channel-wire.ts';
import {
  Channel,
  ChannelClosedError,
  ChannelHub,
  compareIds,
  type EventStream,
  InvalidArgumentError,
  type SubscriptionEnd,
} from '../src/index.ts';
import { connect, idsOf, type SseClient, tick, until } from './helpers/channel-clients.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const feed = new Channel({ name: 'feed', history: 1000 });
// Two fresh channels with the same publishes: their ids differ only in the epoch.
const fastPath = new Channel({ name: 'fast-path' });
const slowPath = new Channel({ name: 'slow-path', socketWrites: false });
const filtered = new Channel({ name: 'filtered' });
const reentrant = new Channel({ name: 'reentrant' });
const ends: SubscriptionEnd[] = [];
const streams = new Map<string, EventStream>();
let ts: TestServer;

before(async () => {
  ts = await startServer((s) => {
    const mount = (path: string, channel: Channel) =>
      s.get(path, async (r) => {
        const es = r.response.sse({ heartbeat: 0 });
        const name = r.getQuery('name');
        if (typeof name === 'string') streams.set(name, es);
        const only = r.getQuery('only');
        const filter =
          typeof only === 'string' ? (rec: { event: string | undefined }) => rec.event === only : undefined;
        ends.push(await channel.subscribe(es, { filter }));
      });
    mount('/feed', feed);
    mount('/fast-path', fastPath);
    mount('/slow-path', slowPath);
    mount('/filtered', filtered);
    // Every subscriber's filter answers a ping with an echo, published from inside the fan-out.
    s.get('/reentrant', async (r) => {
      const filter = (rec: { event: string | undefined }) => {
        if (rec.event === 'ping') reentrant.publish({ event: 'echo', data: 'from a filter' });
        return true;
      };
      await reentrant.subscribe(r.response.sse({ heartbeat: 0 }), { filter });
    });
    s.get('/hello', (r) => {
      r.response.writeJson({ hello: 'world' });
    });
  });
});

after(async () => {
  await Promise.all([feed.close(), fastPath.close(), slowPath.close(), filtered.close(), reentrant.close()]);
  await ts.close();
});

test('200 real clients receive every event, in order, framed once', async () => {
  const clients: SseClient[] = [];
  for (let i = 0; i < 200; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, () => connect(`${ts.url}/feed`)));
    clients.push(...batch);
  }
  await until(() => feed.size === 200, '200 subscribers');
  const published: string[] = [];
  // Bursts of ten per turn of the loop, so sockets fill and drain between them as in a real server.
  for (let i = 0; i < 300; i++) {
    published.push(feed.publish({ event: 'n', data: { i } }) as string);
    if (i % 10 === 9) await tick();
  }
  await until(() => clients.every((c) => c.events.length >= 300), 'every client to get 300 events', 20_000);
  for (const c of clients) {
    assert.deepEqual(idsOf(c.events), published);
    assert.deepEqual(
      c.events.map((e) => JSON.parse(e.data).i),
      published.map((_, i) => i),
    );
  }
  for (let i = 1; i < published.length; i++) {
    assert.ok(compareIds(published[i - 1] as string, published[i] as string) < 0, 'ids increase');
  }
  for (const c of clients) c.close();
  await until(() => feed.size === 0, 'every subscriber to be removed');
  assert.equal(feed.stats().subscribers, 0);
});

test('the socket shortcut writes exactly the bytes the response path writes', async () => {
  const rawBody = async (path: string) => {
    const socket = tcp(ts.port, '127.0.0.1');
    let text = '';
    socket.on('data', (b) => {
      text += b.toString('latin1');
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    return { socket, text: () => text };
  };
  const direct = await rawBody('/fast-path?name=direct');
  const viaResponse = await rawBody('/slow-path?name=via-response');
  await until(() => fastPath.size === 1 && slowPath.size === 1, 'both subscribed');
  assert.notEqual(chunkedSocketOf(streams.get('direct') as EventStream), null, 'shortcut taken');
  const events = [{ data: 'plain' }, { event: 'x', data: { a: 'é\u{1f30a}' } }, { data: 'two\nlines' }];
  for (const ev of events) {
    fastPath.publish(ev);
    slowPath.publish(ev);
  }
  const complete = (t: string) => t.endsWith('data: lines\n\n\r\n');
  await until(() => complete(direct.text()) && complete(viaResponse.text()), 'every frame on both');
  const body = (t: string) => t.slice(t.indexOf('\r\n\r\n') + 4).replace(/\d{13}-/g, 'E-');
  assert.equal(body(direct.text()), body(viaResponse.text()));
  assert.match(body(direct.text()), /\r\nid: E-\d+\ndata: plain\n\n\r\n/);
  direct.socket.destroy();
  viaResponse.socket.destroy();
  await until(() => fastPath.size === 0 && slowPath.size === 0, 'both removed');
});

test('an HTTP/1.0 client (no chunked encoding) gets plain frames through the response path', async () => {
  const socket = tcp(ts.port, '127.0.0.1');
  let text = '';
  socket.on('data', (b) => {
    text += b.toString('utf8');
  });
  socket.write('GET /feed?name=http10 HTTP/1.0\r\n\r\n');
  await until(() => feed.size === 1, 'subscribed');
  assert.equal(chunkedSocketOf(streams.get('http10') as EventStream), null);
  const id = feed.publish({ data: 'over 1.0' }) as string;
  await until(() => text.includes('over 1.0'), 'the event');
  assert.ok(text.endsWith(`id: ${id}\ndata: over 1.0\n\n`), text);
  assert.doesNotMatch(text, /transfer-encoding/i);
  socket.destroy();
  await until(() => feed.size === 0, 'removed');
});

test('a kept-alive socket serves the next request cleanly after unsubscribe, while publishing goes on', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const c = await connect(`${ts.url}/feed?name=ka`, { agent });
    await until(() => feed.size === 1, 'subscribed');
    for (let i = 0; i < 3; i++) feed.publish({ data: `before ${i}` });
    await until(() => c.events.length === 3, 'three events');
    const endsBefore = ends.length;
    assert.equal(feed.unsubscribe(streams.get('ka') as EventStream), true);
    await c.ended;
    await until(() => ends.length === endsBefore + 1, 'the subscription to settle');
    assert.equal(ends.at(-1), 'unsubscribed');
    for (let i = 0; i < 3; i++) feed.publish({ data: `after ${i}` });
    const second = await new Promise<{ body: string; reused: boolean }>((resolve, reject) => {
      const req = get(`${ts.url}/hello`, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
          feed.publish({ data: 'during the next response' });
        });
        res.on('end', () => resolve({ body, reused: req.reusedSocket }));
      });
      req.on('error', reject);
    });
    assert.equal(second.reused, true, 'the same socket');
    assert.deepEqual(JSON.parse(second.body), { hello: 'world' });
    assert.equal(feed.unsubscribe(streams.get('ka') as EventStream), false);
  } finally {
    agent.destroy();
  }
});

test('filters pick events per subscriber; a throwing filter ends only its own stream', async () => {
  const all = await connect(`${ts.url}/filtered`);
  const onlyA = await connect(`${ts.url}/filtered?only=a`);
  await until(() => filtered.size === 2, 'two subscribers');
  const ids = ['a', 'b', 'a', 'c'].map((event) => filtered.publish({ event, data: event }) as string);
  await until(() => all.events.length === 4 && onlyA.events.length === 2, 'filtered delivery');
  assert.deepEqual(idsOf(onlyA.events), [ids[0], ids[2]]);
  assert.deepEqual(idsOf(all.events), ids);

  const bomb = await connect(`${ts.url}/filtered?name=bomb`);
  await until(() => filtered.size === 3, 'three subscribers');
  const es = streams.get('bomb') as EventStream;
  filtered.unsubscribe(es);
  const endsBefore = ends.length;
  void filtered.subscribe(es, {
    filter: () => {
      throw new Error('filter bug');
    },
  });
  filtered.publish({ event: 'a', data: 'boom' });
  await bomb.ended;
  assert.deepEqual(
    bomb.events.map((e) => e.event),
    ['error'],
  );
  await until(() => ends.length > endsBefore, 'the handler to finish');
  filtered.publish({ event: 'a', data: 'still here' });
  await until(() => onlyA.events.length === 4, 'the others keep receiving');
  assert.ok(
    ts.logger.lines.some((l) => l.level === 'error'),
    'the filter error was logged',
  );
  all.close();
  onlyA.close();
  await until(() => filtered.size === 0, 'removed');
});

test('a filter is never asked again once its subscriber ended, even in the middle of a replay', async () => {
  const from = filtered.publish({ event: 'r', data: 0 }) as string;
  for (let i = 1; i <= 4; i++) filtered.publish({ event: 'r', data: i });
  const victim = await connect(`${ts.url}/filtered?name=victim`);
  await until(() => streams.has('victim'), 'the victim to subscribe');
  const es = streams.get('victim') as EventStream;
  await until(() => filtered.has(es), 'the victim to subscribe');
  filtered.unsubscribe(es);
  let calls = 0;
  const end = filtered.subscribe(es, {
    lastEventId: from,
    filter: () => {
      calls++;
      throw new Error('filter bug');
    },
  });
  assert.equal(await end, 'error');
  await victim.ended;
  assert.equal(calls, 1, 'the filter ran for replayed events after its stream had ended');
});

test('publish validates, assigns increasing ids, and never stores a rejected event', () => {
  const ch = new Channel({ history: 10 });
  const a = ch.publish({ data: 1 }) as string;
  const b = ch.publish({ event: 'e' }) as string;
  const c = ch.publish({ retry: 100 }) as string;
  assert.ok(compareIds(a, b) < 0 && compareIds(b, c) < 0);
  assert.equal(ch.lastId, c);
  assert.throws(() => ch.publish({ data: 1, id: 'mine' } as never), InvalidArgumentError);
  assert.throws(() => ch.publish({}), InvalidArgumentError);
  assert.throws(() => ch.publish({ event: 'a\nb', data: 1 }), InvalidArgumentError);
  assert.throws(() => ch.publish({ data: 1n }), InvalidArgumentError);
  assert.equal(ch.stats().published, 3);
  assert.throws(() => new Channel({ maxBuffered: 0 }), InvalidArgumentError);
  assert.throws(() => new Channel({ overflow: 'pause' as never }), InvalidArgumentError);
  assert.throws(() => new Channel({ history: { count: Number.POSITIVE_INFINITY } }), InvalidArgumentError);
  void ch.close();
});

test('close() ends every stream, settles every subscription, and refuses publishing', async () => {
  const ch = new Channel();
  const local = await startServer((s) => {
    s.get('/c', async (r) => {
      ends.push(await ch.subscribe(r.response.sse({ heartbeat: 0 })));
    });
  });
  try {
    const clients = await Promise.all(Array.from({ length: 5 }, () => connect(`${local.url}/c`)));
    await until(() => ch.size === 5, 'five subscribers');
    const endsBefore = ends.length;
    await ch.close();
    await Promise.all(clients.map((c) => c.ended));
    await until(() => ends.length === endsBefore + 5, 'every subscription to settle');
    assert.deepEqual(ends.slice(endsBefore), Array(5).fill('channel-closed'));
    assert.equal(ch.size, 0);
    assert.throws(() => ch.publish({ data: 1 }), ChannelClosedError);
    const late = await connect(`${local.url}/c`);
    await late.ended;
    assert.equal(ends.at(-1), 'channel-closed');
  } finally {
    await local.close();
  }
});

test('a hub returns one channel per name, sharing its adapter, and deletes them', async () => {
  const hub = new ChannelHub({ history: 5 });
  const a = hub.channel('room:a');
  assert.equal(hub.channel('room:a'), a);
  const b = hub.channel('room:b', { overflow: 'drop-oldest' });
  assert.notEqual(a, b);
  assert.equal(a.adapter, hub.adapter);
  assert.deepEqual(hub.names(), ['room:a', 'room:b']);
  const idA = a.publish({ data: 'x' }) as string;
  const idB = b.publish({ data: 'y' }) as string;
  assert.notEqual(idA.split('-')[0], idB.split('-')[0], 'each log has its own epoch');
  assert.equal(await hub.delete('room:a'), true);
  assert.equal(a.isClosed, true);
  assert.equal(hub.get('room:a'), undefined);
  assert.equal(await hub.delete('room:a'), false);
  assert.notEqual(hub.channel('room:a'), a, 'a deleted name starts afresh');
  await hub.close();
  assert.equal(hub.size, 0);
  assert.equal(b.isClosed, true);
});

test('a publish from inside a fan-out goes out after the current event, to everyone, in order', async () => {
  const clients = await Promise.all(Array.from({ length: 3 }, () => connect(`${ts.url}/reentrant`)));
  await until(() => reentrant.size === 3, 'three subscribers');
  const ping = reentrant.publish({ event: 'ping', data: 'ping' }) as string;
  await until(() => clients.every((c) => c.events.length === 4), 'the ping and three echoes');
  const expected = [ping, ...[1, 2, 3].map((n) => `${ping.split('-')[0]}-${Number(ping.split('-')[1]) + n}`)];
  for (const c of clients) {
    assert.deepEqual(idsOf(c.events), expected, 'every client: the ping, then the echoes in id order');
    assert.deepEqual(
      c.events.map((e) => e.event),
      ['ping', 'echo', 'echo', 'echo'],
    );
  }
  for (const c of clients) c.close();
  await until(() => reentrant.size === 0, 'gone');
});
