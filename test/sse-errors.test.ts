import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { EventSource } from 'eventsource';
import { HttpError, handlerResponse, ndjson, textStream } from '../src/index.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { parseEvents, read } from './helpers/sse-clients.ts';

// Async execFile only: a sync child process would block the event loop that serves its requests.
const run = promisify(execFile);

let ts: TestServer;
const BIG = 'x'.repeat(8 * 1024 * 1024);

async function* twoThenThrow(err: Error) {
  yield { n: 1 };
  yield { n: 2 };
  throw err;
}

before(async () => {
  ts = await startServer((s) => {
    s.get('/sse/plain', () => twoThenThrow(new Error('secret: db password rejected')));
    s.get('/sse/exposed', async (r) => {
      const es = r.response.sse();
      await es.send({ data: 'working' });
      throw new HttpError(409, 'version conflict');
    });
    s.get('/sse/unexposed', async (r) => {
      const es = r.response.sse();
      await es.send({ data: 'working' });
      throw new HttpError(503, 'replica 3 is down');
    });
    s.get('/ndjson', () => ndjson(twoThenThrow(new Error('cursor lost'))));
    s.get('/text', () =>
      textStream(
        (async function* () {
          yield 'partial ';
          throw new Error('disk gone');
        })(),
      ),
    );
    s.get('/raw', async (r) => {
      r.response.write('chunk one\n');
      await r.response.flush();
      throw new Error('raw stream broke');
    });
    // More than the kernel takes at once: most of it is still in Node's buffers when the handler throws.
    s.get('/raw-big', (r) => {
      r.response.write(BIG);
      void r.response.flush();
      throw new Error('big stream broke');
    });
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.get('/sse', () => twoThenThrow(new Error('inside the envelope')));
      g.get('/ndjson', () => ndjson(twoThenThrow(new Error('inside the envelope'))));
    });
  });
});

after(() => ts.close());

const errorsLogged = (needle: string) =>
  ts.logger.lines.filter((l) =>
    l.args.some((a) => (a instanceof Error ? a.message : String(a)).includes(needle)),
  );

describe('an error after an SSE stream began', () => {
  test('is sent as event: error with a generic message, logged, and the stream ends cleanly', async () => {
    const res = await read(`${ts.url}/sse/plain`);
    assert.equal(res.ending, 'end');
    assert.equal(
      res.body,
      'data: {"n":1}\n\ndata: {"n":2}\n\nevent: error\ndata: {"message":"Internal Server Error"}\n\n',
    );
    assert.ok(!res.body.includes('secret'));
    const logged = errorsLogged('secret: db password rejected');
    assert.equal(logged.length, 1);
    assert.equal(logged[0]?.level, 'error');
  });

  test("an exposed HttpError's message reaches the eventsource client as event: error", async () => {
    const source = new EventSource(`${ts.url}/sse/exposed`);
    try {
      const got = await new Promise<string[]>((resolve, reject) => {
        const seen: string[] = [];
        const timer = setTimeout(() => reject(new Error(`timed out with ${seen}`)), 5000);
        source.onmessage = (e) => seen.push(`message ${e.data}`);
        // The same listener also hears connection errors (ErrorEvent, no data); only events carry data.
        source.addEventListener('error', (e: Event) => {
          if (!('data' in e)) return;
          seen.push(`error ${(e as MessageEvent).data}`);
          clearTimeout(timer);
          resolve(seen);
        });
      });
      assert.deepEqual(got, ['message working', 'error {"message":"version conflict"}']);
    } finally {
      source.close();
    }
  });

  test("a 5xx HttpError's message stays on the server", async () => {
    const res = await read(`${ts.url}/sse/unexposed`);
    assert.deepEqual(
      parseEvents(res.body).map((e) => [e.event ?? 'message', e.data]),
      [
        ['message', 'working'],
        ['error', '{"message":"Internal Server Error"}'],
      ],
    );
    assert.equal(errorsLogged('replica 3 is down').length, 1);
  });

  test('inside handlerResponse: event: error, never an envelope appended', async () => {
    const res = await read(`${ts.url}/api/sse`);
    assert.equal(res.ending, 'end');
    assert.equal(
      res.body,
      'data: {"n":1}\n\ndata: {"n":2}\n\nevent: error\ndata: {"message":"Internal Server Error"}\n\n',
    );
  });
});

describe('an error after an NDJSON, text or raw stream began aborts the connection', () => {
  for (const path of ['/ndjson', '/text', '/raw', '/api/ndjson']) {
    test(`${path}: node's http client sees a truncated response, not a clean end`, async () => {
      const res = await read(`${ts.url}${path}`);
      assert.equal(res.status, 200);
      assert.equal(res.ending, 'aborted');
      const expected: Record<string, string> = {
        '/ndjson': '{"n":1}\n{"n":2}\n',
        '/api/ndjson': '{"n":1}\n{"n":2}\n',
        '/text': 'partial ',
        '/raw': 'chunk one\n',
      };
      assert.equal(res.body, expected[path]);
    });
  }

  test('fetch rejects while reading the body', async () => {
    const res = await fetch(`${ts.url}/ndjson`);
    assert.equal(res.status, 200);
    await assert.rejects(res.text());
  });

  test('curl -N exits with 18 (partial file), after printing what arrived', async () => {
    const err = await run('curl', ['-sS', '-N', `${ts.url}/ndjson`]).then(
      () => assert.fail('curl reported success for a truncated response'),
      (e: { code?: number; stdout?: string }) => e,
    );
    assert.equal(err.code, 18);
    assert.equal(err.stdout, '{"n":1}\n{"n":2}\n');
  });

  test('every byte written before the error reaches the client before the cut, however many', async () => {
    const res = await read(`${ts.url}/raw-big`);
    assert.equal(res.ending, 'aborted');
    assert.equal(res.body.length, BIG.length);
    assert.equal(res.body, BIG);
  });

  test('the error is logged once per request', () => {
    assert.equal(errorsLogged('cursor lost').length, 3); // read, fetch and curl
    assert.equal(errorsLogged('disk gone').length, 1);
    assert.equal(errorsLogged('raw stream broke').length, 1);
  });
});
