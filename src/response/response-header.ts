import type { OutgoingHttpHeader, ServerResponse } from 'node:http';
import { InvalidArgumentError, ResponseCommittedError } from '../errors.ts';

/**
 * The response headers, as GoFrame's `r.Response.Header()`. Reads always
 * work; a change after the response was committed throws
 * {@link ResponseCommittedError} instead of being silently lost.
 *
 * @example
 * ```ts
 * r.response.header.set('Cache-Control', 'no-store');
 * r.response.header.append('Set-Cookie', 'a=1');
 * r.response.header.get('cache-control'); // 'no-store'
 * ```
 */
export class ResponseHeader {
  /** @internal */ readonly raw: ServerResponse;
  /** @internal */ readonly owner: { isCommitted(): boolean };

  constructor(raw: ServerResponse, owner: { isCommitted(): boolean }) {
    this.raw = raw;
    this.owner = owner;
  }

  /** The value of a header, joined with ", " when it was set several times (Set-Cookie stays an array). */
  get(name: string): string | undefined {
    const v = this.raw.getHeader(name);
    if (v === undefined) return undefined;
    return Array.isArray(v) ? (name.toLowerCase() === 'set-cookie' ? v.join('\n') : v.join(', ')) : String(v);
  }

  /** Replaces a header. */
  set(name: string, value: string | number | readonly string[]): this {
    this.guard(`set header "${name}"`);
    checkName(name);
    this.raw.setHeader(name, value as OutgoingHttpHeader);
    return this;
  }

  /** Adds a value to a header, keeping the ones it had. */
  append(name: string, value: string | readonly string[]): this {
    this.guard(`append header "${name}"`);
    checkName(name);
    this.raw.appendHeader(name, value as string | string[]);
    return this;
  }

  /** Removes a header. */
  delete(name: string): this {
    this.guard(`delete header "${name}"`);
    this.raw.removeHeader(name);
    return this;
  }

  /** Tells whether a header is set. */
  has(name: string): boolean {
    return this.raw.hasHeader(name);
  }

  /** All headers, names in lower case. */
  toObject(): Record<string, string | number | string[] | undefined> {
    return { ...this.raw.getHeaders() };
  }

  private guard(attempted: string): void {
    if (this.owner.isCommitted()) throw new ResponseCommittedError(attempted);
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError('name', 'must be a non-empty header name', name);
  }
}
