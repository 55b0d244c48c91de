/**
 * The one shortcut past `ServerResponse` sluice takes: writing a pre-built
 * HTTP/1.1 chunk straight to the socket. A channel's fan-out, `es.send()` and
 * `flush()` all take it, through the two predicates below.
 *
 * Node's `res.write()` on a chunked HTTP/1.1 response costs four socket
 * writes per call (size line, CRLF, data, CRLF) plus a cork and a deferred
 * uncork. A caller that already knows the frame builds the chunk — size
 * line, frame, CRLF — once ({@link chunkOf}) and hands that one Buffer to the
 * socket. On the wire this is byte for byte what `res.write(frame)` sends.
 *
 * The shortcut bypasses `ServerResponse`, so it is taken only when nothing can
 * tell the difference. Some of that holds for the stream's whole life and is
 * checked once, when the stream starts ({@link chunkedSocketOf}): HTTP/1.1
 * chunked encoding (so never HTTP/2, whose responses are not `ServerResponse`),
 * the socket bound to this response, no content encoding and no body
 * encoder (`compress()`), `write` not replaced by a wrapper (loggers,
 * foreign compression middleware). Every condition of that kind
 * belongs in `chunkedSocketOf` and nowhere else, so each path that takes the
 * shortcut obeys all of them. The rest is checked on every write
 * ({@link socketIsCaughtUp}): the headers are on the socket and the response
 * holds no byte of its own. Anything else goes through `res.write`, which is
 * always correct, only slower.
 *
 * Both paths may be mixed on one stream only because of that per-write
 * check. `res.write` does not always reach the socket at once: Node 24 keeps
 * the chunks written in one tick in the response and sends them as one chunk
 * when the tick ends; any version keeps them in `outputData` while the socket
 * serves an earlier response. A frame written to the socket meanwhile would
 * overtake them. So the socket is used only when the response holds nothing
 * (`res.writableLength` is the socket's own), which keeps call order on the
 * wire whatever the response buffers, and where.
 */
import { type OutgoingHttpHeader, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Response } from './response.ts';

/** @internal One framed event: an HTTP/1.1 chunk holding the frame, and a view of the frame alone. */
export interface ChunkedFrame {
  readonly chunk: Buffer;
  readonly frame: Buffer;
}

const CRLF = '\r\n';

/**
 * @internal Frames `text` as one HTTP/1.1 chunk: one allocation holds the
 * chunk, and the frame is a view into it, for the paths that cannot take the
 * shortcut.
 */
export function chunkOf(text: string): ChunkedFrame {
  const length = Buffer.byteLength(text);
  const head = `${length.toString(16)}${CRLF}`;
  // allocUnsafe: every byte is written just below. Small frames come from
  // Node's shared pool, so a frame costs no allocation of its own.
  const chunk = Buffer.allocUnsafe(head.length + length + 2);
  chunk.write(head, 0, 'latin1');
  chunk.write(text, head.length, 'utf8');
  chunk.write(CRLF, head.length + length, 'latin1');
  return { chunk, frame: chunk.subarray(head.length, head.length + length) };
}

// The parts of ServerResponse this module reads that @types/node does not
// declare; each is checked for its type, so a Node version that renames one
// falls back to the slow path instead of misbehaving.
interface ResponseInternals {
  chunkedEncoding?: unknown;
  _headerSent?: unknown;
  outputData?: unknown;
}
interface SocketInternals {
  _httpMessage?: unknown;
}

const protoWrite = ServerResponse.prototype.write;

/**
 * @internal The socket pre-built chunks may be written to for this response,
 * or `null` when every write must go through `res.write`: what holds for the
 * stream's whole life (see the file comment). Call it once the head is
 * rendered; each write still asks {@link socketIsCaughtUp}.
 */
