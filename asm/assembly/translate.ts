// One DMA request through the unit: enable check, root/context/PASID lookup
// (ctx/), IOTLB (cache/iotlb.ts), page walk (pt/walk.ts with the VT-d
// formats of pt/vtd-walk.ts), interrupt-range check, then the out-buffer
// (docs/ABI.md). Faults are values: the spec's
// reason code plus OUT_FAULT_FLAGS telling the recorder how to log it.

import {
  ACC_EXEC, ACC_NO_AD, ACC_PASID, ACC_TRANSLATION_REQ, ACC_WRITE, CFG_ECAP_SC, CFG_FS1GP, CFG_HAW, CFG_MGAW, CFG_SSLPS,
  FF_PP, FF_RECOVERABLE, FF_SILENT, FF_SUPPRESSED, FF_WALK, OUT_ADDR_HI, OUT_ADDR_LO, OUT_DID, OUT_FAULT_ADDR_HI,
  OUT_FAULT_ADDR_LO, OUT_FAULT_FLAGS, OUT_FAULT_PASID, OUT_PAGE_LG2, OUT_PERMS, OUT_SOURCE, OUT_STATUS, PASID_NONE,
  QUIRK_FS_AD_IF_A_CLEAR, QUIRK_INTR_PAGE_OVERLAP, QUIRK_IOTLB_BEFORE_CONTEXT, QUIRK_IOTLB_BY_SID, QUIRK_IOTLB_FLUSH_WHEN_FULL, QUIRK_LEGACY_CODES_IN_SM,
  QUIRK_NO_FAULT_ON_CACHED_PERM, QUIRK_PT_STICKY, QUIRK_QEMU_FAULT_PV, QUIRK_RSVD_CTX_UNQUALIFIED,
  SRC_DISABLED, SRC_IOTLB, SRC_PT, SRC_WALK, STAT_FAULTS, STAT_IOTLB_MISSES, STAT_TRANSLATIONS,
} from './abi/layout';
import { cfg, quirk } from './cfg';
import { bump } from './stats';
import { outSet, outSucceed } from './out';
import { ptsIdentity, ptsRedecide } from './ctx/pt-space';
import { entryLg2, hitDid, hitFrame, hitLg2, hitPerms, iotlbInsert, iotlbLookup, PRIV_FLAG } from './cache/iotlb';
import { dcDid, dcFpd, dcFsRoot, dcFsTop, dcHasPasid, dcKind, dcPasid, dcPre, dcPriv, dcReset, dcSave, dcSsAw, dcSsee, dcSsRoot, dcWpe, rootTtm, teOn, XK_FS, XK_NESTED, XK_PT } from './ctx/device';
import { lastTt, lookupLegacy, restoreLegacy } from './ctx/legacy';
import { lookupScalableSaved, restoreScalable } from './ctx/scalable';
import { commitFast, FAST_MISS, fastAddr, fastDid, fastPerms, fastSetup, neededPerms, NOT_FAST, tryFast } from './fast';
import { scEpoch, scFlags, SF_LEGACY } from './cache/setup-cache';
import { fsDomainNote } from './cache/fs-domains';
import { awBits, TT_PASS_THROUGH, TT_UNTRANSLATED } from './spec/context-entry';
import { TTM_LEGACY, TTM_SCALABLE } from './spec/registers';
import { SNP_IGNORED, SNP_LEAF_OK, SNP_RESERVED } from './spec/ss-pte';
import { fsCanonical } from './spec/fs-pte';
import * as FR from './spec/fault-reasons';
import { CODES_SS_LEGACY, CODES_SS_SM } from './pt/codes';
import { INTR_LAST, INTR_START, joinStages, P_DIRTY, P_FAR, P_NEAR_INTR, P_R, P_W, P_X, wDirty, wFrame, wLg2, wPerms } from './pt/walk';
import { envSetCommon, envSetFs, envSetSs, envSsBits, envUser, fsWalk, ssWalk, ssWidthFault } from './pt/vtd-walk';

/** Translate one request; see docs/ABI.md "Translation". Inlined into its
 *  callers (export, DMA): the fast path (fast.ts) without a call, the rest
 *  in translateSlow. */
