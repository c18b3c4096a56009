// The translation out-buffer (docs/ABI.md "Translation"): OUT_* u32 words in
// the state region, written by every translate().

import { OUT_WORDS } from './abi/layout';
import { heapAlloc } from './mem/heap';

/** Base of the out-buffer (set once, at instantiation). */
export let OUT: usize = 0;

/** Allocate the out-buffer. Returns false when the state region cannot hold it. */
export function outInit(): bool {
  OUT = heapAlloc(<u64>OUT_WORDS * 4, 64);
  return OUT != 0;
}

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
