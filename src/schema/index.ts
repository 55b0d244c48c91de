/**
 * `sluice/schema`: typed routes and controllers on Standard Schema (zod 4, valibot, arktype...).
 * Optional: the core never imports it, and no schema library is a dependency.
 */
export { type Problem, RequestValidationError, ResponseValidationError } from '../errors.ts';
export { defineRoute } from './define-route.ts';
export type {
  EventItem,
  EventMap,
  EventRouteConfig,
  EventRouteInput,
  JsonRouteConfig,
  PathParams,
  ReceivedEvent,
  RouteBase,
  RouteConfig,
  RouteDefinition,
  RouteEvents,
  RouteInput,
  RouteMethod,
  RouteRequest,
  RouteResponse,
  Schema,
  StreamDeclaration,
  StreamItem,
  StreamRouteConfig,
  TypedEventStream,
} from './route-types.ts';
export type { InferInput, InferOutput, StandardSchemaV1 } from './standard-schema.ts';
export {
  type ChannelItem,
  TypedChannel,
  type TypedChannelOptions,
  typedChannel,
} from './typed-channel.ts';