// @ts-ignore: decorator
@inline export function translate(sid: u32, pasid: u32, iova: u64, access: u32): u32 {
  bump(STAT_TRANSLATIONS);
  sid &= 0xffff;
  const e = tryFast(sid, pasid, iova, access);
  if (e > NOT_FAST) {
    commitFast(e);
    return outSucceed(fastAddr(e, iova), entryLg2(e), fastPerms(e), fastDid(), SRC_IOTLB);
  }
  return translateSlow(sid, pasid, iova, access, e == FAST_MISS);
}

/** translateFull as a call of its own (called from several places, so the
 *  optimizer keeps it out of line): the hit paths of translate() and of the
 *  batch loop then keep their few values in registers instead of sharing
 *  them with the whole miss path's. */
export function translateSlow(sid: u32, pasid: u32, iova: u64, access: u32, missed: bool): u32 {
  return translateFull(sid, pasid, iova, access, missed);
}

/** The rest of translate() after tryFast (counted already; `sid` 16 bits):
 *  `missed`: tryFast probed the IOTLB and found nothing. */
// @ts-ignore: decorator
@inline export function translateFull(sid: u32, pasid: u32, iova: u64, access: u32, missed: bool): u32 {
  if (!teOn) return outSucceed(iova, 12, P_R | P_W | P_X, 0, SRC_DISABLED);
  if (quirk(QUIRK_PT_STICKY) && ptsIdentity(sid)) return outSucceed(iova, 12, P_R | P_W | P_X, 0, SRC_PT);
  const setup = fastSetup;
  if (setup != 0) {
    if ((scFlags(setup) & SF_LEGACY) != 0) return translateLegacy(sid, iova, access, setup, missed);
    return translateScalable(sid, pasid, iova, access, setup, missed);
  }
  const hasPasid = (access & ACC_PASID) != 0;
  dcReset(hasPasid, hasPasid ? pasid : PASID_NONE);
  if (rootTtm == TTM_LEGACY) return translateLegacy(sid, iova, access, 0, false);
  if (rootTtm == TTM_SCALABLE) return translateScalable(sid, pasid, iova, access, 0, false);
  return fail(FR.FR_SM_RTADDR_INV, iova, false);
}

// `setup`: the decoded legacy setup translate() found (0: none); `missed`:
// tryFast already probed the IOTLB and found nothing.
function translateLegacy(sid: u32, iova: u64, access: u32, setup: usize, missed: bool): u32 {
  const bySid = setup == 0 && quirk(QUIRK_IOTLB_BEFORE_CONTEXT); // setups are never stored with it
  if (setup != 0) {
    restoreLegacy(setup);
  } else {
    const fr = lookupLegacySetup(sid, iova, access, bySid);
    if (fr != CONTINUE) return fr;
  }
  if (!missed && !inWidth(iova, awBits(dcSsAw))) return fail(FR.FR_ADDR_WIDTH, iova, true);
  let fresh = !bySid || quirk(QUIRK_IOTLB_BY_SID); // a probe for this tag just missed: no live entry of it
  if (missed) {
    bump(STAT_IOTLB_MISSES);
  } else if (!bySid && iotlbLookup(dcDid, sid, false, PASID_NONE, iova)) {
    const hfr = fromHit(iova, access, false);
    if (hfr != RETRY) return hfr;
    fresh = false;
  }
  envOwner = 0;
  envSetCommon(dcDid, PASID_NONE, cfg(CFG_HAW));
  envSetSs(dcSsRoot, dcSsAw, CODES_SS_LEGACY, false, cfg(CFG_SSLPS), cfg(CFG_ECAP_SC) != 0 ? SNP_LEAF_OK : SNP_RESERVED);
  const wfr = ssWalk(iova, access);
  if (wfr != 0) return fail(wfr, iova, true);
  return fromWalk(sid, iova, false, false, fresh);
}

const CONTINUE: u32 = 0xffff_fffe;

