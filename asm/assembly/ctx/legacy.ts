// Legacy-mode lookup (RTADDR.TTM=00): root entry (§9.1) -> context entry
// (§9.3), through the context cache. Fills ctx/device.ts or returns the
// spec's fault reason (LRT/LCT conditions, VT-d §7.1.3 legacy-mode table).

import { CFG_ECAP_DT, CFG_ECAP_PT, CFG_HAW, CFG_SAGAW, QUIRK_PT_CONTEXT_AW_CHECKED, STAT_STRUCT_READS } from '../abi/layout';
import { cfg, quirk } from '../cfg';
import { ramOffset } from '../mem/ram';
import { bump } from '../stats';
import { ccHi, ccInsert, ccLo, ccLookup } from '../cache/context-cache';
import { STAT_CTX_HITS } from '../abi/layout';
import { ROOT_P, ROOT_CTP_MASK, rootEntryOffset, rootReserved } from '../spec/root-entry';
import { awSupported, CTX_ENTRY_BYTES, CTX_FPD, CTX_P, ctxAw, ctxDid, ctxReserved, ctxSsPtPtr, ctxTt, TT_DEVICE_TLB, TT_PASS_THROUGH } from '../spec/context-entry';
import { FR_CTX_ACCESS, FR_CTX_INVALID, FR_CTX_NP, FR_CTX_RSVD, FR_ROOT_ACCESS, FR_ROOT_NP, FR_ROOT_RSVD } from '../spec/fault-reasons';
import { dcNoteFpd, dcRestore, dcSetPt, dcSetSs, rootAddr } from './device';

/** Take the setup from decoded-setup cache entry `e` (a legacy one, stored
 *  by translate.ts after a lookup through the context cache): it stands for
 *  a context-cache hit that would decide the same, so it counts as one. */
export function restoreLegacy(e: usize): void {
  bump(STAT_CTX_HITS);
  dcRestore(e, false);
}

/** The TT field of the context entry found by the last lookupLegacy. */
export let lastTt: u32 = 0;

/** Find sid's context entry; fill ctx/device.ts. Returns 0 or a fault reason. */
export function lookupLegacy(sid: u32): u32 {
  let lo: u64 = 0;
  let hi: u64 = 0;
  if (ccLookup(sid)) {
    lo = ccLo; hi = ccHi;
  } else {
    const fr = fetchContext(sid);
    if (fr != 0) return fr;
    lo = fetchedLo; hi = fetchedHi;
    ccInsert(sid, lo, hi, ctxDid(hi));
  }
  dcNoteFpd((lo & CTX_FPD) != 0);
  lastTt = ctxTt(lo);
  if (lastTt == TT_PASS_THROUGH) dcSetPt(ctxDid(hi));
  else dcSetSs(ctxDid(hi), ctxSsPtPtr(lo), ctxAw(hi), false);
  return 0;
}

/** Whether sid's context entry in guest memory, read now (not through the
 *  context cache), is a valid pass-through entry (ctx/pt-space.ts). */
export function legacyPassThrough(sid: u32): bool {
  return fetchContext(sid) == 0 && ctxTt(fetchedLo) == TT_PASS_THROUGH;
}

let fetchedLo: u64 = 0;
let fetchedHi: u64 = 0;

// Read and check root and context entries from guest memory.
function fetchContext(sid: u32): u32 {
  const haw = cfg(CFG_HAW);
  const rOff = ramOffset(rootAddr + rootEntryOffset(sid >> 8), 16);
  bump(STAT_STRUCT_READS);
  if (rOff < 0) return FR_ROOT_ACCESS;
  const rlo = load<u64>(<usize>rOff);
  const rhi = load<u64>(<usize>rOff, 8);
  if ((rlo & ROOT_P) == 0) return FR_ROOT_NP;
  if (rootReserved(rlo, rhi, haw)) return FR_ROOT_RSVD;
  const cOff = ramOffset((rlo & ROOT_CTP_MASK) + <u64>((sid & 0xff) * CTX_ENTRY_BYTES), 16);
  bump(STAT_STRUCT_READS);
  if (cOff < 0) return FR_CTX_ACCESS;
  const lo = load<u64>(<usize>cOff);
  const hi = load<u64>(<usize>cOff, 8);
  dcNoteFpd((lo & CTX_FPD) != 0);
  if ((lo & CTX_P) == 0) return FR_CTX_NP;
  if (ctxReserved(lo, hi, haw)) return FR_CTX_RSVD;
  const tt = ctxTt(lo);
  if (tt == TT_DEVICE_TLB && cfg(CFG_ECAP_DT) == 0) return FR_CTX_INVALID;
  if (tt == TT_PASS_THROUGH && cfg(CFG_ECAP_PT) == 0) return FR_CTX_INVALID;
  if (tt > TT_PASS_THROUGH) return FR_CTX_INVALID;
  const awChecked = tt != TT_PASS_THROUGH || quirk(QUIRK_PT_CONTEXT_AW_CHECKED);
  if (awChecked && !awSupported(ctxAw(hi), cfg(CFG_SAGAW))) return FR_CTX_INVALID;
  fetchedLo = lo;
  fetchedHi = hi;
  return 0;
}

