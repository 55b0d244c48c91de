import { readFileSync } from 'node:fs';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type ClientSessionOptions,
  connect,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type { Server } from '../../src/index.ts';
import { recordingLogger, startServer, type TestServer } from './server.ts';

const FIXTURES = new URL('../fixtures/tls/', import.meta.url);

/** The test-only self-signed certificate (CN=localhost, SAN localhost and 127.0.0.1, 100 years). */
export const TLS = {
  key: readFileSync(new URL('key.pem', FIXTURES)),
  cert: readFileSync(new URL('cert.pem', FIXTURES)),
};

/** Starts a test server with HTTP/2 on, over TLS (`https://`) or as cleartext h2c (`http://`). */
export async function startHttp2Server(tls: boolean, setup: (s: Server) => void): Promise<TestServer> {
  const ts = await startServer((s) => {
    if (tls) s.setHttps(TLS);
    s.setHttp2(true);
    setup(s);
  });
  const scheme = tls ? 'https' : 'http';
  return { ...ts, url: `${scheme}://127.0.0.1:${ts.port}`, logger: ts.logger ?? recordingLogger() };
}

/** An HTTP/2 connection that trusts the test certificate. */
export function h2connect(url: string, options: ClientSessionOptions = {}): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(url, { ca: TLS.cert, ...options });
    session.once('error', reject);
    session.once('connect', () => {
      session.off('error', reject);
      // A reset or GOAWAY the test provokes must not become an uncaught error.
      session.on('error', () => {});
      resolve(session);
    });
  });
}

export interface H2Response {
  status: number;
  /** The header block as received, pseudo-headers included. */
  headers: IncomingHttpHeaders;
  body: string;
  /** The RST_STREAM code the stream closed with (0: a clean end). */
  rstCode: number;
}

/** One request; resolves once the stream closed. */
export function h2request(
  session: ClientHttp2Session,
  path: string,
  headers: OutgoingHttpHeaders = {},
  body?: string,
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ...headers }, { endStream: body === undefined });
    let response: IncomingHttpHeaders = {};
    let text = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => {
      response = h;
    });
    stream.on('data', (c: string) => {
      text += c;
    });
    stream.on('error', () => {});
    stream.on('close', () => {
      if (response[':status'] === undefined && stream.rstCode === 0) reject(new Error('no response'));
      else
        resolve({
          status: Number(response[':status']),
          headers: response,
          body: text,
          rstCode: stream.rstCode ?? 0,
        });
    });
    if (body !== undefined) stream.end(body);
  });
}

/** An open streaming request whose received text grows as data arrives. */
export interface H2Stream {
  readonly stream: ClientHttp2Stream;
  readonly headers: Promise<IncomingHttpHeaders>;
  text: string;
  /** Resolves once `text` satisfies `test`, or rejects after `ms`. */
  until(test: (text: string) => boolean, ms?: number): Promise<void>;
  readonly closed: Promise<void>;
}

export function h2open(
  session: ClientHttp2Session,
  path: string,
  headers: OutgoingHttpHeaders = {},
): H2Stream {
  const stream = session.request({ ':path': path, ...headers });
  stream.setEncoding('utf8');
  stream.on('error', () => {});
  const waiters = new Set<() => void>();
  const s: H2Stream = {
    stream,
    text: '',
    headers: new Promise((resolve) => stream.once('response', resolve)),
    closed: new Promise((resolve) => stream.once('close', () => resolve())),
    until(test, ms = 5000) {
      if (test(s.text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${ms} ms; received: ${JSON.stringify(s.text.slice(-300))}`));
        }, ms);
        const check = () => {
          if (!test(s.text)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
  };
  stream.on('data', (c: string) => {
    s.text += c;
    for (const w of [...waiters]) w();
  });
  return s;
}

/** The `data:` lines of an SSE text, in order. */
export function dataOf(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6));
}

/** Connection-specific header names (RFC 9113 §8.2.2) found in a received header block. */
export function forbiddenIn(headers: IncomingHttpHeaders): string[] {
  const names = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];
  return Object.keys(headers).filter((k) => names.includes(k.toLowerCase()));
}

/** Collects process warnings while a test runs; `stop()` returns them. */
export function captureWarnings(): { stop(): Error[] } {
  const seen: Error[] = [];
  const on = (w: Error) => seen.push(w);
  process.on('warning', on);
  return {
    stop() {
      process.off('warning', on);
      return seen;
    },
  };
}
