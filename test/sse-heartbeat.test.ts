import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Channel, InvalidArgumentError } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { type Chunk, parseEvents, read } from './helpers/sse-clients.ts';

// Intervals are small (200 ms) so the file is quick; tolerances are wide upward because a loaded 2-core
// machine delays timers, and tight downward because a heartbeat must never come early.
const BEAT = 200;
const LATE = 400;

let ts: TestServer;
const opened = new Map<string, number>();
let lastEventAt = 0;
let badOption: unknown;
const channel = new Channel({ history: 100 });

before(async () => {
  ts = await startServer((s) => {
    s.get('/idle', async (r) => {
      const es = r.response.sse({ heartbeat: BEAT });
      opened.set('idle', performance.now());
      await es.closed;
    });
    s.get('/busy', async (r) => {
      const es = r.response.sse({ heartbeat: BEAT });
      for (let i = 0; i < 16; i++) {
        await es.send({ data: String(i) });
        // Stamped at the send itself: a sleep after it that a loaded machine stretches would
        // otherwise shrink the measured idle time.
        if (i === 15) lastEventAt = performance.now();
        await sleep(BEAT / 4);
      }
      await es.closed;
    });
    s.get('/retry', async (r) => {
      const es = r.response.sse({ heartbeat: BEAT, retry: 1234 });
      await es.closed;
    });
    // A channel writes straight to the socket (not through send()), and must still hold heartbeats back.
    s.get('/channel', async (r) => {
      await channel.subscribe(r.response.sse({ heartbeat: BEAT }), { lastEventId: null });
    });
    s.get('/off', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      await es.closed;
    });
    s.get('/bad', async (r) => {
      try {
        r.response.sse({ heartbeat: -1 });
      } catch (e) {
        badOption = e;
        throw e;
      }
    });
  });
});

after(() => {
  channel.close();
  return ts.close();
});

const isBeat = (c: Chunk) => c.text.startsWith(':');

test('an idle stream gets a comment line every heartbeat interval, not earlier', async () => {
  const res = await read(`${ts.url}/idle`, { onChunk: (_, all) => all.filter(isBeat).length >= 3 });
  const beats = res.chunks.filter(isBeat);
  assert.equal(beats.length, 3);
  for (const b of beats) assert.equal(b.text, ': \n');
  // A comment is invisible to an EventSource: no event was dispatched.
  assert.deepEqual(parseEvents(res.body), []);
  const times = [opened.get('idle') ?? Number.NaN, ...beats.map((b) => b.at)];
  for (let i = 1; i < times.length; i++) {
    const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
    assert.ok(gap >= BEAT - 20, `heartbeat ${i} came ${gap.toFixed(0)} ms after the previous write`);
    assert.ok(gap < BEAT + LATE, `heartbeat ${i} came ${gap.toFixed(0)} ms after the previous write`);
  }
});

test('no heartbeat while events flow; it resumes one interval after the last event', async () => {
  const res = await read(`${ts.url}/busy`, { onChunk: (c) => isBeat(c) });
  const firstBeat = res.chunks.findIndex(isBeat);
  const before = res.chunks.slice(0, firstBeat);
  assert.deepEqual(
    parseEvents(before.map((c) => c.text).join('')).map((e) => e.data),
    Array.from({ length: 16 }, (_, i) => String(i)),
  );
  assert.ok(!before.some((c) => /^:/m.test(c.text)), 'a comment slipped between events');
  const beat = res.chunks[firstBeat];
  assert.ok(beat !== undefined && lastEventAt > 0);
  const idle = beat.at - lastEventAt;
  assert.ok(idle >= BEAT - 20, `the first heartbeat came ${idle.toFixed(0)} ms after the last event`);
  assert.ok(idle < BEAT + LATE, `the first heartbeat came ${idle.toFixed(0)} ms after the last event`);
});

test('no heartbeat while a channel delivers events to the stream; it resumes once the channel goes quiet', async () => {
  let published = 0;
  let started = false;
  let lastPublishAt = 0;
  const res = await read(`${ts.url}/channel`, {
    onChunk: (c) => {
      if (isBeat(c)) return true;
      if (!started) {
        // Subscribed (the cursor block arrived): publish every quarter interval for four intervals.
        started = true;
        const timer = setInterval(() => {
          channel.publish({ data: String(published++) });
          lastPublishAt = performance.now();
          if (published === 16) clearInterval(timer);
        }, BEAT / 4);
      }
      return false;
    },
  });
  const firstBeat = res.chunks.findIndex(isBeat);
  const events = parseEvents(
    res.chunks
      .slice(0, firstBeat)
      .map((c) => c.text)
      .join(''),
  );
  assert.deepEqual(
    events.map((e) => e.data),
    Array.from({ length: 16 }, (_, i) => String(i)),
  );
  const idle = (res.chunks[firstBeat]?.at ?? 0) - lastPublishAt;
  assert.ok(idle >= BEAT - 20, `the first heartbeat came ${idle.toFixed(0)} ms after the last event`);
  assert.ok(idle < 2 * BEAT + LATE, `the first heartbeat came ${idle.toFixed(0)} ms after the last event`);
});

test('the retry option is sent first, before any heartbeat', async () => {
  const res = await read(`${ts.url}/retry`, { onChunk: (c) => isBeat(c) });
  assert.ok(res.body.startsWith('retry: 1234\n\n: \n'), JSON.stringify(res.body));
});

test('heartbeat 0 turns it off', async () => {
  // Three intervals of silence, then leave: a heartbeat would have shown up twice by then.
  const res = await read(`${ts.url}/off`, { signal: AbortSignal.timeout(BEAT * 3) });
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
  assert.deepEqual(res.chunks, []);
});

test('a negative heartbeat is refused before anything is sent', async () => {
  const res = await read(`${ts.url}/bad`);
  assert.ok(badOption instanceof InvalidArgumentError);
  assert.equal(badOption.argument, 'heartbeat');
  assert.equal(res.status, 500);
  assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
});
