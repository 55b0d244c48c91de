import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accessLog, HttpError, type Logger } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

/** A logger whose every method throws, as a misconfigured transport would. */
const throwingLogger: Logger = {
  error() {
    throw new Error('logger down (error)');
  },
  warn() {
    throw new Error('logger down (warn)');
  },
  info() {
    throw new Error('logger down (info)');
  },
};

/**
 * Records what would crash the process. With a listener attached Node no longer dies on an
 * unhandled rejection, so the test can report it as a failed assertion instead of a lost run.
 */
function watchProcess(t: { after(fn: () => void): void }): unknown[] {
  const crashes: unknown[] = [];
  const onRejection = (e: unknown) => crashes.push(e);
  const onException = (e: unknown) => crashes.push(e);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  t.after(() => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  });
  return crashes;
}

test('a logger that throws on every call crashes nothing: 404, 500 and 4xx are answered, the server goes on', async (t) => {
  const crashes = watchProcess(t);
  const srv = await startServer((s) => {
    s.get('/boom', () => {
      throw new Error('handler failed');
    });
    s.get('/teapot', () => {
      throw new HttpError(418, 'short and stout');
    });
    s.get('/ok', () => 'fine');
  });
  t.after(() => srv.close());
  srv.server.setLogger(throwingLogger);
  assert.equal((await send(`${srv.url}/missing`)).status, 404);
  assert.equal((await send(`${srv.url}/boom`)).status, 500);
  assert.equal((await send(`${srv.url}/teapot`)).status, 418);
  const ok = await send(`${srv.url}/ok`);
  assert.equal(ok.status, 200);
  assert.equal(ok.text, 'fine');
  // Give any stray rejection from the error paths a turn to surface.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(crashes, []);
});

test('the access log with a throwing logger or format crashes nothing', async (t) => {
  const crashes = watchProcess(t);
  const srv = await startServer((s) => {
    s.use(
      accessLog({ logger: throwingLogger }),
      accessLog({
        format: () => {
          throw new Error('format failed');
        },
      }),
    );
    s.get('/ok', () => 'fine');
  });
  t.after(() => srv.close());
  srv.server.setLogger(throwingLogger);
  for (let i = 0; i < 3; i++) assert.equal((await send(`${srv.url}/ok`)).text, 'fine');
  assert.equal((await send(`${srv.url}/missing`)).status, 404);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(crashes, []);
});

test('a thrown value that cannot be printed is still a 500, logged, and leaves the server serving', async (t) => {
  const crashes = watchProcess(t);
  const unprintable = [
    Object.create(null),
    {
      toString() {
        throw new Error('no');
      },
    },
  ];
  const srv = await startServer((s) => {
    s.get('/throw/{n}', (r) => {
      throw unprintable[Number(r.get('n'))];
    });
    s.get('/teapot', () => {
      const e = new HttpError(418);
      Object.defineProperty(e, 'message', {
        get() {
          throw new Error('no message for you');
        },
      });
      throw e;
    });
  });
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/throw/0`)).status, 500);
  assert.equal((await send(`${srv.url}/throw/1`)).status, 500);
  const teapot = await send(`${srv.url}/teapot`);
  assert.equal(teapot.status, 418);
  assert.equal(teapot.text, "I'm a Teapot");
  assert.equal(srv.logger.lines.filter((l) => l.level === 'error').length, 2);
  assert.equal(srv.logger.lines.filter((l) => l.level === 'warn').length, 1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(crashes, []);
  assert.equal(srv.server.active, 0, 'every request finished its chain');
});

test('a line break a client put in the path cannot forge a line in the core warning', async (t) => {
  const srv = await startServer((s) => {
    s.get('/x/:id', (r) => {
      throw new HttpError(400, `bad id ${r.params.id}`);
    });
  });
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/a%0D%0AGET%20/admin`)).status, 404);
  assert.equal((await send(`${srv.url}/x/1%0A2`)).status, 400);
  const warnings = srv.logger.lines.filter((l) => l.level === 'warn').map((l) => String(l.args[0]));
  assert.equal(warnings.length, 2);
  assert.equal(warnings[0], 'sluice: GET /a%0D%0AGET%20/admin -> 404: Not Found');
  assert.equal(warnings[1], 'sluice: GET /x/1%0A2 -> 400: bad id 1%0A2');
});
