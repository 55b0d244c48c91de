import type { ServerOptions } from 'node:http';
import { InvalidArgumentError } from '../errors.ts';

/**
 * How long a connection may take for what, in milliseconds, as {@link Server.setTimeouts}
 * takes them. None of them limits how long a response may stream: they bound what the *client*
 * sends, and the wait between requests. There is no write or idle timeout on a response at all,
 * so an SSE stream that is quiet for an hour stays open (its heartbeat is what keeps proxies in
 * between from closing it).
 *
 * @example
 * ```ts
 * s.setTimeouts({ headers: 10_000, keepAlive: 65_000 }); // behind a load balancer that idles 60 s
 * ```
 */
export interface ServerTimeouts {
  /**
   * Time to receive a request's head (request line and headers), from its first byte; a client
   * slower than that gets 408 and is disconnected. Default 15000: a browser or an API client
   * sends its head in one packet, while Node's own 60 s lets a slowloris attacker hold a
   * connection four times as long for each header it drips.
   */
  headers?: number;
  /**
   * Time to receive a whole request, head and body; 0 for none. It ends once the request is
   * received, so it never cuts the response, however long that streams. Default 300000 (Node's):
   * an upload slower than five minutes should use a streaming route with its own limits.
   */
  request?: number;
  /**
   * How long an idle keep-alive connection waits for the next request. Default 5000 (Node's).
   * Behind a load balancer, make it longer than the balancer's idle timeout, or the balancer
   * may reuse a connection the server is closing and answer 502. Node tells the client this
   * value (`Keep-Alive: timeout=5`) and keeps the socket up to a second longer, so a client that
   * honours it closes first.
   */
  keepAlive?: number;
}

/** @internal Every timeout resolved. */
export type ResolvedTimeouts = Required<ServerTimeouts>;

/** @internal */
export const DEFAULT_TIMEOUTS: ResolvedTimeouts = { headers: 15_000, request: 300_000, keepAlive: 5_000 };

/** @internal Node's default for `maxHeaderSize`, kept explicit so every Node version agrees. */
export const DEFAULT_MAX_HEADER_SIZE = 16 * 1024;

/** @internal Merges a {@link ServerTimeouts} into the current ones, checking every value. */
export function mergeTimeouts(current: ResolvedTimeouts, next: ServerTimeouts): ResolvedTimeouts {
  if (typeof next !== 'object' || next === null) {
    throw new InvalidArgumentError('timeouts', 'must be an object { headers?, request?, keepAlive? }', next);
  }
  const merged: ResolvedTimeouts = {
    headers: millis('headers', next.headers ?? current.headers),
    request: millis('request', next.request ?? current.request),
    keepAlive: millis('keepAlive', next.keepAlive ?? current.keepAlive),
  };
  // Zero would turn off the one protection against a client that never finishes its head.
  if (merged.headers === 0) throw new InvalidArgumentError('headers', 'must be at least 1 millisecond', 0);
  if (merged.request !== 0 && merged.headers > merged.request) {
    // Node refuses this too, but only when the server starts, far from the call.
    throw new InvalidArgumentError(
      'headers',
      `must not exceed the request timeout (${merged.request} ms), which includes the head`,
      merged.headers,
    );
  }
  return merged;
}

/** @internal Checks a `maxHeaderSize`. */
export function headerSize(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 1024) {
    throw new InvalidArgumentError('bytes', 'must be an integer of at least 1024', bytes);
  }
  return bytes;
}

/**
 * @internal The options each listener is created with. Node checks the head and request
 * timeouts only every `connectionsCheckingInterval` (30 s by default), which would let a
 * 15 s head timeout run to 45 s; checking at a quarter of the shortest timeout keeps the cut
 * within 25% of the setting, at the cost of at most one pass over the open connections per check.
 */
export function listenerOptions(timeouts: ResolvedTimeouts, maxHeaderSize: number): ServerOptions {
  const shortest = timeouts.request === 0 ? timeouts.headers : Math.min(timeouts.headers, timeouts.request);
  return {
    headersTimeout: timeouts.headers,
    requestTimeout: timeouts.request,
    keepAliveTimeout: timeouts.keepAlive,
    maxHeaderSize,
    connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(shortest / 4))),
  };
}

function millis(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(name, 'must be a non-negative integer number of milliseconds', value);
  }
  return value;
}
