// The IOTLB-hit fast path: the common scalable-mode request answered from
// its decoded setup (cache/setup-cache.ts) and one IOTLB probe, without the
// per-request state of ctx/device.ts. translate.ts and batch.ts try it
// first; anything it does not settle takes the full path (translateFull),
// which then knows what the probe found.
//
// tryFast changes nothing (no counter, no LRU tick); commitFast then does
// exactly what the full path would do for the same hit: context-cache,
// PASID-cache and IOTLB hit counters, LRU tick.

import { ACC_EXEC, ACC_NO_AD, ACC_TRANSLATION_REQ, ACC_WRITE, STAT_CTX_HITS, STAT_IOTLB_HITS, STAT_PASID_HITS } from './abi/layout';
import { bump } from './stats';
import { scBucket, scDid, scFind, scFlags, scTag, scWidth, SF_KIND_MASK } from './cache/setup-cache';
import { entryFrame, entryLg2, entryPerms, iotlbProbe, iotlbTouch } from './cache/iotlb';
import { XK_FS, XK_NESTED } from './ctx/device';
import { fsCanonical } from './spec/fs-pte';
import { P_DIRTY, P_NEAR_INTR, P_R, P_W, P_X } from './pt/walk';

/** tryFast: the IOTLB has no entry for the request (probed, nothing committed). */
export const FAST_MISS: usize = 0;
/** tryFast: not the common case, take the full path. */
export const NOT_FAST: usize = 1;

/** The decoded-setup entry the last tryFast found (0: none). */
export let fastSetup: usize = 0;

/** The permissions (P_*) a request needs: W for writes, R unless it is a
 *  pure write (neither R nor W means a read), X for execute. */
// @ts-ignore: decorator
@inline export function neededPerms(access: u32): u32 {
  let need: u32 = (access & ACC_WRITE) != 0 ? P_W : 0;
  if ((access & (ACC_WRITE | 1)) != ACC_WRITE) need |= P_R;
  if ((access & ACC_EXEC) != 0) need |= P_X;
  return need;
}

/** The IOTLB entry answering the request when it is the common case: a
 *  decoded setup (so translation on, scalable mode), input width fine, a
 *  live entry that grants the access without a D update (a write to a clean
 *  first-stage page) and whose page does not overlap the interrupt range
 *  (P_NEAR_INTR: either profile's rule could apply). Else FAST_MISS (setup
 *  found, entry absent) or NOT_FAST. Sets fastSetup. `sid` is 16 bits. */
// @ts-ignore: decorator
@inline export function tryFast(sid: u32, pasid: u32, iova: u64, access: u32): usize {
  // No test of GSTS.TES or TTM: setups are stored only while translation
  // is on in scalable mode, and changing either empties every cache (so
  // bumps the setup epoch).
  fastSetup = 0;
  const s = scFind(sid, pasid, access);
  if (s == 0) return NOT_FAST;
  fastSetup = s;
  // (Conditions as bit arithmetic and nested ifs: V8 branches once rather
  // than materialising each partial result of a || / && chain.)
  const kind = scFlags(s) & SF_KIND_MASK;
  const width = scWidth(s);
  if (kind - XK_FS <= XK_NESTED - XK_FS) { // first stage or nested
    if (!fsCanonical(iova, width)) return NOT_FAST;
  } else if (width < 64) {
    if ((iova >> width) != 0) return NOT_FAST;
  }
  const e = iotlbProbe(scDid(s), scTag(s), scBucket(s), iova);
  if (e == 0) return FAST_MISS;
  const perms = entryPerms(e);
  const need = neededPerms(access);
  // A write (without ACC_NO_AD) needs D already set.
  const wantDirty = <u32>((access & (ACC_WRITE | ACC_NO_AD)) == ACC_WRITE) * P_DIRTY;
  const reject = ((perms & need) ^ need) | (access & ACC_TRANSLATION_REQ) | (perms & P_NEAR_INTR) | (wantDirty & ~perms);
  if (reject != 0) return NOT_FAST;
  return e;
}

/** Commit the hit tryFast found on IOTLB entry `e`. */
// @ts-ignore: decorator
@inline export function commitFast(e: usize): void {
  bump(STAT_CTX_HITS);   // the stored setup stands for a context-cache hit
  bump(STAT_PASID_HITS); // and a PASID-cache hit
  iotlbTouch(e);
}

/** Output address of `iova` through entry `e`. */
// @ts-ignore: decorator
@inline export function fastAddr(e: usize, iova: u64): u64 {
  return entryFrame(e) | (iova & ((<u64>1 << entryLg2(e)) - 1));
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
