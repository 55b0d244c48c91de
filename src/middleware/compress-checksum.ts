/**
 * The checksums that close a gzip (CRC-32) and a zlib (Adler-32) body, for
 * the shared channel path, which writes those wrappers itself: each
 * subscriber's trailer covers exactly the bytes that subscriber was sent.
 * `zlib.crc32` is native from Node 22.2; older versions get a table in JS.
 */
import zlib from 'node:zlib';

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** @internal The CRC-32 (gzip's) of `data` continued from `crc`. */
export function crc32(data: Uint8Array, crc: number): number {
  if (nativeCrc32 !== undefined) return nativeCrc32(data, crc);
  table ??= crcTable();
  const t = table;
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = (t[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

/** Bytes that can be summed before the Adler-32 sums need reducing (zlib's NMAX). */
const ADLER_RUN = 5552;

/** @internal The Adler-32 (zlib's) of `data` continued from `adler` (1 to start). */
export function adler32(data: Uint8Array, adler: number): number {
  let a = adler & 0xffff;
  let b = adler >>> 16;
  let i = 0;
  while (i < data.length) {
    const end = Math.min(data.length, i + ADLER_RUN);
    for (; i < end; i++) {
      a += data[i] as number;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}
