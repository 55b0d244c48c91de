import { execFile } from 'node:child_process';
import { type Agent, type IncomingHttpHeaders, request } from 'node:http';
import { connect, type Socket } from 'node:net';

/** A complete response as a real client received it. */
export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
  /** A keep-alive agent to reuse connections; by default each request gets its own connection. */
  agent?: Agent;
}

/** One request with node's http client; resolves once the whole body arrived. */
export function send(url: string, options: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString() });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A raw TCP connection to the server, for HTTP/1.0, HEAD and slow or vanishing clients. */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Writes a hand-made request and collects every byte until the server closes
 * the connection (send `Connection: close` or use HTTP/1.0).
 */
export async function rawExchange(port: number, requestText: string | Buffer): Promise<Buffer> {
  const socket = await openSocket(port);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.write(requestText);
  });
}

/** Splits a raw HTTP/1.x response into its status, headers (lower-case names) and the bytes after the head. */
export function parseRawResponse(raw: Buffer): {
  status: number;
  statusLine: string;
  headers: Record<string, string>;
  body: Buffer;
} {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete response head in ${JSON.stringify(raw.toString())}`);
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const statusLine = lines[0] ?? '';
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), statusLine, headers, body: raw.subarray(end + 4) };
}

/** Decodes a `Transfer-Encoding: chunked` body; throws when the terminating chunk is missing. */
export function decodeChunked(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol === -1) throw new Error('chunked body ended without its last chunk');
    const size = Number.parseInt(body.subarray(at, eol).toString(), 16);
    if (Number.isNaN(size)) throw new Error(`bad chunk size at byte ${at}`);
    if (size === 0) return Buffer.concat(out);
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** Runs curl without blocking the event loop that hosts the server under test. */
export function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', args, { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Polls until `check()` is true; rejects after `timeout` ms with `what` in the message. */
export async function waitFor(check: () => boolean, what: string, timeout = 3000): Promise<void> {
  const deadline = performance.now() + timeout;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A promise with its resolve function outside, for a handler and a test to meet. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
