// The AArch64 formats of the walker (VMSAv8-64 stage 1 and stage 2, spec/arm-pte.ts)
// for the SMMUv3 front end: the walk loop shape of pt/walk.ts (top level down,
// paging-structure caches to start below the top, nesting where every stage-1
// table fetch goes through stage 2), with the Arm checks in the Arm ARM's
// order per level: external abort on the fetch (F_WALK_EABT), invalid or
// reserved descriptor (F_TRANSLATION), output address beyond the stage's
// output size (F_ADDR_SIZE), then at the leaf the Access flag (F_ACCESS) and
// the permissions (F_PERMISSION). Faults are values: the SMMU event number
// (IHI 0070 §7.3), with the stage, CLASS and IPA in armFault*.
// Walker levels count up from the leaf (asm/GLOSSARY.md): Arm level 3 = 0.
// Granules 4, 16 and 64 KiB; the paging-structure caches serve 4 KiB tables.

import { ACC_EXEC, ACC_PRIV, ACC_WRITE, QUIRK_NO_PSC, STAT_WALKS } from '../abi/layout';
import { EVT_F_ACCESS, EVT_F_ADDR_SIZE, EVT_F_PERMISSION, EVT_F_TRANSLATION, EVT_F_WALK_EABT } from '../abi/smmu-layout';
import { quirk } from '../cfg';
import { bump } from '../stats';
import { pscInsert, pscLookup, pscPerms, pscTable } from '../cache/psc';
import { readEntry } from './walk';
import {
  ARM_AF, ARM_AP_TABLE_NO_EL0, ARM_AP_TABLE_RO, ARM_OA_HI_MASK, ARM_PXN_TABLE, ARM_S1_AP_EL0, ARM_S1_AP_RO, ARM_S1_PXN,
  ARM_S2_AP_R, ARM_S2_AP_W, ARM_TABLE, ARM_VALID, ARM_XN, ARM_XN_TABLE, armAddr, armBlockOk, armLevelLg2, armStride,
} from '../spec/arm-pte';

/** Walk permission bit: read. */
export const AP_R: u32 = 1;
/** Walk permission bit: write. */
export const AP_W: u32 = 2;
/** Walk permission bit: execute (stage 2: not XN). */
export const AP_X: u32 = 4;
/** Walk permission bit (stage 1): unprivileged access allowed at every level. */
export const AP_EL0: u32 = 8;
/** Walk permission bit (stage 1): privileged execute allowed. */
const AP_PX: u32 = 16;
const AP_ALL: u32 = AP_R | AP_W | AP_X | AP_EL0 | AP_PX;

/** Fault CLASS (IHI 0070 §7.3.12): the fault was on a context-descriptor fetch. */
export const CLASS_CD: u32 = 0;
/** Fault CLASS: on a translation-table fetch. */
export const CLASS_TT: u32 = 1;
/** Fault CLASS: on the input address (the translation itself). */
export const CLASS_IN: u32 = 2;

// Paging-structure cache format tags of the Arm stages (pt/walk.ts uses 0, 1).
const PSC_ARM_S1: u32 = 2;
const PSC_ARM_S2: u32 = 3;

// ---- walk environment (set by pt/arm-translate.ts) -----------------------
/** VMID: the caches' domain tag. */
export let aeVmid: u32 = 0;
/** ASID: the stage-1 caches' PASID tag. */
export let aeAsid: u32 = 0;
/** Stage 1: table root, top walker level, index bits at the top, granule log2, output bits. */
export let ae1Root: u64 = 0;
export let ae1Top: i32 = 0;
export let ae1TopBits: u32 = 9;
export let ae1Gran: u32 = 12;
export let ae1OBits: u32 = 48;
/** Stage 1: AF=0 is no fault (CD.AFFD); hierarchical attributes ignored (CD.HADx); CD.PAN; CD.WXN. */
export let ae1Affd: bool = false;
export let ae1Had: bool = false;
export let ae1Pan: bool = false;
export let ae1Wxn: bool = false;
/** Stage 1 table fetches and output go through stage 2. */
export let aeNested: bool = false;
/** Profile switches (SUF_BLOCKS_ANY_LEVEL, SUF_OA_LEAF_LAST, SUF_OA_NONE), both stages. */
export let aeAnyBlock: bool = false;
export let aeOaLeafLast: bool = false;
export let aeOaNone: bool = false;
/** Stage 2: root, top walker level, index bits at the top (concatenated tables), granule, input and output bits, AFFD. */
export let ae2Root: u64 = 0;
export let ae2Top: i32 = 0;
export let ae2TopBits: u32 = 9;
export let ae2Gran: u32 = 12;
export let ae2IBits: u32 = 48;
export let ae2OBits: u32 = 48;
export let ae2Affd: bool = false;

