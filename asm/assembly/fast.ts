// The IOTLB-hit fast path: the common request (scalable mode, or legacy mode
// through a translated context) answered from its decoded setup
// (cache/setup-cache.ts) and one IOTLB probe, without the
// per-request state of ctx/device.ts. translate.ts and batch.ts try it
// first; anything it does not settle takes the full path (translateFull),
// which then knows what the probe found.
//
// tryFast changes nothing (no counter, no LRU tick); commitFast then does
// exactly what the full path would do for the same hit: context-cache,
// PASID-cache (scalable) and IOTLB hit counters, LRU tick.

import {
  ACC_EXEC, ACC_NO_AD, ACC_READ, ACC_TRANSLATION_REQ, ACC_WRITE, BRES_ADDR_HI, BRES_ADDR_LO, BRES_PAGE, BRES_STATUS, CFG_ECAP_SC, CFG_HAW,
  CFG_QUIRKS, CFG_SSLPS, STAT_CTX_HITS, STAT_IOTLB_MISSES, STAT_PASID_HITS, STAT_PSC_HITS, STAT_PTE_READS, STAT_WALKS,
} from './abi/layout';
import { cfg } from './cfg';
import { ramOffset } from './mem/ram';
import { pscPerms, pscRemembered, pscTable } from './cache/psc';
import { ptIndex, SNP_LEAF_OK, SNP_RESERVED, SS_ADDR_MASK, SS_R, SS_W, ssReserved } from './spec/ss-pte';
import { XK_SS } from './ctx/device';
import { bump } from './stats';
import { scDid, scFind, scFlags, scInputOk, scProbeKey, scTag, SF_KIND_MASK, SF_LEGACY, SF_SSEE } from './cache/setup-cache';
import { heapAlloc } from './mem/heap';
import { entryOutput, entryPerms, iotlbEpochGen, iotlbInsert, iotlbProbeFast, iotlbTouch, PROBE_UNSURE } from './cache/iotlb';
import { INTR_LAST, INTR_START, P_DIRTY, P_FAR, P_R, P_W, P_X, PSC_VTD_SS } from './pt/walk';

/** tryFast: the IOTLB has no entry for the request (probed, nothing committed). */
export const FAST_MISS: usize = 0;
/** tryFast: not the common case, take the full path (the IOTLB probe's
 *  PROBE_UNSURE is one). */
export const NOT_FAST: usize = PROBE_UNSURE;

/** The decoded-setup entry the last tryFast found (0: none). */
export let fastSetup: usize = 0;

/** Set fastSetup (the batch loop finds setups itself). */
// @ts-ignore: decorator
@inline export function setFastSetup(s: usize): void { fastSetup = s; }

/** The permissions (P_*) a request needs: W for writes, R unless it is a
 *  pure write (neither R nor W means a read), X for execute. */
// @ts-ignore: decorator
@inline export function neededPerms(access: u32): u32 {
  return ((access & ACC_WRITE) != 0 ? P_W : 0) | ((access & ACC_EXEC) != 0 ? P_X : 0) |
    ((access & (ACC_WRITE | ACC_READ)) != ACC_WRITE ? P_R : 0);
}

/** Request bit no IOTLB entry has: set in the needs of requests the fast
 *  path never answers (translation requests). */
const P_NEVER: u32 = 128;
/** Entry bits a fast hit needs, by the request's access bits (ACC_* below
 *  128): its permissions (neededPerms), D for a write that sets A/D
 *  (a write to a clean first-stage page walks again), P_FAR (pages near
 *  the interrupt range take the full path), P_NEVER for translation
 *  requests. One load and one and-not per request. */
let NEEDS: usize = 0;

/** Fill the needs table (once, at instantiation). Returns false when the
 *  state region cannot hold it. */
export function fastInit(): bool {
  NEEDS = heapAlloc(128, 64);
  if (NEEDS == 0) return false;
  for (let a: u32 = 0; a < 128; a++) {
    let need = neededPerms(a) | P_FAR;
    if ((a & (ACC_WRITE | ACC_NO_AD)) == ACC_WRITE) need |= P_DIRTY;
    if ((a & ACC_TRANSLATION_REQ) != 0) need |= P_NEVER;
    store<u8>(NEEDS + a, <u8>need);
  }
  return true;
}

/** The IOTLB entry answering the request when it is the common case: a
 *  decoded setup (so translation on), input width fine, a live entry that
 *  grants the access without a D update (a write to a clean first-stage
 *  page) and whose page does not overlap the interrupt range (either
 *  profile's rule could apply). Else FAST_MISS (setup found, entry absent)
 *  or NOT_FAST. Sets fastSetup. `sid` is 16 bits. */
// @ts-ignore: decorator
@inline export function tryFast(sid: u32, pasid: u32, iova: u64, access: u32): usize {
  // No test of GSTS.TES or TTM: setups are stored only while translation
  // is on, and changing either empties every cache (so bumps the setup
  // epoch).
  const s = scFind(sid, pasid, access);
  fastSetup = s;
  if (s == 0) return NOT_FAST;
  return fastEntry(s, iova, access, iotlbEpochGen());
}

