import assert from 'node:assert/strict';
import test from 'node:test';
import { registerSchema, validate as validateJson } from '@hyperjump/json-schema/draft-2020-12';
import { validate as validate31 } from '@hyperjump/json-schema/openapi-3-1';
import { validate as validate32 } from '@hyperjump/json-schema/openapi-3-2';
import fc from 'fast-check';
import { chromium } from 'playwright-core';
import { handlerResponse, type RouteGroup } from '../src/index.ts';
import { type JsonSchema, openApiDocument, serveOpenApi } from '../src/openapi/index.ts';
import { send } from './helpers/http-client.ts';
import { LIBRARIES, type Library, usersApi } from './helpers/schema-apis.ts';
import { startServer } from './helpers/server.ts';
import { CHROMIUM_ARGS, parseEvents, read } from './helpers/sse-clients.ts';

const INFO = { title: 'Users', version: '1.0.0' };

async function documentOf(lib: Library, version: '3.1' | '3.2') {
  const srv = await startServer((s) => {
    s.bind(usersApi(lib));
    s.get('/health', () => 'ok');
  });
  const doc = openApiDocument(srv.server, { version, info: INFO });
  await srv.close();
  return doc as unknown as {
    openapi: string;
    paths: Record<string, Record<string, Record<string, unknown>>>;
  };
}

type Operation = {
  parameters?: { name: string; in: string; required: boolean }[];
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, Record<string, unknown>> }>;
};

const op = (doc: Awaited<ReturnType<typeof documentOf>>, path: string, method: string) =>
  doc.paths[path]?.[method] as unknown as Operation;

for (const lib of LIBRARIES) {
  test(`${lib}: the 3.1 and 3.2 documents validate against the official OpenAPI schemas`, async () => {
    for (const [version, validate, uri] of [
      ['3.1', validate31, 'https://spec.openapis.org/oas/3.1/schema-base'],
      ['3.2', validate32, 'https://spec.openapis.org/oas/3.2/schema-base'],
    ] as const) {
      const doc = await documentOf(lib, version);
      const out = await validate(uri, doc as never, 'BASIC');
      assert.equal(
        out.valid,
        true,
        `${version}: ${JSON.stringify((out as { errors?: unknown[] }).errors?.slice(0, 5))}`,
      );
    }
  });

  test(`${lib}: the streaming route is text/event-stream with an itemSchema per event (3.2) and x-itemSchema (3.1)`, async () => {
    const doc32 = await documentOf(lib, '3.2');
    assert.equal(doc32.openapi, '3.2.0');
    const ticker = op(doc32, '/ticker', 'get');
    const media = ticker.responses['200']?.content?.['text/event-stream'];
    const item = media?.itemSchema as {
      oneOf: { properties: { event: { const: string }; data: JsonSchema } }[];
    };
    assert.deepEqual(
      item.oneOf.map((v) => v.properties.event.const),
      ['tick', 'note', 'done'],
    );
    const [tick, note] = item.oneOf;
    assert.equal(tick?.properties.data.contentMediaType, 'application/json');
    assert.equal((tick?.properties.data.contentSchema as JsonSchema | undefined)?.type, 'object');
    // String data is sent as it is, so it is described as the string, not as JSON text.
    assert.equal(note?.properties.data.type, 'string');
    assert.equal(note?.properties.data.contentMediaType, undefined);
    assert.ok(
      ticker.parameters?.some((p) => p.name === 'Last-Event-ID' && p.in === 'header'),
      'a resumable route documents Last-Event-ID',
    );
    const doc31 = await documentOf(lib, '3.1');
    const media31 = op(doc31, '/ticker', 'get').responses['200']?.content?.['text/event-stream'];
    assert.deepEqual(media31?.schema, {
      type: 'string',
      description: 'Server-Sent Events; each event is described by x-itemSchema',
    });
    assert.deepEqual(media31?.['x-itemSchema'], item);
  });
}

test('zod, valibot and arktype routes give equivalent documents: same operations, parameters, bodies and answers', async () => {
  const outlines: unknown[] = [];
  for (const lib of LIBRARIES) {
    const doc = await documentOf(lib, '3.2');
    const outline: unknown[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, o] of Object.entries(item)) {
        const operation = o as unknown as Operation;
        outline.push({
          at: `${method} ${path}`,
          parameters: (operation.parameters ?? []).map((p) => `${p.in}:${p.name}:${p.required}`),
          body: operation.requestBody !== undefined,
          answers: Object.entries(operation.responses).map(([status, r]) => [
            status,
            Object.keys(r.content ?? {}),
          ]),
        });
      }
    }
    outlines.push(outline);
  }
  assert.deepEqual(outlines[1], outlines[0]);
  assert.deepEqual(outlines[2], outlines[0]);
  const first = outlines[0] as { at: string; parameters: string[] }[];
  assert.deepEqual(
    first.map((o) => o.at),
    ['get /users/{id}', 'get /users', 'post /users', 'get /broken/{id}', 'get /ticker', 'get /health'],
  );
  assert.deepEqual(first[1]?.parameters, ['query:limit:true', 'header:x-tenant:true']);
});

