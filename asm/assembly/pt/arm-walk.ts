// The AArch64 formats of the walker (plug-ins of pt/walk.ts's one loop) for
// the SMMUv3 front end, and their entry points: VMSAv8-64 stage 1 and
// stage 2 (spec/arm-pte.ts; IHI 0070 §3.4 defers to the Arm ARM, DDI 0487
// D8), granules 4, 16 and 64 KiB, concatenated stage-2 start tables, nested
// stage 1 (every stage-1 table address through stage 2: the loop's nesting,
// as VT-d's first stage). The Arm checks per level, in the Arm ARM's order:
// external abort on the fetch (F_WALK_EABT), invalid or reserved descriptor
// (F_TRANSLATION, D8.3), output address beyond the stage's output size
// (F_ADDR_SIZE), then at the leaf the Access flag (F_ACCESS) and the
// permissions (F_PERMISSION, D8.4). Faults are values: the SMMU event
// number (IHI 0070 §7.3), with the stage, CLASS and address in af*.
// Walker levels count up from the leaf (asm/GLOSSARY.md): Arm level 3 = 0.
// The paging-structure caches serve 4 KiB tables only.

import { ACC_EXEC, ACC_PRIV, ACC_WRITE, QUIRK_NO_PSC } from '../abi/layout';
import { EVT_F_ACCESS, EVT_F_ADDR_SIZE, EVT_F_PERMISSION, EVT_F_TRANSLATION, EVT_F_WALK_EABT } from '../abi/smmu-layout';
import { quirk } from '../cfg';
import {
  ARM_AF, ARM_AP_TABLE_NO_EL0, ARM_AP_TABLE_RO, ARM_OA_HI_MASK, ARM_PXN_TABLE, ARM_S1_AP_EL0, ARM_S1_AP_RO, ARM_S1_PXN,
  ARM_S2_AP_R, ARM_S2_AP_W, ARM_TABLE, ARM_VALID, ARM_XN, ARM_XN_TABLE, armAddr, armBlockOk, armLevelLg2, armStride,
} from '../spec/arm-pte';
import { P_R, P_W, P_X, PSC_ARM_S1, PSC_ARM_S2, walk } from './walk';

/** Walk permission bit (stage 1): unprivileged access allowed at every level. */
const AP_EL0: u32 = 8;
/** Walk permission bit (stage 1): privileged execute allowed. */
const AP_PX: u32 = 16;
const AP_ALL: u32 = P_R | P_W | P_X | AP_EL0 | AP_PX;

/** Fault CLASS (IHI 0070 §7.3.12): the fault was on a context-descriptor fetch. */
export const CLASS_CD: u32 = 0;
/** Fault CLASS: on a translation-table fetch. */
export const CLASS_TT: u32 = 1;
/** Fault CLASS: on the input address (the translation itself). */
export const CLASS_IN: u32 = 2;

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
// Stage 2: what the current walk is for (CLASS_*) and the IPA its faults report.
let ae2Cls: u32 = CLASS_IN;
let ae2FaultIpa: u64 = 0;

// ---- fault details (results are pt/walk.ts's w*) -------------------------------
/** Fault details: stage 2, CLASS, IPA (stage 2) or fetch address (F_WALK_EABT). */
export let afS2: bool = false;
export let afClass: u32 = CLASS_IN;
export let afAddr: u64 = 0;

function fault(evt: u32, s2: bool, cls: u32, addr: u64): u32 {
  afS2 = s2; afClass = cls; afAddr = addr;
  return evt;
}

/** Walk stage 2 for IPA `ipa` (input size checked by the caller). `cls`:
 *  what the walk is for (CLASS_*), reported with a fault. Returns 0
 *  (w* of pt/walk.ts set) or the event number (af* set, IPA = `faultIpa`). */
export function armWalkS2(ipa: u64, access: u32, cls: u32, faultIpa: u64): u32 {
  ae2Cls = cls;
  ae2FaultIpa = faultIpa;
  return walk<ArmStage2>(ipa, access);
}

