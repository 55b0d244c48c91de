import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { Channel, type EventStream } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { read, waitFor } from './helpers/sse-clients.ts';

// A channel's fan-out and es.send() write pre-built chunks straight to the socket only while the
// response holds no byte of its own (src/response/chunked-socket.ts, socketIsCaughtUp). On Node 22
// and 24 the response keeps what res.write was given (a comment, a heartbeat, a notice) until the
// tick ends; a frame that skipped it would reach the client first. This mixes both paths in one tick,
// over a real socket, and then checks the shortcut is taken again once the response caught up.

const channel = new Channel({ name: 'order-guard' });
const joined = new Channel({ name: 'order-guard-joined' });
let ts: TestServer;
let stream: EventStream | undefined;
let shortcutWrites = -1;
/** Every socket.write the server made for /joined's stream, as text. */
const joinedWrites: string[] = [];

before(async () => {
  ts = await startServer((s) => {
    s.get('/stream', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      stream = es;
      await channel.subscribe(es);
    });
    s.get('/joined', async (r) => {
      const socket = r.response.raw.socket as Socket;
      const write = socket.write;
      // Observes and forwards: the real socket still writes every byte.
      socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
        joinedWrites.push(Buffer.from(chunk as Buffer).toString('latin1'));
        return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
      } as Socket['write'];
      const es = r.response.sse({ heartbeat: 0 });
      await joined.subscribe(es);
    });
    s.get('/mix', async () => {
      const es = stream as EventStream;
      // All in one tick, in this order on the wire: a b c d e f g.
      channel.publish({ data: 'a' }); // nothing held yet: straight to the socket
      void es.comment('b'); // through res.write: Node 22 and 24 keep it in the response this tick
      channel.publish({ data: 'c' });
      void es.send({ data: 'd' });
      void es.comment('e');
      channel.publish({ data: 'f' });
      void es.send({ data: 'g' });
      const before = channel.stats().socketWrites;
      await new Promise((resolve) => setImmediate(resolve));
      // Caught up again: the shortcut is taken, so the guard above was what kept the order.
      channel.publish({ data: 'h' });
      shortcutWrites = channel.stats().socketWrites - before;
      es.close();
      return 'mixed';
    });
  });
});

after(async () => {
  await ts.close();
  channel.close();
  joined.close();
});

test('fan-out and sends wait for bytes the response still holds, and go straight to the socket again after', async () => {
  const reading = read(`${ts.url}/stream`);
  await waitFor(() => stream !== undefined && channel.stats().subscribers === 1, 'the subscriber');
  // Live: an event published now reaches the client before /mix starts.
  channel.publish({ data: 'ready' });
  const mixed = await read(`${ts.url}/mix`);
  assert.equal(mixed.body, 'mixed');
  const res = await reading;
  const body = res.body;
  assert.ok(body.includes('data: ready\n'), body);
  const order = [...body.matchAll(/^(?:: |data: )([a-h])$/gm)].map((m) => m[1]).join('');
  assert.equal(order, 'abcdefgh', body);
  assert.equal(shortcutWrites, 1, 'the publish after the tick went straight to the socket');
});

test("a channel's own frame (the cursor a client gets on joining) goes to the socket as one chunk", async () => {
  joined.publish({ data: 'before' });
  const res = await read(`${ts.url}/joined`, {
    onChunk: (_c, all) => all.some((c) => c.text.includes('id: ')),
  });
  const frame = /id: [^\n]*\n\n/.exec(res.body)?.[0];
  assert.ok(frame !== undefined, res.body);
  // Through res.write it would be four socket writes (size line, CRLF, frame, CRLF), and a write
  // callback and a writev on a socket the fan-out then writes every event to.
  const chunk = `${Buffer.byteLength(frame).toString(16)}\r\n${frame}\r\n`;
  assert.ok(joinedWrites.includes(chunk), JSON.stringify(joinedWrites));
});
