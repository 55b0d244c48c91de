import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking this process's event loop. */
function run(cmd: string, args: string[], cwd: string, timeout = 180_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, timeout, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** What a consumer program does with the installed package: serve, answer, stop. */
const CONSUMER_JS = `
import { request } from 'node:http';
import { HttpError, handlerResponse, requestFromCtx, server, serveStatic, silentLogger } from 'sluice';

const s = server('consumer');
s.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
s.group('/api', (g) => {
  g.middleware(handlerResponse);
  g.get('/hello/{name}', (r) => ({ hello: requestFromCtx(r.ctx)?.get('name') }));
  g.get('/teapot', () => { throw new HttpError(418, 'short and stout'); });
});
// serveStatic stands on \`send\`: this fails if it were not installed as a runtime dependency.
s.get('/files/*path', serveStatic('.'));
s.get('/stream', async (r) => {
  for (let i = 0; i < 3; i++) {
    r.response.writef('%d;', i);
    await r.response.flush();
  }
});
await s.start();
const get = (path) => new Promise((resolve, reject) => {
  request({ host: '127.0.0.1', port: s.getListenedPort(), path, agent: false }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { body += c; });
    res.on('end', () => resolve({ status: res.statusCode, body }));
  }).on('error', reject).end();
});
const results = [await get('/api/hello/pkg'), await get('/api/teapot'), await get('/stream')];
results.push({ status: (await get('/files/package.json')).status });
await s.shutdown({ timeout: 500 });
console.log(JSON.stringify(results));
`;

/** The same use, type-checked against the published declarations. */
const CONSUMER_TS = `
import { type Envelope, HttpError, type Handler, type Request, type ServeFileOptions, server, serveStatic } from 'sluice';
import { type TestClient, testClient } from 'sluice/testing';

const hello: Handler = (r: Request) => ({ name: r.get('name') });
const envelope: Envelope<{ name: string }> = { code: 0, message: 'OK', data: { name: 'x' } };
const s = server('typed');
s.get('/hello/{name}', hello);
s.get('/fail', () => {
  throw new HttpError(404, 'missing');
});
const files: ServeFileOptions = { maxAge: '1h', dotfiles: 'deny' };
s.get('/assets/*path', serveStatic('./public', { ...files, index: ['index.html'] }));
s.get('/report', (r) => r.response.serveFile('report.csv', { root: './var', ...files }));
const port: number = s.getListenedPort();
async function check(): Promise<number> {
  const t: TestClient = await testClient((app) => app.get('/x', () => 'x'));
  const status = (await t.fetch('/x')).status;
  for await (const ev of t.sse<{ tick: { n: number } }>('/events')) if (ev.type === 'tick') ev.json().n.toFixed();
  await t.close();
  return status;
}
s.get('/internal', (r: Request) => {
  // @ts-expect-error internal members are not in the published declarations (stripInternal)
  r.response.chunks.length = 0;
});
export { check, envelope, port };
`;

test('the built package installs into another folder and works from there', {
  timeout: 300_000,
}, async (t) => {
  const started = performance.now();
  const build = await run(NPM, ['run', 'build'], ROOT);
  assert.equal(build.code, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
  assert.ok(existsSync(join(ROOT, 'dist', 'index.js')));
  assert.ok(existsSync(join(ROOT, 'dist', 'index.d.ts')));

  const dir = await mkdtemp(join(tmpdir(), 'sluice-consumer-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pack = await run(NPM, ['pack', '--json', '--pack-destination', dir], ROOT);
  assert.equal(pack.code, 0, pack.stderr);
  const [packed] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as {
    filename: string;
    files: { path: string }[];
  }[];
  assert.ok(packed !== undefined);
  const paths = packed.files.map((f) => f.path);
  assert.ok(paths.includes('dist/index.js') && paths.includes('dist/index.d.ts'), paths.join('\n'));
  assert.ok(!paths.some((p) => p.startsWith('src/') || p.startsWith('test/')), 'only the build is published');
  assert.ok(
    paths.includes('dist/testing/index.js') && paths.includes('dist/testing/index.d.ts'),
    'sluice/testing',
  );

  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'sluice-consumer', version: '1.0.0', private: true, type: 'module' }),
  );
  const tarball = join(dir, packed.filename);
  const flags = ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=warn'];
  // Offline first: the dependencies are in the npm cache after `npm ci`. A cache that holds the tarballs
  // but not the registry metadata (what `npm ci` leaves) needs one trip to the registry.
  let install = await run(NPM, [...flags, '--offline', tarball], dir);
  if (install.code !== 0) install = await run(NPM, [...flags, '--prefer-offline', tarball], dir);
  assert.equal(install.code, 0, `npm install failed:\n${install.stdout}\n${install.stderr}`);
  // Only the runtime dependencies install here: an engine warning would greet every user on the
  // oldest Node that `engines` promises (cookie 2 wants Node 22; cookie 1.1 has the same API).
  assert.ok(!/EBADENGINE/.test(install.stderr), `a dependency warns about its engine:\n${install.stderr}`);
  const installed = JSON.parse(await readFile(join(dir, 'node_modules', 'sluice', 'package.json'), 'utf8'));
  assert.equal(installed.name, 'sluice');
  await checkPublishedFiles(join(dir, 'node_modules', 'sluice'), paths);
  // `redis` is an optional peer dependency of the `sluice/redis` subpath: an app without it installs nothing.
  assert.ok(
    paths.includes('dist/redis/index.js') && paths.includes('dist/redis/index.d.ts'),
    paths.join('\n'),
  );
  assert.ok(!existsSync(join(dir, 'node_modules', 'redis')), 'the optional peer `redis` was not installed');

  await writeFile(join(dir, 'consumer.mjs'), CONSUMER_JS);
  const consumer = await run(process.execPath, ['consumer.mjs'], dir, 20_000);
  assert.equal(consumer.code, 0, consumer.stderr);
  assert.deepEqual(JSON.parse(consumer.stdout), [
    { status: 200, body: '{"code":0,"message":"OK","data":{"hello":"pkg"}}' },
    { status: 418, body: '{"code":418,"message":"short and stout","data":null}' },
    { status: 200, body: '0;1;2;' },
    { status: 200 },
  ]);

  // The declarations resolve through the exports map and type-check without skipLibCheck.
  await writeFile(join(dir, 'consumer.ts'), CONSUMER_TS);
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
      },
      files: ['consumer.ts'],
    }),
  );
  const tsc = await run(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir],
    dir,
  );
  assert.equal(tsc.code, 0, `consumer type-check failed:\n${tsc.stdout}\n${tsc.stderr}`);
  t.diagnostic(`build, pack, install and run took ${((performance.now() - started) / 1000).toFixed(1)} s`);
});

