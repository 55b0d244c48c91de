import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpError, handlerResponse } from '../src/index.ts';
import { decodeChunked, parseRawResponse, rawExchange, send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

async function exchange(port: number, path: string) {
  return parseRawResponse(
    await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
  );
}

test('a return value becomes {code:0,message:"OK",data}, byte for byte', async (t) => {
  const srv = await startServer((s) =>
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.get('/user/{id}', (r) => ({ id: r.get('id'), tags: ['a', 'ü'] }));
      g.get('/async', async () => {
        await sleep(5);
        return [1, 2];
      });
      g.get('/nothing', () => {});
      g.get('/text', () => 'plain string');
    }),
  );
  t.after(() => srv.close());
  const cases: [string, string][] = [
    ['/api/user/7', '{"code":0,"message":"OK","data":{"id":"7","tags":["a","ü"]}}'],
    ['/api/async', '{"code":0,"message":"OK","data":[1,2]}'],
    ['/api/nothing', '{"code":0,"message":"OK","data":null}'],
    ['/api/text', '{"code":0,"message":"OK","data":"plain string"}'],
  ];
  for (const [path, expected] of cases) {
    const raw = await exchange(srv.port, path);
    assert.equal(raw.status, 200, path);
    assert.equal(raw.headers['content-type'], 'application/json; charset=utf-8', path);
    assert.equal(raw.headers['content-length'], String(Buffer.byteLength(expected)), path);
    assert.equal(raw.body.toString(), expected, path);
  }
});

test('an HttpError becomes its status and {code,message,data:null}; 5xx messages stay private', async (t) => {
  const srv = await startServer((s) =>
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.get('/missing', () => {
        throw new HttpError(404, 'no such user');
      });
      g.get('/teapot', () => {
        throw new HttpError(418, 'internal detail', { expose: false });
      });
      g.get('/unavailable', async (r) => {
        r.response.write('half-written');
        await sleep(1);
        throw new HttpError(503, 'db password is hunter2');
      });
      g.get('/exposed-5xx', () => {
        throw new HttpError(502, 'upstream said no', { expose: true });
      });
    }),
  );
  t.after(() => srv.close());
  const cases: [string, number, string][] = [
    ['/api/missing', 404, '{"code":404,"message":"no such user","data":null}'],
    ['/api/teapot', 418, `{"code":418,"message":"I'm a Teapot","data":null}`],
    ['/api/unavailable', 503, '{"code":503,"message":"Service Unavailable","data":null}'],
    ['/api/exposed-5xx', 502, '{"code":502,"message":"upstream said no","data":null}'],
  ];
  for (const [path, status, expected] of cases) {
    const raw = await exchange(srv.port, path);
    assert.equal(raw.status, status, path);
    assert.equal(raw.headers['content-type'], 'application/json; charset=utf-8', path);
    assert.equal(raw.body.toString(), expected, path);
  }
  const logged = srv.logger.lines.map((l) => `${l.level}:${String(l.args[0])}`);
  assert.ok(logged.includes('warn:sluice: GET /api/missing -> 404: no such user'), logged.join('\n'));
  assert.ok(logged.includes('error:sluice: GET /api/unavailable failed'), logged.join('\n'));
});

test('a plain thrown error is a 500 envelope with a generic message, logged with its stack', async (t) => {
  const srv = await startServer((s) =>
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.get('/boom', () => {
        throw new Error('secret internals');
      });
      g.get('/reject', () => Promise.reject(new TypeError('also secret')));
    }),
  );
  t.after(() => srv.close());
  for (const path of ['/api/boom', '/api/reject']) {
    const raw = await exchange(srv.port, path);
    assert.equal(raw.status, 500);
    assert.equal(raw.body.toString(), '{"code":500,"message":"Internal Server Error","data":null}');
  }
  const errors = srv.logger.lines.filter((l) => l.level === 'error');
  assert.equal(errors.length, 2);
  assert.equal((errors[0]!.args[1] as Error).message, 'secret internals');
  assert.equal((errors[1]!.args[1] as Error).message, 'also secret');
});

