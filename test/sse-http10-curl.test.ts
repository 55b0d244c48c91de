import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ndjson } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { type Chunk, deferred, rawRequest, waitFor } from './helpers/sse-clients.ts';

// Clients that are not browsers: curl -N (what everyone tries first) and a bare HTTP/1.0 client, which
// cannot use chunked encoding and so gets a body delimited by the connection's close.

const PAUSE = 300;

let ts: TestServer;
const leftEarly = deferred<string | undefined>();

before(async () => {
  ts = await startServer((s) => {
    s.get('/events', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      await es.send({ id: 1, data: 'first' });
      await sleep(PAUSE);
      await es.send({ event: 'last', data: 'second' });
      es.close();
    });
    s.get('/rows', () =>
      ndjson(
        (async function* () {
          yield { row: 1 };
          await sleep(PAUSE);
          yield { row: 2 };
        })(),
      ),
    );
    s.get('/forever', async (r) => {
      const es = r.response.sse({ heartbeat: 0 });
      await es.send({ data: 'hello' });
      await es.closed;
      leftEarly.resolve(es.endReason);
    });
  });
});

after(() => ts.close());

/** Runs curl asynchronously (never sync: this process serves its requests), timestamping stdout. */
function curl(
  args: string[],
): Promise<{ code: number | null; chunks: Chunk[]; out: string; headers: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '-N', ...args]);
    const chunks: Chunk[] = [];
    let err = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => chunks.push({ at: performance.now(), text }));
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const all = chunks.map((c) => c.text).join('');
      const split = all.indexOf('\r\n\r\n');
      const withHeaders = args.includes('-i');
      resolve({
        code,
        chunks,
        headers: withHeaders ? all.slice(0, split) : err,
        out: withHeaders ? all.slice(split + 4) : all,
      });
    });
  });
}

/** When the chunk containing `needle` arrived. */
function arrival(chunks: Chunk[], needle: string): number {
  let text = '';
  for (const c of chunks) {
    text += c.text;
    if (text.includes(needle)) return c.at;
  }
  return Number.NaN;
}

describe('curl -N', () => {
  test('receives SSE events as they are sent, then a clean end', async () => {
    const res = await curl([`${ts.url}/events`]);
    assert.equal(res.code, 0);
    assert.equal(res.out, 'id: 1\ndata: first\n\nevent: last\ndata: second\n\n');
    const gap = arrival(res.chunks, 'second') - arrival(res.chunks, 'first');
    assert.ok(gap >= PAUSE - 50, `the first event arrived only ${gap.toFixed(0)} ms before the second`);
  });

  test('receives NDJSON rows as they are produced', async () => {
    const res = await curl([`${ts.url}/rows`]);
    assert.equal(res.code, 0);
    assert.equal(res.out, '{"row":1}\n{"row":2}\n');
    const gap = arrival(res.chunks, '"row":2') - arrival(res.chunks, '"row":1');
    assert.ok(gap >= PAUSE - 50, `row 1 arrived only ${gap.toFixed(0)} ms before row 2`);
  });

  test('--http1.0 streams too, without chunked encoding', async () => {
    const res = await curl(['--http1.0', '-i', `${ts.url}/events`]);
    assert.equal(res.code, 0);
    assert.match(res.headers, /^HTTP\/1\.1 200 OK/);
    assert.doesNotMatch(res.headers, /transfer-encoding/i);
    assert.equal(res.out, 'id: 1\ndata: first\n\nevent: last\ndata: second\n\n');
    const gap = arrival(res.chunks, 'second') - arrival(res.chunks, 'first');
    assert.ok(gap >= PAUSE - 50, `the first event arrived only ${gap.toFixed(0)} ms before the second`);
  });
});

describe('a raw HTTP/1.0 client', () => {
  test('gets the events unframed, as they happen, and the close ends the body', async () => {
    const conn = await rawRequest(ts.port, 'GET /events HTTP/1.0\r\n\r\n');
    await conn.closed;
    const raw = conn.text();
    const split = raw.indexOf('\r\n\r\n');
    const head = raw.slice(0, split);
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /\r\ncontent-type: text\/event-stream; charset=utf-8\r\n/i);
    // Without chunked encoding the body ends with the connection, so keep-alive would be a lie.
    assert.match(head, /\r\nconnection: close(\r\n|$)/i);
    assert.doesNotMatch(head, /transfer-encoding|content-length/i);
    assert.equal(raw.slice(split + 4), 'id: 1\ndata: first\n\nevent: last\ndata: second\n\n');
    const gap = arrival(conn.chunks, 'second') - arrival(conn.chunks, 'first');
    assert.ok(gap >= PAUSE - 50, `the first event arrived only ${gap.toFixed(0)} ms before the second`);
  });

  test('gets NDJSON the same way', async () => {
    const conn = await rawRequest(ts.port, 'GET /rows HTTP/1.0\r\n\r\n');
    await conn.closed;
    const raw = conn.text();
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(raw.slice(raw.indexOf('\r\n\r\n') + 4), '{"row":1}\n{"row":2}\n');
  });

  test('leaving ends the handler’s stream with reason "client"', async () => {
    const conn = await rawRequest(ts.port, 'GET /forever HTTP/1.0\r\n\r\n');
    await waitFor(() => conn.text().includes('data: hello\n\n'), 'the first event');
    conn.socket.destroy();
    assert.equal(await leftEarly.promise, 'client');
  });
});