// ---- results ---------------------------------------------------------------
/** Output page of the last successful walk. */
export let awFrame: u64 = 0;
/** Its size log2. */
export let awLg2: u32 = 12;
/** Its permissions for the request's privilege: AP_R | AP_W | AP_X. */
export let awPerms: u32 = 0;
/** Fault details: stage 2, CLASS, IPA (stage 2) or fetch address (F_WALK_EABT). */
export let afS2: bool = false;
export let afClass: u32 = CLASS_IN;
export let afAddr: u64 = 0;

function fault(evt: u32, s2: bool, cls: u32, addr: u64): u32 {
  afS2 = s2; afClass = cls; afAddr = addr;
  return evt;
}

// The permissions a request sees from accumulated walk bits (Arm ARM D8.4):
// EL0 data needs AP[1] (and no APTable[0]), EL0 fetches UXN = 0 only (a
// page without EL0 data access can be execute-only); EL1 fetches need
// PXN = 0 and a page EL0 cannot write (EL0-writable is implicitly PXN);
// CD.PAN takes EL1 data access away from EL0-accessible pages; CD.WXN
// takes execute away from writable pages.
function effective(s2: bool, perms: u32, priv: bool): u32 {
  if (s2) return perms & (AP_R | AP_W | AP_X);
  let e: u32 = 0;
  if (!priv) e = ((perms & AP_EL0) != 0 ? perms & (AP_R | AP_W) : 0) | (perms & AP_X);
  else {
    const el0 = (perms & AP_EL0) != 0;
    e = (perms & (AP_R | AP_W)) | ((perms & AP_PX) != 0 && !(el0 && (perms & AP_W) != 0) ? AP_X : 0);
    if (ae1Pan && el0) e &= ~(AP_R | AP_W);
  }
  if (ae1Wxn && (perms & AP_W) != 0) e &= ~AP_X;
  return e;
}

// Stage-1 table attributes (D8.4.2 hierarchical controls) of table descriptor d.
// @ts-ignore: decorator
@inline function tableLimits(d: u64, perms: u32): u32 {
  if ((d & ARM_AP_TABLE_RO) != 0) perms &= ~AP_W;
  if ((d & ARM_AP_TABLE_NO_EL0) != 0) perms &= ~AP_EL0;
  if ((d & ARM_XN_TABLE) != 0) perms &= ~AP_X;
  if ((d & ARM_PXN_TABLE) != 0) perms &= ~AP_PX;
  return perms;
}

// A leaf's own permissions.
// @ts-ignore: decorator
@inline function leafLimits(s2: bool, d: u64, perms: u32): u32 {
  if (s2) {
    if ((d & ARM_S2_AP_R) == 0) perms &= ~AP_R;
    if ((d & ARM_S2_AP_W) == 0) perms &= ~AP_W;
    if ((d & ARM_XN) != 0) perms &= ~AP_X;
    return perms;
  }
  if ((d & ARM_S1_AP_RO) != 0) perms &= ~AP_W;
  if ((d & ARM_S1_AP_EL0) == 0) perms &= ~AP_EL0;
  if ((d & ARM_XN) != 0) perms &= ~AP_X;
  if ((d & ARM_S1_PXN) != 0) perms &= ~AP_PX;
  return perms;
}

// Whether `perms` (effective) allow the request.
// @ts-ignore: decorator
// A stage-1 instruction fetch needs execute permission only (execute-only
// pages); every other read needs read permission.
@inline function allows(s2: bool, eff: u32, access: u32): bool {
  if ((access & ACC_WRITE) != 0) { if ((eff & AP_W) == 0) return false; }
  else if ((s2 || (access & ACC_EXEC) == 0) && (eff & AP_R) == 0) return false;
  if ((access & ACC_EXEC) != 0) { if ((eff & AP_X) == 0) return false; }
  return true;
}

/** Walk stage 2 for IPA `ipa` (input size checked by the caller). `cls`:
 *  what the walk is for (CLASS_*), reported with a fault. Returns 0
 *  (aw* set) or the event number (af* set, IPA = `faultIpa`). */
export function armWalkS2(ipa: u64, access: u32, cls: u32, faultIpa: u64): u32 {
  return walk(true, ipa, access, cls, faultIpa);
}

/** Walk stage 1 for `iova` (range checked and TTB chosen by the caller),
 *  nesting through stage 2 when aeNested. Returns 0 (aw* set; awFrame an
 *  IPA when nested) or the event number. */
export function armWalkS1(iova: u64, access: u32): u32 {
  return walk(false, iova, access, CLASS_IN, 0);
}

// Index of `ia`'s descriptor in a table at walker level `level`.
// @ts-ignore: decorator
@inline function descIndex(ia: u64, gran: u32, level: i32, idxBits: u32): u64 {
  return (ia >> armLevelLg2(gran, level)) & ((<u64>1 << idxBits) - 1);
}

