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
 * Both paths may be mixed on one stream only because of those checks.
 * `res.write` does not always reach the socket at once: Node 22 and 24 keep
 * the chunks written in one tick in the response and send them as one chunk
 * when the tick ends (checked on every write); any version keeps them in
 * `outputData` while the socket serves an earlier response, or before the
 * response has one (checked once: the socket must be this response's, and
 * Node empties `outputData` into it when it becomes so, and never fills it
 * again while it stays so and writable). A frame written to the socket
 * meanwhile would overtake them. So the socket is used only when the response
 * holds nothing (`res.writableLength` is the socket's own), which keeps call
 * order on the wire whatever the response buffers, and where. The one
 * exception is `flush()`'s own parked chunks ({@link writeChunkTo}), which it
 * may add to: they wait where Node's own writes would find and send them
 * first, and never on an SSE response (nothing is written to one but frames).
 */
import { type OutgoingHttpHeader, OutgoingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Response } from './response.ts';

/** @internal One framed event: an HTTP/1.1 chunk holding the frame, and a view of the frame alone. */
export interface ChunkedFrame {
  readonly chunk: Buffer;
  readonly frame: Buffer;
}

const CRLF = '\r\n';

/**
 * @internal Frames `body` (text, or a frame already encoded: a heartbeat, a channel's cursor) as
 * one HTTP/1.1 chunk: one allocation holds the chunk, and the frame is a view into it, for the
 * paths that cannot take the shortcut. One chunk costs less than the three socket writes of
 * size line, frame and CRLF, even with the copy of an encoded frame.
 */
export function chunkOf(body: string | Buffer): ChunkedFrame {
  const text = typeof body === 'string';
  const length = text ? Buffer.byteLength(body) : body.length;
  const head = `${length.toString(16)}${CRLF}`;
  // allocUnsafe: every byte is written just below. Small frames come from
  // Node's shared pool, so a frame costs no allocation of its own.
  const chunk = Buffer.allocUnsafe(head.length + length + 2);
  chunk.write(head, 0, 'latin1');
  if (text) chunk.write(body, head.length, 'utf8');
  else body.copy(chunk, head.length);
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
  outputSize?: unknown;
  _onPendingData?: unknown;
  _flushOutput?: unknown;
}
/** An entry of `outputData`, as Node's `_writeRaw` pushes them and `_flushOutput` writes them. */
interface OutputEntry {
  data: string | null;
  encoding: BufferEncoding;
  callback: () => void;
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
  // Node empties `outputData` into the socket when it becomes the response's, and writes straight
  // to it from then on while it is writable: socketIsCaughtUp counts on this and does not read it.
  if ((socket as unknown as SocketInternals)._httpMessage !== raw || internals.outputSize !== 0) return null;
  return heldIsReadable(raw, socket) ? socket : null;
}

/**
 * Finds {@link HELD_KEY} on a fresh message (node:http sets the fields in OutgoingMessage's
 * constructor): Node 22's and 24's `kChunkedLength` (a symbol private to node:http), or
 * `undefined` on Node 20, which holds nothing in a tick. `null`: a layout this was not written for.
 */
function findHeldKey(message: OutgoingMessage): symbol | undefined | null {
  const internals = message as unknown as Record<string | symbol, unknown>;
  if (typeof internals.outputSize !== 'number') return null;
  let chunkedBuffer = false;
  for (const key of Object.getOwnPropertySymbols(message)) {
    if (key.description === 'kChunkedLength') return typeof internals[key] === 'number' ? key : null;
    if (key.description === 'kChunkedBuffer') chunkedBuffer = true;
  }
  // A buffer without the count of its bytes: a layout this was not written for.
  return chunkedBuffer ? null : undefined;
}

/**
 * The key of what `res.write` holds back in a tick besides `outputData` (see
 * {@link findHeldKey}), or `null`, where the shortcut is never taken. Found once, when the module
 * loads, and a constant: TurboFan folds it into the code of every write, where a variable is a
 * load and a check per write.
 */
const HELD_KEY = findHeldKey(new OutgoingMessage());

/**
 * Whether {@link socketIsCaughtUp}'s field reads say what `writableLength` would on this
 * response: the key is known, and Node's count of what the response holds is those fields plus
 * the socket's own.
 */
function heldIsReadable(raw: ServerResponse, socket: Socket): boolean {
  const key = HELD_KEY;
  if (key === null) return false;
  const internals = raw as unknown as Record<string | symbol, number>;
  const held = (internals.outputSize as number) + (key === undefined ? 0 : (internals[key] as number));
  // Checked while they are zero (as they are when a stream starts): Node 24's getter adds chunk
  // framing to a non-zero count, and either way the shortcut waits for zero.
  return held !== 0 || raw.writableLength === socket.writableLength;
}

/**
 * @internal Whether a chunk written to the response's socket now lands after every byte the
 * response accepted: its head has left, and it holds no chunk of this tick (Node 22 and 24).
 * This is `raw.writableLength === socket.writableLength` (Node adds the socket's count to what
 * the response holds), read as the response's own fields: two field reads per write where the
 * getters cost two calls and five loads. `outputData`, the rest of that count, is not read: it
 * stays empty while the socket is this response's and writable, which {@link chunkedSocketOf}
 * checked (and once the socket stops being writable, a write is lost either way); not reading
 * it spares each write of a broadcast a cache line of every subscriber's response. Only for a
 * response {@link chunkedSocketOf} accepted, which checked that these fields are what Node counts.
 */
export function socketIsCaughtUp(raw: ServerResponse): boolean {
  const internals = raw as unknown as Record<string | symbol, unknown>;
  return internals._headerSent === true && (HELD_KEY === undefined || internals[HELD_KEY as symbol] === 0);
}

/**
 * @internal {@link socketIsCaughtUp} for `flush()`, which may also add to the chunks it parked in
 * this tick (see {@link writeChunkTo}): true when the response holds nothing but those.
 */
export function socketTakesFlush(raw: ServerResponse, socket: Socket): boolean {
  const internals = raw as unknown as ResponseInternals;
  if (internals._headerSent !== true) return false;
  const held = raw.writableLength - socket.writableLength;
  if (held === 0) return true;
  const out = internals.outputData as OutputEntry[];
  return out.length === 1 && out[0]!.callback === parked && held === internals.outputSize;
}

/**
 * @internal Writes `body` (`length` bytes) to `socket` as the one HTTP/1.1 chunk `res.write(body)`
 * would send, and returns whether more may be written now (false: wait for the socket's
 * `drain`). Only after {@link chunkedSocketOf} and {@link socketTakesFlush} said yes, and never
 * with an empty body, which is the chunk that ends the response.
 *
 * The first flush of a tick goes to the socket at once. A string flushed again to the same
 * socket in the tick is parked: its chunk is added to one string that goes to the socket as one
 * write when the tick ends, where a socket write per flush costs a write request each and a
 * writev of as many pieces (Node 24's `res.write` joins a tick's writes for the same reason). The
 * parked chunks are kept where Node keeps what a response could not write yet, its
 * `outputData`, so every other write to the response (`res.write`, `res.end`, through sluice or
 * not) sends them first, in call order, and `writableLength` still counts them. Bytes go to the
 * socket as they are (corked from their second write in a tick, as {@link writeBuiltChunkTo}).
 */
export function writeChunkTo(
  raw: ServerResponse,
  socket: Socket,
  body: string | Buffer,
  length: number,
): boolean {
  const internals = raw as unknown as ResponseInternals;
  const out = internals.outputData as OutputEntry[];
  if (out.length !== 0) {
    // Only the chunks this module parked (socketTakesFlush said so).
    if (typeof body === 'string') return addParked(raw, socket, out[0]!, frameText(body, length));
    (internals._flushOutput as (s: Socket) => boolean).call(raw, socket);
  } else if (typeof body === 'string' && socket === lastSocket && canPark(internals)) {
    return park(raw, socket, out, frameText(body, length));
  }
  corkIfRepeated(socket);
  // A string goes to the socket as it is: the stream copies it into the write request once,
  // where a Buffer would cost an allocation and a copy more.
  if (typeof body === 'string') return socket.write(frameText(body, length));
  // Bytes are not copied to frame them: a corked socket sends the three parts in one writev.
  if (socket.writableCorked !== 0) return writeFramed(socket, body, length);
  socket.cork();
  const ok = writeFramed(socket, body, length);
  socket.uncork();
  return ok;
}

function frameText(body: string, length: number): string {
  return `${length.toString(16)}${CRLF}${body}${CRLF}`;
}

// Marks the outputData entry that holds this tick's parked chunks; Node calls it once they are written.
function parked(): void {}

/** Parking needs Node's `outputData` bookkeeping as the versions this was written for have it. */
function canPark(internals: ResponseInternals): boolean {
  return typeof internals.outputSize === 'number' && typeof internals._onPendingData === 'function';
}

// Responses with chunks parked in this tick, sent when it ends if nothing sent them before.
const parkedIn: ServerResponse[] = [];

function park(raw: ServerResponse, socket: Socket, out: OutputEntry[], text: string): boolean {
  out.push({ data: '', encoding: 'utf8', callback: parked });
  if (parkedIn.push(raw) === 1) process.nextTick(sendParked);
  return addParked(raw, socket, out[0]!, text);
}

function addParked(raw: ServerResponse, socket: Socket, entry: OutputEntry, text: string): boolean {
  entry.data += text;
  const internals = raw as unknown as ResponseInternals;
  (internals.outputSize as number) += text.length;
  // Node's own count of what a connection holds (it pauses reading pipelined requests on it);
  // _flushOutput takes it back.
  (internals._onPendingData as (delta: number) => void).call(raw, text.length);
  if ((internals.outputSize as number) + socket.writableLength < socket.writableHighWaterMark) return true;
  // A full socket's worth: out now, so the producer learns of backpressure as res.write tells it.
  return (internals._flushOutput as (s: Socket) => boolean).call(raw, socket);
}

function sendParked(): void {
  for (const raw of parkedIn) {
    const socket = raw.socket;
    const out = (raw as unknown as ResponseInternals).outputData as OutputEntry[];
    // Sent already when another write came first; dropped with the response when the client left.
    if (out.length === 0 || socket === null || socket.destroyed) continue;
    if ((socket as unknown as SocketInternals)._httpMessage !== raw) continue;
    ((raw as unknown as ResponseInternals)._flushOutput as (s: Socket) => boolean).call(raw, socket);
  }
  parkedIn.length = 0;
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
