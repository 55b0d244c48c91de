import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RawWriteAfterSseError, type Request } from '../src/index.ts';
import { parseRawResponse, rawExchange } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';
import { deferred, rawRequest, waitFor } from './helpers/sse-clients.ts';

// What sse() must leave to others and what it must refuse: the `Connection` the client or the
// server chose stays theirs, and once a response is an event stream, no raw bytes may reach it.

test('a client that sends Connection: close gets Connection: close on its SSE stream, and the close', async (t) => {
  const srv = await startServer((s) =>
    s.get('/one', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      await es.send({ data: 'only' });
      es.close();
    }),
  );
  t.after(() => srv.close());
  // rawExchange resolves only when the server closes the connection, as RFC 9112 requires here.
  const raw = parseRawResponse(
    await rawExchange(srv.port, 'GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  assert.equal(raw.status, 200);
  assert.equal(raw.headers.connection, 'close');
  assert.match(raw.body.toString(), /data: only\n\n/);
});

test('a keep-alive client still gets keep-alive, and the connection serves the next request', async (t) => {
  const srv = await startServer((s) => {
    s.get('/one', (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      es.send({ data: 'only' });
      es.close();
    });
    s.get('/after', () => 'next');
  });
  t.after(() => srv.close());
  const conn = await rawRequest(
    srv.port,
    'GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  await conn.closed;
  const [first, second] = conn.text().split(/(?=HTTP\/1\.1 )/);
  assert.match(first ?? '', /\r\nConnection: keep-alive\r\n/i);
  assert.match(first ?? '', /data: only\n\n/);
  assert.match(second ?? '', /^HTTP\/1\.1 200 [\s\S]*\r\n\r\nnext$/);
});

test('an SSE request that arrives during shutdown keeps the Connection: close the server set', async (t) => {
  const slowStarted = deferred();
  const release = deferred();
  const srv = await startServer((s) => {
    // Holds its keep-alive connection busy, so the shutdown does not close it as idle.
    s.get('/slow', async (r) => {
      slowStarted.resolve();
      await release.promise;
      r.response.write('slow');
    });
    s.get('/events', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      await es.closed;
    });
  });
  t.after(() => srv.close());
  const conn = await rawRequest(srv.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
  t.after(() => conn.socket.destroy());
  await slowStarted.promise;
  const stopped = srv.server.shutdown({ timeout: 3000 });
  await waitFor(() => srv.server.getListenedPort() === -1, 'the shutdown to begin');
  conn.socket.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
  // The second request is read while the first still runs; give the parser a moment, then let both end.
  await new Promise((resolve) => setTimeout(resolve, 100));
  release.resolve();
  await stopped;
  await conn.closed;
  const [, second] = conn.text().split(/(?=HTTP\/1\.1 )/);
  assert.match(second ?? '', /^HTTP\/1\.1 200 /);
  assert.match(second ?? '', /\r\nContent-Type: text\/event-stream/i);
  assert.match(second ?? '', /\r\nConnection: close\r\n/i);
});

/** Every buffer write of a response, each one as a handler would call it after sse(). */
const RAW_WRITES: [string, (r: Request) => void][] = [
  ['write()', (r) => r.response.write('event: forged\n\n')],
  ['write()', (r) => r.response.writeln('event: forged\n')],
  ['writef()', (r) => r.response.writef('event: %s\n\n', 'forged')],
  ['writefln()', (r) => r.response.writefln('event: %s\n', 'forged')],
  ['writeJson()', (r) => r.response.writeJson({ event: 'forged' })],
  ['writeOver()', (r) => r.response.writeOver('event: forged\n\n')],
  ['write()', (r) => r.response.writeExit('event: forged\n\n')],
];

test('after sse(), every buffer write throws RawWriteAfterSseError and nothing unframed reaches the client', async (t) => {
  const thrown: unknown[] = [];
  const srv = await startServer((s) =>
    s.get('/events/{n}', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      await es.send({ event: 'real', data: 'framed' });
      try {
        RAW_WRITES[Number(r.get('n'))]?.[1](r);
      } catch (e) {
        thrown.push(e);
      }
      // Ending the response is what used to send the buffer, unframed, after the last event.
      es.close();
    }),
  );
  t.after(() => srv.close());
  for (let n = 0; n < RAW_WRITES.length; n++) {
    const raw = parseRawResponse(
      await rawExchange(srv.port, `GET /events/${n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    const body = raw.body.toString();
    assert.match(body, /event: real\ndata: framed\n\n/);
    assert.doesNotMatch(body, /forged/, `${RAW_WRITES[n]?.[0]} reached the wire`);
    const e = thrown[n];
    assert.ok(e instanceof RawWriteAfterSseError, `${RAW_WRITES[n]?.[0]} did not throw: ${String(e)}`);
    assert.equal(e.code, 'SLUICE_RAW_WRITE_AFTER_SSE');
    assert.equal(e.attempted, RAW_WRITES[n]?.[0]);
    assert.match(e.message, /es\.send\(\)/);
  }
  assert.deepEqual(
    srv.logger.lines.filter((l) => l.level === 'error'),
    [],
  );
});

test('sse() over bytes already buffered refuses before committing, so the error gets a proper 500', async (t) => {
  let thrown: unknown;
  const srv = await startServer((s) =>
    s.get('/events', (r) => {
      r.response.write('data: hand-made\n\n');
      try {
        r.response.sse();
      } catch (e) {
        thrown = e;
        throw e;
      }
    }),
  );
  t.after(() => srv.close());
  const raw = parseRawResponse(
    await rawExchange(srv.port, 'GET /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  assert.equal(raw.status, 500);
  assert.doesNotMatch(raw.body.toString(), /hand-made/);
  assert.ok(thrown instanceof RawWriteAfterSseError);
  assert.equal(thrown.attempted, 'sse()');
  assert.match(thrown.message, /17 bytes already buffered/);
  assert.match(thrown.message, /clearBuffer\(\)/);
});