export function chunkedSocketOf(response: Response): Socket | null {
  const raw = response.raw;
  // An encoded (compressed) body must pass its encoder: raw frames on the socket would corrupt it.
  if (response.bodyEncoder !== undefined) return null;
  if (!(raw instanceof ServerResponse) || raw.write !== protoWrite) return null;
  const internals = raw as unknown as ResponseInternals;
  // Set when the head is rendered (sse() commits first), whether or not it has left yet.
  if (internals.chunkedEncoding !== true || !Array.isArray(internals.outputData)) return null;
  if (raw.writableEnded || hasEncoding(raw.getHeader('content-encoding'))) return null;
  const socket = raw.socket;
  if (socket === null || !socket.writable) return null;
  return (socket as unknown as SocketInternals)._httpMessage === raw ? socket : null;
}

/**
 * @internal Whether a chunk written to `socket` now lands after every byte the
 * response accepted: its head has left, and it holds nothing of its own (on
 * Node 24, the chunks of this tick; on any version, `outputData`), so its
 * `writableLength` is the socket's. Two getters and a field read per write.
 */
export function socketIsCaughtUp(raw: ServerResponse, socket: Socket): boolean {
  return (
    (raw as unknown as ResponseInternals)._headerSent === true && raw.writableLength === socket.writableLength
  );
}

/**
 * @internal Writes `body` (`length` bytes) to `socket` as the one HTTP/1.1 chunk `res.write(body)`
 * would send, and returns what `socket.write` said (false: wait for the socket's `drain`). Only
 * after {@link chunkedSocketOf} and {@link socketIsCaughtUp} said yes, and never with an empty
 * body, which is the chunk that ends the response. Corked as {@link writeBuiltChunkTo} says.
 */
export function writeChunkTo(socket: Socket, body: string | Buffer, length: number): boolean {
  corkIfRepeated(socket);
  // A string goes to the socket as it is: the stream copies it into the write request once,
  // where a Buffer would cost an allocation and a copy more.
  if (typeof body === 'string') return socket.write(`${length.toString(16)}${CRLF}${body}${CRLF}`);
  // Bytes are not copied to frame them: a corked socket sends the three parts in one writev.
  if (socket.writableCorked !== 0) return writeFramed(socket, body, length);
  socket.cork();
  const ok = writeFramed(socket, body, length);
  socket.uncork();
  return ok;
}

function writeFramed(socket: Socket, body: Buffer, length: number): boolean {
  socket.write(`${length.toString(16)}${CRLF}`, 'latin1');
  socket.write(body);
  return socket.write(CRLF, 'latin1');
}

/**
 * @internal Writes a chunk built by {@link chunkOf} to `socket`, under the same conditions as
 * {@link writeChunkTo}, and returns what `socket.write` said. The first shortcut write of a tick
 * to a socket goes out at once: a lone event or flush should not wait. A socket written again in
 * the same tick is corked until the tick ends, so a loop of writes costs one syscall, as
 * `res.write`'s own cork gives.
 */
export function writeBuiltChunkTo(socket: Socket, chunk: Buffer): boolean {
  corkIfRepeated(socket);
  return socket.write(chunk);
}

// The tick-cork of every shortcut write (es.send() and flush()). Which sockets were written in
// this tick is kept neither per socket nor per stream (that would be a field on every idle
// connection): the socket last written is corked as soon as a write goes to another one, so a
// second write to any socket in the tick finds it corked, whatever the order of the writes.
// The price is a cork and an uncork, no syscall, for a socket that is not written again.
let lastSocket: Socket | null = null;
const corkedSockets: Socket[] = [];

function corkIfRepeated(socket: Socket): void {
  const last = lastSocket;
  if (last === socket) {
    // Already corked: by us, or by res.write, whose own uncork comes when the tick ends too; or
    // by the application, whose uncork sends these bytes in order with its own.
    if (socket.writableCorked === 0) corkForTick(socket);
    return;
  }
  if (last === null) process.nextTick(endTick);
  else if (last.writableCorked === 0) corkForTick(last);
  lastSocket = socket;
}

function corkForTick(socket: Socket): void {
  socket.cork();
  corkedSockets.push(socket);
}

function endTick(): void {
  lastSocket = null;
  for (const socket of corkedSockets) socket.uncork();
  corkedSockets.length = 0;
}

function hasEncoding(value: OutgoingHttpHeader | undefined): boolean {
  return value !== undefined && String(value).toLowerCase() !== 'identity';
}
