import { type Logger, type Server, server } from '../../src/index.ts';

let counter = 0;

/** A logger that records what it was given, so tests can assert that errors were logged. */
export interface RecordingLogger extends Logger {
  readonly lines: { level: 'error' | 'warn' | 'info'; args: unknown[] }[];
}

export function recordingLogger(): RecordingLogger {
  const lines: RecordingLogger['lines'] = [];
  return {
    lines,
    error: (...args) => lines.push({ level: 'error', args }),
    warn: (...args) => lines.push({ level: 'warn', args }),
    info: (...args) => lines.push({ level: 'info', args }),
  };
}

export interface TestServer {
  readonly server: Server;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly logger: RecordingLogger;
  close(timeout?: number): Promise<void>;
}

/**
 * Starts a fresh named server on 127.0.0.1, port 0, with a recording logger.
 * Each call gets its own name, so routes never leak between tests.
 */
export async function startServer(setup: (s: Server) => void): Promise<TestServer> {
  const s = server(`test-${process.pid}-${++counter}`);
  const logger = recordingLogger();
  s.setLogger(logger).setAddress('127.0.0.1').setPort(0);
  setup(s);
  await s.start();
  const port = s.getListenedPort();
  return {
    server: s,
    port,
    url: `http://127.0.0.1:${port}`,
    logger,
    close: (timeout = 1000) => s.shutdown({ timeout }),
  };
}
