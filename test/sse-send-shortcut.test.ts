import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import type { EventStream } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { blockedUntilRead, parseEvents, rawRequest, read, waitFor } from './helpers/sse-clients.ts';

// es.send() writes a pre-built HTTP/1.1 chunk straight to the socket when nothing can tell the
// difference (the Channel's shortcut), and frames an event object sent again unchanged only once.
// These tests pin what must not change with it: the bytes, their order, backpressure, and the
// cases where the shortcut must not be taken.

const MIB = 1024 * 1024;

let ts: TestServer;
/** Every socket.write the server made for a stream, by name, as bytes. */
const socketWrites = new Map<string, Buffer[]>();
const streams = new Map<string, EventStream>();
/** What a wrapped res.write (a compression or logging middleware, say) saw. */
const wrapperSaw: string[] = [];
let lateSend: boolean | undefined;
/** The socket's cork count after each send of a burst in one tick, then once the tick is over. */
const corking: number[] = [];
const stall = { started: 0, stop: false, results: [] as boolean[] };

function recordSocketWrites(name: string, socket: Socket): void {
  const seen: Buffer[] = [];
  socketWrites.set(name, seen);
  const write = socket.write;
  // Observes and forwards: the real socket still writes every byte.
  socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
    seen.push(Buffer.from(chunk as Buffer));
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as Socket['write'];
}

before(async () => {
  ts = await startServer((s) => {
    s.get('/frames', (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      recordSocketWrites('frames', r.response.raw.socket as Socket);
      void es.send({ data: 'one' });
      void es.send({ event: 'multi', id: 7, data: 'a\nb' });
      void es.send({ data: 'é ✓ 😀' });
      es.close();
    });
    s.get('/mixed', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      // A comment goes through res.write; sends around it must not overtake it, in one tick or across ticks.
      void es.send({ data: '1' });
      void es.comment('2');
      void es.send({ data: '3' });
      await new Promise((resolve) => setImmediate(resolve));
      void es.comment('4');
      void es.send({ data: '5' });
      await new Promise((resolve) => setImmediate(resolve));
      await es.send({ data: '6' });
      es.close();
    });
    s.get('/reused', (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      const ev: { data: unknown; event?: string; id?: number } = { data: 'a' };
      void es.send(ev);
      void es.send(ev);
      ev.data = 'b';
      void es.send(ev);
      ev.event = 'named';
      void es.send(ev);
      ev.id = 1;
      void es.send(ev);
      const obj = { n: 1 };
      ev.data = obj;
      void es.send(ev);
      obj.n = 2; // changed in place: same object, same data reference
      void es.send(ev);
      const bytes = Buffer.from('x');
      ev.data = bytes;
      void es.send(ev);
      bytes[0] = 0x79; // 'y'
      void es.send(ev);
      es.close();
    });
    s.get('/fanout', (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      streams.set(String(r.get('name')), es);
    });
    s.get('/stall', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      // Bounded: a build that lost backpressure fails the test instead of filling memory.
      while (!stall.stop && stall.started < 64) {
        stall.started++;
        const ok = await es.send({ data: 'x'.repeat(MIB) });
        stall.results.push(ok);
        if (!ok) return;
      }
      es.close();
    });
    s.get('/burst', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      const socket = r.response.raw.socket as Socket;
      for (let i = 0; i < 3; i++) {
        void es.send({ data: `${i}` });
        corking.push(socket.writableCorked);
      }
      await new Promise((resolve) => setImmediate(resolve));
      corking.push(socket.writableCorked);
      es.close();
    });
    s.get('/ended-behind', (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      r.response.raw.end(); // behind the stream's back: the connection is kept alive for the next request
      void es.send({ data: 'late' }).then((ok) => {
        lateSend = ok;
      });
    });
    s.get('/plain', () => 'plain');
    s.get('/wrapped', (r) => {
      const raw = r.response.raw;
      const write = raw.write;
      raw.write = function (this: typeof raw, chunk: unknown, ...rest: unknown[]) {
        wrapperSaw.push(Buffer.from(chunk as Buffer).toString('utf8'));
        return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
      } as typeof raw.write;
      const es = r.response.sse({ heartbeat: 0 });
      void es.send({ data: 'seen by the wrapper' });
      es.close();
    });
  });
});

after(() => ts.close());

const chunk = (frame: string): string => `${Buffer.byteLength(frame).toString(16)}\r\n${frame}\r\n`;

