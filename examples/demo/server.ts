/**
 * The demo: every stream of the seed page, the chat token stream and a
 * broadcast ticker, plus a live page at /demo that shows them all.
 * Run: `npm start` (PORT and HOST override 127.0.0.1:8999).
 */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { accessLog, HttpError, type Request, type Server, server } from '../../src/index.ts';
import { mountTicker } from '../broadcast.ts';
import { mountChat } from '../chat-tokens.ts';
import { mountJsonMessages } from '../seed-json-messages.ts';
import { mountCounter } from '../seed-writefln.ts';

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

/** Builds the demo routes on a named server, without starting it (tests start it on port 0). */
export function createDemo(name = 'demo'): Demo {
  const s = server(name);
  s.use(accessLog());
  mountCounter(s, '/');
  mountJsonMessages(s, '/stream');
  mountChat(s, '/chat');
  const ticker = mountTicker(s, '/ticker');
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
  // The page parses the chat's POST stream with eventsource-parser, served from node_modules as is.
  const parser = join(dirname(createRequire(import.meta.url).resolve('eventsource-parser')), 'index.js');
  files.set('vendor/eventsource-parser.js', parser);
  const send = async (r: Request, name: string) => {
    const path = files.get(name);
    if (path === undefined) throw new HttpError(404);
    r.response.header.set('Content-Type', TYPES[extname(name)] ?? 'application/octet-stream');
    r.response.header.set('Cache-Control', 'no-cache');
    r.response.write(await readFile(path));
  };
  s.get('/demo', (r) => send(r, 'index.html'));
  s.get('/demo/*file', (r) => send(r, r.params.file ?? ''));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { server: s, stopTicker } = createDemo();
  const host = process.env.HOST ?? '127.0.0.1';
  s.setAddress(host).setPort(Number(process.env.PORT ?? 8999));
  await s.start();
  const base = `http://${host}:${s.getListenedPort()}`;
  console.log(`sluice demo on ${base}
  ${base}/demo     the live page (open this in a browser)
  ${base}/         the seed's counter: 100 events, 200 ms apart   curl -N ${base}/
  ${base}/stream   the seed's JSON messages                       curl -N ${base}/stream
  ${base}/chat     POST {"prompt": "..."}: a token stream          curl -N -d '{"prompt":"hi"}' -H 'content-type: application/json' ${base}/chat
  ${base}/ticker   a broadcast channel with Last-Event-ID replay  curl -N ${base}/ticker`);
  await s.run();
  stopTicker();
}