// The legacy lookup of a request (no decoded setup): QEMU's IOTLB-by-source-id
// probe, root/context entries, pass-through and translation-request rules.
// Returns a final answer, or CONTINUE to walk (ctx/device.ts holds the
// setup); stores the setup for the fast path when it is the common case.
function lookupLegacySetup(sid: u32, iova: u64, access: u32, bySid: bool): u32 {
  if ((access & ACC_PASID) != 0) return fail(FR.FR_SM_PASID_IN_LEGACY, iova, false);
  if (bySid && iotlbLookup(0, sid, true, PASID_NONE, iova)) {
    const fr = fromHit(iova, access, false);
    if (fr != RETRY) return fr;
  }
  const fr = lookupLegacy(sid);
  if (fr != 0) return fail(fr, iova, false);
  const tr = (access & ACC_TRANSLATION_REQ) != 0;
  if (lastTt == TT_PASS_THROUGH) {
    if (tr) return fail(FR.FR_TT_BLOCKED, iova, false);
    return passThrough(sid, iova);
  }
  if (tr && lastTt == TT_UNTRANSLATED) return fail(FR.FR_TT_BLOCKED, iova, false);
  // Untranslated requests of a translated context hit the fast path next
  // time (not when QEMU's IOTLB comes first or is keyed by source id, nor
  // with QEMU's sticky pass-through address spaces, nor with its flush-when-
  // full IOTLB, whose spill area only the slow lookups see: no setups then).
  if (!tr && !quirk(QUIRK_IOTLB_BEFORE_CONTEXT | QUIRK_PT_STICKY | QUIRK_IOTLB_BY_SID | QUIRK_IOTLB_FLUSH_WHEN_FULL)) dcSave(sid, 0, access, true);
  return CONTINUE;
}

// `setup`: the decoded-setup entry translate() found (0: none); `missed`:
// tryFast already probed the IOTLB and found nothing.
function translateScalable(sid: u32, pasid: u32, iova: u64, access: u32, setup: usize, missed: bool): u32 {
  if (setup != 0) {
    restoreScalable(setup, (access & ACC_PASID) != 0);
  } else {
    envOwner = 0; // the lookup may store a new setup in a slot
    const fr = lookupScalableSaved(sid, pasid, access);
    if (fr != 0) return fail(fr, iova, false);
    if (dcKind == XK_PT) return passThrough(sid, iova);
  }
  const fs = dcKind == XK_FS || dcKind == XK_NESTED;
  if (missed) {
    // tryFast checked the input width.
  } else if (fs) {
    if (!fsCanonical(iova, dcFsTop == 4 ? 57 : 48)) return fail(FR.FR_NON_CANONICAL, iova, true);
  } else if (!inWidth(iova, awBits(dcSsAw))) {
    setScalableEnv(fs, setup);
    return fail(ssWidthFault(), iova, true);
  }
  // The walk environment is only needed after an IOTLB miss.
  const tag = fs && dcPriv ? dcPasid | PRIV_FLAG : dcPasid;
  let fresh = true; // a probe for this tag just missed: no live entry of it
  if (missed) {
    bump(STAT_IOTLB_MISSES);
  } else if (iotlbLookup(dcDid, sid, false, tag, iova)) {
    const hfr = fromHit(iova, access, true);
    if (hfr != RETRY) return hfr;
    fresh = false;
  }
  setScalableEnv(fs, setup);
  const wfr = fs ? fsWalk(iova, access) : ssWalk(iova, access);
  if (wfr != 0) return fail(wfr, iova, true);
  if (dcKind == XK_NESTED && wPerms != 0) return nestOutput(sid, iova, access, fresh);
  return fromWalk(sid, iova, true, fs, fresh);
}

// A pass-through translation; QUIRK_PT_STICKY: QEMU then decides the
// device's address space from memory (ctx/pt-space.ts).
function passThrough(sid: u32, iova: u64): u32 {
  const r = outSucceed(iova, 12, P_R | P_W | P_X, dcDid, SRC_PT);
  if (quirk(QUIRK_PT_STICKY)) ptsRedecide(sid);
  return r;
}

// The decoded-setup entry the walk environment was last set from (0: set
// otherwise), and the setup-cache epoch then: while both still match, the
// environment needs no setting again.
let envOwner: usize = 0;
let envOwnerEpoch: u32 = 0;

