import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { validate as validate31 } from '@hyperjump/json-schema/openapi-3-1';
import { validate as validate32 } from '@hyperjump/json-schema/openapi-3-2';
import { InvalidArgumentError } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { usersApi } from './helpers/schema-apis.ts';
import { startServer } from './helpers/server.ts';

/*
 * s.setOpenApiPath() / s.setSwaggerPath(): GoFrame's names on the server itself, with sluice/openapi
 * loaded on the first request (the core must not import it).
 */

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, Record<string, unknown>> }> }>
  >;
};

test('setOpenApiPath serves a 3.1 document by default that validates, without its own routes', async (t) => {
  const srv = await startServer((s) => {
    s.bind(usersApi('zod'));
    s.setOpenApiPath('/api.json').setSwaggerPath('/swagger');
  });
  t.after(() => srv.close());
  const reply = await send(`${srv.url}/api.json`);
  assert.equal(reply.status, 200);
  assert.match(String(reply.headers['content-type']), /^application\/json/);
  const doc = JSON.parse(reply.text) as Doc;
  assert.equal(doc.openapi, '3.1.1');
  assert.equal((await validate31('https://spec.openapis.org/oas/3.1/schema-base', doc as never)).valid, true);
  assert.deepEqual(Object.keys(doc.paths).sort(), ['/broken/{id}', '/ticker', '/users', '/users/{id}']);
  const sse = doc.paths['/ticker']?.get?.responses['200']?.content?.['text/event-stream'];
  assert.ok(sse?.['x-itemSchema'], '3.1 carries the item schema as an extension');
});

test('setOpenApiPath with version 3.2: itemSchema, valid against the 3.2 schema; the page fetches it', async (t) => {
  const srv = await startServer((s) => {
    // The page first: the two setters may come in either order.
    s.setSwaggerPath('/docs');
    s.group('/v1', (g) => g.bind(usersApi('zod')));
    s.setOpenApiPath('/openapi.json', { version: '3.2', info: { title: 'Users', version: '2.0.0' } });
  });
  t.after(() => srv.close());
  const doc = JSON.parse((await send(`${srv.url}/openapi.json`)).text) as Doc & { info: { title: string } };
  assert.equal(doc.openapi, '3.2.0');
  assert.equal(doc.info.title, 'Users');
  assert.equal((await validate32('https://spec.openapis.org/oas/3.2/schema-base', doc as never)).valid, true);
  assert.ok(doc.paths['/v1/ticker']?.get?.responses['200']?.content?.['text/event-stream']?.itemSchema);
  const page = await send(`${srv.url}/docs`);
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.match(page.text, /data-spec="\/openapi\.json"/);
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
});

test('routes added after the first request appear in the next document', async (t) => {
  const srv = await startServer((s) => {
    s.setOpenApiPath('/api.json');
    s.get('/one', () => 1);
  });
  t.after(() => srv.close());
  assert.deepEqual(Object.keys(JSON.parse((await send(`${srv.url}/api.json`)).text).paths), ['/one']);
  srv.server.get('/two', () => 2);
  assert.deepEqual(Object.keys(JSON.parse((await send(`${srv.url}/api.json`)).text).paths), ['/one', '/two']);
});

test('bad arguments throw InvalidArgumentError; a docs page without a document says why', async (t) => {
  const srv = await startServer((s) => {
    s.setSwaggerPath('/swagger');
  });
  t.after(() => srv.close());
  const s = srv.server;
  assert.throws(() => s.setOpenApiPath('api.json'), InvalidArgumentError);
  assert.throws(() => s.setOpenApiPath('/a.json', { version: '3.0' as '3.1' }), /options\.version/);
  assert.throws(() => s.setSwaggerPath(''), InvalidArgumentError);
  s.setOpenApiPath('/a.json');
  assert.throws(() => s.setOpenApiPath('/b.json'), /already served at \/a\.json/);
  const noDoc = await startServer((x) => x.setSwaggerPath('/swagger'));
  t.after(() => noDoc.close());
  assert.equal((await send(`${noDoc.url}/swagger`)).status, 500);
  assert.match(String(noDoc.logger.lines.at(-1)?.args.join(' ')), /setOpenApiPath/);
});

test('the core imports the optional modules (openapi, schema, redis, client, testing) only as types', async () => {
  const src = fileURLToPath(new URL('../src/', import.meta.url));
  const optional = new Set(['openapi', 'schema', 'redis', 'client', 'testing']);
  const files: string[] = ['index.ts'];
  for (const dir of await readdir(src, { withFileTypes: true })) {
    if (!dir.isDirectory() || optional.has(dir.name)) continue;
    for (const f of await readdir(join(src, dir.name))) if (f.endsWith('.ts')) files.push(join(dir.name, f));
  }
  assert.ok(files.length > 20, files.join());
  for (const file of files) {
    const source = await readFile(join(src, file), 'utf8');
    for (const m of source.matchAll(/^(import|export)(\s+type)?\b[^;]*?from\s*['"]([^'"]+)['"]/gm)) {
      const target = /^\.\.?\/(?:\.\.\/)?([a-z-]+)\//.exec(m[3] ?? '')?.[1];
      if (target !== undefined && optional.has(target)) {
        assert.ok(m[2] !== undefined, `${file} imports ${m[3]} as a value: load it with import() instead`);
      }
    }
  }
});
