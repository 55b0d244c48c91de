import { inspect } from 'node:util';

const VERBS = 'sdivjfxXoqtT';

/**
 * printf-style formatting with the verbs a GoFrame user writes in
 * `Writef`: `%s` string, `%d`/`%i` integer, `%f` float (`%.2f` precision),
 * `%v` value (JSON for plain objects, string otherwise), `%j` JSON, `%q`
 * quoted string, `%t` boolean, `%x`/`%X` hex, `%o` octal, `%T` type, `%%`.
 * Extra arguments are appended separated by spaces, as Node's `util.format`
 * does, so nothing a caller passes is silently dropped.
 *
 * @example
 * ```ts
 * sprintf('data: %d\n', 7);         // 'data: 7\n'
 * sprintf('%s costs %.2f', 'tea', 3); // 'tea costs 3.00'
 * ```
 */
export function sprintf(format: string, ...args: unknown[]): string {
  // A scan with indexOf rather than a regex replace: writef sits in streaming loops, and this
  // is several times faster for the usual one- or two-verb format.
  let out = '';
  let next = 0;
  let from = 0;
  let at = format.indexOf('%');
  while (at !== -1 && at < format.length - 1) {
    let i = at + 1;
    let precision: number | undefined;
    if (format.charCodeAt(i) === 46 /* . */) {
      let j = i + 1;
      while (j < format.length && format.charCodeAt(j) >= 48 && format.charCodeAt(j) <= 57) j++;
      if (j > i + 1) {
        precision = Number(format.slice(i + 1, j));
        i = j;
      }
    }
    const verb = format[i] ?? '';
    if (verb === '%' && precision === undefined) {
      out += `${format.slice(from, at)}%`;
      from = i + 1;
    } else if (verb !== '' && VERBS.includes(verb) && next < args.length) {
      out += format.slice(from, at) + formatVerb(verb, args[next++], precision);
      from = i + 1;
    }
    at = format.indexOf('%', Math.max(from, at + 1));
  }
  out += format.slice(from);
  for (; next < args.length; next++) out += ` ${toText(args[next])}`;
  return out;
}

function formatVerb(verb: string, arg: unknown, precision: number | undefined): string {
  switch (verb) {
    case 's':
      return toText(arg);
    case 'd':
    case 'i':
      return typeof arg === 'bigint' ? arg.toString() : String(Math.trunc(Number(arg)));
    case 'f':
      return precision === undefined ? String(Number(arg)) : Number(arg).toFixed(precision);
    case 'v':
      return toText(arg);
    case 'j':
      return safeJson(arg);
    case 'q':
      return JSON.stringify(toText(arg));
    case 't':
      return String(Boolean(arg));
    case 'x':
      return Math.trunc(Number(arg)).toString(16);
    case 'X':
      return Math.trunc(Number(arg)).toString(16).toUpperCase();
    case 'o':
      return Math.trunc(Number(arg)).toString(8);
    default:
      return arg === null ? 'null' : Array.isArray(arg) ? 'array' : typeof arg;
  }
}

/**
 * How a value becomes response text: strings as they are, bytes as UTF-8,
 * plain objects and arrays as JSON (what GoFrame's `gconv.String` does for a
 * struct), `null`/`undefined` as nothing.
 */
export function toText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') {
    if (value instanceof Uint8Array)
      return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString();
    if (value instanceof Error) return value.message;
    if (value instanceof Date) return value.toISOString();
    return safeJson(value);
  }
  return String(value);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // A cycle or a BigInt: show something readable rather than fail the response.
    return inspect(value, { depth: 2, breakLength: Number.POSITIVE_INFINITY });
  }
}
