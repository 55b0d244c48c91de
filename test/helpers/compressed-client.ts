import { createHook } from 'node:async_hooks';
import { get, type IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';

export type Coding = 'gzip' | 'deflate' | 'br';
export const CODINGS: readonly Coding[] = ['gzip', 'deflate', 'br'];

/** A streaming decompressor for a `Content-Encoding`, as a browser runs one. */
export function decompressorFor(coding: string | undefined): Transform | undefined {
  if (coding === 'gzip') return zlib.createGunzip();
  if (coding === 'deflate') return zlib.createInflate();
  if (coding === 'br') return zlib.createBrotliDecompress();
  return undefined;
}

/**
 * One streamed response read the way a client with `Accept-Encoding` reads it: each chunk off
 * the socket is fed to a streaming decompressor at once, and `text` is what decoded so far.
 */
export interface StreamedReply {
  readonly res: IncomingMessage;
  readonly encoding: string | undefined;
  /** Compressed bytes received so far. */
  wireBytes: number;
  /** Decoded text so far. */
  text: string;
  /** Resolves with the decoder's verdict when the body ended: `null` for a complete, valid stream. */
  readonly done: Promise<Error | null>;
  close(): void;
}

export function openStream(url: string, acceptEncoding: string | undefined): Promise<StreamedReply> {
  const headers: Record<string, string> = {};
  if (acceptEncoding !== undefined) headers['Accept-Encoding'] = acceptEncoding;
  return new Promise((resolve, reject) => {
    const req = get(url, { headers, agent: false }, (res) => {
      const encoding = res.headers['content-encoding'];
      const decoder = decompressorFor(encoding);
      let settle!: (err: Error | null) => void;
      const reply: StreamedReply = {
        res,
        encoding,
        wireBytes: 0,
        text: '',
        done: new Promise((r) => {
          settle = r;
        }),
        close: () => req.destroy(),
      };
      res.on('data', (chunk: Buffer) => {
        reply.wireBytes += chunk.length;
        if (decoder === undefined) reply.text += chunk.toString();
        else decoder.write(chunk);
      });
      if (decoder === undefined) {
        res.on('end', () => settle(null));
      } else {
        decoder.on('data', (out: Buffer) => {
          reply.text += out.toString();
        });
        decoder.on('error', (e) => settle(e));
        decoder.on('end', () => settle(null));
        res.on('end', () => decoder.end());
      }
      res.on('error', (e) => settle(e));
      res.on('close', () => {
        if (!res.complete) settle(new Error('connection closed before the end of the body'));
      });
      resolve(reply);
    });
    req.on('error', reject);
  });
}

/**
 * Notes every zlib stream made from now on (async_hooks reports each handle; its stream is found
 * through Node's owner link), so a test can see that the server destroys each compressor at once:
 * one left undestroyed holds its native memory (~300 KiB for brotli) until a GC happens to find it.
 */
export function trackZlibStreams(): { made(): { destroyed: boolean }[]; stop(): void } {
  const handles: object[] = [];
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type === 'ZLIB') handles.push(resource);
    },
  }).enable();
  const streamOf = (handle: object): { destroyed: boolean } => {
    const owner = Object.getOwnPropertySymbols(handle).find((s) => s.description === 'owner_symbol');
    return (handle as Record<symbol, { destroyed: boolean }>)[owner as symbol] as { destroyed: boolean };
  };
  return { made: () => handles.map(streamOf), stop: () => hook.disable() };
}
