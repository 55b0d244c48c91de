import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AccessEntry, accessLog, InvalidArgumentError } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

test('accessLog logs one line per request when its response closes', async (t) => {
  const entries: AccessEntry[] = [];
  const srv = await startServer((s) => {
    s.use(
      accessLog({
        format: (e) => {
          entries.push(e);
          return `line ${e.path}`;
        },
      }),
    );
    s.get('/hi', () => 'hello');
  });
  t.after(() => srv.close());
  assert.equal((await send(`${srv.url}/hi`)).text, 'hello');
  await sleep(20);
  assert.equal(entries.length, 1);
  assert.equal(entries[0]?.status, 200);
  assert.equal(entries[0]?.bytes, 5);
  assert.equal(entries[0]?.ended, 'complete');
  assert.ok(srv.logger.lines.some((l) => l.level === 'info' && l.args[0] === 'line /hi'));
});

test('a format or logger that throws is reported, and the server keeps serving', async (t) => {
  const srv = await startServer((s) => {
    s.use(
      accessLog({
        format: () => {
          throw new Error('format broke');
        },
      }),
    );
    s.get('/hi', () => 'hello');
  });
  t.after(() => srv.close());
  for (let i = 0; i < 2; i++) assert.equal((await send(`${srv.url}/hi`)).text, 'hello');
  await sleep(20);
  const errors = srv.logger.lines.filter((l) => l.level === 'error');
  assert.equal(errors.length, 2);
  assert.match(String(errors[0]?.args[0]), /accessLog failed/);
  assert.equal((errors[0]?.args[1] as Error | undefined)?.message, 'format broke');
});

test('accessLog refuses bad options by name when it is created', () => {
  const refused = (options: unknown) => {
    try {
      accessLog(options as never);
    } catch (e) {
      assert.ok(e instanceof InvalidArgumentError);
      return e.argument;
    }
    return undefined;
  };
  assert.equal(refused({ format: 'short' }), 'format');
  assert.equal(refused({ logger: {} }), 'logger');
  assert.equal(refused(null), 'options');
  assert.equal(refused({}), undefined);
});