// The walk environment of a scalable-mode setup (ctx/device.ts), taken from
// decoded-setup entry `setup` when not 0.
// @ts-ignore: decorator
@inline function setScalableEnv(fs: bool, setup: usize): void {
  if ((<u32>(setup != 0) & <u32>(setup == envOwner) & <u32>(envOwnerEpoch == scEpoch())) != 0) return;
  loadScalableEnv(fs, setup);
}

function loadScalableEnv(fs: bool, setup: usize): void {
  envOwner = setup;
  envOwnerEpoch = scEpoch();
  const legacyCodes = quirk(QUIRK_LEGACY_CODES_IN_SM);
  envSetCommon(dcDid, dcPasid, cfg(CFG_HAW));
  envSetSs(dcSsRoot, dcSsAw, legacyCodes ? CODES_SS_LEGACY : CODES_SS_SM, dcSsee, cfg(CFG_SSLPS),
    legacyCodes ? SNP_IGNORED : cfg(CFG_ECAP_SC) != 0 ? SNP_LEAF_OK : SNP_RESERVED);
  if (fs) {
    envSetFs(dcFsRoot, dcFsTop, cfg(CFG_FS1GP) != 0, dcKind == XK_NESTED, !dcPriv, dcWpe);
    fsDomainNote(dcDid);
  }
}

// Nested: the first-stage output address through the second stage.
function nestOutput(sid: u32, iova: u64, access: u32, fresh: bool): u32 {
  const fsLg2 = wLg2;
  const fsPerms = wPerms;
  const fsDirty = wDirty;
  const gpa = wFrame | (iova & ((<u64>1 << fsLg2) - 1));
  if (!inWidth(gpa, envSsBits)) return fail(ssWidthFault(), iova, true);
  const fr = ssWalk(gpa, access & ~ACC_EXEC);
  if (fr != 0) return fail(fr, iova, true);
  joinStages(gpa, fsLg2, fsPerms);
  return finish(sid, iova, true, true, wFrame, wLg2, wPerms, fsDirty, fresh);
}

// @ts-ignore: decorator
@inline function fromWalk(sid: u32, iova: u64, sm: bool, fs: bool, fresh: bool): u32 {
  return finish(sid, iova, sm, fs, wFrame, wLg2, wPerms, wDirty, fresh);
}

// Interrupt-range check, IOTLB fill (P_DIRTY marks entries a write may hit
// without walking again to set D, P_NEAR_INTR pages a hit must check
// against the interrupt range, P_FAR the others), out-buffer. `fresh`: the
// IOTLB holds no live entry with this tag (see iotlbInsert).
function finish(sid: u32, iova: u64, sm: bool, fs: bool, frame: u64, lg2: u32, perms: u32, dirty: bool, fresh: bool): u32 {
  const mask = (<u64>1 << lg2) - 1;
  const addr = frame | (iova & mask);
  // The page overlaps the interrupt range (bits, not &&: one branch).
  const near = (<u32>(frame <= INTR_LAST) & <u32>(INTR_START <= frame + mask)) != 0;
  if (near) {
    if (perms != 0 && inIntrRange(addr, frame, lg2)) return fail(sm ? FR.FR_SM_INTR_ADDR : FR.FR_INTR_ADDR, iova, true);
  }
  const tag = fs && !envUser ? dcPasid | PRIV_FLAG : dcPasid;
  const bySid = !sm && quirk(QUIRK_IOTLB_BEFORE_CONTEXT); // looked up by source id (translateLegacy)
  if (perms != 0) iotlbInsert(dcDid, sid, tag, fs, iova, lg2, frame, perms | (dirty ? P_DIRTY : 0) | (near ? P_NEAR_INTR : P_FAR), fresh, bySid);
  return outSucceed(addr, lg2, perms, dcDid, SRC_WALK);
}

const RETRY: u32 = 0xffff_ffff;

