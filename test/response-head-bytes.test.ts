// Issue #15, target 3: a buffered body's head is handed to Node in one writeHead() when nothing set
// its type or length. The bytes must not change: names' case, order and values of every header line,
// as the head was sent when each header went through setHeader(). The expected heads below are what
// the code before that change sent (read off the wire, with the Date line's value masked).
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import test from 'node:test';
import { compress, cors, HttpError } from '../src/index.ts';
import { startServer } from './helpers/server.ts';

const HEADS: Record<string, string[]> = {
  'GET /returned': [
    'HTTP/1.1 200 OK',
    'Content-Type: application/json; charset=utf-8',
    'Content-Length: 17',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'HEAD /returned': [
    'HTTP/1.1 200 OK',
    'Content-Type: application/json; charset=utf-8',
    'Content-Length: 17',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /write-json': [
    'HTTP/1.1 200 OK',
    'Content-Type: application/json; charset=utf-8',
    'Content-Length: 17',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'HEAD /write-json': [
    'HTTP/1.1 200 OK',
    'Content-Type: application/json; charset=utf-8',
    'Content-Length: 17',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /text': [
    'HTTP/1.1 200 OK',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Length: 10',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /empty': [
    'HTTP/1.1 200 OK',
    'Content-Length: 0',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /typed': [
    'HTTP/1.1 200 OK',
    'content-type: application/vnd.api+json',
    'Content-Length: 14',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /sized-404': [
    'HTTP/1.1 404 Not Found',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Length: 4',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /no-content': [
    'HTTP/1.1 204 No Content',
    'Content-Type: application/json; charset=utf-8',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /cookies': [
    'HTTP/1.1 200 OK',
    'Set-Cookie: a=1; Path=/; HttpOnly; SameSite=Lax',
    'Set-Cookie: b=2; Path=/',
    'Set-Cookie: c=3; Path=/',
    'Content-Type: application/json; charset=utf-8',
    'Content-Length: 13',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /thrown': [
    'HTTP/1.1 409 Conflict',
    'Content-Type: text/plain; charset=utf-8',
    'X-Content-Type-Options: nosniff',
    'Content-Length: 5',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /missing': [
    'HTTP/1.1 404 Not Found',
    'Content-Type: text/plain; charset=utf-8',
    'X-Content-Type-Options: nosniff',
    'Content-Length: 9',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /mw/returned': [
    'HTTP/1.1 200 OK',
    'X-Request-Id: req-7',
    'X-After: yes',
    'Content-Type: application/json; charset=utf-8',
    'Content-Length: 21',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'HEAD /mw/returned': [
    'HTTP/1.1 200 OK',
    'X-Request-Id: req-7',
    'X-After: yes',
    'Content-Type: application/json; charset=utf-8',
    'Content-Length: 21',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /mw/write': [
    'HTTP/1.1 200 OK',
    'X-Request-Id: req-7',
    'X-After: yes',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Length: 7',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /cors/returned': [
    'HTTP/1.1 200 OK',
    'Vary: Origin',
    'Access-Control-Allow-Origin: https://a.example',
    'Content-Type: application/json; charset=utf-8',
    'Content-Length: 13',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /cors/mixed': [
    'HTTP/1.1 200 OK',
    'Vary: Origin',
    'Vary: Accept',
    'Access-Control-Allow-Origin: https://a.example',
    'Cache-Control: no-store',
    'Content-Type: application/json; charset=utf-8',
    'Content-Length: 9',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /mw/sized': [
    'HTTP/1.1 200 OK',
    'X-Request-Id: req-7',
    'content-length: 5',
    'X-After: yes',
    'Content-Type: text/plain; charset=utf-8',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /mw/deleted': [
    'HTTP/1.1 201 Created',
    'X-After: yes',
    'Content-Type: application/json; charset=utf-8',
    'Content-Length: 13',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /gz/small': [
    'HTTP/1.1 200 OK',
    'Content-Type: application/json; charset=utf-8',
    'Vary: Accept-Encoding',
    'Content-Length: 14',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
  'GET /gz/large': [
    'HTTP/1.1 200 OK',
    'Content-Type: application/json; charset=utf-8',
    'Vary: Accept-Encoding',
    'Content-Encoding: gzip',
    'Content-Length: 46',
    'Date: <date>',
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ],
};

test('the head of a buffered response is byte for byte what it was', async (t) => {
  const srv = await startServer((s) => {
    s.get('/returned', () => ({ hello: 'world' }));
    s.get('/write-json', (r) => {
      r.response.writeJson({ hello: 'world' });
    });
    s.get('/text', () => 'plain text');
    s.get('/empty', () => '');
    s.get('/typed', (r) => {
      r.response.header.set('content-type', 'application/vnd.api+json');
      return { typed: true };
    });
    s.get('/sized-404', (r) => {
      r.response.status = 404;
      r.response.write('gone');
    });
    s.get('/no-content', (r) => {
      r.response.status = 204;
      return { ignored: true };
    });
    s.get('/cookies', (r) => {
      r.cookie.set('a', '1');
      r.response.header.append('Set-Cookie', ['b=2; Path=/', 'c=3; Path=/']);
      return { cookies: 3 };
    });
    s.get('/thrown', () => {
      throw new HttpError(409, 'taken', { expose: true });
    });
    s.group('/mw', (g) => {
      g.middleware(async (r) => {
        r.response.header.set('X-Request-Id', 'req-7');
        await r.middleware.next();
        r.response.header.set('X-After', 'yes');
      });
      g.get('/returned', () => ({ from: 'middleware' }));
      g.get('/write', (r) => {
        r.response.write('written');
      });
      g.get('/sized', (r) => {
        r.response.header.set('content-length', 5);
        r.response.write('sized');
      });
      g.get('/deleted', (r) => {
        r.response.header.delete('X-Request-Id');
        r.response.status = 201;
        return { deleted: 1 };
      });
    });
    s.group('/cors', (g) => {
      g.middleware(cors({ origin: ['https://a.example'] }));
      g.get('/returned', () => ({ cors: true }));
      // cors() sets its headers on Node's response; these join them through the header view.
      g.get('/mixed', (r) => {
        r.response.header.append('Vary', 'Accept').set('Cache-Control', 'no-store');
        return { mix: 1 };
      });
    });
    s.group('/gz', (g) => {
      g.middleware(compress({ threshold: 64 }));
      g.get('/small', () => ({ small: true }));
      g.get('/large', () => ({ large: 'x'.repeat(2000) }));
    });
  });
  t.after(() => srv.close());

  const cases: [string, string, Record<string, string>?][] = [
    ['GET', '/returned'],
    ['HEAD', '/returned'],
    ['GET', '/write-json'],
    ['HEAD', '/write-json'],
    ['GET', '/text'],
    ['GET', '/empty'],
    ['GET', '/typed'],
    ['GET', '/sized-404'],
    ['GET', '/no-content'],
    ['GET', '/cookies'],
    ['GET', '/thrown'],
    ['GET', '/missing'],
    ['GET', '/mw/returned'],
    ['HEAD', '/mw/returned'],
    ['GET', '/mw/write'],
    ['GET', '/cors/returned', { Origin: 'https://a.example' }],
    ['GET', '/cors/mixed', { Origin: 'https://a.example' }],
    ['GET', '/mw/sized'],
    ['GET', '/mw/deleted'],
    ['GET', '/gz/small', { 'Accept-Encoding': 'gzip' }],
    ['GET', '/gz/large', { 'Accept-Encoding': 'gzip' }],
  ];
  // One keep-alive connection for all, as a browser or a load generator would send them.
  const socket = connect(srv.port, '127.0.0.1');
  t.after(() => socket.destroy());
  const reader = new HeadReader(socket);
  const seen: Record<string, string> = {};
  for (const [method, path, extra] of cases) {
    const lines = [`${method} ${path} HTTP/1.1`, 'Host: test'];
    for (const [k, v] of Object.entries(extra ?? {})) lines.push(`${k}: ${v}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    seen[`${method} ${path}`] = await reader.next(method === 'HEAD');
  }
  if (process.env.PRINT_HEADS === '1') console.log(JSON.stringify(seen, null, 2));
  for (const [key, head] of Object.entries(seen))
    assert.equal(head, `${HEADS[key]?.join('\r\n')}\r\n\r\n`, key);
});

/** Reads responses off a keep-alive socket: each head as sent (Date masked), its body skipped. */
class HeadReader {
  private buffered = Buffer.alloc(0);
  private wake: (() => void) | undefined;

  constructor(socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      this.wake?.();
    });
  }

  async next(head: boolean): Promise<string> {
    let end = this.buffered.indexOf('\r\n\r\n');
    while (end < 0) {
      await this.more();
      end = this.buffered.indexOf('\r\n\r\n');
    }
    const text = this.buffered.subarray(0, end + 4).toString('latin1');
    this.buffered = this.buffered.subarray(end + 4);
    const status = Number(text.slice(9, 12));
    const length = /\r\ncontent-length: (\d+)\r\n/i.exec(text);
    let body = head || status === 204 || status === 304 ? 0 : Number(length?.[1] ?? 0);
    if (/\r\ntransfer-encoding: chunked\r\n/i.test(text)) body = await this.chunkedLength();
    while (this.buffered.length < body) await this.more();
    this.buffered = this.buffered.subarray(body);
    return text.replace(/\r\nDate: [^\r]*\r\n/, '\r\nDate: <date>\r\n');
  }

  /** How many bytes the chunked body waiting in the buffer takes, up to its last chunk. */
  private async chunkedLength(): Promise<number> {
    for (;;) {
      const end = this.buffered.indexOf('\r\n0\r\n\r\n');
      if (end >= 0) return end + 7;
      if (this.buffered.subarray(0, 5).toString() === '0\r\n\r\n') return 5;
      await this.more();
    }
  }

  private more(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }
}
