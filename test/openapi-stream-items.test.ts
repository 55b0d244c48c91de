import assert from 'node:assert/strict';
import { test } from 'node:test';
import { registerSchema, validate as validateJson } from '@hyperjump/json-schema/draft-2020-12';
import fc from 'fast-check';
import * as z from 'zod';
import { type JsonSchema, openApiDocument } from '../src/openapi/index.ts';
import { defineRoute } from '../src/schema/index.ts';
import { startServer } from './helpers/server.ts';
import { parseEvents, read } from './helpers/sse-clients.ts';

/*
 * Issue #11, "How it is checked", point 1, for data that really varies: random valid inputs go in
 * (text with newlines, CR, NUL, emoji and lone surrogates' neighbours; numbers; optional fields),
 * the SSE route and the NDJSON route echo them over a real socket, and every captured SSE frame
 * ({ event, data, id }) and every NDJSON line must validate against the itemSchema of the 3.2
 * document, with the same validator the openapi tests use.
 *
 * `score` is a codec (decimal text in, a number out): the handler yields text, the server sends
 * the schema's output. A document that described the input side would say "string" where the
 * wire carries numbers, and fail here.
 */

const Score = z.codec(z.string().regex(/^-?\d{1,9}$/), z.number().int(), {
  decode: (s) => Number(s),
  encode: (n) => String(n),
});
const Item = z.object({
  i: z.number().int().min(0),
  text: z.string(),
  score: Score,
  flag: z.boolean().optional(),
});
const Input = z.object({
  words: z.array(z.string()).max(20),
  scores: z.array(z.string().regex(/^-?\d{1,9}$/)).max(20),
  flag: z.boolean().optional(),
});

const echo = defineRoute({
  method: 'POST',
  path: '/echo',
  body: Input,
  events: { word: Item, note: z.string(), done: z.object({ count: z.number().int() }) },
  resumable: true,
  validateEvents: true,
  async *handler({ body }) {
    let i = 0;
    for (const text of body.words) {
      const score = body.scores[i % Math.max(1, body.scores.length)] ?? '0';
      yield {
        event: 'word',
        id: i,
        data: { i, text, score, ...(body.flag === undefined ? {} : { flag: body.flag }) },
      };
      i++;
    }
    yield { event: 'note', data: body.words.join(' ') };
    yield { event: 'done', data: { count: i } };
  },
});

const lines = defineRoute({
  method: 'POST',
  path: '/lines',
  body: Input,
  stream: { ndjson: Item },
  validateEvents: true,
  async *handler({ body }) {
    for (const [i, text] of body.words.entries()) {
      const score = body.scores[i % Math.max(1, body.scores.length)] ?? '0';
      yield { i, text, score, ...(body.flag === undefined ? {} : { flag: body.flag }) };
    }
  },
});

// Text the framing must survive: line breaks of every kind, NUL, a BOM, astral characters.
const unit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('\n', '\r', '\r\n', '\0', '\uFEFF', 'data: x', ':', '😀', '"', '\\'),
  },
);
const word = fc.array(unit, { maxLength: 5 }).map((parts) => parts.join(''));
const input = fc.record(
  {
    words: fc.array(word, { maxLength: 12 }),
    scores: fc.array(fc.integer({ min: -999_999_999, max: 999_999_999 }).map(String), { maxLength: 5 }),
    flag: fc.boolean(),
  },
  { requiredKeys: ['words', 'scores'] },
);

function register(uri: string, schema: JsonSchema): string {
  registerSchema({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...schema } as never, uri);
  return uri;
}

type Media = { itemSchema?: JsonSchema };
type Doc = { paths: Record<string, { post: { responses: { 200: { content: Record<string, Media> } } } }> };

test('captured SSE frames and NDJSON lines of random valid inputs validate against the 3.2 itemSchemas', async (t) => {
  const srv = await startServer((s) => s.bind({ echo, lines }));
  t.after(() => srv.close());
  const doc = openApiDocument(srv.server, { version: '3.2' }) as unknown as Doc;
  const sseItem = doc.paths['/echo']?.post.responses[200].content['text/event-stream']?.itemSchema as {
    oneOf: { properties: { event: { const: string }; data: JsonSchema } }[];
  };
  const ndjsonItem = doc.paths['/lines']?.post.responses[200].content['application/x-ndjson']?.itemSchema;
  assert.ok(sseItem !== undefined && ndjsonItem !== undefined, 'both routes declare an itemSchema');
  const sseUri = register('https://sluice.test/items/echo', sseItem as JsonSchema);
  const lineUri = register('https://sluice.test/items/lines', ndjsonItem);
  // The data of a JSON event is JSON text: its contentSchema is checked on the parsed text.
  const contentUris = new Map<string, string>();
  for (const v of sseItem.oneOf) {
    const content = v.properties.data.contentSchema as JsonSchema | undefined;
    const name = v.properties.event.const;
    if (content !== undefined)
      contentUris.set(name, register(`https://sluice.test/items/echo/${name}`, content));
  }
  assert.deepEqual([...contentUris.keys()], ['word', 'done']);

  let frames = 0;
  let items = 0;
  await fc.assert(
    fc.asyncProperty(input, async (body) => {
      const post = {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      };
      const sse = await read(`${srv.url}/echo`, post);
      assert.equal(sse.ending, 'end');
      const events = parseEvents(sse.body);
      assert.equal(events.length, body.words.length + 2);
      for (const e of events) {
        const item = {
          event: e.event ?? 'message',
          data: e.data,
          ...(e.id === undefined ? {} : { id: e.id }),
        };
        const out = await validateJson(sseUri, item);
        assert.equal(out.valid, true, `frame ${JSON.stringify(item)}`);
        const contentUri = contentUris.get(item.event);
        if (contentUri !== undefined) {
          const data = JSON.parse(e.data);
          assert.equal((await validateJson(contentUri, data)).valid, true, `data ${e.data}`);
        }
        frames++;
      }
      const nd = await read(`${srv.url}/lines`, post);
      assert.equal(nd.ending, 'end');
      const got = nd.body.split('\n');
      assert.equal(got.pop(), '', 'every line ends with a newline');
      assert.equal(got.length, body.words.length);
      for (const line of got) {
        const value = JSON.parse(line);
        assert.equal((await validateJson(lineUri, value)).valid, true, `line ${line}`);
        assert.equal(typeof value.score, 'number', 'the wire carries the schema output');
        items++;
      }
    }),
    { numRuns: 40 },
  );
  assert.ok(frames > 80 && items > 40, `enough was captured: ${frames} frames, ${items} lines`);
});
