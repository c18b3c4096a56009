/**
 * CRC-32 (IEEE 802.3 polynomial 0xEDB88320, reflected, initial and final
 * value 0xFFFFFFFF: the zlib / PNG checksum) of a snapshot's bytes. It
 * detects every single-bit error and every burst of up to 32 bits, so a
 * flipped or truncated snapshot is refused before anything is read from it
 * (format.ts). Node's zlib computes it where the host has one (`crc32` of
 * node:zlib, reached through process.getBuiltinModule, Node >= 20.16: ~4x
 * the table's speed; every snapshot, restore and fuzzer snapshot step
 * checksums the whole snapshot); elsewhere (browsers, older Node) the
 * table-driven form, slicing by 8 bytes, ~1 GB/s here. Both give the same
 * values (host/tests/snapshot-integrity.test.ts).
 */

/** T[k * 256 + b]: the CRC of byte b followed by k zero bytes (one flat table: faster in V8). */
const T: Int32Array = (() => {
  const t = new Int32Array(256 * 8);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb8_8320 ^ (c >>> 1) : c >>> 1;
    t[b] = c;
  }
  for (let b = 0; b < 256; b++) for (let k = 1; k < 8; k++) t[k * 256 + b] = (t[(k - 1) * 256 + b]! >>> 8) ^ t[t[(k - 1) * 256 + b]! & 0xff]!;
  return t;
})();

type Crc32 = (bytes: Uint8Array, crc: number) => number;

/** node:zlib's crc32 when the host has one (looked up without importing node:zlib, so browsers load this file too). */
const native: Crc32 | undefined = (() => {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => { crc32?: unknown } | undefined } }).process;
  const fn = proc?.getBuiltinModule?.('node:zlib')?.crc32;
  return typeof fn === 'function' ? (fn as Crc32) : undefined;
})();

/** CRC-32 of `bytes`, continuing from `crc` (the result of an earlier call over the preceding bytes; 0 to start). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  return native ? native(bytes, crc >>> 0) : crc32Table(bytes, crc);
}

/** True when `crc32` is node:zlib's (the tests compare it with `crc32Table`). */
export const crc32IsNative = native !== undefined;

/** The table-driven CRC-32 (`crc32` where the host has no native one). */
export function crc32Table(bytes: Uint8Array, crc = 0): number {
  let c = ~crc;
  let i = 0;
  const n = bytes.length;
  for (const n8 = n & ~7; i < n8; i += 8) {
    const a = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    const b = bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24);
    c = T[1792 + (a & 0xff)]! ^ T[1536 + ((a >>> 8) & 0xff)]! ^ T[1280 + ((a >>> 16) & 0xff)]! ^ T[1024 + (a >>> 24)]!
      ^ T[768 + (b & 0xff)]! ^ T[512 + ((b >>> 8) & 0xff)]! ^ T[256 + ((b >>> 16) & 0xff)]! ^ T[b >>> 24]!;
  }
  for (; i < n; i++) c = T[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
