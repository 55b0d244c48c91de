import assert from 'node:assert/strict';
import test from 'node:test';
import { validate as validate31 } from '@hyperjump/json-schema/openapi-3-1';
import { validate as validate32 } from '@hyperjump/json-schema/openapi-3-2';
import * as z from 'zod';
import { openApiDocument } from '../src/openapi/index.ts';
import { defineRoute } from '../src/schema/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';
import { read } from './helpers/sse-clients.ts';

/*
 * NDJSON and text streams declared in defineRoute: typed items (a wrong one does not compile),
 * NDJSON items checked before they are written, and both documented in OpenAPI.
 */

const Row = z.object({ id: z.number().int(), name: z.string() });

const rows = defineRoute({
  method: 'GET',
  path: '/rows',
  query: z.object({
    count: z.coerce.number().int().min(0).max(100),
    bad: z.coerce.number().int().optional(),
  }),
  stream: { ndjson: Row },
  validateEvents: true,
  async *handler({ query }) {
    for (let id = 1; id <= query.count; id++) {
      yield id === query.bad ? ({ id, name: 7 } as never) : { id, name: `row ${id}` };
    }
  },
});

const log = defineRoute({
  method: 'GET',
  path: '/log',
  stream: { text: true },
  handler: function* () {
    yield 'one\n';
    yield new TextEncoder().encode('two\n');
  },
});

// @ts-expect-error an NDJSON route yields items of its schema: name is a string
export const wrongItem = defineRoute({
  method: 'GET',
  path: '/w',
  stream: { ndjson: Row },
  async *handler() {
    yield { id: 1, name: 2 };
  },
});

test('NDJSON items are checked, typed and sent one per line; a bad item aborts instead of being sent', async (t) => {
  const srv = await startServer((s) => s.bind({ rows, log }));
  t.after(() => srv.close());
  const ok = await read(`${srv.url}/rows?count=3`);
  assert.equal(ok.ending, 'end');
  assert.match(String(ok.headers['content-type']), /^application\/x-ndjson/);
  assert.deepEqual(
    ok.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
    [1, 2, 3].map((id) => ({ id, name: `row ${id}` })),
  );
  const bad = await read(`${srv.url}/rows?count=5&bad=3`);
  assert.equal(bad.ending, 'aborted');
  assert.deepEqual(
    bad.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).id),
    [1, 2],
  );
  assert.ok(srv.logger.lines.some((l) => /NDJSON item 2/.test(String(l.args.join(' ')))));
  const text = await send(`${srv.url}/log`);
  assert.match(String(text.headers['content-type']), /^text\/plain/);
  assert.equal(text.text, 'one\ntwo\n');
});

test('the OpenAPI document describes NDJSON (itemSchema in 3.2, x-itemSchema in 3.1) and text streams', async (t) => {
  const srv = await startServer((s) => s.bind({ rows, log }));
  t.after(() => srv.close());
  const d32 = openApiDocument(srv.server, { version: '3.2' }) as never as {
    paths: Record<
      string,
      { get: { responses: { 200: { content: Record<string, Record<string, unknown>> } } } }
    >;
  };
  assert.equal((await validate32('https://spec.openapis.org/oas/3.2/schema-base', d32 as never)).valid, true);
  const nd = d32.paths['/rows']?.get.responses[200].content['application/x-ndjson'];
  assert.deepEqual((nd?.itemSchema as { required?: string[] } | undefined)?.required, ['id', 'name']);
  assert.deepEqual(d32.paths['/log']?.get.responses[200].content['text/plain'], {
    schema: { type: 'string' },
  });
  const d31 = openApiDocument(srv.server, { version: '3.1' }) as never as typeof d32;
  assert.equal((await validate31('https://spec.openapis.org/oas/3.1/schema-base', d31 as never)).valid, true);
  assert.ok(d31.paths['/rows']?.get.responses[200].content['application/x-ndjson']?.['x-itemSchema']);
  assert.throws(
    () =>
      defineRoute({
        method: 'GET',
        path: '/x',
        stream: { ndjson: Row, text: true } as never,
        handler: () => [],
      }),
    /stream/,
  );
});
