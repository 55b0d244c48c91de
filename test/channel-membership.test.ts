// Which channels a stream belongs to: has(), unsubscribe(), pendingBytes(), size and a second
// subscribe() answer per channel, for a stream subscribed to several channels at once and with
// end listeners of its own (an iterable piped into it). A channel finds its subscriber among the
// stream's end listeners, so this pins that it finds its own and no other channel's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Channel, type EventStream, InvalidArgumentError, type SubscriptionEnd } from '../src/index.ts';
import { connect, until } from './helpers/channel-clients.ts';
import { startServer } from './helpers/server.ts';

test('a stream in two channels: each channel answers for its own subscription only', async () => {
  const a = new Channel({ name: 'membership-a' });
  const b = new Channel({ name: 'membership-b' });
  const c = new Channel({ name: 'membership-c' });
  let stream: EventStream | undefined;
  const ends: SubscriptionEnd[] = [];
  const ts = await startServer((s) => {
    s.get('/both', (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      stream = es;
      // Another end listener before the subscriptions: the stream holds a list of them.
      void es.closed;
      es.signal.addEventListener('abort', () => {});
      void a.subscribe(es, { lastEventId: null }).then((why) => ends.push(why));
      void b.subscribe(es, { lastEventId: null }).then((why) => ends.push(why));
    });
  });
  try {
    const client = await connect(`${ts.url}/both`);
    await until(() => a.size === 1 && b.size === 1, 'both subscriptions');
    const es = stream as EventStream;
    assert.equal(a.has(es), true);
    assert.equal(b.has(es), true);
    assert.equal(c.has(es), false, 'a channel it never joined');
    assert.equal(c.pendingBytes(es), undefined);
    assert.equal(c.unsubscribe(es), false);
    assert.throws(() => a.subscribe(es), InvalidArgumentError, 'a second subscribe() to the same channel');
    assert.equal(a.size, 1);

    assert.equal(a.unsubscribe(es), true);
    assert.equal(a.has(es), false);
    assert.equal(a.pendingBytes(es), undefined);
    assert.equal(a.unsubscribe(es), false, 'once only');
    assert.equal(a.size, 0);
    assert.equal(a.stats().subscribers, 0);
    assert.equal(b.has(es), true, 'the other channel keeps it');
    assert.equal(typeof b.pendingBytes(es), 'number');
    assert.equal(b.stats().subscribers, 1);
    await until(() => ends.length === 1, "the first subscription's end");
    assert.deepEqual(ends, ['unsubscribed']);

    // Still open and still fed by b; a's events no longer reach it.
    a.publish({ event: 'from-a', data: 1 });
    b.publish({ event: 'from-b', data: 2 });
    await until(() => client.events.some((e) => e.event === 'from-b'), "b's event");
    assert.equal(
      client.events.some((e) => e.event === 'from-a'),
      false,
    );

    // Subscribing to a again works, and the stream's end removes it from both.
    void a.subscribe(es, { lastEventId: null }).then((why) => ends.push(why));
    assert.equal(a.has(es), true);
    client.close();
    await until(() => a.size === 0 && b.size === 0, 'both removed');
    assert.equal(a.has(es), false);
    assert.equal(b.has(es), false);
    await until(() => ends.length === 3, 'every subscription settled');
    assert.deepEqual(ends.slice(1).sort(), ['closed', 'closed']);
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
    await ts.close();
  }
});
