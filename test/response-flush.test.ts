import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { get, request } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Handler, ResponseCommittedError } from '../src/index.ts';
import { decodeChunked, parseRawResponse, rawExchange } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

const EVENTS = 5;
const INTERVAL = 200;
const EXPECTED = Array.from({ length: EVENTS }, (_, i) => `data: ${i}\n\n`).join('');

/** The seed page's second program, in sluice: writefln + flush + sleep, recording when each event left. */
function seedLoop(writtenAt: number[]): Handler {
  return async (r) => {
    r.response.header.set('Content-Type', 'text/event-stream');
    r.response.header.set('Cache-Control', 'no-cache');
    for (let i = 0; i < EVENTS; i++) {
      r.response.writefln('data: %d\n', i);
      writtenAt[i] = performance.now();
      await r.response.flush();
      await sleep(INTERVAL, undefined, { signal: r.signal });
    }
  };
}

/** When each `data: N` event was complete in `text`, given chunks and their arrival times. */
function eventArrivals(chunks: { at: number; text: string }[]): number[] {
  const arrivals: number[] = [];
  let seen = '';
  for (const c of chunks) {
    seen += c.text;
    const complete = seen.split('\n\n').length - 1;
    while (arrivals.length < complete) arrivals.push(c.at);
  }
  return arrivals;
}

/** Each event must reach the client before the server even produced the next one: streamed, not held. */
function assertStreamed(arrivals: number[], writtenAt: number[], start: number): void {
  assert.equal(arrivals.length, EVENTS);
  assert.ok(arrivals[0]! - start < 300, `first event after ${(arrivals[0]! - start).toFixed(0)} ms`);
  for (let i = 0; i < EVENTS - 1; i++) {
    assert.ok(
      arrivals[i]! < writtenAt[i + 1]!,
      `event ${i} arrived at ${arrivals[i]}, after event ${i + 1} was written at ${writtenAt[i + 1]}`,
    );
  }
  // The events span most of the producer's run time instead of arriving in one burst at the end.
  const spread = arrivals[EVENTS - 1]! - arrivals[0]!;
  assert.ok(spread >= (EVENTS - 1) * INTERVAL * 0.75, `events spread over only ${spread.toFixed(0)} ms`);
}

test('the seed loop reaches a node client event by event, the first within 300 ms', async (t) => {
  const writtenAt: number[] = [];
  const srv = await startServer((s) => s.get('/', seedLoop(writtenAt)));
  t.after(() => srv.close());
  const chunks: { at: number; text: string }[] = [];
  const start = performance.now();
  const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
    get(`${srv.url}/`, { agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (text: string) => chunks.push({ at: performance.now(), text }));
      res.on('end', () => resolve(res.headers));
      res.on('error', reject);
    }).on('error', reject);
  });
  assert.equal(headers['content-type'], 'text/event-stream');
  assert.equal(headers['transfer-encoding'], 'chunked');
  assert.equal(headers['content-length'], undefined);
  assert.equal(chunks.map((c) => c.text).join(''), EXPECTED);
  assertStreamed(eventArrivals(chunks), writtenAt, start);
});

test('curl -N sees the same stream arrive over time, byte for byte', async (t) => {
  const writtenAt: number[] = [];
  let handlerStart = 0;
  const srv = await startServer((s) =>
    s.get('/', async (r) => {
      handlerStart = performance.now();
      await seedLoop(writtenAt)(r);
    }),
  );
  t.after(() => srv.close());
  const chunks: { at: number; text: string }[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('curl', ['-sN', '--max-time', '20', `${srv.url}/`]);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => chunks.push({ at: performance.now(), text }));
    child.on('error', reject);
    child.on('close', resolve);
  });
  assert.equal(code, 0);
  assert.equal(chunks.map((c) => c.text).join(''), EXPECTED);
  // Measured from the request reaching the handler, so curl's own start-up time is not counted.
  assertStreamed(eventArrivals(chunks), writtenAt, handlerStart);
});

test('an HTTP/1.0 client gets the stream unframed, ended by the server closing', async (t) => {
  const writtenAt: number[] = [];
  const srv = await startServer((s) => s.get('/', seedLoop(writtenAt)));
  t.after(() => srv.close());
  const raw = parseRawResponse(await rawExchange(srv.port, 'GET / HTTP/1.0\r\n\r\n'));
  assert.equal(raw.status, 200);
  assert.equal(raw.headers['transfer-encoding'], undefined);
  assert.equal(raw.headers.connection, 'close');
  assert.equal(raw.body.toString(), EXPECTED);
});

