import { InvalidArgumentError } from '../errors.ts';
import { type Route, type RouteGroup, undocumented } from '../router/router.ts';
import { isRouteConfig } from '../schema/define-route.ts';
import type { EventMap, RouteConfig, Schema, StreamDeclaration } from '../schema/route-types.ts';
import {
  envelopeOf,
  eventItemSchema,
  type JsonSchema,
  jsonSchemaOf,
  PROBLEMS_SCHEMA,
} from './openapi-schema.ts';

/**
 * Options of {@link openApiDocument} and `serveOpenApi`.
 *
 * @example
 * ```ts
 * const options: OpenApiOptions = { version: '3.2', info: { title: 'Shop', version: '1.0.0' }, envelope: true };
 * ```
 */
export interface OpenApiOptions {
  /** `'3.1'` (default: what most tools read today) or `'3.2'` (event streams with `itemSchema`). */
  version?: '3.1' | '3.2';
  /** The document's `info`; default `{ title: 'API', version: '0.0.0' }`. */
  info?: { title: string; version: string; description?: string };
  servers?: { url: string; description?: string }[];
  /** Describe JSON answers inside `{ code, message, data }`, for routes behind `handlerResponse`. */
  envelope?: boolean;
  /** List routes bound with plain handlers too (path and method only). Default true. */
  untyped?: boolean;
}

/** An OpenAPI document, as JSON. */
export type OpenApiDocument = {
  openapi: string;
  info: object;
  paths: Record<string, Record<string, unknown>>;
} & JsonSchema;

/** @internal Marks the routes sluice/openapi binds itself (the document, the page): not listed in the document. */
export const HIDDEN: typeof undocumented = undocumented;

const LOWER: Record<string, string> = {
  GET: 'get',
  POST: 'post',
  PUT: 'put',
  DELETE: 'delete',
  PATCH: 'patch',
  HEAD: 'head',
  OPTIONS: 'options',
};

/**
 * Builds the OpenAPI document of a server (or of a group: its routes and its subgroups') by
 * walking the bound routes. Routes made by `defineRoute` (`sluice/schema`) carry their
 * schemas: parameters, request body, the response,
 * and for streaming routes a `text/event-stream` response whose `itemSchema` (3.2) describes each
 * event by name; in 3.1, which has no item schemas, the same schema is given as `x-itemSchema`
 * beside an opaque `{ type: 'string' }`. Resumable routes document the `Last-Event-ID` header.
 *
 * @example
 * ```ts
 * const doc = openApiDocument(s, { version: '3.2', info: { title: 'Ticker', version: '1.0.0' } });
 * doc.paths['/ticker']?.get; // { responses: { 200: { content: { 'text/event-stream': { itemSchema } } } } }
 * ```
 */
export function openApiDocument(s: RouteGroup, options: OpenApiOptions = {}): OpenApiDocument {
  const version = options.version ?? '3.1';
  if (version !== '3.1' && version !== '3.2') {
    throw new InvalidArgumentError('version', 'must be "3.1" or "3.2"', version);
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of s.router.list()) {
    // A group describes its own routes (and its subgroups'); the server, all of them.
    if (route.meta === HIDDEN || !route.groups.includes(s)) continue;
    const typed = isRouteConfig(route.meta) ? route.meta : undefined;
    if (typed === undefined && options.untyped === false) continue;
    const path = openApiPath(route);
    for (const method of methodsOf(route)) {
      const item = paths[path] ?? {};
      paths[path] = item;
      item[method] =
        typed === undefined ? untypedOperation(route) : operation(typed, route, version, options);
    }
  }
  return {
    openapi: version === '3.2' ? '3.2.0' : '3.1.1',
    info: options.info ?? { title: 'API', version: '0.0.0' },
    ...(options.servers === undefined ? {} : { servers: options.servers }),
    paths,
  };
}

/** find-my-way's `/user/:id` and `/files/*` back to OpenAPI's `/user/{id}` and `/files/{path}`. */
function openApiPath(route: Route): string {
  return route.pattern
    .split('/')
    .map((seg) => {
      if (seg.startsWith(':')) return `{${seg.slice(1).replace(/\(.*$/, '')}}`;
      if (seg === '*') return `{${wildcardOf(route)}}`;
      return seg;
    })
    .join('/');
}

function wildcardOf(route: Route): string {
  return route.wildcardName === undefined || route.wildcardName === '*' ? 'wildcard' : route.wildcardName;
}

/** The methods to list: a route bound for every method (`ALL`) is listed once as what it answers most, GET. */
function methodsOf(route: Route): string[] {
  const out: string[] = [];
  for (const m of route.methods) {
    const lower = LOWER[m];
    if (lower !== undefined) out.push(lower);
  }
  return out.length > 5 ? ['get'] : out;
}