/** Walk stage 1 for `iova` (range checked and TTB chosen by the caller),
 *  nesting through stage 2 when aeNested. Returns 0 (w* set; wFrame an
 *  IPA when nested) or the event number. */
export function armWalkS1(iova: u64, access: u32): u32 {
  return walk<ArmStage1>(iova, access);
}

// The permissions a request sees from accumulated walk bits (Arm ARM D8.4):
// EL0 data needs AP[1] (and no APTable[0]), EL0 fetches UXN = 0 only (a
// page without EL0 data access can be execute-only); EL1 fetches need
// PXN = 0 and a page EL0 cannot write (EL0-writable is implicitly PXN);
// CD.PAN takes EL1 data access away from EL0-accessible pages; CD.WXN
// takes execute away from writable pages.
function effective(s2: bool, perms: u32, priv: bool): u32 {
  if (s2) return perms & (P_R | P_W | P_X);
  let e: u32 = 0;
  if (!priv) e = ((perms & AP_EL0) != 0 ? perms & (P_R | P_W) : 0) | (perms & P_X);
  else {
    const el0 = (perms & AP_EL0) != 0;
    e = (perms & (P_R | P_W)) | ((perms & AP_PX) != 0 && !(el0 && (perms & P_W) != 0) ? P_X : 0);
    if (ae1Pan && el0) e &= ~(P_R | P_W);
  }
  if (ae1Wxn && (perms & P_W) != 0) e &= ~P_X;
  return e;
}

// Stage-1 table attributes (D8.4.2 hierarchical controls) of table descriptor d.
// @ts-ignore: decorator
@inline function tableLimits(d: u64, perms: u32): u32 {
  if ((d & ARM_AP_TABLE_RO) != 0) perms &= ~P_W;
  if ((d & ARM_AP_TABLE_NO_EL0) != 0) perms &= ~AP_EL0;
  if ((d & ARM_XN_TABLE) != 0) perms &= ~P_X;
  if ((d & ARM_PXN_TABLE) != 0) perms &= ~AP_PX;
  return perms;
}

// A leaf's own permissions (D8.4): S2AP and XN, or AP[2:1], UXN and PXN.
// @ts-ignore: decorator
@inline function leafLimits(s2: bool, d: u64, perms: u32): u32 {
  if (s2) {
    if ((d & ARM_S2_AP_R) == 0) perms &= ~P_R;
    if ((d & ARM_S2_AP_W) == 0) perms &= ~P_W;
    if ((d & ARM_XN) != 0) perms &= ~P_X;
    return perms;
  }
  if ((d & ARM_S1_AP_RO) != 0) perms &= ~P_W;
  if ((d & ARM_S1_AP_EL0) == 0) perms &= ~AP_EL0;
  if ((d & ARM_XN) != 0) perms &= ~P_X;
  if ((d & ARM_S1_PXN) != 0) perms &= ~AP_PX;
  return perms;
}

// Whether `eff` (effective) allow the request. A stage-1 instruction fetch
// needs execute permission only (execute-only pages); every other read
// needs read permission.
// @ts-ignore: decorator
@inline function allows(s2: bool, eff: u32, access: u32): bool {
  if ((access & ACC_WRITE) != 0) { if ((eff & P_W) == 0) return false; }
  else if ((s2 || (access & ACC_EXEC) == 0) && (eff & P_R) == 0) return false;
  if ((access & ACC_EXEC) != 0) { if ((eff & P_X) == 0) return false; }
  return true;
}

