/**
 * The demo: every stream of the seed page, the chat token stream and a
 * broadcast ticker, plus a live page at /demo that shows them all.
 * Run: `npm start` (PORT and HOST override 127.0.0.1:8999; REDIS_URL keeps
 * the ticker's channel in Redis, so it survives a restart of the process;
 * TLS_CERT and TLS_KEY, paths of PEM files, serve HTTP/2 over TLS, HTTP/1.1
 * still accepted: every tab then shares one connection instead of six in all).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  accessLog,
  type ChannelAdapter,
  compress,
  HttpError,
  type Request,
  type Server,
  server,
} from 'sluice';
import { startTicker } from '../broadcast.ts';
import { demoApi } from './api.ts';

const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'public');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** What {@link createDemo} returns: the server (not started) and a stop for the ticker's publisher. */
export interface Demo {
  server: Server;
  /** Stops the ticker's publisher (the server is stopped with `server.shutdown()`). */
  stopTicker(): void;
}

/**
 * Builds the demo routes on a named server, without starting it (tests start
 * it on port 0). `adapter` carries the ticker's channel (default: in memory).
 */
export function createDemo(name = 'demo', adapter?: ChannelAdapter): Demo {
  const s = server(name);
  s.use(accessLog());
  // Every stream below (counter, SSE, chat tokens, the ticker) and the page itself go out
  // compressed to a browser that accepts it, each event flushed as it is sent.
  s.use(compress());
  const ticker = startTicker(200, adapter);
  // The streams as typed routes, so the server describes itself: the document and its docs page.
  s.bind(demoApi(ticker.channel));
  s.setOpenApiPath('/api.json', {
    version: '3.2',
    info: { title: 'sluice demo', version: '1.0.0' },
    untyped: false, // the page's files are not part of the API
  });
  s.setSwaggerPath('/swagger');
  mountPage(s);
  return { server: s, stopTicker: () => ticker.stop() };
}

/**
 * Serves the page's files. The list is read once at start-up and only those
 * names are served, so no request path can reach outside the folder.
 */
function mountPage(s: Server): void {
  const files = new Map<string, string>();
  for (const f of readdirSync(PUBLIC_DIR)) files.set(f, join(PUBLIC_DIR, f));
  const send = async (r: Request, name: string) => {
    const path = files.get(name);
    if (path === undefined) throw new HttpError(404);
    r.response.header.set('Content-Type', TYPES[extname(name)] ?? 'application/octet-stream');
    r.response.header.set('Cache-Control', 'no-cache');
    r.response.write(await readFile(path));
  };
  s.get('/demo', (r) => send(r, 'index.html'));
  s.get('/demo/*file', (r) => send(r, r.params.file ?? ''));
  // The chat reads its POST stream with sluice's own client (`sluice/client`), loaded once on first use.
  let client: Promise<Map<string, string>> | undefined;
  s.get('/demo/client/{file}', async (r) => {
    client ??= loadClient();
    const source = (await client).get(r.params.file ?? '');
    if (source === undefined) throw new HttpError(404);
    r.response.header.set('Content-Type', TYPES['.js'] as string);
    r.response.header.set('Cache-Control', 'no-cache');
    r.response.write(source);
  });
}

/**
 * The client's files by their `.js` name. A build resolves `sluice/client` to dist/client, served as is;
 * under tsx the tsconfig paths resolve it to the TypeScript source, which a browser cannot run, so it is
 * transpiled here by the TypeScript compiler (a dev dependency, imported only then). No bundler either way.
 */
async function loadClient(): Promise<Map<string, string>> {
  const entry = import.meta.resolve('sluice/client');
  const dir = dirname(fileURLToPath(entry));
  const ts = entry.endsWith('.ts') ? (await import('typescript')).default : undefined;
  const files = new Map<string, string>();
  for (const f of readdirSync(dir)) {
    const ext = extname(f);
    if (ext !== (ts === undefined ? '.js' : '.ts')) continue;
    const text = await readFile(join(dir, f), 'utf8');
    const compilerOptions = {
      target: ts?.ScriptTarget.ES2022,
      module: ts?.ModuleKind.ESNext,
      rewriteRelativeImportExtensions: true,
      verbatimModuleSyntax: true,
    };
    files.set(
      `${f.slice(0, -ext.length)}.js`,
      ts?.transpileModule(text, { compilerOptions }).outputText ?? text,
    );
  }
  return files;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // With REDIS_URL the ticker's history lives in Redis: restart this process and the page replays, no reset.
  // Loaded only then, so `npm start` needs no Redis client installed.
  const redisUrl = process.env.REDIS_URL;
  const redis =
    redisUrl === undefined || redisUrl === ''
      ? undefined
      : new (await import('sluice/redis')).RedisAdapter({ url: redisUrl });
  const { server: s, stopTicker } = createDemo('demo', redis);
  const host = process.env.HOST ?? '127.0.0.1';
  s.setAddress(host).setPort(Number(process.env.PORT ?? 8999));
  // Over HTTP/1.1 a browser holds at most six connections per host, and each open EventSource
  // keeps one: a third tab of this page would wait. HTTP/2 carries every stream on one.
  const cert = process.env.TLS_CERT;
  const key = process.env.TLS_KEY;
  if (cert && key) s.setHttps({ cert: readFileSync(cert), key: readFileSync(key) }).setHttp2(true);
  await s.start();
  const base = `${cert && key ? 'https' : 'http'}://${host}:${s.getListenedPort()}`;
  console.log(`sluice demo on ${base}
  ${base}/demo     the live page (open this in a browser)
  ${base}/         the seed's counter: 100 events, 200 ms apart   curl -N ${base}/
  ${base}/stream   the seed's JSON messages                       curl -N ${base}/stream
  ${base}/chat     POST {"prompt": "..."}: a token stream          curl -N -d '{"prompt":"hi"}' -H 'content-type: application/json' ${base}/chat
  ${base}/ticker   a broadcast channel with Last-Event-ID replay  curl -N ${base}/ticker
  ${base}/api.json the OpenAPI 3.2 document of these routes; ${base}/swagger renders it`);
  await s.run();
  stopTicker();
  await redis?.quit();
}
