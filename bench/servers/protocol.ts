// The IPC vocabulary shared by the runner, the server processes and the load
// client. Every request carries an `id` and is answered once with the same id.

export type ServerRequest =
  | { op: 'count' }
  | { op: 'ping' }
  | { op: 'burst'; fromSeq: number; seconds: number; maxEvents: number }
  | { op: 'rate'; fromSeq: number; seconds: number; rate: number }
  | { op: 'memory' }
  | { op: 'snapshot'; file: string }
  | { op: 'cpu' };

export type LoadRequest =
  | { op: 'connect'; port: number; path: string; clients: number; batch: number; timeoutMs: number }
  | { op: 'status' }
  | { op: 'phase'; fromSeq: number }
  | { op: 'collect'; lastSeq: number; timeoutMs: number }
  | { op: 'close' };

export type StreamRequest = { op: 'stream'; port: number; events: number; timeoutMs: number };

/** First message of a server process, sent once it listens. */
export interface Listening {
  op: 'listening';
  port: number;
  /** Why SSE broadcast is unavailable in this server, when it is. */
  sseUnavailable?: string;
}

export interface Published {
  fromSeq: number;
  lastSeq: number;
  /** Monotonic µs (lib/clock.ts) of the first and last publish call. */
  firstUs: number;
  lastUs: number;
  /** Fixed rate only: how late the worst publish call was against its schedule, µs. */
  maxLagUs: number;
}

export interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface CpuSample {
  /** CPU time (user + system) the process has used, µs. */
  cpuUs: number;
  nowUs: number;
}

export interface Connected {
  connected: number;
  failed: number;
  errors: Record<string, number>;
}

export interface LoadStatus {
  connected: number;
  /** Connections that have received at least one ping (seq 0) event. */
  pinged: number;
  closed: number;
}

export interface PhaseResult {
  clients: number;
  expectedPerClient: number;
  delivered: number;
  /** Clients that got every event of the phase, exactly once and in order. */
  complete: number;
  orderErrors: number;
  parseErrors: number;
  closed: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  lastRecvUs: number;
  /** Load-client CPU time spent from the start of the phase to the last receipt, µs. */
  cpuUs: number;
  wallUs: number;
}

export interface StreamResult {
  ttfbUs: number;
  events: number;
  bodyBytes: number;
  /** From the first byte to the end of the response, µs. */
  transferUs: number;
  inOrder: boolean;
  complete: boolean;
  error?: string;
}

export type Reply<T> = T & { id: number; ok: true };
export interface Failure {
  id: number;
  ok: false;
  error: string;
}