// ---- the parts both stages share, `s2` a constant at each use --------------------
// @ts-ignore: decorator
@inline function gran(s2: bool): u32 { return s2 ? ae2Gran : ae1Gran; }
// @ts-ignore: decorator
@inline function oBits(s2: bool): u32 { return s2 ? ae2OBits : ae1OBits; }
// A stage-1 fault reports the input address; stage 2 the IPA it was asked for.
// @ts-ignore: decorator
@inline function inFault(evt: u32, s2: bool, ia: u64): u32 {
  return s2 ? fault(evt, true, ae2Cls, ae2FaultIpa) : fault(evt, false, CLASS_IN, ia);
}
// Index of `ia`'s descriptor in a table at walker level `level` (the top
// table's index is narrower, or wider for concatenated stage-2 tables).
// @ts-ignore: decorator
@inline function armIndex(s2: bool, ia: u64, level: i32, top: bool): u64 {
  const g = gran(s2);
  const bits = top ? (s2 ? ae2TopBits : ae1TopBits) : armStride(g);
  return (ia >> armLevelLg2(g, level)) & ((<u64>1 << bits) - 1);
}
// @ts-ignore: decorator
@inline function armPscOn(s2: bool): bool { return gran(s2) == 12 && !quirk(QUIRK_NO_PSC); }
// The top table's address beyond the output size: Address size fault (D8.3;
// the QEMU profiles check less, or later: SUF_OA_*).
// @ts-ignore: decorator
@inline function armEnter(s2: bool, table: u64, ia: u64): u32 {
  if ((table >> oBits(s2)) != 0 && !aeOaLeafLast && !aeOaNone) return inFault(EVT_F_ADDR_SIZE, s2, ia);
  return 0;
}
// Invalid, a block descriptor at level 3 (walker level 0) or where the
// granule has none (D8.3), then the output (or next-table) address size.
// @ts-ignore: decorator
@inline function armCheck(s2: bool, ia: u64, d: u64, level: i32): u32 {
  if ((d & ARM_VALID) == 0) return inFault(EVT_F_TRANSLATION, s2, ia);
  const block = (d & ARM_TABLE) == 0;
  if (level == 0) {
    if (block) return inFault(EVT_F_TRANSLATION, s2, ia);
  } else if (block && !aeAnyBlock && !armBlockOk(gran(s2), level)) return inFault(EVT_F_TRANSLATION, s2, ia);
  if (!aeOaLeafLast && !aeOaNone) {
    if ((d & ARM_OA_HI_MASK) != 0 || (armAddr(d, gran(s2)) >> oBits(s2)) != 0) return inFault(EVT_F_ADDR_SIZE, s2, ia);
  }
  return 0;
}
// A leaf: Access flag (unless AFFD), permissions, then the late output size check (SUF_OA_LEAF_LAST).
// @ts-ignore: decorator
@inline function visitLeaf(s2: bool, ia: u64, d: u64, perms: u32, access: u32): u32 {
  if ((d & ARM_AF) == 0 && !(s2 ? ae2Affd : ae1Affd)) return inFault(EVT_F_ACCESS, s2, ia);
  if (!allows(s2, effective(s2, perms, (access & ACC_PRIV) != 0), access)) return inFault(EVT_F_PERMISSION, s2, ia);
  if (aeOaLeafLast && (armAddr(d, gran(s2)) >> oBits(s2)) != 0) return inFault(EVT_F_ADDR_SIZE, s2, ia);
  return 0;
}

/** VMSAv8-64 stage 1 (CD.TTB0/TTB1): AP[2:1], UXN/PXN, hierarchical
 *  APTable/XNTable/PXNTable (unless CD.HADx), tables through stage 2 when nested. */
