import { ResponseValidationError } from '../errors.ts';
import { ndjson, textStream } from '../sse/pipe-returned.ts';
import type { Schema, StreamDeclaration } from './route-types.ts';
import { check } from './standard-schema.ts';

/**
 * A byte-stream route's answer (`stream: { ndjson }` or `{ text }`), compiled once: what the
 * handler returns is handed to the core's NDJSON or text streaming, with each NDJSON item checked
 * first. An item that fails its schema is never written: the stream is aborted instead (what
 * NDJSON does on any error after the first bytes), so the client sees a truncated body, not a
 * wrong line.
 */
export class CompiledStream {
  private readonly item: Schema | undefined;
  private readonly validate: boolean;

  constructor(stream: StreamDeclaration, validate: boolean) {
    this.item = stream.ndjson;
    this.validate = validate;
  }

  wrapReturned(result: unknown): unknown {
    if (typeof result !== 'object' || result === null) return result;
    const iterable = result as AsyncIterable<unknown> | Iterable<unknown>;
    if (this.item === undefined) return textStream(iterable);
    if (!this.validate) return ndjson(iterable);
    return ndjson(checkedItems(iterable, this.item));
  }
}

async function* checkedItems(source: AsyncIterable<unknown> | Iterable<unknown>, schema: Schema) {
  let index = 0;
  for await (const item of source) {
    let checked = check(schema, item, index);
    if (checked instanceof Promise) checked = await checked;
    if (!checked.ok) throw new ResponseValidationError(`NDJSON item ${index}`, checked.problems);
    index++;
    yield checked.value;
  }
}
