// The translation out-buffer (docs/ABI.md "Translation"): OUT_* u32 words in
// the state region, written by every translate().

import { OUT_ADDR_HI, OUT_ADDR_LO, OUT_DID, OUT_FAULT_FLAGS, OUT_PAGE_LG2, OUT_PERMS, OUT_SOURCE, OUT_STATUS, OUT_WORDS } from './abi/layout';
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

/** Write a successful translation (both front ends): output address, page
 *  size log2, permissions, domain tag (VT-d DID, SMMU VMID), source. Returns 0. */
// @ts-ignore: decorator
@inline export function outSucceed(addr: u64, lg2: u32, perms: u32, did: u32, src: u32): u32 {
  outSet(OUT_STATUS, 0);
  outSet(OUT_ADDR_LO, <u32>addr);
  outSet(OUT_ADDR_HI, <u32>(addr >> 32));
  outSet(OUT_PAGE_LG2, lg2);
  outSet(OUT_PERMS, perms);
  outSet(OUT_FAULT_FLAGS, 0);
  outSet(OUT_DID, did);
  outSet(OUT_SOURCE, src);
  return 0;
}
