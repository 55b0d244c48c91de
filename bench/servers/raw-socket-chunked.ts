// The ceiling writing sluice's bytes: raw-socket's loop, with each event framed as sluice frames a
// channel's (an `id:` line, one HTTP/1.1 chunk) on a keep-alive chunked response, and sluice's
// SSE head. Whether the wire format, rather than the server, is what the ceiling gains.
import { runRawSocketServer } from './raw-socket-app.ts';

const HEAD = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n' +
    'Cache-Control: no-cache, no-transform\r\nX-Accel-Buffering: no\r\n' +
    `Date: ${new Date().toUTCString()}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n` +
    'Transfer-Encoding: chunked\r\n\r\n',
);
let id = 0;

await runRawSocketServer(HEAD, (payload) => {
  const body = `id: ${++id}\ndata: ${payload}\n\n`;
  return Buffer.from(`${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`);
});
