// The bytes of an sse() head, as the client reads them off the socket: header names, their case
// and their order, whether sse() builds the head itself (nothing set before it) or merges what
// middleware and the handler set (cors(), a session cookie saved at commit, the handler's own).
// Also how `Last-Event-ID` is read when a client sends it twice or in another case.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import test from 'node:test';
import { compress, cors, session } from '../src/index.ts';
import { startServer } from './helpers/server.ts';

/** Sends `request` on a raw socket and resolves with everything up to the first event's end. */
function rawExchange(port: number, request: string, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
      if (until(text)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
  });
}

/** The head's lines, the Date's value blanked (it changes every second). */
function headLines(text: string): string[] {
  const end = text.indexOf('\r\n\r\n');
  assert.notEqual(end, -1, `no complete head in ${JSON.stringify(text)}`);
  return text
    .slice(0, end)
    .split('\r\n')
    .map((line) => (line.startsWith('Date: ') ? 'Date: <date>' : line));
}

const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;
const headDone = (t: string) => t.includes('\r\n\r\n');

test('an sse() head with nothing set before it: its headers, names and order as always', async (t) => {
  const srv = await startServer((s) => {
    s.get('/plain', (r) => {
      r.response.sse({ heartbeat: 0 });
    });
    s.get('/retry', (r) => {
      r.response.sse({ heartbeat: 0, retry: 1500 });
    });
    s.get('/status', (r) => {
      r.response.status = 201;
      r.response.sse({ heartbeat: 0 });
    });
  });
  t.after(() => srv.close());
  const common = [
    'Content-Type: text/event-stream; charset=utf-8',
    'Cache-Control: no-cache, no-transform',
    'X-Accel-Buffering: no',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
    'Transfer-Encoding: chunked',
  ];
  assert.deepEqual(headLines(await rawExchange(srv.port, get('/plain'), headDone)), [
    'HTTP/1.1 200 OK',
    ...common,
  ]);
  assert.deepEqual(headLines(await rawExchange(srv.port, get('/status'), headDone)), [
    'HTTP/1.1 201 Created',
    ...common,
  ]);
  // The retry frame leaves with the head, as the first chunk.
  const retry = await rawExchange(srv.port, get('/retry'), (x) => x.includes('retry: 1500\n\n'));
  assert.deepEqual(headLines(retry), ['HTTP/1.1 200 OK', ...common]);
  assert.match(retry, /\r\n\r\n[0-9a-f]+\r\nretry: 1500\n\n\r\n$/);
  // HEAD: the same head but for the body's framing, no body, the response ended.
  const head = await rawExchange(srv.port, `HEAD /plain HTTP/1.1\r\nHost: t\r\n\r\n`, headDone);
  assert.deepEqual(headLines(head), ['HTTP/1.1 200 OK', ...common.slice(0, -1)]);
  assert.equal(head.slice(head.indexOf('\r\n\r\n') + 4), '');
});

test('an sse() head after cors(), a session saved at commit and the handler: every header kept, in order', async (t) => {
  const srv = await startServer((s) => {
    s.use(cors({ origin: 'https://app.example', credentials: true }));
    s.use(session());
    s.get('/mixed', (r) => {
      r.session.set('seen', 1);
      r.response.header.set('x-Handler', 'yes');
      // Said about a body of its own: sse() drops both.
      r.response.header.set('Content-Length', '12');
      r.response.header.set('content-type', 'text/plain');
      r.response.sse({ heartbeat: 0 });
    });
  });
  t.after(() => srv.close());
  const lines = headLines(
    await rawExchange(srv.port, get('/mixed', 'Origin: https://app.example\r\n'), headDone),
  );
  const cookie = lines.findIndex((l) => l.startsWith('Set-Cookie: '));
  assert.notEqual(cookie, -1, lines.join('\n'));
  assert.match(
    lines[cookie] as string,
    /^Set-Cookie: sluice\.sid=[^;]+; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax$/,
  );
  lines[cookie] = 'Set-Cookie: <cookie>';
  assert.deepEqual(lines, [
    'HTTP/1.1 200 OK',
    'Vary: Origin',
    'Access-Control-Allow-Origin: https://app.example',
    'Access-Control-Allow-Credentials: true',
    'Set-Cookie: <cookie>',
    'x-Handler: yes',
    // Where the handler's content-type stood, under sse()'s name and value.
    'Content-Type: text/event-stream; charset=utf-8',
    'Cache-Control: no-cache, no-transform',
    'X-Accel-Buffering: no',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
    'Transfer-Encoding: chunked',
  ]);
});

