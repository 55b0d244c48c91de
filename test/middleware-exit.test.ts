import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Handler, handlerResponse, isExitSignal, type Request } from '../src/index.ts';
import { decodeChunked, parseRawResponse, rawExchange, send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

/** Records the chain's progress in the response body, so the client sees exactly what ran. */
function step(name: string): Handler {
  return async (r) => {
    r.response.write(`>${name};`);
    await r.middleware.next();
    r.response.write(`<${name};`);
  };
}

async function body(url: string): Promise<string> {
  return (await send(url)).text;
}

test('middleware runs in registration order, as an onion around the handler', async (t) => {
  const srv = await startServer((s) => {
    s.use(step('g1'), step('g2'));
    s.group('/grp', (g) => {
      g.middleware(step('m1'));
      g.middleware(step('m2'));
      g.get('/h', async (r) => {
        await sleep(5);
        r.response.write('handler;');
      });
    });
  });
  t.after(() => srv.close());
  assert.equal(await body(`${srv.url}/grp/h`), '>g1;>g2;>m1;>m2;handler;<m2;<m1;<g2;<g1;');
});

test('a middleware that never calls next() ends the chain there', async (t) => {
  let handlerRan = false;
  const srv = await startServer((s) => {
    s.use(step('outer'));
    s.group('/guard', (g) => {
      g.middleware((r) => {
        r.response.status = 401;
        r.response.write('denied;');
      });
      g.get('/x', () => {
        handlerRan = true;
      });
    });
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/guard/x`);
  assert.equal(res.status, 401);
  assert.equal(res.text, '>outer;denied;<outer;');
  assert.equal(handlerRan, false);
});

test('exit() ends only the current handler; the middleware around it goes on after next()', async (t) => {
  const seen: Record<string, boolean> = {};
  const srv = await startServer((s) => {
    s.use(async (r) => {
      await r.middleware.next();
      seen.exited = r.isExited();
      seen.exitedAll = r.isExitedAll();
      r.response.write('<outer;');
    });
    s.get('/in-handler', (r) => {
      r.response.write('before;');
      r.exit();
      r.response.write('unreachable;');
    });
    s.group('/in-mw', (g) => {
      g.middleware((r) => {
        r.response.write('mw-exit;');
        r.exit();
      });
      g.get('/x', (r) => r.response.write('handler;'));
    });
    s.get('/write-exit', (r) => {
      r.response.writeExit('written-then-exit;');
    });
  });
  t.after(() => srv.close());
  assert.equal(await body(`${srv.url}/in-handler`), 'before;<outer;');
  assert.deepEqual(seen, { exited: true, exitedAll: false });
  assert.equal(await body(`${srv.url}/in-mw/x`), 'mw-exit;<outer;');
  assert.equal(await body(`${srv.url}/write-exit`), 'written-then-exit;<outer;');
});

test('exitAll() ends the whole chain: no code after any next() runs, the buffer is kept', async (t) => {
  const srv = await startServer((s) => {
    s.use(step('g'));
    s.group('/a', (g) => {
      g.middleware(step('m'));
      g.get('/x', (r) => {
        r.response.write('handler;');
        r.exitAll();
      });
    });
    s.group('/b', (g) => {
      g.middleware((r) => {
        r.response.write('stop-here;');
        r.exitAll();
      });
      g.middleware(step('never'));
      g.get('/x', (r) => r.response.write('never;'));
    });
  });
  t.after(() => srv.close());
  assert.equal(await body(`${srv.url}/a/x`), '>g;>m;handler;');
  assert.equal(await body(`${srv.url}/b/x`), '>g;stop-here;');
});

test('a middleware that catches errors but rethrows exit signals keeps exitAll() whole', async (t) => {
  const caught: unknown[] = [];
  const srv = await startServer((s) => {
    s.use(async (r) => {
      try {
        await r.middleware.next();
        r.response.write('<after-next;');
      } catch (e) {
        if (isExitSignal(e)) throw e;
        caught.push(e);
        r.response.write('caught;');
      }
    });
    s.get('/exit-all', (r) => {
      r.response.write('x;');
      r.exitAll();
    });
    s.get('/boom', () => {
      throw new Error('boom');
    });
  });
  t.after(() => srv.close());
  assert.equal(await body(`${srv.url}/exit-all`), 'x;');
  assert.equal(caught.length, 0);
  assert.equal(await body(`${srv.url}/boom`), 'caught;');
  assert.equal(caught.length, 1);
});

/**
 * The seed page's complaint: a streaming handler under the unified-response middleware.
 * With or without exit()/exitAll(), the client must get the stream, byte for byte, and nothing else.
 */
function streamingHandler(end: 'return' | 'exit' | 'exitAll'): Handler {
  return async (r: Request) => {
    r.response.header.set('Content-Type', 'text/event-stream');
    for (let i = 0; i < 4; i++) {
      r.response.writefln('data: %d\n', i);
      await r.response.flush();
      await sleep(10, undefined, { signal: r.signal });
    }
    if (end === 'exit') r.exit();
    if (end === 'exitAll') r.exitAll();
  };
}

test('exitAll() in a streaming handler under handlerResponse: the stream arrives intact, nothing appended', async (t) => {
  const afterNext: string[] = [];
  const srv = await startServer((s) => {
    s.group('/api', (g) => {
      g.middleware(async (r) => {
        await r.middleware.next();
        afterNext.push(r.path);
      });
      g.middleware(handlerResponse);
      g.get('/return', streamingHandler('return'));
      g.get('/exit', streamingHandler('exit'));
      g.get('/exit-all', streamingHandler('exitAll'));
    });
  });
  t.after(() => srv.close());
  const expected = 'data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n';
  for (const path of ['/api/return', '/api/exit', '/api/exit-all']) {
    const raw = parseRawResponse(
      await rawExchange(srv.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    assert.equal(raw.status, 200, path);
    assert.equal(raw.headers['content-type'], 'text/event-stream', path);
    // decodeChunked throws if the terminating chunk is missing, so this also proves a clean end.
    assert.equal(decodeChunked(raw.body).toString(), expected, path);
    assert.ok(raw.body.toString().endsWith('0\r\n\r\n'), `${path}: no bytes after the last chunk`);
  }
  // exitAll() skipped the outer middleware's code after next(); return and exit() did not.
  assert.deepEqual(afterNext, ['/api/return', '/api/exit']);
  assert.deepEqual(
    srv.logger.lines.filter((l) => l.level !== 'info'),
    [],
  );
});

test('exitAll() from a nested async call still ends the chain', async (t) => {
  const deep = async (r: Request) => {
    await sleep(5);
    r.response.write('deep;');
    r.exitAll();
  };
  const srv = await startServer((s) => {
    s.use(step('outer'));
    s.get('/deep', async (r) => {
      await deep(r);
      r.response.write('unreachable;');
    });
  });
  t.after(() => srv.close());
  assert.equal(await body(`${srv.url}/deep`), '>outer;deep;');
});
