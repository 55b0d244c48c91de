// The ceiling: node:http accepts the request, then the response head and
// every event go straight to the socket. The body is delimited by connection
// close (no Content-Length, no Transfer-Encoding), so one shared Buffer is the
// entire per-client work of an event: no chunk framing, no ServerResponse.
import { runRawSocketServer } from './raw-socket-app.ts';

const HEAD = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n',
);

await runRawSocketServer(HEAD, (payload) => Buffer.from(`data: ${payload}\n\n`));