/**
 * What a user's tools read from the package: declarations without the members marked
 * `@internal` (tsconfig.build.json strips them), and source maps that resolve without `src/`,
 * because each carries its sources inline.
 */
async function checkPublishedFiles(pkg: string, paths: string[]): Promise<void> {
  const declarations = paths.filter((p) => p.endsWith('.d.ts'));
  assert.ok(declarations.length > 10, declarations.join('\n'));
  for (const p of declarations) {
    const text = await readFile(join(pkg, p), 'utf8');
    assert.ok(!text.includes('@internal'), `${p} still declares internal members`);
  }
  const response = await readFile(join(pkg, 'dist', 'response', 'response.d.ts'), 'utf8');
  for (const internal of ['chunks', 'filePending', 'stopWrites', 'drained']) {
    assert.ok(!new RegExp(`\\b${internal}\\b[?]?[(:]`).test(response), `Response.${internal} is published`);
  }
  const maps = paths.filter((p) => p.endsWith('.js.map'));
  assert.ok(maps.length > 10, 'source maps are published');
  for (const p of maps) {
    const map = JSON.parse(await readFile(join(pkg, p), 'utf8')) as {
      sources: string[];
      sourcesContent?: string[];
    };
    assert.equal(map.sourcesContent?.length, map.sources.length, `${p} needs its sources inline`);
    for (const content of map.sourcesContent ?? [])
      assert.ok(typeof content === 'string' && content.length > 0, p);
  }
}
