// QUIRK_PT_STICKY: QEMU's per-device choice between its remapping address
// space and the pass-through one ("nodmar", identity, no IOTLB, no faults).
// QEMU decides it from guest memory, reading the device's context entry
// (legacy TT=10) or RID_PASID entry (scalable PGTT=100) as it is at that
// moment, only at events: a TE change, SRTP, a context-cache invalidation
// covering the device, and a translation that found pass-through. Between
// events the choice stands, whatever the tables say meanwhile. The spec has
// no such state: every request is looked up (§3.9, §9.3, §9.6).
//
// State: one bit per source id for "a device behind the unit" (every
// requester the core has seen, plus those the host announced) and one for
// "in the pass-through address space".

import { PASID_NONE, QUIRK_PT_STICKY } from '../abi/layout';
import { quirk } from '../cfg';
import { heapAlloc } from '../mem/heap';
import { dcReset, rootTtm } from './device';
import { legacyPassThrough } from './legacy';
import { scalablePassThrough } from './scalable';
import { TTM_LEGACY, TTM_SCALABLE } from '../spec/registers';

const BITMAP_BYTES: u64 = 65536 / 8;
let known: usize = 0;
let identity: usize = 0;

/** Allocate the two per-source-id bitmaps (once, at instantiation).
 *  Returns false when the state region cannot hold them. */
export function ptsInit(): bool {
  known = heapAlloc(BITMAP_BYTES, 64);
  identity = heapAlloc(BITMAP_BYTES, 64);
  return known != 0 && identity != 0;
}

// @ts-ignore: decorator
@inline function bitAt(map: usize, sid: u32): bool {
  return ((<u32>load<u8>(map + (sid >> 3)) >> (sid & 7)) & 1) != 0;
}

// @ts-ignore: decorator
@inline function setBit(map: usize, sid: u32, on: bool): void {
  const p = map + (sid >> 3);
  const m: u32 = 1 << (sid & 7);
  const v = <u32>load<u8>(p);
  store<u8>(p, <u8>(on ? v | m : v & ~m));
}

/** Note `sid` (16 bits) as a device behind the unit. */
export function ptsAddRequester(sid: u32): void {
  setBit(known, sid & 0xffff, true);
}

/** Whether `sid`'s DMA takes the pass-through address space; notes the
 *  requester. Only meaningful while translation is enabled. */
export function ptsIdentity(sid: u32): bool {
  setBit(known, sid, true);
  return bitAt(identity, sid);
}

/** Context-cache dump flags of `sid` (docs/ABI.md): 1 while its DMA takes
 *  the pass-through address space. */
export function ptsDumpFlags(sid: u32): u32 {
  return bitAt(identity, sid & 0xffff) ? 1 : 0;
}

/** Re-decide `sid` from guest memory (QEMU vtd_switch_address_space). */
export function ptsRedecide(sid: u32): void {
  const pt = rootTtm == TTM_LEGACY ? legacyPassThrough(sid) : rootTtm == TTM_SCALABLE ? scalablePassThrough(sid) : false;
  setBit(identity, sid, pt);
  dcReset(false, PASID_NONE); // the decision used the per-request state
}

/** An event QEMU re-decides at (QUIRK_PT_STICKY only): every known device
 *  whose source id equals `sid` in the bits of `mask` (mask 0: every device). */
export function ptsEvent(sid: u32, mask: u32): void {
  if (!quirk(QUIRK_PT_STICKY)) return;
  const want = sid & mask & 0xffff;
  for (let w: u32 = 0; w < 65536 / 32; w++) {
    let bits = load<u32>(known + (w << 2));
    while (bits != 0) {
      const s = (w << 5) | <u32>ctz(bits);
      bits &= bits - 1;
      if ((s & mask) == want) ptsRedecide(s);
    }
  }
}