// Nested: the stage-1 table at IPA `table` (walker level `level`) through
// stage 2; a fault is CLASS_TT with the IPA of the descriptor the walk
// wanted. Sets awFrame to the table's physical address.
function nestTable(table: u64, ia: u64, level: i32, gran: u32): u32 {
  const idxBits = level == ae1Top ? ae1TopBits : armStride(gran);
  const descIpa = table + (descIndex(ia, gran, level, idxBits) << 3);
  if ((table >> ae2IBits) != 0) return fault(EVT_F_TRANSLATION, true, CLASS_TT, descIpa);
  const fr = armWalkS2(table, 0, CLASS_TT, descIpa);
  if (fr != 0) return fr;
  awFrame = awFrame | (table & ((<u64>1 << awLg2) - 1));
  return 0;
}

// The one loop both stages run; `s2` picks the stage's parameters and checks.
function walk(s2: bool, ia: u64, access: u32, cls: u32, faultIpa: u64): u32 {
  bump(STAT_WALKS);
  const gran = s2 ? ae2Gran : ae1Gran;
  const stride = armStride(gran);
  const top = s2 ? ae2Top : ae1Top;
  const obits = s2 ? ae2OBits : ae1OBits;
  const fmt = s2 ? PSC_ARM_S2 : PSC_ARM_S1;
  const tag = s2 ? 0 : aeAsid;
  const priv = (access & ACC_PRIV) != 0;
  const usePsc = gran == 12 && !quirk(QUIRK_NO_PSC);
  // A stage-1 fault reports the input address; stage 2 the IPA it was asked for.
  const myCls = s2 ? cls : CLASS_IN;
  let level = top;
  let table = s2 ? ae2Root : ae1Root;
  let perms = AP_ALL;
  let cached = false;
  if (usePsc) {
    for (let l: i32 = 1; l <= top; l++) {
      if (pscLookup(fmt, aeVmid, tag, l, ia)) { table = pscTable; perms = pscPerms; level = l - 1; cached = true; break; }
    }
  }
  if (!cached) {
    if ((table >> obits) != 0 && !aeOaLeafLast && !aeOaNone) return fault(EVT_F_ADDR_SIZE, s2, myCls, s2 ? faultIpa : ia);
    if (!s2 && aeNested) {
      const nfr = nestTable(table, ia, level, gran);
      if (nfr != 0) return nfr;
      table = awFrame;
    }
  }
  while (true) {
    const idxBits = level == top ? (s2 ? ae2TopBits : ae1TopBits) : stride;
    const entry = table + (descIndex(ia, gran, level, idxBits) << 3);
    const off = readEntry(entry);
    if (off < 0) return fault(EVT_F_WALK_EABT, s2, s2 ? cls : CLASS_TT, entry);
    const d = load<u64>(<usize>off);
    const errAddr = s2 ? faultIpa : ia;
    if ((d & ARM_VALID) == 0) return fault(EVT_F_TRANSLATION, s2, myCls, errAddr);
    const isTable = level > 0 && (d & ARM_TABLE) != 0;
    if (level == 0 && (d & ARM_TABLE) == 0) return fault(EVT_F_TRANSLATION, s2, myCls, errAddr);
    if (!isTable && level > 0 && !aeAnyBlock && !armBlockOk(gran, level)) return fault(EVT_F_TRANSLATION, s2, myCls, errAddr);
    // Output (or next-table) address size (D8.3); the QEMU profiles check less, or later (setEnv flags).
    const addr = armAddr(d, gran);
    if (!aeOaLeafLast && !aeOaNone && ((d & ARM_OA_HI_MASK) != 0 || (addr >> obits) != 0)) return fault(EVT_F_ADDR_SIZE, s2, myCls, errAddr);
    if (isTable) {
      if (!s2 && !ae1Had) perms = tableLimits(d, perms);
      table = addr;
      if (!s2 && aeNested) {
        const nfr = nestTable(addr, ia, level - 1, gran);
        if (nfr != 0) return nfr;
        table = awFrame;
      }
      if (usePsc) pscInsert(fmt, aeVmid, tag, level, ia, table, perms);
      level--;
      continue;
    }
    if ((d & ARM_AF) == 0 && !(s2 ? ae2Affd : ae1Affd)) return fault(EVT_F_ACCESS, s2, myCls, errAddr);
    perms = leafLimits(s2, d, perms);
    const eff = effective(s2, perms, priv);
    if (!allows(s2, eff, access)) return fault(EVT_F_PERMISSION, s2, myCls, errAddr);
    if (aeOaLeafLast && (addr >> obits) != 0) return fault(EVT_F_ADDR_SIZE, s2, myCls, errAddr);
    awLg2 = armLevelLg2(gran, level);
    awFrame = addr & ~((<u64>1 << awLg2) - 1);
    awPerms = eff;
    return 0;
  }
}
