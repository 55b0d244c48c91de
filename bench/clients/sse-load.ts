// The SSE load client: a process of its own holding N raw TCP connections.
// Raw `net` sockets and the in-place parser of lib/sse-conn.ts keep the
// JavaScript per event small; what remains is the kernel's cost per socket
// read (about two thirds of this process's CPU on loopback). That ceiling is
// measured against the raw-socket server and printed with every run.
import { connect, type Socket } from 'node:net';
import { nowUs, sleep } from '../lib/clock.ts';
import { Histogram } from '../lib/histogram.ts';
import { answerRequests } from '../lib/ipc-child.ts';
import { type EventSink, SseConn } from '../lib/sse-conn.ts';
import type { Connected, LoadRequest, LoadStatus, PhaseResult } from '../servers/protocol.ts';

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

class Load implements EventSink {
  readonly conns: SseConn[] = [];
  readonly sockets: Socket[] = [];
  readonly hist = new Histogram();
  /** Receipt time of the read being parsed: one clock read per socket read, not per event. */
  recvUs = 0;
  pinged = 0;
  phaseFrom = Number.POSITIVE_INFINITY;
  delivered = 0;
  lastRecvUs = 0;
  phaseCpu = 0;
  phaseStartUs = 0;

  onEvent(conn: SseConn, seq: number, sentUs: number): void {
    if (seq === 0) {
      // Pings precede the first measured event; several may arrive.
      if (conn.lastSeq !== 0) conn.orderErrors++;
      else if (conn.pings++ === 0) this.pinged++;
      return;
    }
    // Exactly once and in order: anything but last + 1 is a gap, a duplicate or a reordering.
    if (seq !== conn.lastSeq + 1) conn.orderErrors++;
    if (seq > conn.lastSeq) conn.lastSeq = seq;
    if (seq >= this.phaseFrom) {
      this.delivered++;
      this.hist.record(this.recvUs - sentUs);
      this.lastRecvUs = this.recvUs;
    }
  }

  async connectAll(
    port: number,
    path: string,
    clients: number,
    batch: number,
    timeoutMs: number,
  ): Promise<Connected> {
    const request = Buffer.from(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`,
    );
    const deadline = Date.now() + timeoutMs;
    const errors: Record<string, number> = {};
    let failed = 0;
    // In batches, so the listen backlog never overflows into SYN retries.
    for (let k = 0; k < clients && Date.now() < deadline; k += batch) {
      const size = Math.min(batch, clients - k);
      const results = await Promise.all(
        Array.from({ length: size }, () => this.open(port, request, deadline - Date.now())),
      );
      for (const code of results) {
        if (code === '') continue;
        failed++;
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
    const notTried = clients - this.conns.length - failed;
    if (notTried > 0) errors.DEADLINE = notTried;
    return { connected: this.conns.length, failed: clients - this.conns.length, errors };
  }

  /** Resolves to '' once connected and the request is written, or to an error code. */
  private open(port: number, request: Buffer, timeoutMs: number): Promise<string> {
    return new Promise((resolve) => {
      const conn = new SseConn(this);
      // `onread` with one shared buffer skips the readable-stream machinery and
      // a Buffer allocation per read (parsing is synchronous, so sharing is
      // safe). Measured here it is within noise of 'data' events: the cost
      // per read is the kernel's, not JavaScript's.
      const socket = connect({
        host: '127.0.0.1',
        port,
        onread: {
          buffer: READ_BUFFER,
          callback: (nread: number, buf: Uint8Array): boolean => {
            this.recvUs = nowUs();
            conn.feed(buf as Buffer, 0, nread);
            return true;
          },
        },
      });
      const timer = setTimeout(
        () => {
          socket.destroy();
          resolve('TIMEOUT');
        },
        Math.max(1, timeoutMs),
      );
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.write(request);
        this.conns.push(conn);
        this.sockets.push(socket);
        resolve('');
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(err.code ?? 'ERROR');
      });
      socket.on('close', () => {
        conn.closed = true;
        conn.ended = true;
      });
    });
  }

  status(): LoadStatus {
    let closed = 0;
    for (const c of this.conns) if (c.closed) closed++;
    return { connected: this.conns.length, pinged: this.pinged, closed };
  }

  startPhase(fromSeq: number): void {
    this.phaseFrom = fromSeq;
    this.delivered = 0;
    this.lastRecvUs = 0;
    this.hist.reset();
    const c = process.cpuUsage();
    this.phaseCpu = c.user + c.system;
    this.phaseStartUs = nowUs();
  }

  async collect(lastSeq: number, timeoutMs: number): Promise<PhaseResult> {
    const deadline = Date.now() + timeoutMs;
    // Polling is cheap next to the traffic: a scan of 10,000 objects every 50 ms.
    while (Date.now() < deadline && !this.conns.every((c) => c.lastSeq >= lastSeq || c.closed))
      await sleep(50);
    const c = process.cpuUsage();
    let complete = 0;
    let orderErrors = 0;
    let parseErrors = 0;
    let closed = 0;
    for (const conn of this.conns) {
      orderErrors += conn.orderErrors;
      parseErrors += conn.parseErrors;
      if (conn.closed) closed++;
      if (conn.lastSeq === lastSeq && conn.orderErrors === 0 && conn.parseErrors === 0 && !conn.closed)
        complete++;
    }
    return {
      clients: this.conns.length,
      expectedPerClient: lastSeq - this.phaseFrom + 1,
      delivered: this.delivered,
      complete,
      orderErrors,
      parseErrors,
      closed,
      p50Us: this.hist.quantile(0.5),
      p90Us: this.hist.quantile(0.9),
      p99Us: this.hist.quantile(0.99),
      maxUs: this.hist.max,
      lastRecvUs: this.lastRecvUs,
      // CPU over the phase's wall time up to the last receipt, so the idle
      // polling after delivery finished does not dilute the percentage.
      cpuUs: c.user + c.system - this.phaseCpu,
      wallUs: (this.lastRecvUs || nowUs()) - this.phaseStartUs,
    };
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
  }
}

const load = new Load();
answerRequests<LoadRequest>((req) => {
  switch (req.op) {
    case 'connect':
      return load.connectAll(req.port, req.path, req.clients, req.batch, req.timeoutMs);
    case 'status':
      return load.status();
    case 'phase':
      load.startPhase(req.fromSeq);
      return {};
    case 'collect':
      return load.collect(req.lastSeq, req.timeoutMs);
    case 'close':
      load.close();
      return {};
  }
});
