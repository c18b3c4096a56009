/**
 * Filling guest RAM or core memory with one byte value. On a shared
 * buffer (the fuzzer's coverage core, host/src/core/load.ts) V8's
 * `TypedArray.prototype.fill` stores byte by byte, ~1.2 us per 4 KiB page
 * against ~0.17 us for copying a page that already holds the value; on a
 * plain buffer both cost ~0.08 us, and `fill` stays.
 */

const BLOCK = 4096;
const blocks = new Map<number, Uint8Array>();
/** Undefined in a browser page that is not cross-origin isolated. */
const Shared: typeof SharedArrayBuffer | undefined = globalThis.SharedArrayBuffer;

/** `u8.fill(byte, start, end)`, by copies of a filled 4 KiB block where `u8` is over a shared buffer. */
export function fillBytes(u8: Uint8Array<ArrayBufferLike>, byte: number, start: number, end: number): void {
  let at = start;
  if (end - at >= BLOCK && Shared !== undefined && u8.buffer instanceof Shared) {
    let block = blocks.get(byte);
    if (block === undefined) {
      block = new Uint8Array(BLOCK).fill(byte);
      blocks.set(byte, block);
    }
    for (; end - at >= BLOCK; at += BLOCK) u8.set(block, at);
  }
  if (at < end) u8.fill(byte, at, end);
}