function untypedOperation(route: Route): object {
  const parameters = pathNames(route).map((name) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  return {
    ...(parameters.length > 0 ? { parameters } : {}),
    responses: { default: { description: 'Not described: a route bound without a definition' } },
  };
}

function pathNames(route: Route): string[] {
  const names: string[] = [];
  for (const seg of route.pattern.split('/')) {
    if (seg.startsWith(':')) names.push(seg.slice(1).replace(/\(.*$/, ''));
    else if (seg === '*') names.push(wildcardOf(route));
  }
  return names;
}

type AnyConfig = RouteConfig;

function operation(c: AnyConfig, route: Route, version: '3.1' | '3.2', options: OpenApiOptions): object {
  const op: Record<string, unknown> = {};
  if (c.operationId !== undefined) op.operationId = c.operationId;
  if (c.tags !== undefined) op.tags = [...c.tags];
  if (c.summary !== undefined) op.summary = c.summary;
  if (c.description !== undefined) op.description = c.description;
  if (c.deprecated === true) op.deprecated = true;
  const parameters = [
    ...placeParameters(c.params, 'path', route),
    ...placeParameters(c.query, 'query', route),
    ...placeParameters(c.headers, 'header', route),
  ];
  if (c.events !== undefined && c.resumable === true) {
    parameters.push({
      name: 'Last-Event-ID',
      in: 'header',
      required: false,
      description: 'The id of the last event received: the stream resumes after it',
      schema: { type: 'string' },
    });
  }
  if (parameters.length > 0) op.parameters = parameters;
  if (c.body !== undefined) {
    op.requestBody = {
      required: true,
      content: { 'application/json': { schema: jsonSchemaOf(c.body, 'input') } },
    };
  }
  const responses: Record<string, unknown> = {};
  if (c.events !== undefined) {
    responses['200'] = {
      description: 'An event stream',
      content: { 'text/event-stream': eventMedia(c.events, version) },
    };
  } else if (c.stream !== undefined) {
    responses['200'] = streamResponse(c.stream, version);
  } else if (c.response !== undefined) {
    const schema = jsonSchemaOf(c.response, 'output');
    responses['200'] = {
      description: 'OK',
      content: { 'application/json': { schema: options.envelope === true ? envelopeOf(schema) : schema } },
    };
  } else {
    responses['200'] = { description: 'OK' };
  }
  if (c.params !== undefined || c.query !== undefined || c.headers !== undefined || c.body !== undefined) {
    responses['400'] = {
      description: 'The input failed the route schema: one problem per field',
      content: { 'application/json': { schema: PROBLEMS_SCHEMA } },
    };
  }
  op.responses = responses;
  return op;
}

function eventMedia(events: EventMap, version: '3.1' | '3.2'): object {
  const item = eventItemSchema(events);
  if (version === '3.2') return { itemSchema: item };
  // 3.1 has no item concept: the stream is an opaque string there, and the item schema rides
  // along as an extension that 3.2-aware tools can read under the name they know.
  return {
    schema: { type: 'string', description: 'Server-Sent Events; each event is described by x-itemSchema' },
    'x-itemSchema': item,
  };
}

/**
 * A byte stream: NDJSON (the type sluice sends, `application/x-ndjson`) with one item schema per
 * line — `itemSchema` in 3.2, `x-itemSchema` beside an opaque string in 3.1 — or plain text.
 */
function streamResponse(stream: StreamDeclaration, version: '3.1' | '3.2'): object {
  if (stream.ndjson === undefined) {
    return { description: 'A text stream', content: { 'text/plain': { schema: { type: 'string' } } } };
  }
  const item = jsonSchemaOf(stream.ndjson, 'output');
  const media =
    version === '3.2'
      ? { itemSchema: item }
      : {
          schema: {
            type: 'string',
            description: 'Newline-delimited JSON; each line is described by x-itemSchema',
          },
          'x-itemSchema': item,
        };
  return { description: 'A stream of JSON items, one per line', content: { 'application/x-ndjson': media } };
}

/** One parameter per property of an object schema; path parameters without a schema are strings. */
function placeParameters(
  schema: Schema | undefined,
  where: 'path' | 'query' | 'header',
  route: Route,
): object[] {
  if (schema === undefined) {
    if (where !== 'path') return [];
    return pathNames(route).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  }
  const json = jsonSchemaOf(schema, 'input');
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set(Array.isArray(json.required) ? (json.required as string[]) : []);
  const out: object[] = [];
  for (const [name, property] of Object.entries(properties)) {
    const p: Record<string, unknown> = {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      schema: property,
    };
    if (typeof property.description === 'string') p.description = property.description;
    out.push(p);
  }
  return out;
}
