import type { OutgoingHttpHeader, ServerResponse } from 'node:http';
import { InvalidArgumentError, ResponseCommittedError } from '../errors.ts';

/**
 * What the header view asks of its response; `writtenHead()` is a head given to Node as a list
 * of names and values, which `getHeader()` cannot see. Not exported and not marked internal: the
 * published declarations keep it, as the constructor's type names it.
 */
type HeaderOwner = { isCommitted(): boolean; writtenHead(): readonly string[] | undefined };

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
  /** @internal */ readonly owner: HeaderOwner;

  constructor(raw: ServerResponse, owner: HeaderOwner) {
    this.raw = raw;
    this.owner = owner;
  }

  /**
   * The value of a header, joined with ", " when it was set several times; Set-Cookie values are
   * joined with a newline instead, since a cookie's own `Expires` holds a comma.
   */
  get(name: string): string | undefined {
    const v = this.raw.getHeader(name) ?? this.sent(name);
    if (v === undefined) return undefined;
    return Array.isArray(v) ? (name.toLowerCase() === 'set-cookie' ? v.join('\n') : v.join(', ')) : String(v);
  }

  /** Replaces a header. A value with CR, LF or another control character is refused, never sent. */
  set(name: string, value: string | number | readonly string[]): this {
    this.guard('set', name);
    checkName(name);
    checkValue(value);
    this.raw.setHeader(name, value as OutgoingHttpHeader);
    return this;
  }

  /** Adds a value to a header, keeping the ones it had. */
  append(name: string, value: string | readonly string[]): this {
    this.guard('append', name);
    checkName(name);
    checkValue(value);
    this.raw.appendHeader(name, value as string | string[]);
    return this;
  }

  /** Removes a header. */
  delete(name: string): this {
    this.guard('delete', name);
    checkName(name);
    this.raw.removeHeader(name);
    return this;
  }

  /** Tells whether a header is set. */
  has(name: string): boolean {
    return this.raw.hasHeader(name) || this.sent(name) !== undefined;
  }

  /** All headers, names in lower case. */
  toObject(): Record<string, string | number | string[] | undefined> {
    const head = this.owner.writtenHead();
    if (head === undefined) return { ...this.raw.getHeaders() };
    const all: Record<string, string> = {};
    for (let i = 0; i < head.length; i += 2) all[(head[i] as string).toLowerCase()] = head[i + 1] as string;
    return all;
  }

  /** A header of a head Node was given as a list, which it sends without keeping (see `writtenHead`). */
  private sent(name: string): string | undefined {
    const head = this.owner.writtenHead();
    if (head === undefined) return undefined;
    const lower = name.toLowerCase();
    for (let i = 0; i < head.length; i += 2)
      if ((head[i] as string).toLowerCase() === lower) return head[i + 1];
    return undefined;
  }

  /** The message is built only when the change is refused: every header set would pay for it. */
  private guard(verb: 'set' | 'append' | 'delete', name: string): void {
    if (this.owner.isCommitted()) throw new ResponseCommittedError(`${verb} header "${name}"`);
  }
}

/** RFC 9110 token characters: what Node accepts as a header name. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What Node refuses in a header value (it would otherwise allow response splitting). */
const BAD_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

// Checked here rather than left to Node, whose ERR_INVALID_* errors name neither the argument nor
// the rule and would surface as a 500 far from the call.
function checkName(name: string): void {
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    throw new InvalidArgumentError(
      'name',
      "must be a header name: letters, digits and !#$%&'*+-.^_`|~",
      name,
    );
  }
}

function checkValue(value: unknown): void {
  if (typeof value === 'number' && Number.isFinite(value)) return;
  // One string, the common case, without the array a loop over one value would need.
  if (!Array.isArray(value)) {
    checkOne(value);
    return;
  }
  for (const v of value) checkOne(v);
}

function checkOne(v: unknown): void {
  if (typeof v !== 'string') {
    throw new InvalidArgumentError('value', 'must be a string, a finite number or an array of strings', v);
  }
  if (BAD_VALUE_CHAR.test(v)) {
    throw new InvalidArgumentError(
      'value',
      'must not contain CR, LF, other control characters or characters above U+00FF',
      v,
    );
  }
}
