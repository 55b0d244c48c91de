// One client reading one long streaming response: time to first byte, then
// how fast the body arrives. In its own process so that the runner's work
// never shares the client's event loop.
import { connect } from 'node:net';
import { nowUs } from '../lib/clock.ts';
import { answerRequests, errorText } from '../lib/ipc-child.ts';
import { type EventSink, SseConn } from '../lib/sse-conn.ts';
import type { StreamRequest, StreamResult } from '../servers/protocol.ts';

/** The seed-style stream sends `data: 0` … `data: n-1`. */
class InOrder implements EventSink {
  next = 0;
  inOrder = true;
  onEvent(_conn: SseConn, seq: number): void {
    if (seq !== this.next) this.inOrder = false;
    this.next = seq + 1;
  }
}

function stream(port: number, events: number, timeoutMs: number): Promise<StreamResult> {
  return new Promise((resolve) => {
    const sink = new InOrder();
    const conn = new SseConn(sink);
    let firstUs = 0;
    let startUs = 0;
    let done = false;
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const endUs = nowUs();
      socket.destroy();
      resolve({
        ttfbUs: firstUs ? firstUs - startUs : Number.NaN,
        events: conn.events,
        bodyBytes: conn.bodyBytes,
        transferUs: firstUs ? endUs - firstUs : Number.NaN,
        inOrder: sink.inOrder,
        complete: conn.events === events && sink.inOrder && conn.parseErrors === 0,
        ...(error ? { error } : {}),
      });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    const socket = connect({ host: '127.0.0.1', port }, () => {
      startUs = nowUs();
      socket.write(
        `GET /stream?n=${events} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      );
    });
    socket.on('data', (buf: Buffer) => {
      if (firstUs === 0) firstUs = nowUs();
      conn.feed(buf);
      // A chunked body ends at its last chunk, before the server closes.
      if (conn.ended) finish();
    });
    socket.on('close', () => finish());
    socket.on('error', (err) => finish(errorText(err)));
  });
}

answerRequests<StreamRequest>((req) => stream(req.port, req.events, req.timeoutMs));
