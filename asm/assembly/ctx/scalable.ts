// Scalable-mode lookup (RTADDR.TTM=01): SM root entry (§9.2) -> SM context
// entry (§9.4) -> PASID directory entry (§9.5) -> PASID table entry (§9.6),
// through the context and PASID caches. Fills ctx/device.ts or returns the
// spec's fault reason (SRT/SCT/SPD/SPT conditions, VT-d §7.1.3 scalable-mode table).

import {
  ACC_EXEC, ACC_PASID, ACC_PRIV, ACC_TRANSLATION_REQ, CFG_ECAP_ERS, CFG_ECAP_FSTS, CFG_ECAP_NEST, CFG_ECAP_PT,
  CFG_ECAP_SSTS, CFG_ECAP_SRS, CFG_FS5LP, CFG_HAW, CFG_PASID_BITS, CFG_SAGAW, QUIRK_FS_ALL_USER, QUIRK_FS_AS_SS, QUIRK_LEGACY_CODES_IN_SM,
  QUIRK_NO_PASID_CACHE, QUIRK_NO_PDIR_FPD, QUIRK_NO_PDTS_CHECK, QUIRK_PASID_FAULT_IGNORES_FPD, QUIRK_PASID_FAULTS_0X58, QUIRK_IOTLB_BY_SID, QUIRK_IOTLB_FLUSH_WHEN_FULL, QUIRK_PASID_RSVD_UNCHECKED, QUIRK_PASID_TYPE_BEFORE_P, QUIRK_PT_STICKY, STAT_CTX_HITS, STAT_PASID_HITS,
  STAT_STRUCT_READS,
} from '../abi/layout';
import { cfg, quirk } from '../cfg';
import { ramOffset } from '../mem/ram';
import { bump } from '../stats';
import { ccHi, ccInsert, ccLo, ccLookup } from '../cache/context-cache';
import { pcDirFpd, pcInsert, pcLookup, pcQ0, pcQ1, pcQ2 } from '../cache/pasid-cache';
import { smRootCtp, smRootHalf, smRootPresent, smRootReserved, SM_ROOT_ENTRY_BYTES } from '../spec/sm-root-entry';
import { SMCTX_DTE, SMCTX_FPD, SMCTX_P, SMCTX_PASIDE, SMCTX_PRE, smCtxOffset, smCtxPasidDirPtr, smCtxPdts, smCtxReserved, smCtxRidPasid, smCtxRidPriv } from '../spec/sm-context-entry';
import {
  PASID_ENTRY_BYTES, PDIR_FPD, PDIR_P, PDIR_RSVD, pdirIndex, pdirSmPtblPtr, PE_FPD, PE_P, peAw, peDid, peEre, peFsPtPtr, peFspm,
  pePgtt, peReserved, peSre, peSsee, peSsPtPtr, peWpe, PGTT_FIRST_STAGE, PGTT_NESTED, PGTT_PASS_THROUGH, PGTT_SECOND_STAGE, ptblIndex,
} from '../spec/pasid-entry';
import { awSupported } from '../spec/context-entry';
import * as FR from '../spec/fault-reasons';
import { dcKind, dcNoteFpd, dcRestore, dcSave, dcSetFs, dcSetPasid, dcSetPre, dcSetPt, dcSetSs, rootAddr, XK_FS, XK_NESTED, XK_PT } from './device';

// @ts-ignore: decorator
@inline function code(spec: u32, qemu: u32): u32 {
  return quirk(QUIRK_LEGACY_CODES_IN_SM) ? qemu : spec;
}

/** Take the setup from decoded-setup cache entry `e` (cache/setup-cache.ts):
 *  it stands for a context-cache hit and a PASID-cache hit that would decide
 *  the same, so it counts as both. */
// @ts-ignore: decorator
@inline export function restoreScalable(e: usize, hasPasid: bool): void {
  bump(STAT_CTX_HITS);
  bump(STAT_PASID_HITS);
  dcRestore(e, hasPasid);
}

