import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { compile } from '@fastify/proxy-addr';
import { InvalidArgumentError } from '../errors.ts';
import type { Request } from './request.ts';

/**
 * Which proxies may speak for the client, as {@link Server.setTrustProxy} takes it:
 * - `true`: every hop (only when nothing can reach the server but through your proxies);
 * - a number: that many hops nearest the server (`1`: the one load balancer in front);
 * - addresses and CIDR ranges (`'10.0.0.0/8'`, `['127.0.0.1', 'fc00::/7']`), as a list or a
 *   comma-separated string, with the names `loopback`, `linklocal` and `uniquelocal`;
 * - a function `(addr, hop) => boolean`, asked for each hop from the server outwards (hop 0 is
 *   the peer of the socket).
 *
 * @example
 * ```ts
 * s.setTrustProxy('loopback');           // nginx on the same machine
 * s.setTrustProxy(['10.0.0.0/8'], { header: 'forwarded' });
 * ```
 */
export type TrustProxy =
  | boolean
  | number
  | string
  | readonly string[]
  | ((addr: string, hop: number) => boolean);

/**
 * Options of {@link Server.setTrustProxy}.
 *
 * @example
 * ```ts
 * s.setTrustProxy(1, { header: 'forwarded' }); // the proxy writes RFC 7239 `Forwarded`
 * ```
 */
export interface TrustProxyOptions {
  /**
   * The header family your proxies write: `'x-forwarded'` (`X-Forwarded-For`, `-Proto`,
   * `-Host`; nginx, HAProxy, cloud load balancers; the default) or `'forwarded'` (RFC 7239).
   * Only one is read: a proxy that writes one family passes the other through from the client
   * untouched, so reading both would let any client pick its own address.
   */
  header?: 'x-forwarded' | 'forwarded';
}

/** @internal The compiled trust setting a server keeps. */
export interface ProxyTrust {
  readonly trust: (addr: string, hop: number) => boolean;
  readonly forwarded: boolean;
}

/** @internal What the proxy headers say about a request, as far as they are trusted. */
export interface ProxyView {
  readonly ip: string;
  readonly protocol: 'http' | 'https';
  readonly host: string | undefined;
}

/** @internal Checks and compiles a {@link TrustProxy}; `undefined` means trust nothing. */
export function compileTrust(trust: TrustProxy, options: TrustProxyOptions = {}): ProxyTrust | undefined {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'must be an object { header? }', options);
  }
  const header = options.header ?? 'x-forwarded';
  if (header !== 'x-forwarded' && header !== 'forwarded') {
    throw new InvalidArgumentError('header', "must be 'x-forwarded' or 'forwarded'", header);
  }
  const forwarded = header === 'forwarded';
  if (trust === false) return undefined;
  if (trust === true) return { trust: trustAll, forwarded };
  if (typeof trust === 'number') {
    if (!Number.isSafeInteger(trust) || trust < 0) {
      throw new InvalidArgumentError('trust', 'a number of hops must be a non-negative integer', trust);
    }
    if (trust === 0) return undefined;
    return { trust: (_addr, hop) => hop < trust, forwarded };
  }
  if (typeof trust === 'function') return { trust, forwarded };
  const list = typeof trust === 'string' ? trust.split(',') : trust;
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError(
      'trust',
      'must be true, false, a number of hops, addresses/CIDR ranges or a function (addr, hop) => boolean',
      trust,
    );
  }
  const ranges = list.map((a) => (typeof a === 'string' ? a.trim() : a));
  try {
    return { trust: compile(ranges), forwarded };
  } catch (e) {
    // proxy-addr's TypeError says which entry is wrong; ours adds which argument it came from.
    throw new InvalidArgumentError(
      'trust',
      `must be IP addresses or CIDR ranges: ${(e as Error).message}`,
      trust,
    );
  }
}

function trustAll(): boolean {
  return true;
}

/**
 * @internal Resolves the client's address, protocol and host, walking the proxy chain from the
 * server outwards and stopping at the first hop that is not trusted (`proxy-addr` semantics, as
 * Express and Fastify). With trust set to nothing, only the socket and `Host` are believed.
 */