// Answer from the IOTLB entry just hit, or RETRY (walk again) when it lacks
// the requested permission (spec) — or fail silently (QEMU profile).
function fromHit(iova: u64, access: u32, sm: bool): u32 {
  const need = neededPerms(access);
  if ((hitPerms & need) != need && (access & ACC_TRANSLATION_REQ) == 0) {
    if (!quirk(QUIRK_NO_FAULT_ON_CACHED_PERM)) return RETRY;
    const write = (access & ACC_WRITE) != 0;
    const fr = sm ? (write ? FR.FR_SM_WRITE : FR.FR_SM_READ) : (write ? FR.FR_WRITE : FR.FR_READ);
    fail(fr, iova, true);
    outSet(OUT_FAULT_FLAGS, FF_SILENT | FF_WALK);
    return fr;
  }
  // A write to a first-stage page whose D is clear walks again to set D
  // (QEMU: an IOTLB hit writes nothing).
  if ((access & (ACC_WRITE | ACC_NO_AD | ACC_TRANSLATION_REQ)) == ACC_WRITE && (hitPerms & P_DIRTY) == 0 &&
      !quirk(QUIRK_FS_AD_IF_A_CLEAR)) return RETRY;
  const addr = hitFrame | (iova & ((<u64>1 << hitLg2) - 1));
  if (inIntrRange(addr, hitFrame, hitLg2)) return fail(sm ? FR.FR_SM_INTR_ADDR : FR.FR_INTR_ADDR, iova, true);
  return outSucceed(addr, hitLg2, hitPerms & (P_R | P_W | P_X), hitDid, SRC_IOTLB);
}

// @ts-ignore: decorator
@inline function inWidth(addr: u64, bits: u32): bool {
  const mgaw = cfg(CFG_MGAW);
  const w = bits < mgaw ? bits : mgaw;
  return w >= 64 || (addr >> w) == 0;
}

// LGN.4 / SGN.8: the output address (QEMU: any byte of the page) in
// 0xFEE00000-0xFEEFFFFF.
function inIntrRange(addr: u64, frame: u64, lg2: u32): bool {
  if (quirk(QUIRK_INTR_PAGE_OVERLAP)) {
    const last = frame + ((<u64>1 << lg2) - 1);
    return frame <= INTR_LAST && INTR_START <= last;
  }
  return addr >= INTR_START && addr <= INTR_LAST;
}


/** Write a fault to the out-buffer: reason, flags (FPD suppression, PASID
 *  fields per profile, recoverability), faulting page. Returns `fr`. */
export function fail(fr: u32, iova: u64, walk: bool): u32 {
  bump(STAT_FAULTS);
  let flags: u32 = walk ? FF_WALK : 0;
  if (dcFpd && FR.isQualified(fr) && !(fr == FR.FR_CTX_RSVD && quirk(QUIRK_RSVD_CTX_UNQUALIFIED))) flags |= FF_SUPPRESSED;
  const sm = rootTtm == TTM_SCALABLE;
  let pv: u32 = 0;
  if (quirk(QUIRK_QEMU_FAULT_PV)) {
    if (walk && sm) { flags |= FF_PP; pv = dcPasid; }
    else if (walk) pv = 0xffff;
  } else if (dcHasPasid && sm) {
    flags |= FF_PP;
    pv = dcPasid;
  }
  if (walk && sm && dcPre && isRecoverable(fr)) flags |= FF_RECOVERABLE;
  const page = iova & ~(<u64>0xfff);
  outSet(OUT_STATUS, fr);
  outSet(OUT_FAULT_FLAGS, flags);
  outSet(OUT_FAULT_PASID, pv);
  outSet(OUT_FAULT_ADDR_LO, <u32>page);
  outSet(OUT_FAULT_ADDR_HI, <u32>(page >> 32));
  outSet(OUT_PERMS, 0);
  outSet(OUT_SOURCE, SRC_WALK);
  return fr;
}

// Faults a page request can resolve: not present, or a missing permission.
function isRecoverable(fr: u32): bool {
  return fr == FR.FR_FS_NP || fr == FR.FR_SM_SS_NP || fr == FR.FR_FS_USER || fr == FR.FR_SM_WRITE ||
    fr == FR.FR_SM_READ || fr == FR.FR_SM_EXEC;
}
