/**
 * `sluice/client`: a Server-Sent Events client for browsers and Node 20+,
 * with no runtime dependencies and no Node imports, so the same file runs in
 * a page, a worker and a server.
 *
 * @example
 * ```ts
 * import { connect } from 'sluice/client';
 *
 * const client = connect<{ token: { text: string }; done: { tokens: number } }>('/chat', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ prompt: 'hi' }),
 * });
 * for await (const ev of client) {
 *   if (ev.type === 'token') output.append(ev.json().text);
 *   if (ev.type === 'done') break; // closes the connection
 * }
 * ```
 */

export { ApiError, apiManifest, createApiClient } from './client-api.ts';
export type { ApiStream } from './client-api-stream.ts';
export type {
  ApiCallOptions,
  ApiClient,
  ApiClientOptions,
  ApiEvents,
  ApiManifest,
  ApiRequest,
  ApiResponse,
  ApiRoute,
  ApiStreamItem,
  ApiStreamOptions,
  ManifestRoute,
  PathScalar,
  QueryValue,
} from './client-api-types.ts';
export { Backoff, type BackoffOptions } from './client-backoff.ts';
export { connect, SseClient } from './client-connect.ts';
export {
  type ApiProblem,
  ConnectError,
  defaultShouldRetry,
  type FailureKind,
  InvalidArgumentError,
} from './client-errors.ts';
export {
  type AnyClientEvent,
  type ClientEvent,
  type EventMap,
  type OpenInfo,
  RESET_EVENT,
  ReadyState,
  type ReadyStateValue,
  type ResetInfo,
  type ResetReason,
  readResetInfo,
  type WithReset,
} from './client-events.ts';
export { type ParsedEvent, type ParserHandlers, SseParser } from './client-parser.ts';
export type { ConnectOptions, Dynamic, FetchFunction, Target } from './client-request.ts';
