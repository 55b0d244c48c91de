/**
 * sluice — an HTTP server for Node.js in which streaming responses and
 * Server-Sent Events are first-class. Named exports only, so bundlers can
 * drop what an app does not use.
 */
export {
  Channel,
  type ChannelOptions,
  type ChannelStats,
  type SubscribeOptions,
} from './channel/channel.ts';
export {
  type ChannelAdapter,
  type ChannelLogOptions,
  type ChannelMessage,
  type ChannelRecord,
  compareIds,
  type MaybePromise,
  MemoryAdapter,
  parseId,
  type ReplayResult,
  type ResetReason,
} from './channel/channel-adapter.ts';
export { type HistoryLimits, type HistoryOption, historyLimits } from './channel/channel-history.ts';
export { ChannelHub, type ChannelHubOptions } from './channel/channel-hub.ts';
export type { ChannelFilter, OverflowPolicy, SubscriptionEnd } from './channel/channel-subscriber.ts';
export type { ChannelEvent } from './channel/channel-wire.ts';
export {
  ChannelClosedError,
  HttpError,
  InvalidArgumentError,
  NextCalledTwiceError,
  RawWriteAfterSseError,
  ResponseCommittedError,
  SessionNotInstalledError,
  SessionStoreError,
  UnsupportedReturnValueError,
} from './errors.ts';
export { type AccessEntry, type AccessLogOptions, accessLog, formatEntry } from './middleware/access-log.ts';
export { type CompressOptions, compress } from './middleware/compress.ts';
export type { Coding } from './middleware/compress-negotiate.ts';
export { type CorsOptions, type CorsOrigin, cors } from './middleware/cors.ts';
export { type Envelope, handlerResponse } from './middleware/handler-response.ts';
export { type ServeStaticOptions, serveStatic } from './middleware/static.ts';
export { Request } from './request/request.ts';
export type { ParsedBody, UploadedFile } from './request/request-body.ts';
export type { RouteOptions, UploadOptions, UploadStorage } from './request/request-body-options.ts';
export { type Context, currentRequest, requestFromCtx } from './request/request-context.ts';
export { type CookieOptions, RequestCookie } from './request/request-cookie.ts';
export { type Handler, isExitSignal, Middleware } from './request/request-middleware.ts';
export type { TrustProxy, TrustProxyOptions } from './request/request-proxy.ts';
export { type EndReason, Response } from './response/response.ts';
export type { BodyEncoder } from './response/response-encoder.ts';
export { contentDisposition, type ServeFileOptions } from './response/response-file.ts';
export { sprintf } from './response/response-format.ts';
export { ResponseHeader } from './response/response-header.ts';
export { type BindableRoute, RouteGroup } from './router/router.ts';
export { createServer, Server, type ShutdownOptions, server } from './server/server.ts';
export type { Http2Options } from './server/server-http2.ts';
export { type Logger, silentLogger } from './server/server-logger.ts';
export type { ServerTimeouts } from './server/server-timeouts.ts';
export { MemorySessionStore, type MemorySessionStoreOptions } from './session/memory-session-store.ts';
export { Session, type SessionCookieOptions } from './session/session.ts';
export { type SessionOptions, session } from './session/session-middleware.ts';
export type { SessionRecord, SessionStore } from './session/session-store.ts';
export { assertEventFields, encodeEvent, formatComment, formatEvent, type SseEvent } from './sse/encoder.ts';
export { EventStream, type EventStreamOptions } from './sse/event-stream.ts';
export { ndjson, type SseEventItem, sseEvent, textStream } from './sse/pipe-returned.ts';
