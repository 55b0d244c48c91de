import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { SseEvent } from '../../src/index.ts';

/** Flags for a root, offline, headless Chromium. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** One piece of a response body as it arrived, with its arrival time. */
export interface Chunk {
  at: number;
  text: string;
}

export interface ReadOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Called on every chunk; returning true ends the read (the connection is destroyed). */
  onChunk?: (chunk: Chunk, all: Chunk[]) => boolean | undefined;
  /** Aborting it ends the read. */
  signal?: AbortSignal;
}

export interface ReadResult {
  status: number;
  headers: IncomingHttpHeaders;
  chunks: Chunk[];
  body: string;
  /** 'end': the server ended the response; 'aborted': it was cut (by either side). */
  ending: 'end' | 'aborted';
}

/** Requests `url` and reads the body until it ends, or until `onChunk` or `signal` says stop. */
export function read(url: string, options: ReadOptions = {}): Promise<ReadResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Chunk[] = [];
      let settled = false;
      const finish = (ending: 'end' | 'aborted') => {
        if (settled) return;
        settled = true;
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          chunks,
          body: chunks.map((c) => c.text).join(''),
          ending,
        });
      };
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        const chunk = { at: performance.now(), text };
        chunks.push(chunk);
        if (options.onChunk?.(chunk, chunks)) {
          req.destroy();
          finish('aborted');
        }
      });
      const leave = () => {
        req.destroy();
        finish('aborted');
      };
      if (options.signal?.aborted) leave();
      else options.signal?.addEventListener('abort', leave, { once: true });
      res.on('end', () => finish('end'));
      res.on('aborted', () => finish('aborted'));
      res.on('error', () => finish('aborted'));
      res.on('close', () => finish(res.complete ? 'end' : 'aborted'));
    });
    req.on('error', (e) => reject(e));
    req.end(options.body);
  });
}

/** Parses an SSE body with eventsource-parser (the WHATWG rules). */
export function parseEvents(body: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  parser.feed(body);
  return events;
}

export interface RawConnection {
  socket: Socket;
  chunks: Chunk[];
  closed: Promise<void>;
  text(): string;
}

/** Opens a TCP connection, writes `head` as is, and records what comes back (unless `read: false`). */
export function rawRequest(
  port: number,
  head: string,
  opts: { read?: boolean } = {},
): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Chunk[] = [];
    const closed = new Promise<void>((done) => {
      socket.on('close', () => done());
    });
    socket.on('error', () => {});
    socket.once('connect', () => {
      socket.off('error', reject);
      if (opts.read === false) socket.pause();
      else socket.on('data', (b: Buffer) => chunks.push({ at: performance.now(), text: b.toString('utf8') }));
      socket.write(head);
      resolve({ socket, chunks, closed, text: () => chunks.map((c) => c.text).join('') });
    });
    socket.once('error', reject);
  });
}

// Shared with the core tests: one polling helper and one deferred for the whole suite.
import { waitFor } from './http-client.ts';

export { deferred, waitFor } from './http-client.ts';

/** A server-side write loop a backpressure test watches: writes started, how each resolved, and a stop flag. */
export interface WriteLoop {
  started: number;
  stop: boolean;
  results: boolean[];
}

/**
 * Opens `path` and reads nothing until the loop's writes block (one started and not resolved),
 * checks that none resolves for 300 ms, then stops the loop, reads, and waits for the blocked
 * write to resolve `true`. `what` names the write (`send()`, `flush()`) in the messages; returns
 * how many writes had started when it blocked.
 */
export async function blockedUntilRead(
  port: number,
  path: string,
  loop: WriteLoop,
  what: string,
): Promise<number> {
  const conn = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, { read: false });
  try {
    const blockedNow = () => loop.started > 1 && loop.started === loop.results.length + 1;
    await waitFor(blockedNow, `a ${what} to block`, 5000);
    const blockedAt = loop.started;
    await sleep(300);
    assert.equal(loop.started, blockedAt, `${what} resolved while the client read nothing`);
    loop.stop = true;
    conn.socket.on('data', () => {});
    conn.socket.resume();
    await waitFor(() => loop.results.length === blockedAt, `the blocked ${what} to resolve`, 5000);
    assert.equal(loop.results[blockedAt - 1], true);
    return blockedAt;
  } finally {
    conn.socket.destroy();
  }
}

/** Events that exercise every framing rule, sent in this order by the spec tests. */
export const SPEC_EVENTS: SseEvent[] = [
  { data: 'hello' },
  { data: 'line 1\nline 2\r\nline 3\rline 4' },
  { data: 'after\n\nblank line' },
  { data: 'h\u00e9llo w\u00f6rld \u2014 \u{1f30a} \u4e2d\u6587 \u2713' },
  { data: '' },
  { event: 'update', id: '1', data: { price: 101.5, tags: ['a', 'b'] } },
  { event: 'done' },
  { id: 'x-2', data: '  two leading spaces' },
  { data: 'id persists' },
];

/** An event as a browser's `EventSource` dispatches it. */
export interface Received {
  type: string;
  data: string;
  lastEventId: string;
}

/** What a spec-following client receives for {@link SPEC_EVENTS}. */
export const SPEC_RECEIVED: Received[] = [
  { type: 'message', data: 'hello', lastEventId: '' },
  { type: 'message', data: 'line 1\nline 2\nline 3\nline 4', lastEventId: '' },
  { type: 'message', data: 'after\n\nblank line', lastEventId: '' },
  { type: 'message', data: 'h\u00e9llo w\u00f6rld \u2014 \u{1f30a} \u4e2d\u6587 \u2713', lastEventId: '' },
  { type: 'message', data: '', lastEventId: '' },
  { type: 'update', data: '{"price":101.5,"tags":["a","b"]}', lastEventId: '1' },
  { type: 'done', data: '', lastEventId: '1' },
  { type: 'message', data: '  two leading spaces', lastEventId: 'x-2' },
  { type: 'message', data: 'id persists', lastEventId: 'x-2' },
];

/** The event types of {@link SPEC_EVENTS}. */
export const SPEC_TYPES = ['message', 'update', 'done'] as const;