test('a streamed response under handlerResponse is left exactly as the handler sent it', async (t) => {
  const srv = await startServer((s) =>
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.get('/flushed', async (r) => {
        r.response.header.set('Content-Type', 'text/plain');
        for (let i = 0; i < 3; i++) {
          r.response.write(`line ${i}\n`);
          await r.response.flush();
        }
        return { ignored: true };
      });
      g.get('/event-stream-type', (r) => {
        // Not flushed yet, but a stream type: the envelope must not be added to it either.
        r.response.header.set('Content-Type', 'text/event-stream');
        r.response.write('data: buffered\n\n');
      });
      g.get('/own-body', (r) => {
        r.response.write('handler wrote this');
        return { ignored: true };
      });
    }),
  );
  t.after(() => srv.close());

  const flushed = await exchange(srv.port, '/api/flushed');
  assert.equal(flushed.headers['content-type'], 'text/plain');
  assert.equal(decodeChunked(flushed.body).toString(), 'line 0\nline 1\nline 2\n');
  assert.ok(flushed.body.toString().endsWith('0\r\n\r\n'));

  const typed = await exchange(srv.port, '/api/event-stream-type');
  assert.equal(typed.headers['content-type'], 'text/event-stream');
  assert.equal(typed.body.toString(), 'data: buffered\n\n');

  const own = await exchange(srv.port, '/api/own-body');
  assert.equal(own.body.toString(), 'handler wrote this');
});

test('an error thrown after a plain stream began aborts the connection instead of appending text', async (t) => {
  const srv = await startServer((s) =>
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.get('/breaks', async (r) => {
        r.response.write('sent before the failure\n');
        await r.response.flush();
        await sleep(10);
        throw new Error('mid-stream failure');
      });
    }),
  );
  t.after(() => srv.close());
  const outcome = await new Promise<{ body: string; complete: boolean; error: string }>((resolve) => {
    let body = '';
    const req = request(`${srv.url}/api/breaks`, { agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('error', (e) => resolve({ body, complete: res.complete, error: e.message }));
      res.on('end', () => resolve({ body, complete: res.complete, error: '' }));
    });
    req.on('error', (e) => resolve({ body, complete: false, error: e.message }));
    req.end();
  });
  assert.equal(outcome.body, 'sent before the failure\n');
  assert.equal(outcome.complete, false);
  assert.equal(outcome.error, 'aborted');
  assert.ok(srv.logger.lines.some((l) => l.level === 'error' && String(l.args[0]).includes('/api/breaks')));
});