test('flush() with nothing buffered sends the head at once; the rest follows', async (t) => {
  const srv = await startServer((s) =>
    s.get('/head-first', async (r) => {
      r.response.header.set('X-Ready', 'yes');
      assert.equal(await r.response.flush(), true);
      assert.equal(r.response.headersSent, true);
      await sleep(600);
      r.response.write('late body');
    }),
  );
  t.after(() => srv.close());
  const start = performance.now();
  let headAt = 0;
  const body = await new Promise<string>((resolve, reject) => {
    get(`${srv.url}/head-first`, { agent: false }, (res) => {
      headAt = performance.now();
      assert.equal(res.headers['x-ready'], 'yes');
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
  const end = performance.now();
  assert.ok(headAt - start < 300, `head after ${headAt - start} ms`);
  assert.ok(end - headAt >= 400, `body came only ${end - headAt} ms after the head`);
  assert.equal(body, 'late body');
});

test('after flush(), changing a header or the status throws ResponseCommittedError; the stream goes on', async (t) => {
  const srv = await startServer((s) =>
    s.get('/commit', async (r) => {
      const res = r.response;
      res.header.set('X-Before', 'kept');
      res.write('part1;');
      await res.flush();
      const attempts: [string, () => unknown][] = [
        ['set', () => res.header.set('X-After', 'lost')],
        ['append', () => res.header.append('X-Before', 'more')],
        ['delete', () => res.header.delete('X-Before')],
        ['status', () => (res.status = 500)],
        ['writeStatus', () => res.writeStatus(404)],
        ['redirect', () => res.redirectTo('/elsewhere')],
        ['sse', () => res.sse()],
      ];
      for (const [name, attempt] of attempts) {
        try {
          attempt();
          res.write(`${name}=no-error;`);
        } catch (e) {
          const ok = e instanceof ResponseCommittedError && e.code === 'SLUICE_RESPONSE_COMMITTED';
          res.write(`${name}=${ok ? 'committed' : String(e)};`);
        }
      }
      // Reads still work: only changes are refused.
      res.write(`read=${res.header.get('x-before')};status=${res.status}`);
    }),
  );
  t.after(() => srv.close());
  const raw = parseRawResponse(
    await rawExchange(srv.port, 'GET /commit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  assert.equal(raw.status, 200);
  assert.equal(raw.headers['x-before'], 'kept');
  assert.equal(raw.headers['x-after'], undefined);
  assert.equal(raw.headers.location, undefined);
  assert.equal(
    decodeChunked(raw.body).toString(),
    'part1;set=committed;append=committed;delete=committed;status=committed;' +
      'writeStatus=committed;redirect=committed;sse=committed;read=kept;status=200',
  );
});

test('ResponseCommittedError names what was attempted and the way out', async (t) => {
  let caught: unknown;
  const srv = await startServer((s) =>
    s.get('/e', async (r) => {
      await r.response.flush();
      try {
        r.response.header.set('X-Late', '1');
      } catch (e) {
        caught = e;
      }
    }),
  );
  t.after(() => srv.close());
  const raw = await rawExchange(srv.port, 'GET /e HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(parseRawResponse(raw).status, 200);
  assert.ok(caught instanceof ResponseCommittedError);
  assert.equal(caught.name, 'ResponseCommittedError');
  assert.equal(caught.attempted, 'set header "X-Late"');
  assert.match(caught.message, /already committed/);
  assert.match(caught.message, /flush\(\)/);
});

test('writing through rawWriter() commits too, so a later header change throws', async (t) => {
  const srv = await startServer((s) =>
    s.get('/raw', (r) => {
      r.response.header.set('Content-Type', 'text/plain');
      r.response.rawWriter().write('raw;');
      assert.equal(r.response.isCommitted(), true);
      assert.throws(() => r.response.header.set('X-No', '1'), ResponseCommittedError);
      r.response.write('buffered-after-raw');
    }),
  );
  t.after(() => srv.close());
  const raw = parseRawResponse(
    await rawExchange(srv.port, 'GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  assert.equal(raw.headers['x-no'], undefined);
  assert.equal(decodeChunked(raw.body).toString(), 'raw;buffered-after-raw');
});

test('flush() resolves true while the client reads, and what is left at the end is sent then', async (t) => {
  const results: boolean[] = [];
  const srv = await startServer((s) =>
    s.get('/tail', async (r) => {
      for (let i = 0; i < 3; i++) {
        r.response.write(`chunk${i};`);
        results.push(await r.response.flush());
      }
      r.response.write('tail-without-flush');
    }),
  );
  t.after(() => srv.close());
  const raw = parseRawResponse(
    await rawExchange(srv.port, 'GET /tail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  assert.deepEqual(results, [true, true, true]);
  assert.equal(decodeChunked(raw.body).toString(), 'chunk0;chunk1;chunk2;tail-without-flush');
});

test('HEAD on the README loop: the head arrives at the first flush(), which resolves false and stops the loop', async (t) => {
  const flushes: boolean[] = [];
  let returnedAt = 0;
  const srv = await startServer((s) =>
    s.get('/', async (r) => {
      r.response.header.set('Content-Type', 'text/event-stream');
      for (let i = 0; i < 10; i++) {
        r.response.writefln('data: %d\n', i);
        const more = await r.response.flush();
        flushes.push(more);
        if (!more) break;
        await sleep(INTERVAL, undefined, { signal: r.signal });
      }
      returnedAt = performance.now();
    }),
  );
  t.after(() => srv.close());
  const start = performance.now();
  const head = await new Promise<{ at: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      request(`${srv.url}/`, { method: 'HEAD', agent: false }, (res) => {
        const at = performance.now();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ at, headers: res.headers, body }));
      })
        .on('error', reject)
        .end();
    },
  );
  // Without the fix the head waited for the whole loop: ten sleeps of INTERVAL.
  assert.ok(head.at - start < 300, `head after ${(head.at - start).toFixed(0)} ms`);
  assert.equal(head.headers['content-type'], 'text/event-stream');
  assert.equal(head.body, '');
  assert.deepEqual(flushes, [false]);
  assert.ok(returnedAt > 0 && returnedAt - start < 300, 'the handler went on producing for nobody');
});