test('events a streaming route really sends validate against the itemSchema its document declares', async (t) => {
  const srv = await startServer((s) => s.bind(usersApi('zod')));
  t.after(() => srv.close());
  const doc = openApiDocument(srv.server, { version: '3.2', info: INFO }) as unknown as {
    paths: Record<string, Record<string, Operation>>;
  };
  const item = doc.paths['/ticker']?.get?.responses['200']?.content?.['text/event-stream']?.itemSchema as {
    oneOf: { properties: { event: { const: string }; data: JsonSchema } }[];
  };
  const itemUri = 'https://sluice.test/ticker/item';
  registerSchema({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...item } as never, itemUri);
  // contentSchema is an annotation to a JSON Schema validator: the data's JSON is checked on its own.
  const contentUris = new Map<string, string>();
  for (const v of item.oneOf) {
    const content = v.properties.data.contentSchema as JsonSchema | undefined;
    if (content === undefined) continue;
    const uri = `https://sluice.test/ticker/${v.properties.event.const}`;
    registerSchema({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...content } as never, uri);
    contentUris.set(v.properties.event.const, uri);
  }
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 20 }),
      fc.option(fc.integer({ min: 0, max: 25 })),
      async (count, last) => {
        const headers: Record<string, string> = last === null ? {} : { 'last-event-id': String(last) };
        const events = parseEvents((await read(`${srv.url}/ticker?count=${count}`, { headers })).body);
        assert.ok(events.length >= 2);
        for (const e of events) {
          const parsed = {
            event: e.event ?? 'message',
            data: e.data,
            ...(e.id === undefined ? {} : { id: e.id }),
          };
          assert.equal((await validateJson(itemUri, parsed)).valid, true, JSON.stringify(parsed));
          const contentUri = contentUris.get(parsed.event);
          if (contentUri !== undefined) {
            assert.equal((await validateJson(contentUri, JSON.parse(e.data))).valid, true, e.data);
          }
        }
      },
    ),
    { numRuns: 25 },
  );
});

test('serveOpenApi serves the document and the page, and describes envelope answers when asked', async (t) => {
  let api: RouteGroup | undefined;
  const srv = await startServer((s) => {
    s.group('/api', (g) => {
      api = g;
      g.middleware(handlerResponse).bind(usersApi('zod'));
    });
    s.get('/outside', () => 'not in the group');
    serveOpenApi(s, { path: '/api.json', docsPath: '/swagger', version: '3.2', info: INFO, envelope: true });
  });
  t.after(() => srv.close());
  const res = await send(`${srv.url}/api.json`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const doc = JSON.parse(res.text);
  assert.equal(doc.openapi, '3.2.0');
  assert.deepEqual(Object.keys(doc.paths), [
    '/api/users/{id}',
    '/api/users',
    '/api/broken/{id}',
    '/api/ticker',
    '/outside',
  ]);
  const answer = doc.paths['/api/users/{id}'].get.responses['200'].content['application/json'].schema;
  assert.deepEqual(answer.required, ['code', 'message', 'data']);
  assert.equal(answer.properties.data.type, 'object');
  assert.ok('/outside' in doc.paths, "the server's document lists plain routes too");
  // A group's document describes the group's routes only.
  assert.ok(api !== undefined);
  assert.deepEqual(Object.keys(openApiDocument(api).paths), Object.keys(doc.paths).slice(0, 4));
  const page = await send(`${srv.url}/swagger`);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.match(String(page.headers['content-security-policy']), /script-src 'sha256-/);
  assert.match(page.text, /data-spec="\/api.json"/);
});

test('the docs page in headless Chromium lists every operation, the streaming route with its events', async (t) => {
  const srv = await startServer((s) => {
    s.bind(usersApi('valibot'));
    serveOpenApi(s, { docsPath: '/swagger', version: '3.2', info: INFO });
  });
  t.after(() => srv.close());
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  await page.goto(`${srv.url}/swagger`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
  const ops = await page.$$eval('.op', (els) =>
    els.map((e) => `${(e as HTMLElement).dataset.method} ${(e as HTMLElement).dataset.path}`),
  );
  assert.deepEqual(ops, ['get /users/{id}', 'get /users', 'post /users', 'get /broken/{id}', 'get /ticker']);
  const events = await page.$$eval('.op[data-path="/ticker"] .event', (els) =>
    els.map((e) => (e as HTMLElement).dataset.event),
  );
  assert.deepEqual(events, ['tick', 'note', 'done']);
  assert.match((await page.textContent('h1')) ?? '', /Users 1\.0\.0 \(OpenAPI 3\.2\.0\)/);
  assert.deepEqual(problems, [], 'no script or policy errors in the page');
});
