import { InvalidArgumentError, type Problem } from '../errors.ts';

/**
 * The Standard Schema v1 interfaces (standardschema.dev, MIT), written out here rather than
 * imported from `@standard-schema/spec`: the published types of `sluice/schema` must resolve for
 * an app that has zod or valibot (which carry their own copy) but not that package. The shapes
 * are the specification's, structurally; `test/schema-types.test.ts` checks that this copy and
 * the official one are assignable both ways, so a drift fails the typecheck.
 */

/**
 * A schema of any Standard Schema library: what sluice validates with.
 *
 * @example
 * ```ts
 * const Id: StandardSchemaV1<string, number> = z.coerce.number();
 * ```
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaProps<Input, Output>;
}

/** The `~standard` property of a schema. */
export interface StandardSchemaProps<Input = unknown, Output = Input> {
  readonly version: 1;
  readonly vendor: string;
  readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  readonly validate: (
    value: unknown,
    options?: { readonly libraryOptions?: Record<string, unknown> | undefined } | undefined,
  ) => StandardResult<Output> | Promise<StandardResult<Output>>;
}

/** What `validate` gives: the output value, or the issues. */
export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardIssue> };

/** One issue of a failed validation. */
export interface StandardIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** The type a schema accepts. */
export type InferInput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['input'];

/** The type a schema yields. */
export type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output'];

/**
 * The Standard JSON Schema converter a schema may carry beside `validate` (zod 4, arktype, and
 * valibot through `@valibot/to-json-schema`): what `sluice/openapi` describes schemas with.
 */
export interface StandardJsonSchemaConverter {
  readonly input: (options: { readonly target: string }) => Record<string, unknown>;
  readonly output: (options: { readonly target: string }) => Record<string, unknown>;
}

/*
 * Running a Standard Schema, and turning its issues into sluice's {@link Problem}s: the rules
 * (sync when the library is sync, paths as plain keys) in one place for requests, responses and
 * events alike.
 */

/** A validation's outcome: the schema's output, or the problems, already prefixed with the place. */
export type Checked = { ok: true; value: unknown } | { ok: false; problems: Problem[] };

/**
 * Runs a schema. Synchronous when the library answered synchronously (zod, valibot and arktype
 * do for schemas without async refinements), so a validated request costs no extra promise turn.
 */
export function check(
  schema: StandardSchemaV1,
  value: unknown,
  place: string | number,
): Checked | Promise<Checked> {
  const result = schema['~standard'].validate(value);
  if (result instanceof Promise) return result.then((settled) => toChecked(settled, place));
  return toChecked(result, place);
}

function toChecked(result: StandardResult<unknown>, place: string | number): Checked {
  if (result.issues === undefined) return { ok: true, value: result.value };
  const problems: Problem[] = [];
  for (const issue of result.issues) problems.push(toProblem(issue, place));
  // A library that failed without saying why still failed: the client is told where at least.
  if (problems.length === 0) problems.push({ path: [place], message: 'Invalid value' });
  return { ok: false, problems };
}

function toProblem(issue: StandardIssue, place: string | number): Problem {
  const path: (string | number)[] = [place];
  // A segment is a key, or an object holding one (valibot): both are reduced to the key.
  for (const segment of issue.path ?? []) {
    const key = typeof segment === 'object' && segment !== null ? segment.key : segment;
    path.push(typeof key === 'symbol' ? String(key) : key);
  }
  return { path, message: String(issue.message) };
}

/** Checks at definition time that a value is a Standard Schema, naming the argument when not. */
export function assertSchema(
  argument: string,
  value: unknown,
): asserts value is StandardSchemaV1 | undefined {
  if (value === undefined) return;
  const standard =
    (typeof value === 'object' || typeof value === 'function') && value !== null
      ? (value as Partial<StandardSchemaV1>)['~standard']
      : undefined;
  if (standard === undefined || typeof standard.validate !== 'function') {
    throw new InvalidArgumentError(
      argument,
      'must be a Standard Schema (zod 4, valibot, arktype...): an object with ~standard.validate',
      value,
    );
  }
}
