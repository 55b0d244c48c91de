import type { EventMap } from '../schema/route-types.ts';
import type { StandardJsonSchemaConverter, StandardSchemaV1 } from '../schema/standard-schema.ts';

/**
 * JSON Schemas from Standard Schemas, and the SSE item schema built from them. Conversion goes
 * through Standard JSON Schema (`~standard.jsonSchema`), which zod 4, arktype and valibot (with
 * `@valibot/to-json-schema`'s `toStandardJsonSchema`) implement, so no schema library is imported.
 */

/** A JSON Schema object, as OpenAPI 3.1 and 3.2 embed it (draft 2020-12). */
export type JsonSchema = { [key: string]: unknown };

// Tried in order: OpenAPI 3.1+ speaks 2020-12; draft-07 is near enough for what routes use.
const TARGETS = ['draft-2020-12', 'draft-07'] as const;

// Converted once per schema and direction: a document is rebuilt when routes change, schemas are not.
const cache = new WeakMap<object, { input?: JsonSchema; output?: JsonSchema }>();

/**
 * The JSON Schema of what a schema accepts (`input`: request places) or yields (`output`:
 * responses and events). A schema that cannot describe itself (no Standard JSON Schema, or a
 * transform the library cannot express) becomes `{}` with a note, never a failed document; an
 * output that cannot be described falls back to the input's description.
 */
export function jsonSchemaOf(schema: StandardSchemaV1, io: 'input' | 'output'): JsonSchema {
  let entry = cache.get(schema);
  if (entry === undefined) {
    entry = {};
    cache.set(schema, entry);
  }
  const known = entry[io];
  if (known !== undefined) return known;
  const made =
    convert(schema, io) ?? (io === 'output' ? convert(schema, 'input') : undefined) ?? undescribed(schema);
  entry[io] = made;
  return made;
}

function convert(schema: StandardSchemaV1, io: 'input' | 'output'): JsonSchema | undefined {
  const converter = (schema['~standard'] as { jsonSchema?: Partial<StandardJsonSchemaConverter> }).jsonSchema;
  if (converter === undefined || typeof converter[io] !== 'function') return undefined;
  for (const target of TARGETS) {
    try {
      const { $schema: _dialect, ...rest } = converter[io]({ target }) as JsonSchema;
      return rest;
    } catch {
      // This target or this schema is not supported by the library: try the next, then give up.
    }
  }
  return undefined;
}

function undescribed(schema: StandardSchemaV1): JsonSchema {
  return { description: `A ${schema['~standard'].vendor} schema that has no JSON Schema form` };
}

/** Whether data of this schema is sent as it is (a string), not as JSON text. */
function isStringSchema(json: JsonSchema): boolean {
  return json.type === 'string';
}

/**
 * The schema of one parsed SSE event of a route (OpenAPI 3.2 `itemSchema`): a `oneOf` over the
 * route's events, each pinned by its `event` name (`const`), so a reader finds the data's schema
 * from the name. sluice sends string data as it is and anything else as JSON, so string data is
 * described as the string it is, and other data as JSON text (`contentMediaType` +
 * `contentSchema`), as the 3.2 specification's own example does.
 */
export function eventItemSchema(events: EventMap): JsonSchema {
  const variants: JsonSchema[] = [];
  for (const [name, schema] of Object.entries(events)) {
    const json = jsonSchemaOf(schema, 'output');
    const data = isStringSchema(json)
      ? json
      : { type: 'string', contentMediaType: 'application/json', contentSchema: json };
    variants.push({
      title: name,
      type: 'object',
      properties: { event: { const: name }, data },
      required: ['event', 'data'],
    });
  }
  return {
    type: 'object',
    properties: {
      event: { type: 'string' },
      data: { type: 'string' },
      id: { type: 'string' },
      retry: { type: 'integer', minimum: 0 },
    },
    required: ['event', 'data'],
    oneOf: variants,
  };
}

/** The body of a 400 from a route's input checks (see `RequestValidationError`). */
export const PROBLEMS_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    code: { type: 'integer' },
    message: { type: 'string' },
    data: {
      type: 'object',
      properties: {
        problems: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              path: { type: 'array', items: { type: ['string', 'integer'] } },
              message: { type: 'string' },
            },
            required: ['path', 'message'],
          },
        },
      },
      required: ['problems'],
    },
  },
  required: ['code', 'message', 'data'],
};

/** `{ code, message, data }` around a schema, for routes answered through `handlerResponse`. */
export function envelopeOf(data: JsonSchema): JsonSchema {
  return {
    type: 'object',
    properties: { code: { type: 'integer' }, message: { type: 'string' }, data },
    required: ['code', 'message', 'data'],
  };
}