/** tryFast after the setup `s` was found, with iotlbEpochGen() given (the
 *  batch loop reads it once). */
// @ts-ignore: decorator
@inline export function fastEntry(s: usize, iova: u64, access: u32, epochGen: u64): usize {
  if (!scInputOk(s, iova)) return NOT_FAST;
  const e = iotlbProbeFast(epochGen, scProbeKey(s), iova);
  if (e <= PROBE_UNSURE) return e; // FAST_MISS (0: no live entry) or NOT_FAST
  if ((<u32>load<u8>(NEEDS + (access & 127)) & ~entryPerms(e)) != 0) return NOT_FAST;
  return e;
}

/** Commit the hit tryFast found on IOTLB entry `e`. */
// @ts-ignore: decorator
@inline export function commitFast(e: usize): void {
  bump(STAT_CTX_HITS); // the stored setup stands for a context-cache hit
  // and, in scalable mode, a PASID-cache hit (legacy mode has no PASID cache)
  if ((scFlags(fastSetup) & SF_LEGACY) == 0) bump(STAT_PASID_HITS);
  iotlbTouch(e);
}

/** Output address of `iova` through entry `e`. */
// @ts-ignore: decorator
@inline export function fastAddr(e: usize, iova: u64): u64 {
  return entryOutput(e, iova);
}

/** Permissions (P_R/P_W/P_X) the answer reports. */
// @ts-ignore: decorator
@inline export function fastPerms(e: usize): u32 {
  return entryPerms(e) & (P_R | P_W | P_X);
}

/** Domain id of the answer (the setup's). */
// @ts-ignore: decorator
@inline export function fastDid(): u32 {
  return scDid(fastSetup);
}

// ---- the common IOTLB miss ------------------------------------------------------
// A batch request whose probe missed, in the most common shape: the default
// profile (no QUIRK_*), a scalable-mode second-stage setup without SSEE, a
// read or write (no execute, no translation request), and the leaf table
// remembered by the paging-structure cache (the last walk went through the
// same level-1 entry: a walk streaming through an address range). Then the
// walk is one leaf read, done here with exactly the full path's checks,
// fill and counters (ssWalk from a PSC hit at level 1, then finish); any
// other case, or anything unusual on the way (unreadable or non-present
// leaf, reserved bits, a missing permission, a page near the interrupt
// range), returns false before changing anything, and the full path runs.

/** Answer the missed request `access` to `iova` of source id `sid` with
 *  setup `s` into batch record `r`, or return false (nothing changed). */
export function fastMiss(r: usize, s: usize, sid: u32, iova: u64, access: u32): bool {
  if (cfg(CFG_QUIRKS) != 0) return false;
  if ((scFlags(s) & (SF_KIND_MASK | SF_LEGACY | SF_SSEE)) != XK_SS) return false;
  if ((access & (ACC_EXEC | ACC_TRANSLATION_REQ)) != 0) return false;
  const did = scDid(s);
  if (!pscRemembered(PSC_VTD_SS, did, 0, 1, iova)) return false;
  const off = ramOffset(pscTable + (<u64>ptIndex(iova, 0) << 3), 8);
  if (off < 0) return false;
  const pte = load<u64>(<usize>off);
  const rw = <u32>(pte & (SS_R | SS_W));
  if (rw == 0) return false;
  if (ssReserved(pte, 0, cfg(CFG_HAW), cfg(CFG_SSLPS), cfg(CFG_ECAP_SC) != 0 ? SNP_LEAF_OK : SNP_RESERVED)) return false;
  // ssWalk's checks: the remembered levels' rights, then the leaf's (W for
  // a write, else R); without SSEE a readable or writable entry grants X.
  const entryPerms = rw | P_X;
  const need = (access & ACC_WRITE) != 0 ? P_W : P_R;
  if ((need & ~(pscPerms & entryPerms)) != 0) return false;
  const frame = pte & SS_ADDR_MASK;
  if (frame <= INTR_LAST && INTR_START <= frame + 0xfff) return false;
  const perms = pscPerms & entryPerms;
  iotlbInsert(did, sid, scTag(s), false, iova, 12, frame, perms | P_DIRTY | P_FAR, true, false);
  bump(STAT_CTX_HITS);
  bump(STAT_PASID_HITS);
  bump(STAT_IOTLB_MISSES);
  bump(STAT_WALKS);
  bump(STAT_PSC_HITS);
  bump(STAT_PTE_READS);
  const addr = frame | (iova & 0xfff);
  store<u32>(r, 0, BRES_STATUS << 2);
  store<u32>(r, <u32>addr, BRES_ADDR_LO << 2);
  store<u32>(r, <u32>(addr >> 32), BRES_ADDR_HI << 2);
  store<u32>(r, 12 | (perms << 8), BRES_PAGE << 2);
  return true;
}
