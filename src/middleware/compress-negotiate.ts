/**
 * Choosing a content coding from `Accept-Encoding` (RFC 9110 §12.5.3), as
 * `@fastify/compress` and nginx do: the highest q-value wins, the server's
 * order breaks ties, `q=0` refuses, `*` stands for every coding not named,
 * `x-gzip` is `gzip`. A client that ranks `identity` above every coding we
 * offer gets the body as it is. A client whose `identity;q=0` we cannot
 * honour (nothing it accepts is offered) gets it as it is too, rather than a
 * 406 (what nginx and Fastify do as well).
 */

/**
 * A content coding `compress()` can produce. `deflate` is the zlib format
 * (RFC 1950), which is what HTTP's `deflate` names.
 *
 * @example
 * ```ts
 * const order: Coding[] = ['gzip', 'br']; // compress({ encodings: order }): gzip first on a tie
 * ```
 */
export type Coding = 'br' | 'gzip' | 'deflate';

/** @internal Every coding, in the default order of preference. */
export const CODINGS: readonly Coding[] = ['br', 'gzip', 'deflate'];

const QVALUE = /^\s*q\s*=\s*(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\s*$/i;

/**
 * @internal The coding to answer a request's `Accept-Encoding` with, among `offered` (in the
 * server's order of preference), or `undefined` for none.
 */
export function negotiate(header: string, offered: readonly Coding[]): Coding | undefined {
  let star: number | undefined;
  let identity: number | undefined;
  const q: Partial<Record<Coding, number>> = {};
  for (const part of header.split(',')) {
    const semi = part.indexOf(';');
    const name = (semi === -1 ? part : part.slice(0, semi)).trim().toLowerCase();
    if (name === '') continue;
    const weight = semi === -1 ? 1 : qOf(part.slice(semi + 1));
    if (name === '*') star = Math.max(star ?? 0, weight);
    else if (name === 'identity') identity = Math.max(identity ?? 0, weight);
    else {
      const coding = name === 'x-gzip' ? 'gzip' : name;
      if (coding === 'br' || coding === 'gzip' || coding === 'deflate')
        q[coding] = Math.max(q[coding] ?? 0, weight);
    }
  }
  let best: Coding | undefined;
  let bestQ = 0;
  for (const coding of offered) {
    const weight = q[coding] ?? star ?? 0;
    // Strictly greater: on a tie the earlier (preferred) coding stays.
    if (weight > bestQ) {
      best = coding;
      bestQ = weight;
    }
  }
  // Named explicitly and ranked higher: the client would rather have the bytes as they are.
  if (identity !== undefined && identity > bestQ) return undefined;
  return best;
}

/** The q-value among a coding's parameters; 1 without one, 0 (refused) when it is malformed. */
function qOf(params: string): number {
  for (const param of params.split(';')) {
    if (!/^\s*q\s*=/i.test(param)) continue;
    const m = QVALUE.exec(param);
    return m === null ? 0 : Number(m[1]);
  }
  return 1;
}

/**
 * @internal A small memo of `negotiate` per middleware: browsers send a handful of distinct
 * headers, so parsing each request's again would be wasted work. Bounded: a client sending a new
 * header per request empties it rather than growing it.
 */
export class NegotiationCache {
  private readonly offered: readonly Coding[];
  private readonly memo = new Map<string, Coding | null>();

  constructor(offered: readonly Coding[]) {
    this.offered = offered;
  }

  choose(header: string): Coding | undefined {
    const hit = this.memo.get(header);
    if (hit !== undefined) return hit ?? undefined;
    const chosen = negotiate(header, this.offered);
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    if (header.length <= MEMO_KEY_LIMIT) this.memo.set(header, chosen ?? null);
    return chosen;
  }
}

const MEMO_LIMIT = 64;
const MEMO_KEY_LIMIT = 256;