test('an sse() head after headers the header view holds (cors(), the handler): the same bytes as through Node', async (t) => {
  const srv = await startServer((s) => {
    s.use(cors({ origin: 'https://app.example', credentials: true }));
    s.get('/held', (r) => {
      r.response.header.set('x-Handler', 'yes').set('X-HANDLER', 'again');
      r.response.header.set('Content-Length', '12').set('content-encoding', 'gzip');
      r.response.header.set('content-type', 'text/plain').set('cache-control', 'no-store');
      r.response.sse({ heartbeat: 0 });
    });
  });
  t.after(() => srv.close());
  const lines = headLines(
    await rawExchange(srv.port, get('/held', 'Origin: https://app.example\r\n'), headDone),
  );
  // What the code before the view held headers sent (every header through Node's setHeader).
  assert.deepEqual(lines, [
    'HTTP/1.1 200 OK',
    'Vary: Origin',
    'Access-Control-Allow-Origin: https://app.example',
    'Access-Control-Allow-Credentials: true',
    'X-HANDLER: again',
    'Content-Type: text/event-stream; charset=utf-8',
    'Cache-Control: no-cache, no-transform',
    'X-Accel-Buffering: no',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
    'Transfer-Encoding: chunked',
  ]);
});

test('an sse() head whose commit hook sets a header: between the type and the caching headers', async (t) => {
  const srv = await startServer((s) => {
    s.get('/hook', (r) => {
      // What the session middleware does with a cookie it saves at commit.
      r.response.onCommit = () => r.response.raw.setHeader('X-At-Commit', '1');
      r.response.sse({ heartbeat: 0 });
    });
  });
  t.after(() => srv.close());
  assert.deepEqual(headLines(await rawExchange(srv.port, get('/hook'), headDone)), [
    'HTTP/1.1 200 OK',
    'Content-Type: text/event-stream; charset=utf-8',
    'X-At-Commit: 1',
    'Cache-Control: no-cache, no-transform',
    'X-Accel-Buffering: no',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
    'Transfer-Encoding: chunked',
  ]);
});

test('an sse() head under compress(): the encoder decided before Cache-Control: no-transform was set', async (t) => {
  const srv = await startServer((s) => {
    s.use(compress({ threshold: 0 }));
    s.get('/zipped', (r) => {
      r.response.sse({ heartbeat: 0 });
    });
  });
  t.after(() => srv.close());
  const lines = headLines(await rawExchange(srv.port, get('/zipped', 'Accept-Encoding: gzip\r\n'), headDone));
  assert.deepEqual(lines, [
    'HTTP/1.1 200 OK',
    'Content-Type: text/event-stream; charset=utf-8',
    'Vary: Accept-Encoding',
    'Content-Encoding: gzip',
    'Cache-Control: no-cache, no-transform',
    'X-Accel-Buffering: no',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
    'Transfer-Encoding: chunked',
  ]);
});

test('Last-Event-ID: read in any case; sent twice, the values joined as Node joins them', async (t) => {
  const seen: (string | undefined)[] = [];
  const srv = await startServer((s) => {
    s.get('/id', (r) => {
      const es = r.response.sse({ heartbeat: 0, lastEventIdQuery: 'since' });
      seen.push(es.lastEventId);
      es.close();
    });
  });
  t.after(() => srv.close());
  const ask = async (path: string, extra: string) => {
    await rawExchange(srv.port, get(path, extra), (x) => x.endsWith('0\r\n\r\n'));
    return seen.at(-1);
  };
  assert.equal(await ask('/id', 'last-EVENT-id: 7\r\n'), '7');
  assert.equal(await ask('/id', 'Last-Event-ID: 7\r\nLast-Event-ID: 9\r\n'), '7, 9');
  // An empty header counts as none: the query fallback answers.
  assert.equal(await ask('/id?since=4', 'Last-Event-ID: \r\n'), '4');
  assert.equal(await ask('/id?since=4', 'Last-Event-ID: 5\r\n'), '5');
  assert.equal(await ask('/id', ''), undefined);
});

test('after sse(), the response headers still read as the head that was sent, however it was built', async (t) => {
  const seen: Record<string, unknown>[] = [];
  const srv = await startServer((s) => {
    s.use(async (r) => {
      await r.middleware.next();
      const h = r.response.header;
      seen.push({
        path: r.path,
        type: h.get('content-type'),
        cache: h.get('Cache-Control'),
        has: h.has('x-accel-buffering'),
        missing: h.get('x-nope'),
        all: h.toObject(),
      });
    });
    s.get('/bare', (r) => {
      r.response.sse({ heartbeat: 0 }).close();
    });
    s.get('/tagged', (r) => {
      r.response.header.set('X-Tag', 'a');
      r.response.sse({ heartbeat: 0 }).close();
    });
  });
  t.after(() => srv.close());
  for (const path of ['/bare', '/tagged'])
    await rawExchange(srv.port, get(path), (x) => x.endsWith('0\r\n\r\n'));
  const sseHead = {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  };
  const common = {
    type: sseHead['content-type'],
    cache: sseHead['cache-control'],
    has: true,
    missing: undefined,
  };
  assert.deepEqual(seen, [
    { path: '/bare', ...common, all: sseHead },
    { path: '/tagged', ...common, all: { 'x-tag': 'a', ...sseHead } },
  ]);
});