@unmanaged @final class ArmStage1 {
  @inline flags(access: u32): u32 { return access; }
  @inline top(): i32 { return ae1Top; }
  @inline root(): u64 { return ae1Root; }
  @inline allPerms(): u32 { return AP_ALL; }
  @inline pscOn(): bool { return armPscOn(false); }
  @inline pscFormat(): u32 { return PSC_ARM_S1; }
  @inline pscDid(): u32 { return aeVmid; }
  @inline pscTag(): u32 { return aeAsid; }
  @inline resume(perms: u32, access: u32, fl: u32): u32 { return 0; }
  @inline enter(table: u64, ia: u64): u32 { return armEnter(false, table, ia); }
  @inline nested(): bool { return aeNested; }
  // A stage-1 table address (an IPA) through stage 2; a fault is CLASS_TT
  // with the IPA of the descriptor the walk wanted (IHI 0070 §7.3.12).
  @inline nestTable(ipa: u64, top: bool, descIpa: u64): u32 {
    if ((ipa >> ae2IBits) != 0) return fault(EVT_F_TRANSLATION, true, CLASS_TT, descIpa);
    return armWalkS2(ipa, 0, CLASS_TT, descIpa);
  }
  @inline nestPerms(perms: u32): u32 { return perms; }
  @inline index(ia: u64, level: i32, top: bool): u64 { return armIndex(false, ia, level, top); }
  @inline fetchFault(top: bool, entry: u64): u32 { return fault(EVT_F_WALK_EABT, false, CLASS_TT, entry); }
  @inline check(ia: u64, d: u64, level: i32, access: u32, fl: u32): u32 { return armCheck(false, ia, d, level); }
  @inline isLeaf(d: u64, level: i32): bool { return level == 0 || (d & ARM_TABLE) == 0; }
  @inline limit(d: u64, leaf: bool, perms: u32, fl: u32): u32 {
    return leaf ? leafLimits(false, d, perms) : ae1Had ? perms : tableLimits(d, perms);
  }
  @inline visit(ia: u64, off: usize, d: u64, leaf: bool, perms: u32, access: u32, fl: u32): u32 {
    return leaf ? visitLeaf(false, ia, d, perms, access) : 0;
  }
  @inline outAddr(d: u64): u64 { return armAddr(d, ae1Gran); }
  @inline pageLg2(level: i32): u32 { return armLevelLg2(ae1Gran, level); }
  @inline tablePerms(perms: u32): u32 { return perms; }
  @inline grant(perms: u32, fl: u32): u32 { return effective(false, perms, (fl & ACC_PRIV) != 0); }
  @inline dirty(off: usize): bool { return true; }
}

/** VMSAv8-64 stage 2 (STE.S2TTB): S2AP, XN, concatenated start tables. */
@unmanaged @final class ArmStage2 {
  @inline flags(access: u32): u32 { return access; }
  @inline top(): i32 { return ae2Top; }
  @inline root(): u64 { return ae2Root; }
  @inline allPerms(): u32 { return AP_ALL; }
  @inline pscOn(): bool { return armPscOn(true); }
  @inline pscFormat(): u32 { return PSC_ARM_S2; }
  @inline pscDid(): u32 { return aeVmid; }
  @inline pscTag(): u32 { return 0; }
  @inline resume(perms: u32, access: u32, fl: u32): u32 { return 0; }
  @inline enter(table: u64, ia: u64): u32 { return armEnter(true, table, ia); }
  @inline nested(): bool { return false; }
  @inline nestTable(ipa: u64, top: bool, descIpa: u64): u32 { return 0; }
  @inline nestPerms(perms: u32): u32 { return perms; }
  @inline index(ia: u64, level: i32, top: bool): u64 { return armIndex(true, ia, level, top); }
  @inline fetchFault(top: bool, entry: u64): u32 { return fault(EVT_F_WALK_EABT, true, ae2Cls, entry); }
  @inline check(ia: u64, d: u64, level: i32, access: u32, fl: u32): u32 { return armCheck(true, ia, d, level); }
  @inline isLeaf(d: u64, level: i32): bool { return level == 0 || (d & ARM_TABLE) == 0; }
  @inline limit(d: u64, leaf: bool, perms: u32, fl: u32): u32 { return leaf ? leafLimits(true, d, perms) : perms; }
  @inline visit(ia: u64, off: usize, d: u64, leaf: bool, perms: u32, access: u32, fl: u32): u32 {
    return leaf ? visitLeaf(true, ia, d, perms, access) : 0;
  }
  @inline outAddr(d: u64): u64 { return armAddr(d, ae2Gran); }
  @inline pageLg2(level: i32): u32 { return armLevelLg2(ae2Gran, level); }
  @inline tablePerms(perms: u32): u32 { return perms; }
  @inline grant(perms: u32, fl: u32): u32 { return effective(true, perms, false); }
  @inline dirty(off: usize): bool { return true; }
}
