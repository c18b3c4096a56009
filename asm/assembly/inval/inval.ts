// Invalidation primitives, one per spec scope (§6.5.2 descriptors, §11.4.6
// CCMD, §11.4.8 IOTLB registers; docs/ABI.md table). Domain- and
// PASID-selective scopes bump generation counters (cache/gen.ts) and never
// scan a cache; page-selective scopes probe only the sets the pages map to.

import { PASID_NONE, QUIRK_IOTLB_BEFORE_CONTEXT, QUIRK_PSI_ALIAS, STAT_INVALIDATIONS } from '../abi/layout';
import { quirk } from '../cfg';
import { bump } from '../stats';
import { bumpBucket, bumpDid, SPACE_CTX, SPACE_IOTLB, SPACE_PASID, SPACE_PSC } from '../cache/gen';
import { ccDropAll, ccDropSid } from '../cache/context-cache';
import { pcDropAll } from '../cache/pasid-cache';
import { indexKey, iotlbDropAll, iotlbDropRange, MATCH_ANY_PASID, NO_KEY } from '../cache/iotlb';
import { pscDropAll } from '../cache/psc';
import { fsDomainMay } from '../cache/fs-domains';
import { rootTtm } from '../ctx/device';
import { ptsEvent } from '../ctx/pt-space';
import { TTM_LEGACY, TTM_SCALABLE } from '../spec/registers';

/** Every cache (SRTP, TE change, reset, configuration change); QEMU also
 *  decides every device's address space again then (QUIRK_PT_STICKY). */
export function invalidateAll(): void {
  bump(STAT_INVALIDATIONS);
  ccDropAll();
  pcDropAll();
  iotlbDropAll();
  pscDropAll();
  ptsEvent(0, 0);
}

/** Context cache, global (CCMD/descriptor G=01). PASID-cache entries hang
 *  off context entries, so they go too (an allowed over-invalidation). */
export function invContextGlobal(): void {
  bump(STAT_INVALIDATIONS);
  ccDropAll();
  pcDropAll();
  ptsEvent(0, 0);
}

/** Context cache, domain-selective (G=10). Scalable-mode context entries
 *  carry no DID, so in scalable mode this is done as global. */
export function invContextDomain(did: u32): void {
  bump(STAT_INVALIDATIONS);
  ptsEvent(0, 0); // QEMU does every domain-selective context invalidation as global
  if (rootTtm == TTM_SCALABLE) { ccDropAll(); pcDropAll(); return; }
  bumpDid(SPACE_CTX, did);
}

/** Context cache, device-selective (G=11): the SIDs `sid` names with
 *  function mask fm (0 none, 1 SID[2], 2 SID[2:1], 3 SID[2:0] masked). */
export function invContextDevice(did: u32, sid: u32, fm: u32): void {
  bump(STAT_INVALIDATIONS);
  const mask: u32 = fm == 1 ? 4 : fm == 2 ? 6 : fm == 3 ? 7 : 0;
  for (let v: u32 = 0; v < 8; v++) {
    if ((v & ~mask) == 0) ccDropSid(((sid & 0xffff) & ~mask) | v);
  }
  if (rootTtm == TTM_SCALABLE) pcDropAll();
  ptsEvent(sid, ~mask & 0xffff);
}

/** IOTLB and paging-structure caches, global. */
export function invIotlbGlobal(): void {
  bump(STAT_INVALIDATIONS);
  iotlbDropAll();
  pscDropAll();
}

/** IOTLB and paging-structure caches of one domain (all PASIDs). O(1). */
export function invIotlbDomain(did: u32): void {
  bump(STAT_INVALIDATIONS);
  bumpDid(SPACE_IOTLB, did);
  bumpDid(SPACE_PSC, did);
}

// [start, last] of 2^am pages from addr, aligned down.
let rangeStart: u64 = 0;
let rangeLast: u64 = 0;
function pageRange(addr: u64, am: u32): void {
  const lg2: u64 = 12 + <u64>(am > 52 ? 52 : am);
  rangeStart = addr & ~((<u64>1 << lg2) - 1);
  rangeLast = lg2 >= 64 ? <u64>-1 : rangeStart + ((<u64>1 << lg2) - 1);
}

/** Page-selective within a domain (§6.5.2.3 G=11, §11.4.8 IIRG=11): the
 *  entries of `did` for 2^am pages from addr (aligned down), all PASIDs.
 *  The address is a second-stage input address, which first-stage and
 *  nested entries are not tagged with, so in scalable mode §6.5.2.3 has
 *  every first-stage (PGTT=001b) and nested (PGTT=011b) entry of the domain
 *  go, whatever its address, and their paging-structure entries whatever
 *  IH (only domains that may hold any: cache/fs-domains.ts). ih=0 also
 *  drops the domain's second-stage paging-structure entries (the whole
 *  domain's: over-invalidation is allowed). QUIRK_PSI_ALIAS reproduces
 *  QEMU 7.2's 8-bit page-number compare. */
export function invIotlbPage(did: u32, addr: u64, am: u32, ih: u32): void {
  bump(STAT_INVALIDATIONS);
  pageRange(addr, am);
  // Legacy mode: every entry of the domain carries PASID_NONE and none is
  // first-stage, so the sets of the range are known; in scalable mode
  // (every PASID) the table is scanned.
  const legacy = rootTtm == TTM_LEGACY;
  const key = legacy && !quirk(QUIRK_IOTLB_BEFORE_CONTEXT) ? indexKey(did, PASID_NONE) : NO_KEY;
  const allFs = !legacy && fsDomainMay(did);
  iotlbDropRange(did, MATCH_ANY_PASID, false, rangeStart, rangeLast, quirk(QUIRK_PSI_ALIAS), am, key, allFs);
  if (ih == 0 || allFs) bumpDid(SPACE_PSC, did);
}

/** PASID-selective PASID-based IOTLB invalidation (type 6 G=10): first- and
 *  second-stage entries of (did, pasid) and its paging-structure entries. */
export function invPasidIotlb(did: u32, pasid: u32): void {
  bump(STAT_INVALIDATIONS);
  bumpBucket(SPACE_IOTLB, did, pasid);
  bumpBucket(SPACE_PSC, did, pasid);
}

/** Page-selective PASID-based IOTLB invalidation (type 6 G=11): first-stage
 *  (and nested) entries of (did, pasid) for 2^am pages; ih=0 also drops the
 *  PASID's first-stage paging-structure entries. */
export function invPasidIotlbPage(did: u32, pasid: u32, addr: u64, am: u32, ih: u32): void {
  bump(STAT_INVALIDATIONS);
  pageRange(addr, am);
  iotlbDropRange(did, pasid, true, rangeStart, rangeLast, false, am, indexKey(did, pasid));
  if (ih == 0) bumpBucket(SPACE_PSC, did, pasid);
}

/** PASID-cache invalidation (type 7): granularity 0 domain, 1 PASID in
 *  domain, 3 global. Returns false for the reserved granularity 2. */
export function invPasidCache(granularity: u32, did: u32, pasid: u32): bool {
  bump(STAT_INVALIDATIONS);
  if (granularity == 0) bumpDid(SPACE_PASID, did);
  else if (granularity == 1) bumpBucket(SPACE_PASID, did, pasid);
  else if (granularity == 3) pcDropAll();
  else return false;
  return true;
}
