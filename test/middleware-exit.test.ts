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

test('a second next() from the same middleware throws and never runs the handler behind a guard that declined', async (t) => {
  let handlerRan = 0;
  let caught: unknown;
  const srv = await startServer((s) => {
    s.use(async (r) => {
      await r.middleware.next();
      try {
        await r.middleware.next();
      } catch (e) {
        caught = e;
        throw e;
      }
    });
    s.group('/admin', (g) => {
      g.middleware((r) => {
        r.response.writeStatus(403, 'declined');
      });
      g.get('/secret', () => {
        handlerRan++;
        return 'the secret';
      });
    });
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/admin/secret`);
  assert.equal(handlerRan, 0);
  assert.equal(res.status, 500);
  assert.doesNotMatch(res.text, /the secret/);
  assert.equal((caught as { code?: string }).code, 'SLUICE_NEXT_CALLED_TWICE');
  assert.match(String((caught as Error).message), /called after the handler at position 2 of 3 had returned/);
  assert.equal(srv.logger.lines.filter((l) => l.level === 'error').length, 1);
});

test('exit() in a guard stops the rest of its chain, even when an outer middleware calls next() again', async (t) => {
  let handlerRan = 0;
  const srv = await startServer((s) => {
    s.use(async (r) => {
      await r.middleware.next();
      if (!r.response.headersSent) await r.middleware.next();
    });
    s.group('/admin', (g) => {
      g.middleware((r) => {
        r.response.writeStatus(401);
        r.exit();
      });
      g.get('/secret', () => {
        handlerRan++;
        return 'the secret';
      });
    });
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/admin/secret`);
  assert.equal(handlerRan, 0);
  assert.doesNotMatch(res.text, /the secret/);
  assert.equal(res.status, 500);
});

test('next() called once per middleware still runs a deep chain exactly once, and a handler calling next() is harmless', async (t) => {
  const runs: string[] = [];
  const srv = await startServer((s) => {
    s.use(step('a'), step('b'));
    s.get('/x', async (r) => {
      runs.push('handler');
      await r.middleware.next();
      r.response.write('handler;');
    });
  });
  t.after(() => srv.close());
  for (let i = 0; i < 3; i++) assert.equal(await body(`${srv.url}/x`), '>a;>b;handler;<b;<a;');
  assert.deepEqual(runs, ['handler', 'handler', 'handler']);
});

test('a middleware that calls next() without awaiting it (GoFrame habit) still gets the handler answer sent', async (t) => {
  const crashes: unknown[] = [];
  const onRejection = (e: unknown) => crashes.push(e);
  process.on('unhandledRejection', onRejection);
  t.after(() => process.off('unhandledRejection', onRejection));
  const srv = await startServer((s) => {
    s.use((r) => {
      r.response.header.set('X-Before', '1');
      r.middleware.next();
    });
    s.group('/g', (g) => {
      // Awaits before calling next(): its caller has returned by then.
      g.middleware(async (r) => {
        await sleep(10);
        await r.middleware.next();
      });
      g.get('/slow', async (r) => {
        await sleep(20);
        r.response.write('late but sent');
      });
      g.get('/boom', async () => {
        await sleep(20);
        throw new Error('handler failed after its caller returned');
      });
      g.get('/value', async () => {
        await sleep(5);
        return { ok: true };
      });
    });
  });
  t.after(() => srv.close());
  const slow = await send(`${srv.url}/g/slow`);
  assert.equal(slow.status, 200);
  assert.equal(slow.text, 'late but sent');
  assert.equal(slow.headers['x-before'], '1');
  const value = await send(`${srv.url}/g/value`);
  assert.deepEqual(JSON.parse(value.text), { ok: true });
  const boom = await send(`${srv.url}/g/boom`);
  assert.equal(boom.status, 500);
  assert.equal(srv.logger.lines.filter((l) => l.level === 'error').length, 1);
  await sleep(50);
  assert.deepEqual(crashes, []);
});
