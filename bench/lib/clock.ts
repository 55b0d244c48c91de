/**
 * Microseconds on CLOCK_MONOTONIC (what `process.hrtime` reads on Linux).
 *
 * The server stamps each event with this clock and the load client, another
 * process on the same machine, reads the same clock on receipt, so latency is a
 * plain subtraction with no cross-process skew. `performance.now()` would not
 * do: its origin is the start of each process.
 */
export function nowUs(): number {
  const t = process.hrtime();
  return t[0] * 1e6 + t[1] / 1e3;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