/** lookupScalable, then store a successful setup in the decoded-setup
 *  cache. Pass-through setups and QUIRK_NO_PASID_CACHE lookups are not
 *  stored (sticky pass-through and the per-request PASID reads stay on the
 *  full path), nor any under QUIRK_IOTLB_FLUSH_WHEN_FULL (its IOTLB spill
 *  area is looked at by the full path only, cache/iotlb.ts). */
export function lookupScalableSaved(sid: u32, pasid: u32, access: u32): u32 {
  const fr = lookupScalable(sid, pasid, access);
  // (The fast path probes the IOTLB by DID and skips the pass-through address space.)
  if (fr == 0 && dcKind != XK_PT && !quirk(QUIRK_NO_PASID_CACHE | QUIRK_PT_STICKY | QUIRK_IOTLB_BY_SID | QUIRK_IOTLB_FLUSH_WHEN_FULL)) dcSave(sid, pasid, access, false);
  return fr;
}

/** Whether sid's scalable context entry and RID_PASID entry in guest memory,
 *  read now (not through the caches), are valid and pass-through (PGTT=100;
 *  ctx/pt-space.ts). */
export function scalablePassThrough(sid: u32): bool {
  if (fetchSmContext(sid) != 0) return false;
  return fetchPasid(fetchedLo, smCtxRidPasid(fetchedHi), true) == 0 && pePgtt(fq0) == PGTT_PASS_THROUGH;
}

/** Find the translation setup of (sid, request PASID); fill ctx/device.ts.
 *  Returns 0 or a fault reason. */
export function lookupScalable(sid: u32, pasid: u32, access: u32): u32 {
  let lo: u64 = 0;
  let hi: u64 = 0;
  if (ccLookup(sid)) {
    lo = ccLo; hi = ccHi;
    dcNoteFpd((lo & SMCTX_FPD) != 0);
  } else {
    const fr = fetchSmContext(sid);
    if (fr != 0) return fr;
    lo = fetchedLo; hi = fetchedHi;
    if (quirk(QUIRK_NO_PASID_CACHE)) {
      // QEMU checks the RID_PASID entry's P only when it fetches the context.
      const pfr = fetchPasid(lo, smCtxRidPasid(hi), true);
      if (pfr != 0) return pfr;
    }
    ccInsert(sid, lo, hi, 0);
  }
  dcSetPre((lo & SMCTX_PRE) != 0);
  const withPasid = (access & ACC_PASID) != 0;
  if (withPasid && (lo & SMCTX_PASIDE) == 0) return FR.FR_SM_PASIDE;
  if ((access & ACC_TRANSLATION_REQ) != 0 && (lo & SMCTX_DTE) == 0) return FR.FR_SM_DTE;
  const eff = withPasid ? pasid & 0xfffff : smCtxRidPasid(hi);
  dcSetPasid(eff);
  if (withPasid && (pasid >> cfg(CFG_PASID_BITS)) != 0) return FR.FR_SM_PDTS;
  if (pdirIndex(eff) >= (<u32>1 << (smCtxPdts(lo) + 7)) && !quirk(QUIRK_NO_PDTS_CHECK)) return FR.FR_SM_PDTS;
  let q0: u64 = 0, q1: u64 = 0, q2: u64 = 0;
  const useCache = !quirk(QUIRK_NO_PASID_CACHE);
  if (useCache && pcLookup(sid, eff)) {
    q0 = pcQ0; q1 = pcQ1; q2 = pcQ2;
    dcNoteFpd(pcDirFpd);
  } else {
    const fr = fetchPasid(lo, eff, useCache);
    if (fr != 0) return fr;
    q0 = fq0; q1 = fq1; q2 = fq2;
    if (useCache) pcInsert(sid, eff, q0, q1, q2, fDirFpd);
  }
  dcNoteFpd((q0 & PE_FPD) != 0);
  // QUIRK_FS_ALL_USER: QEMU never looks at the privilege of a request (no
  // RID_PRIV, no SRE check): every request is a user request.
  const priv = !quirk(QUIRK_FS_ALL_USER) && (withPasid ? (access & ACC_PRIV) != 0 : smCtxRidPriv(hi));
  return decodePasidEntry(q0, q1, q2, priv, (access & ACC_EXEC) != 0);
}

let fetchedLo: u64 = 0;
let fetchedHi: u64 = 0;