test('send() writes each event as one chunk straight to the socket, byte for byte what res.write sends', async () => {
  // Connection: close, so the socket closes with the response instead of after the keep-alive timeout.
  const conn = await rawRequest(ts.port, 'GET /frames HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await conn.closed;
  const frames = ['data: one\n\n', 'event: multi\nid: 7\ndata: a\ndata: b\n\n', 'data: é ✓ 😀\n\n'];
  const text = conn.text();
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  assert.equal(body, `${frames.map(chunk).join('')}0\r\n\r\n`);
  const writes = (socketWrites.get('frames') ?? []).map((b) => b.toString('utf8'));
  for (const frame of frames) {
    assert.ok(writes.includes(chunk(frame)), `no single socket write of ${JSON.stringify(chunk(frame))}`);
  }
});

test('sends and writes through the response reach the client in call order', async () => {
  const res = await read(`${ts.url}/mixed`);
  assert.equal(res.body, 'data: 1\n\n: 2\ndata: 3\n\n: 4\ndata: 5\n\ndata: 6\n\n');
});

test('an event object changed between sends is framed again, also when its data changed in place', async () => {
  const res = await read(`${ts.url}/reused`);
  assert.deepEqual(
    parseEvents(res.body).map((e) => [e.event ?? 'message', e.id ?? '', e.data]),
    [
      ['message', '', 'a'],
      ['message', '', 'a'],
      ['message', '', 'b'],
      ['named', '', 'b'],
      ['named', '1', 'b'],
      ['named', '1', '{"n":1}'],
      ['named', '1', '{"n":2}'],
      ['named', '1', 'x'],
      ['named', '1', 'y'],
    ],
  );
});

test('one event object sent to many streams reaches each of them whole', async () => {
  const names = ['a', 'b', 'c', 'd'];
  const bodies = names.map(() => '');
  const conns = await Promise.all(
    names.map((name) =>
      rawRequest(ts.port, `GET /fanout?name=${name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    ),
  );
  await waitFor(() => streams.size === names.length, 'every stream');
  const ev = { event: 'tick', data: 'shared' };
  for (const name of names) void streams.get(name)?.send(ev);
  ev.data = 'changed';
  for (const name of names) void streams.get(name)?.send(ev);
  for (const name of names) streams.get(name)?.close();
  await Promise.all(conns.map((c) => c.closed));
  conns.forEach((c, i) => {
    const text = c.text();
    bodies[i] = text.slice(text.indexOf('\r\n\r\n') + 4);
  });
  const expected = `${chunk('event: tick\ndata: shared\n\n')}${chunk('event: tick\ndata: changed\n\n')}0\r\n\r\n`;
  assert.deepEqual(bodies, [expected, expected, expected, expected]);
});

test('a send that found the socket full resolves true once the client reads again', async () => {
  await blockedUntilRead(ts.port, '/stall', stall, 'send()');
});

test('sends in one tick leave together: the socket is corked from the second until the tick ends', async () => {
  const res = await read(`${ts.url}/burst`);
  assert.equal(res.body, 'data: 0\n\ndata: 1\n\ndata: 2\n\n');
  assert.equal(corking[0], 0, 'the first send of a tick waits for nothing');
  assert.ok((corking[1] ?? 0) > 0 && (corking[2] ?? 0) > 0, `cork counts ${corking.join(',')}`);
  assert.equal(corking[3], 0, 'still corked after the tick');
});

test('sends to several sockets in one tick, interleaved: each socket is corked from its own second send', async () => {
  const names = ['left', 'right'];
  const conns = await Promise.all(
    names.map((name) =>
      rawRequest(ts.port, `GET /fanout?name=${name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    ),
  );
  await waitFor(() => names.every((name) => streams.has(name)), 'both streams');
  const [left, right] = names.map((name) => streams.get(name) as EventStream) as [EventStream, EventStream];
  const corkedOf = (es: EventStream): number => (es.response.raw.socket as Socket).writableCorked;
  // One tick: left, right, left, right. What each socket's cork count is right after each send.
  void left.send({ data: 'l1' });
  const afterL1 = corkedOf(left);
  void right.send({ data: 'r1' });
  const afterR1 = corkedOf(right);
  void left.send({ data: 'l2' });
  const afterL2 = corkedOf(left);
  void right.send({ data: 'r2' });
  const afterR2 = corkedOf(right);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual([afterL1, afterR1], [0, 0], 'the first send to each socket waits for nothing');
  assert.ok(afterL2 > 0 && afterR2 > 0, `second sends not corked: ${afterL2}, ${afterR2}`);
  assert.deepEqual([corkedOf(left), corkedOf(right)], [0, 0], 'still corked after the tick');
  left.close();
  right.close();
  await Promise.all(conns.map((c) => c.closed));
  const bodyOf = (text: string): string => text.slice(text.indexOf('\r\n\r\n') + 4);
  assert.equal(bodyOf(conns[0]!.text()), `${chunk('data: l1\n\n')}${chunk('data: l2\n\n')}0\r\n\r\n`);
  assert.equal(bodyOf(conns[1]!.text()), `${chunk('data: r1\n\n')}${chunk('data: r2\n\n')}0\r\n\r\n`);
});

test('a send after the response was ended elsewhere writes nothing into the next response', async () => {
  const conn = await rawRequest(ts.port, 'GET /ended-behind HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => conn.text().endsWith('0\r\n\r\n') && lateSend !== undefined, 'the first response');
  conn.socket.write('GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await conn.closed;
  const text = conn.text();
  assert.equal(lateSend, false);
  assert.doesNotMatch(text, /late/);
  const second = text.slice(text.indexOf('0\r\n\r\n') + 5);
  assert.match(second, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(second.endsWith('\r\n\r\nplain'), JSON.stringify(second));
});

test('a response whose write was replaced (compression, a logger) gets every event through it', async () => {
  const res = await read(`${ts.url}/wrapped`);
  assert.equal(res.body, 'data: seen by the wrapper\n\n');
  assert.ok(wrapperSaw.includes('data: seen by the wrapper\n\n'), JSON.stringify(wrapperSaw));
});