test('without handlerResponse, return values are sent as text or JSON and errors as plain text', async (t) => {
  const srv = await startServer((s) => {
    s.get('/text', () => 'returned text');
    s.get('/bytes', () => Buffer.from([104, 105]));
    s.get('/json', () => ({ ok: true }));
    s.get('/written-wins', (r) => {
      r.response.write('written');
      return 'returned';
    });
    s.get('/http-error', () => {
      throw new HttpError(409, 'already exists');
    });
    s.get('/crash', () => {
      throw new Error('do not show this');
    });
  });
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/text`)).text, 'returned text');
  assert.equal((await send(`${srv.url}/bytes`)).text, 'hi');
  const json = await send(`${srv.url}/json`);
  assert.equal(json.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(json.text, '{"ok":true}');
  assert.equal((await send(`${srv.url}/written-wins`)).text, 'written');
  const conflict = await send(`${srv.url}/http-error`);
  assert.equal(conflict.status, 409);
  assert.equal(conflict.text, 'already exists');
  const crash = await send(`${srv.url}/crash`);
  assert.equal(crash.status, 500);
  assert.equal(crash.text, 'Internal Server Error');
});

test('handlerResponse rethrows exit signals and leaves an exited response alone', async (t) => {
  const srv = await startServer((s) =>
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.get('/exit', (r) => {
        r.response.status = 202;
        r.response.write('accepted, exited');
        r.exit();
      });
      g.get('/exit-empty', (r) => {
        r.response.status = 204;
        r.exitAll();
      });
    }),
  );
  t.after(() => srv.close());
  const exited = await exchange(srv.port, '/api/exit');
  assert.equal(exited.status, 202);
  assert.equal(exited.body.toString(), 'accepted, exited');
  const empty = await exchange(srv.port, '/api/exit-empty');
  assert.equal(empty.status, 204);
  assert.equal(empty.body.length, 0);
});

test('an error replaces a Content-Length the handler had set, so the error body is framed right', async (t) => {
  const srv = await startServer((s) => {
    s.get('/plain', (r) => {
      r.response.header.set('Content-Length', 500);
      r.response.header.set('Content-Encoding', 'gzip');
      throw new HttpError(409, 'conflict');
    });
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.get('/enveloped', (r) => {
        r.response.header.set('Content-Length', 500);
        r.response.header.set('Content-Encoding', 'gzip');
        throw new HttpError(409, 'conflict');
      });
    });
  });
  t.after(() => srv.close());
  const plain = await exchange(srv.port, '/plain');
  assert.equal(plain.status, 409);
  assert.equal(plain.headers['content-length'], '8');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.body.toString(), 'conflict');
  const enveloped = await exchange(srv.port, '/api/enveloped');
  const expected = '{"code":409,"message":"conflict","data":null}';
  assert.equal(enveloped.headers['content-length'], String(expected.length));
  assert.equal(enveloped.headers['content-encoding'], undefined);
  assert.equal(enveloped.body.toString(), expected);
});

test('an HttpError with an application code and data answers with both inside the envelope', async (t) => {
  const srv = await startServer((s) =>
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.post('/signup', () => {
        throw new HttpError(422, 'invalid email', { code: 10001, data: { field: 'email' } });
      });
      g.get('/string-code', () => {
        throw new HttpError(409, 'taken', { code: 'NAME_TAKEN', data: { name: 'ann' } });
      });
      g.get('/hidden', () => {
        throw new HttpError(503, 'db password wrong', { code: 20001, data: { secret: 'x' } });
      });
    }),
  );
  t.after(() => srv.close());
  const signup = await send(`${srv.url}/api/signup`, { method: 'POST' });
  assert.equal(signup.status, 422);
  assert.deepEqual(JSON.parse(signup.text), {
    code: 10001,
    message: 'invalid email',
    data: { field: 'email' },
  });
  const taken = await send(`${srv.url}/api/string-code`);
  assert.equal(taken.status, 409);
  assert.deepEqual(JSON.parse(taken.text), { code: 409, message: 'taken', data: { name: 'ann' } });
  // Not exposed: neither its message, its application code nor its data reach the client.
  const hidden = await send(`${srv.url}/api/hidden`);
  assert.equal(hidden.status, 503);
  assert.deepEqual(JSON.parse(hidden.text), { code: 503, message: 'Service Unavailable', data: null });
});

test('a handler that sets an error status itself gets that status as the envelope code, not 0', async (t) => {
  const srv = await startServer((s) =>
    s.group('/api', (g) => {
      g.middleware(handlerResponse);
      g.get('/by-hand', (r) => {
        r.response.status = 400;
        return { problems: ['name is required'] };
      });
    }),
  );
  t.after(() => srv.close());
  const res = await send(`${srv.url}/api/by-hand`);
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.text), {
    code: 400,
    message: 'Bad Request',
    data: { problems: ['name is required'] },
  });
});

test('HttpError refuses an application code that is neither a string nor an integer', () => {
  assert.throws(() => new HttpError(400, 'x', { code: 1.5 }), {
    code: 'SLUICE_INVALID_ARGUMENT',
    argument: 'code',
  });
});