// Read and check the SM root and context entries.
function fetchSmContext(sid: u32): u32 {
  const haw = cfg(CFG_HAW);
  const devfn = sid & 0xff;
  const rOff = ramOffset(rootAddr + <u64>((sid >> 8) * SM_ROOT_ENTRY_BYTES), 16);
  bump(STAT_STRUCT_READS);
  if (rOff < 0) return code(FR.FR_SM_ROOT_ACCESS, FR.FR_ROOT_ACCESS);
  const half = smRootHalf(load<u64>(<usize>rOff), load<u64>(<usize>rOff, 8), devfn);
  if (!smRootPresent(half)) return code(FR.FR_SM_ROOT_NP, FR.FR_ROOT_NP);
  if (smRootReserved(half, haw)) return code(FR.FR_SM_ROOT_RSVD, FR.FR_ROOT_RSVD);
  const cOff = ramOffset(smRootCtp(half) + smCtxOffset(devfn), 32);
  bump(STAT_STRUCT_READS);
  if (cOff < 0) return code(FR.FR_SM_CTX_ACCESS, FR.FR_CTX_ACCESS);
  const q0 = load<u64>(<usize>cOff);
  const q1 = load<u64>(<usize>cOff, 8);
  dcNoteFpd((q0 & SMCTX_FPD) != 0);
  if ((q0 & SMCTX_P) == 0) return code(FR.FR_SM_CTX_NP, FR.FR_CTX_NP);
  if (smCtxReserved(q0, q1, load<u64>(<usize>cOff, 16), load<u64>(<usize>cOff, 24), haw)) {
    return code(FR.FR_SM_CTX_RSVD, FR.FR_CTX_RSVD);
  }
  fetchedLo = q0;
  fetchedHi = q1;
  return 0;
}

let fq0: u64 = 0;
let fq1: u64 = 0;
let fq2: u64 = 0;
let fDirFpd: bool = false;

// Read the PASID directory entry and PASID table entry of `pasid` under the
// context entry `ctxLo`. checkP=false skips the PASID entry's P check
// (QUIRK_NO_PASID_CACHE on a request: QEMU checks it at context fetch).
function fetchPasid(ctxLo: u64, pasid: u32, checkP: bool): u32 {
  const haw = cfg(CFG_HAW);
  const dOff = ramOffset(smCtxPasidDirPtr(ctxLo) + (<u64>pdirIndex(pasid) << 3), 8);
  bump(STAT_STRUCT_READS);
  if (dOff < 0) return pasidCode(FR.FR_PDIR_ACCESS);
  const dir = load<u64>(<usize>dOff);
  fDirFpd = (dir & PDIR_FPD) != 0 && !quirk(QUIRK_NO_PDIR_FPD);
  dcNoteFpd(fDirFpd);
  if ((dir & PDIR_P) == 0) return pasidCode(FR.FR_PDIR_NP);
  if (((dir & PDIR_RSVD) != 0 || (dir >> haw) != 0) && !quirk(QUIRK_PASID_RSVD_UNCHECKED)) return FR.FR_PDIR_RSVD;
  const pOff = ramOffset(pdirSmPtblPtr(dir) + <u64>(ptblIndex(pasid) * PASID_ENTRY_BYTES), PASID_ENTRY_BYTES);
  bump(STAT_STRUCT_READS);
  if (pOff < 0) return pasidCode(FR.FR_PTE_ACCESS);
  fq0 = load<u64>(<usize>pOff);
  fq1 = load<u64>(<usize>pOff, 8);
  fq2 = load<u64>(<usize>pOff, 16);
  // QUIRK_PASID_FAULT_IGNORES_FPD: the entry's FPD counts only once the entry passed its checks.
  const fpdLate = quirk(QUIRK_PASID_FAULT_IGNORES_FPD);
  if (!fpdLate) dcNoteFpd((fq0 & PE_FPD) != 0);
  if (quirk(QUIRK_PASID_TYPE_BEFORE_P) && !pgttValid(fq0, fq2)) return pasidCode(FR.FR_PASID_INVALID);
  if (checkP && (fq0 & PE_P) == 0) return pasidCode(FR.FR_PASID_NP);
  const pgtt = pePgtt(fq0);
  const usesSs = pgtt == PGTT_SECOND_STAGE || pgtt == PGTT_NESTED || (walkedAsSs(pgtt) && quirk(QUIRK_FS_AS_SS));
  const qHi = load<u64>(<usize>pOff, 24) | load<u64>(<usize>pOff, 32) | load<u64>(<usize>pOff, 40) |
    load<u64>(<usize>pOff, 48) | load<u64>(<usize>pOff, 56); // §9.6 bits 511:192, reserved
  const rsvd = !quirk(QUIRK_PASID_RSVD_UNCHECKED) && peReserved(fq0, fq1, fq2, qHi, haw, usesSs, pgtt == PGTT_FIRST_STAGE || pgtt == PGTT_NESTED);
  if (rsvd) return FR.FR_PASID_RSVD;
  if (!pgttValid(fq0, fq2)) return pasidCode(FR.FR_PASID_INVALID);
  if (fpdLate) dcNoteFpd((fq0 & PE_FPD) != 0);
  return 0;
}

