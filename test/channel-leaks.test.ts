import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { Agent, get } from 'node:http';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Channel, ChannelHub, type EventStream, MemoryAdapter, type SubscriptionEnd } from '../src/index.ts';
import { connect, until } from './helpers/channel-clients.ts';
import { startServer } from './helpers/server.ts';

test('10,000 subscribe/unsubscribe cycles over HTTP leave no subscriber, listener or timer, and no heap growth', async () => {
  const script = fileURLToPath(new URL('./fixtures/channel-memory.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', script, 'cycles'],
    { timeout: 60_000 },
  );
  const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
  assert.equal(r.cycles, 10_000);
  assert.equal(r.subscribers, 0);
  assert.equal(r.statsSubscribers, 0);
  assert.ok(r.published > 1000, 'events were published throughout');
  assert.equal(r.leftoverAbortListeners, 0, 'unsubscribed streams keep no channel listener');
  assert.ok(
    r.maxDrainListeners <= 1,
    `kept-alive sockets hold ${r.maxDrainListeners} drain listeners (node's own is 1)`,
  );
  // The publishing interval was the one timer before; nothing of the channel's may remain.
  assert.ok(r.timersAfter < r.timersBefore, `timers: ${r.timersBefore} before, ${r.timersAfter} after`);
  // A leak of a subscriber's objects (or even 200 bytes) per cycle would show as megabytes here.
  assert.ok(r.growth < 2 * 1024 * 1024, `heap + buffers grew ${r.growth} B over 10,000 cycles`);
});

test('one open stream subscribed and unsubscribed 10,000 times keeps no listener on its signal', async () => {
  const channel = new Channel({ history: 10 });
  const hub = new ChannelHub();
  const held = { es: undefined as EventStream | undefined };
  const ts = await startServer((s) => {
    s.get('/hold', async (r) => {
      held.es = r.response.sse({ heartbeat: 0 });
      await held.es.closed;
    });
  });
  try {
    const c = await connect(`${ts.url}/hold`);
    await until(() => held.es !== undefined, 'the stream');
    const es = held.es as EventStream;
    const baseline = getEventListeners(es.signal, 'abort').length;
    const ends: Promise<SubscriptionEnd>[] = [];
    for (let i = 0; i < 10_000; i++) {
      const room = hub.channel(`room:${i % 100}`);
      ends.push(channel.subscribe(es, { lastEventId: null }), room.subscribe(es, { lastEventId: null }));
      channel.publish({ data: i });
      room.publish({ data: i });
      assert.equal(channel.unsubscribe(es), true);
      room.unsubscribe(es);
      // Rooms come and go: every hundredth use is the last one of its room.
      if (i >= 9900) await hub.delete(`room:${i % 100}`);
      // Let the socket drain now and then: a loop that never yields overflows any cap.
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    assert.equal(channel.stats().overflowed, 0);
    assert.deepEqual(new Set(await Promise.all(ends)), new Set(['unsubscribed']));
    assert.equal(getEventListeners(es.signal, 'abort').length, baseline);
    assert.equal(channel.size, 0);
    assert.equal(channel.stats().subscribers, 0);
    assert.equal(hub.size, 0, 'every room deleted');
    // 20,000 events were framed for this client, and the stream is still usable.
    await until(() => c.events.length === 20_000, 'every event', 15_000);
    assert.equal(es.isClosed, false);
    c.close();
  } finally {
    await channel.close();
    await hub.close();
    await ts.close();
  }
});

test('a congested drop-oldest subscriber, unsubscribed, leaves its kept-alive socket clean for the next request', async () => {
  const channel = new Channel({ overflow: 'drop-oldest', maxBuffered: 128 * 1024 });
  const held = { es: undefined as EventStream | undefined, socket: undefined as Socket | undefined };
  const ts = await startServer((s) => {
    s.get('/slow', async (r) => {
      held.es = r.response.sse({ heartbeat: 0 });
      held.socket = r.raw.socket;
      await channel.subscribe(held.es);
      // Unsubscribed, the stream stays open (it outlives this handler): the app ends it.
      held.es.close();
    });
    s.get('/next', (r) => {
      r.response.write(String(r.raw.socket === held.socket));
    });
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const c = await connect(`${ts.url}/slow`, { agent });
    c.res.pause();
    await until(() => channel.size === 1, 'subscribed');
    const socket = held.socket as Socket;
    const drainBaseline = socket.listenerCount('drain');
    const payload = 'z'.repeat(8192);
    for (let i = 0; i < 2000 && channel.stats().droppedEvents === 0; i++) {
      channel.publish({ data: payload });
      if (i % 8 === 7) await new Promise((r) => setImmediate(r));
    }
    assert.ok(channel.stats().droppedEvents > 0, 'the subscriber congested and dropped');
    assert.equal(socket.listenerCount('drain'), drainBaseline + 1, 'it waits for drain');
    channel.unsubscribe(held.es as EventStream);
    assert.equal(socket.listenerCount('drain'), drainBaseline, 'the drain listener is gone');
    c.res.resume();
    await c.ended;
    const body = await new Promise<string>((resolve, reject) => {
      get(`${ts.url}/next`, { agent }, (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    assert.equal(body, 'true', 'the same socket served the next request');
    assert.equal(socket.listenerCount('drain'), drainBaseline);
  } finally {
    agent.destroy();
    await channel.close();
    await ts.close();
  }
});

test('a server shutdown releases every subscriber; the channel lives on for the next start', async () => {
  const adapter = new MemoryAdapter();
  const channel = new Channel({ name: 'survivor', adapter, history: 50 });
  const ends: SubscriptionEnd[] = [];
  const ts = await startServer((s) => {
    s.get('/s', async (r) => {
      ends.push(await channel.subscribe(r.response.sse()));
    });
  });
  const clients = await Promise.all(Array.from({ length: 100 }, () => connect(`${ts.url}/s`)));
  await until(() => channel.size === 100, '100 subscribers');
  const id = channel.publish({ data: 'before' }) as string;
  await until(() => clients.every((c) => c.events.length === 1), 'the event');
  await ts.close();
  await Promise.all(clients.map((c) => c.ended));
  assert.equal(channel.size, 0);
  assert.equal(ends.length, 100);
  assert.ok(ends.every((e) => e === 'closed'));
  const next = channel.publish({ data: 'while down' }) as string;
  // The same server starts again on the same port: the client resumes where it was.
  ts.server.setPort(ts.port);
  await ts.server.start();
  const back = await connect(`${ts.url}/s`, { lastEventId: id });
  await until(() => back.events.length === 1, 'the missed event');
  assert.deepEqual(back.events[0], { id: next, event: undefined, data: 'while down' });
  back.close();
  await until(() => channel.size === 0, 'gone again');
  await ts.close();
  await channel.close();
  assert.equal(adapter.historySize('survivor'), 0, 'close released the log');
});
