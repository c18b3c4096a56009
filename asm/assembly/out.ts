// The translation out-buffer (docs/ABI.md "Translation"): OUT_* u32 words at
// a fixed place in linear memory, written by every translate().

import { OUT_WORDS } from './abi/layout';

/** Base of the out-buffer. */
export const OUT = memory.data(<i32>OUT_WORDS * 4);

/** Store word `k` of the out-buffer. */
// @ts-ignore: decorator
@inline export function outSet(k: u32, v: u32): void {
  store<u32>(OUT + (k << 2), v);
}

/** Load word `k` of the out-buffer. */
// @ts-ignore: decorator
@inline export function outGet(k: u32): u32 {
  return load<u32>(OUT + (k << 2));
}