// QUIRK_PASID_FAULTS_0X58: QEMU 7.2 reports every PASID-level fault as 0x58.
// @ts-ignore: decorator
@inline function pasidCode(fr: u32): u32 {
  return quirk(QUIRK_PASID_FAULTS_0X58) ? FR.FR_PTE_ACCESS : fr;
}

// §9.6 SPT.4: PGTT supported by ECAP, second-stage AW in SAGAW, FSPM supported.
function pgttValid(q0: u64, q2: u64): bool {
  const pgtt = pePgtt(q0);
  const fsOk = peFspm(q2) == 0 || (peFspm(q2) == 1 && cfg(CFG_FS5LP) != 0);
  const ssOk = awSupported(peAw(q0), cfg(CFG_SAGAW));
  if (walkedAsSs(pgtt)) return quirk(QUIRK_FS_AS_SS) && ssOk;
  if (pgtt == PGTT_FIRST_STAGE) return fsOk;
  if (pgtt == PGTT_SECOND_STAGE) return cfg(CFG_ECAP_SSTS) != 0 && ssOk;
  if (pgtt == PGTT_NESTED) return fsOk && ssOk;
  if (pgtt == PGTT_PASS_THROUGH) return cfg(CFG_ECAP_PT) != 0;
  return false;
}

// A first-stage or nested PGTT on a unit without that capability (ECAP.FSTS /
// ECAP.NEST): invalid (0x5B) by the spec, walked as second stage under
// QUIRK_FS_AS_SS (QEMU 7.2 accepted PGTT 1, 2 and 3 and walked them all as SS).
function walkedAsSs(pgtt: u32): bool {
  if (pgtt == PGTT_FIRST_STAGE) return cfg(CFG_ECAP_FSTS) == 0;
  if (pgtt == PGTT_NESTED) return cfg(CFG_ECAP_NEST) == 0;
  return false;
}

// Turn a valid PASID entry into the device setup; SRE/ERE checks (SPT.5/6).
function decodePasidEntry(q0: u64, q1: u64, q2: u64, priv: bool, exec: bool): u32 {
  const pgtt = pePgtt(q0);
  const did = peDid(q1);
  if (pgtt == PGTT_PASS_THROUGH) {
    dcSetPt(did);
    return 0;
  }
  if (pgtt == PGTT_SECOND_STAGE || walkedAsSs(pgtt)) {
    dcSetSs(did, peSsPtPtr(q0), peAw(q0), peSsee(q0));
    return 0;
  }
  if (priv && (!peSre(q2) || cfg(CFG_ECAP_SRS) == 0)) return FR.FR_PASID_SRE;
  if (exec && (!peEre(q2) || cfg(CFG_ECAP_ERS) == 0)) return FR.FR_PASID_ERE;
  if (pgtt == PGTT_NESTED) dcSetSs(did, peSsPtPtr(q0), peAw(q0), peSsee(q0));
  dcSetFs(pgtt == PGTT_NESTED ? XK_NESTED : XK_FS, did, peFsPtPtr(q2), 3 + <i32>peFspm(q2), priv, peWpe(q2));
  return 0;
}
