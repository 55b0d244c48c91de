import type { OutgoingHttpHeader, ServerResponse } from 'node:http';
import { InvalidArgumentError, ResponseCommittedError } from '../errors.ts';

/**
 * What the header view asks of its response; `writtenHead()` is a head given to Node as a list
 * of names and values, which `getHeader()` cannot see. Not exported and not marked internal: the
 * published declarations keep it, as the constructor's type names it.
 */
type HeaderOwner = { isCommitted(): boolean; writtenHead(): readonly string[] | undefined };
type HeaderValue = string | number | readonly string[];

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
  /**
   * What was set here and not given to Node's own header map, as (lower-case name, name, value)
   * triples in the order set: a buffered response hands them to one `writeHead` with its type and
   * length (see `takeHead`), as Fastify sends its head, where `setHeader` would make Node build a
   * dictionary-mode map, intern each name and walk the map again to render the head.
   */
  private held: (string | HeaderValue)[] | undefined = undefined;
  /**
   * The list `takeHead` gave Node's `writeHead`, which Node sends without keeping: reads after the
   * head went out look here.
   */
  private given: OutgoingHttpHeader[] | undefined = undefined;
  /**
   * Whether changes go to Node's map: once the response's Node object was handed out (an
   * escape hatch, a middleware, `send`) the held headers were moved there, and two stores would
   * disagree on which change came last.
   */
  private direct = false;

  constructor(raw: ServerResponse, owner: HeaderOwner) {
    this.raw = raw;
    this.owner = owner;
  }

  /**
   * The value of a header, joined with ", " when it was set several times; Set-Cookie values are
   * joined with a newline instead, since a cookie's own `Expires` holds a comma.
   */
  get(name: string): string | undefined {
    const v = this.find(name) ?? this.raw.getHeader(name) ?? this.sent(name);
    if (v === undefined) return undefined;
    return Array.isArray(v) ? (name.toLowerCase() === 'set-cookie' ? v.join('\n') : v.join(', ')) : String(v);
  }

  /** Replaces a header. A value with CR, LF or another control character is refused, never sent. */
  set(name: string, value: string | number | readonly string[]): this {
    this.guard('set', name);
    checkName(name);
    checkValue(value);
    if (this.holding()) this.hold(name, value, false);
    else this.raw.setHeader(name, value as OutgoingHttpHeader);
    return this;
  }

  /** Adds a value to a header, keeping the ones it had. */
  append(name: string, value: string | readonly string[]): this {
    this.guard('append', name);
    checkName(name);
    checkValue(value);
    if (this.holding()) this.hold(name, value, true);
    else this.raw.appendHeader(name, value as string | string[]);
    return this;
  }

  /** Removes a header. */
  delete(name: string): this {
    this.guard('delete', name);
    checkName(name);
    this.drop(name.toLowerCase());
    this.raw.removeHeader(name);
    return this;
  }

  /** Tells whether a header is set. */
  has(name: string): boolean {
    return this.find(name) !== undefined || this.raw.hasHeader(name) || this.sent(name) !== undefined;
  }

  /**
   * @internal {@link has} for a name already in lower case. While the view holds headers, Node's
   * map is empty and nothing was sent: the held list alone answers, with no case folding.
   */
  hasLower(lower: string): boolean {
    const held = this.held;
    if (held !== undefined && !this.direct) return indexIn(held, lower) >= 0;
    return this.has(lower);
  }

  /** All headers, names in lower case. */
  toObject(): Record<string, string | number | string[] | undefined> {
    const head = this.given ?? this.owner.writtenHead();
    const all: Record<string, HeaderValue | undefined> = {};
    if (head === undefined) Object.assign(all, this.raw.getHeaders());
    else
      for (let i = 0; i < head.length; i += 2) all[(head[i] as string).toLowerCase()] = head[i + 1] as string;
    const held = this.held;
    if (held !== undefined) for (let i = 0; i < held.length; i += 3) all[held[i] as string] = held[i + 2];
    return all as Record<string, string | number | string[] | undefined>;
  }

  /**
   * @internal Moves the held headers into Node's map, and from now on changes go there too: called
   * whenever the response's Node object is read (`Response.raw`), so whoever reads or writes
   * headers on it sees every header set here, in the order set.
   */
  release(): void {
    if (this.direct) return;
    this.direct = true;
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    for (let i = 0; i < held.length; i += 3) {
      this.raw.setHeader(held[i + 1] as string, held[i + 2] as OutgoingHttpHeader);
    }
  }

  /**
   * @internal The held headers as the name/value list `writeHead` takes, with the buffered body's
   * `type` and `length` when given (the list is kept, for later reads); `undefined` when none are
   * held. A committed response refuses changes, so the view is done holding.
   */
  takeHead(type: string | undefined, length: number | undefined): OutgoingHttpHeader[] | undefined {
    const held = this.held;
    if (held === undefined || this.direct) return undefined;
    this.direct = true;
    this.held = undefined;
    // Sized once: pushing the type and length onto the held list grew it to twenty slots.
    const n = (held.length / 3) * 2;
    const head = new Array<OutgoingHttpHeader>(
      n + (type === undefined ? 0 : 2) + (length === undefined ? 0 : 2),
    );
    for (let i = 0, j = 0; j < n; i += 3, j += 2) {
      head[j] = held[i + 1] as string;
      head[j + 1] = held[i + 2] as OutgoingHttpHeader;
    }
    let j = n;
    if (type !== undefined) {
      head[j++] = 'Content-Type';
      head[j++] = type;
    }
    // A string, as Node would make of it: a number there sends Node's value check (a regex test
    // per header) down its generic path, where all-string values stay on the fast one.
    if (length !== undefined) {
      head[j] = 'Content-Length';
      head[j + 1] = `${length}`;
    }
    this.given = head;
    return head;
  }

  /**
   * @internal {@link takeHead} for an event stream's head: its headers (`head`, a name/value list)
   * replace the held ones of their names, and a held length or encoding, which described a body
   * of the handler's own, goes: what `setHeader`/`removeHeader` would have left in Node's map.
   */
  takeStreamHead(head: readonly string[]): OutgoingHttpHeader[] | undefined {
    if (this.held === undefined || this.direct) return undefined;
    this.drop('content-length');
    this.drop('content-encoding');
    for (let i = 0; i < head.length; i += 2) this.hold(head[i] as string, head[i + 1] as string, false);
    return this.takeHead(undefined, undefined);
  }

  private drop(lower: string): void {
    const held = this.held;
    const at = held === undefined ? -1 : indexIn(held, lower);
    if (at >= 0) held?.splice(at, 3);
  }

  /** A held header's value. */
  private find(name: string): HeaderValue | undefined {
    const held = this.held;
    if (held === undefined) return undefined;
    const at = indexIn(held, name.toLowerCase());
    return at < 0 ? undefined : (held[at + 2] as HeaderValue);
  }

  /**
   * Whether a change is held rather than made in Node's map: only while that map is empty (it
   * stays so, as every other reader of Node's response goes through `release()` first), so the
   * head keeps the order headers were set in, as Node's map would.
   */
  private holding(): boolean {
    if (this.direct) return false;
    if (this.held !== undefined || this.raw.getHeaderNames().length === 0) return true;
    this.direct = true;
    return false;
  }

  private hold(name: string, value: HeaderValue, append: boolean): void {
    const lower = name.toLowerCase();
    const held = this.held;
    // The first header makes the list as a literal, where push() onto [] would grow it at once.
    if (held === undefined) this.held = [lower, name, value];
    else {
      const at = indexIn(held, lower);
      if (at < 0) held.push(lower, name, value);
      else if (!append) {
        // Node's setHeader keeps the place of a name set before, under the case given last.
        held[at + 1] = name;
        held[at + 2] = value;
      } else held[at + 2] = ([] as string[]).concat(held[at + 2] as string, value as string);
    }
  }

  /** A header of a head Node was given as a list, which it sends without keeping (see `writtenHead`). */
  private sent(name: string): OutgoingHttpHeader | undefined {
    const head = this.given ?? this.owner.writtenHead();
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

/** Where the triple of a lower-case name starts in a held list, or -1. */
function indexIn(held: readonly unknown[], lower: string): number {
  for (let i = 0; i < held.length; i += 3) if (held[i] === lower) return i;
  return -1;
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