export function resolveProxy(r: Request): ProxyView {
  const raw = r.raw;
  const socket = raw.socket;
  const socketAddr = socket?.remoteAddress ?? '';
  const socketProtocol = (socket as TLSSocket | undefined)?.encrypted === true ? 'https' : 'http';
  const setting = r.server.proxyTrust;
  if (setting === undefined)
    return { ip: socketAddr, protocol: socketProtocol, host: hostHeader(raw.headers) };
  const headers = raw.headers;
  const elements = setting.forwarded ? parseForwarded(headerText(headers.forwarded)) : undefined;
  const chain =
    elements === undefined
      ? splitList(headerText(headers['x-forwarded-for']))
      : elements.map((e) => stripPort(e.for ?? ''));
  // Walk from the socket outwards: addrs[0] is the socket's peer, addrs[i] the address the
  // trusted hop i-1 says it was talking to; the first untrusted one is the client.
  let hop = 0;
  let ip = socketAddr;
  while (hop < chain.length && isTrusted(r, setting, ip, hop)) {
    ip = chain[chain.length - 1 - hop] ?? '';
    hop++;
  }
  // A trusted peer that forwarded no address (X-Forwarded-Proto without -For) still speaks for
  // the one hop it is.
  if (hop === 0 && (chain.length > 0 || !isTrusted(r, setting, ip, 0))) {
    return { ip, protocol: socketProtocol, host: hostHeader(headers) };
  }
  if (hop === 0) hop = 1;
  let proto: string | undefined;
  let host: string | undefined;
  if (elements !== undefined) {
    // RFC 7239 keeps each hop's for/proto/host together: the element that named the client says
    // how the client reached the proxy.
    const element = elements[elements.length - hop];
    proto = element?.proto;
    host = element?.host;
  } else {
    proto = hopValue(splitList(headerText(headers['x-forwarded-proto'])), hop);
    host = hopValue(splitList(headerText(headers['x-forwarded-host'])), hop);
  }
  const protocol = proto?.toLowerCase();
  return {
    ip,
    protocol: protocol === 'https' || protocol === 'http' ? protocol : socketProtocol,
    host: host !== undefined && HOST.test(host) ? host : hostHeader(headers),
  };
}

/** The Host header, or on HTTP/2 (which has none, as a rule) the `:authority` pseudo-header. */
function hostHeader(headers: IncomingHttpHeaders): string | undefined {
  const authority = headers.host ?? headers[':authority'];
  return typeof authority === 'string' ? authority : undefined;
}

/** A host[:port] as a Host header may hold it, so a proxy's value cannot inject a path or spaces. */
const HOST = /^(?:[A-Za-z0-9._~!$&'()*+;=-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/**
 * The value a trusted hop wrote for the client, when proxies append one value per hop; when the
 * list is shorter (a proxy overwrote rather than appended) its first value, which a trusted proxy
 * wrote all the same.
 */
function hopValue(list: readonly string[], hop: number): string | undefined {
  if (list.length === 0) return undefined;
  return list[Math.max(0, list.length - hop)];
}

function isTrusted(r: Request, setting: ProxyTrust, addr: string, hop: number): boolean {
  try {
    return setting.trust(addr, hop) === true;
  } catch (e) {
    // A user's trust function that throws must not take the request down: it trusts nothing more.
    r.server.logger.error('sluice: the trust proxy function threw; the hop is not trusted', e);
    return false;
  }
}

function headerText(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(',') : (value ?? '');
}

function splitList(value: string): string[] {
  if (value === '') return [];
  const out: string[] = [];
  for (const part of value.split(',')) {
    const v = part.trim();
    if (v !== '') out.push(v);
  }
  return out;
}

/** One element of an RFC 7239 `Forwarded` header; parameter names are case-insensitive. */
interface ForwardedElement {
  for?: string;
  proto?: string;
  host?: string;
}

/**
 * Parses `Forwarded: for=192.0.2.60;proto=https;host=a.example, for="[2001:db8::1]:4711"`: one
 * element per hop, split on commas and then semicolons outside quoted strings. A malformed pair
 * is skipped, never its element: the element count must stay aligned with the hops.
 */
function parseForwarded(value: string): ForwardedElement[] {
  const elements: ForwardedElement[] = [];
  for (const part of splitOutsideQuotes(value, ',')) {
    if (part.trim() === '') continue;
    const element: ForwardedElement = {};
    for (const pair of splitOutsideQuotes(part, ';')) {
      const eq = pair.indexOf('=');
      if (eq === -1) continue;
      const key = pair.slice(0, eq).trim().toLowerCase();
      if (key === 'for' || key === 'proto' || key === 'host')
        element[key] = unquote(pair.slice(eq + 1).trim());
    }
    elements.push(element);
  }
  return elements;
}

function splitOutsideQuotes(value: string, separator: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let k = 0; k < value.length; k++) {
    const c = value[k];
    if (c === '\\' && quoted) k++;
    else if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      parts.push(value.slice(start, k));
      start = k + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}

function unquote(v: string): string {
  if (v.length < 2 || !v.startsWith('"') || !v.endsWith('"')) return v;
  return v.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** `"[2001:db8::1]:4711"` → `2001:db8::1`, `192.0.2.43:47011` → `192.0.2.43`; anything else as it is. */
function stripPort(node: string): string {
  if (node.startsWith('[')) {
    const close = node.indexOf(']');
    return close === -1 ? node : node.slice(1, close);
  }
  const colon = node.indexOf(':');
  // One colon is an IPv4 address (or a name) with a port; more is a bare IPv6 address.
  return colon !== -1 && node.indexOf(':', colon + 1) === -1 ? node.slice(0, colon) : node;
}
