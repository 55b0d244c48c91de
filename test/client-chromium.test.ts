import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type AppSaw, CASES, RECORD, type Seen } from './helpers/client-cases.ts';
import { killAndRestart, RESTART_CLIENT, type RestartResult } from './helpers/client-restart.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { CHROMIUM_ARGS } from './helpers/sse-clients.ts';
import { reports } from './helpers/typed-api.ts';

// The same reconnect programs as test/client-reconnect.test.ts, run by headless Chromium against the
// same sluice routes, with the client loaded as built ESM. The build here type-checks src/client/ with
// the DOM library and no Node types at all, so a Node API creeping into the client fails this file
// before the browser even starts.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let outDir: string;
let ts: TestServer;
let browser: Browser;
let page: Page;
const seen = new Map<string, Seen[]>();

const PAGE = `<!doctype html><meta charset="utf-8"><title>client</title>
<script type="module">
  import { connect, createApiClient } from '/client/index.js';
  window.connect = connect;
  window.createApiClient = createApiClient;
  window.ready = true;
</script>`;

function tsc(project: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : 1, output: `${stdout}${stderr}` }),
    );
  });
}

before(
  async () => {
    outDir = await mkdtemp(join(tmpdir(), 'sluice-client-'));
    const project = join(outDir, 'tsconfig.json');
    await writeFile(
      project,
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: {
          rootDir: join(ROOT, 'src', 'client'),
          outDir: join(outDir, 'client'),
          noEmit: false,
          declaration: false,
          sourceMap: false,
          lib: ['ES2022', 'DOM'],
          types: [],
        },
        include: [],
        files: [join(ROOT, 'src', 'client', 'index.ts')],
      }),
    );
    // The build and the browser start side by side: both take seconds on a busy machine.
    const launched = chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    const build = await tsc(project);
    browser = await launched;
    assert.equal(build.code, 0, `the client does not build for a browser:\n${build.output}`);

    ts = await startServer((s) => {
      s.get('/page', (r) => {
        r.response.header.set('Content-Type', 'text/html; charset=utf-8');
        r.response.write(PAGE);
      });
      s.get('/client/{file}', async (r) => {
        const file = r.params.file ?? '';
        if (!/^[a-z-]+\.js$/.test(file)) return r.response.writeStatus(404);
        r.response.header.set('Content-Type', 'text/javascript; charset=utf-8');
        r.response.write(await readFile(join(outDir, 'client', file)));
      });
      s.group('/api', (g) => g.bind({ rows: reports.rows, log: reports.log }));
      for (const c of CASES) {
        const list: Seen[] = [];
        seen.set(c.name, list);
        c.mount(s, list);
      }
    });
    page = await browser.newPage();
    await page.goto(`${ts.url}/page`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, undefined, {
      timeout: 5000,
    });
  },
  { timeout: 60_000 },
);

after(async () => {
  await browser?.close();
  await ts?.close();
  if (outDir !== undefined) await rm(outDir, { recursive: true, force: true });
});

describe('reconnect matrix (Chromium fetch)', () => {
  for (const c of CASES) {
    test(c.name, { timeout: 15_000 }, async () => {
      // The program travels as text: what runs in the page is exactly what ran in Node.
      const source = `(async () => { ${RECORD}\nreturn (${c.client})(window.connect, location.origin); })()`;
      const app = (await page.evaluate(source)) as AppSaw;
      await c.check(app, seen.get(c.name) ?? []);
    });
  }
});

test('the server process is killed and restarted on the same port (cross-origin: each reconnect is preflighted)', {
  timeout: 30_000,
}, async () => {
  await killAndRestart((url) => {
    const source = `(async () => {
      window.progress = [];
      return (${RESTART_CLIENT})(window.connect, ${JSON.stringify(url)}, window.progress);
    })()`;
    return {
      done: page.evaluate(source) as Promise<RestartResult>,
      progress: () =>
        page.evaluate(() => (window as unknown as { progress?: string[] }).progress?.length ?? 0),
    };
  }, true);
});

test('the typed client in Chromium: NDJSON items parsed per line, text chunks, a 400 with its problems', {
  timeout: 15_000,
}, async () => {
  // The manifest as a browser has it (apiManifest's JSON); the routes are helpers/typed-api.ts's.
  const got = await page.evaluate(`(async () => {
    const api = window.createApiClient('/api', {
      rows: { method: 'GET', path: '/rows/{prefix}', stream: 'ndjson' },
      log: { method: 'POST', path: '/log', stream: 'text' },
    });
    const rows = [];
    for await (const row of api.rows({ params: { prefix: 'é b' }, query: { count: 3 } })) rows.push(row);
    let text = '';
    for await (const chunk of api.log({ body: { lines: ['one'] } })) text += chunk;
    let problems = null;
    try { for await (const _ of api.rows({ params: { prefix: 'p' }, query: { count: -1 } })) {} }
    catch (e) { problems = [e.name, e.status, e.problems.map((p) => p.path.join('.'))]; }
    return { rows, text, problems };
  })()`);
  assert.deepEqual(got, {
    rows: [1, 2, 3].map((id) => ({ id, name: `é b ${id}` })),
    text: 'one\n€\n',
    problems: ['ApiError', 400, ['query.count']],
  });
});
