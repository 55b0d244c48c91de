// An error answer that cannot be given as the handler meant it: data JSON cannot write is answered
// a plain 500 and logged; an error that throws while it is being answered has its connection cut,
// and either way the request is counted out of the server's running requests, or a graceful
// shutdown would wait for it until its timeout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpError, handlerResponse } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

/** An exposed error whose data JSON cannot write (a BigInt). */
const unserializable = () => {
  throw new HttpError(422, 'bad input', { expose: true, data: { n: 1n } });
};

/** An exposed error whose `data` throws when the server reads it to answer. */
class Treacherous extends HttpError {
  constructor() {
    super(400, 'no', { expose: true });
    Object.defineProperty(this, 'data', {
      get() {
        throw new Error('data broke');
      },
    });
  }
}

for (const [kind, wrap] of [
  ['plain', undefined],
  ['behind handlerResponse', handlerResponse],
] as const) {
  test(`error data JSON cannot write is answered 500 and logged (${kind})`, async (t) => {
    const srv = await startServer((s) => {
      if (wrap !== undefined) s.use(wrap);
      s.get('/x', unserializable);
    });
    t.after(() => srv.close());
    const res = await send(`${srv.url}/x`);
    assert.equal(res.status, 500);
    assert.equal(res.text, 'Internal Server Error');
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const logged = srv.logger.lines.find(
      (l) =>
        l.level === 'error' && l.args[1] instanceof Error && /could not be written/.test(l.args[1].message),
    );
    assert.ok(logged, 'the failed answer is logged');
    assert.match(String((logged.args[1] as Error).message), /the 422 answer's JSON/);
    assert.ok((logged.args[1] as Error).cause instanceof TypeError, 'with what JSON said as its cause');
    // The connection stays usable: the next request on the server is served.
    assert.equal((await send(`${srv.url}/x`)).status, 500);
    assert.equal(srv.server.active, 0);
  });
}

for (const [kind, withMiddleware] of [
  ['a handler alone', false],
  ['a handler behind middleware', true],
] as const) {
  test(`${kind} whose error answer throws is counted out: shutdown does not wait for it`, async (t) => {
    const srv = await startServer((s) => {
      if (withMiddleware) {
        s.use(async (r) => {
          await r.middleware.next();
        });
      }
      s.get('/x', () => {
        throw new Treacherous();
      });
    });
    t.after(() => srv.close());
    await assert.rejects(send(`${srv.url}/x`));
    assert.equal(srv.server.active, 0);
    const started = performance.now();
    await srv.server.shutdown({ timeout: 5000 });
    const took = performance.now() - started;
    assert.ok(took < 2000, `shutdown took ${took.toFixed(0)} ms`);
    assert.ok(srv.logger.lines.some((l) => l.level === 'error' && String(l.args[1]).includes('data broke')));
  });
}
