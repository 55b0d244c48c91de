/**
 * `sluice/openapi`: OpenAPI 3.1 / 3.2 documents generated from the routes made with
 * `sluice/schema`, streaming routes included, and a docs page that works offline.
 * Optional: the core never imports it.
 */
export { type OpenApiDocument, type OpenApiOptions, openApiDocument } from './openapi-document.ts';
export { eventItemSchema, type JsonSchema, jsonSchemaOf } from './openapi-schema.ts';
export { type ServeOpenApiOptions, serveOpenApi } from './openapi-serve.ts';
