// SMMUv3 invalidation scopes the VT-d primitives (inval.ts) do not have
// (IHI 0070 §4.4; docs/ABI.md "SMMUv3 translation"). The other TLBI_*
// commands map onto inval.ts as the ABI table says.

import { STAT_INVALIDATIONS } from '../abi/layout';
import { bump } from '../stats';
import { bumpDid, SPACE_PSC } from '../cache/gen';
import { iotlbDropRange, MATCH_ANY_PASID, NO_KEY } from '../cache/iotlb';

/** TLBI_NH_VAA (§4.4.3): stage-1 and nested entries of VMID `vmid` for the
 *  2^am 4 KiB pages from `addr` (aligned down), every ASID. Entries are
 *  indexed by (VMID, ASID), so the table is scanned. `leaf` = 0 also drops
 *  the VMID's paging-structure entries (over-invalidation allowed). */
export function armInvVaa(vmid: u32, addr: u64, am: u32, leaf: bool): void {
  bump(STAT_INVALIDATIONS);
  const lg2: u64 = 12 + <u64>(am > 52 ? 52 : am);
  const start = addr & ~((<u64>1 << lg2) - 1);
  const last = lg2 >= 64 ? <u64>-1 : start + ((<u64>1 << lg2) - 1);
  iotlbDropRange(vmid, MATCH_ANY_PASID, true, start, last, false, am, NO_KEY);
  if (!leaf) bumpDid(SPACE_PSC, vmid);
}
