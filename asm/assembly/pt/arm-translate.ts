// One request through the SMMUv3 front end's setup (docs/ABI.md "SMMUv3
// translation"): the host decoded the STE and CD (IHI 0070 §5.2, §5.4) into
// a setup record (abi/smmu-layout.ts); here the IOTLB is looked up with the
// hardware's tags — VMID as the domain tag, ASID as the PASID tag of stage-1
// and nested entries, PASID_NONE for stage-2-only entries (docs/ABI.md) —
// then stage 1 picks TTB0 or TTB1 and checks the input range (§3.4.1,
// CD.TxSZ/TBI/EPDx), the walk runs (the one loop of pt/walk.ts with the
// AArch64 formats of pt/arm-walk.ts), the stage-1 output goes through stage
// 2 when nested, and the result fills the IOTLB and the out-buffer (out.ts;
// the DMA loop is dma.ts's, shared with VT-d). Faults are values: the event
// number, OUT_FAULT_FLAGS carrying FF_ARM_S2 and the CLASS, OUT_FAULT_ADDR
// the IPA of a stage-2 fault (the fetch address of F_WALK_EABT).

import {
  ACC_PRIV, FF_WALK, OUT_FAULT_ADDR_HI, OUT_FAULT_ADDR_LO, OUT_FAULT_FLAGS, OUT_FAULT_PASID, OUT_PERMS, OUT_SOURCE, OUT_STATUS,
  PASID_NONE, SRC_IOTLB, SRC_PT, SRC_WALK, STAT_FAULTS, STAT_IOTLB_MISSES, STAT_TRANSLATIONS,
} from '../abi/layout';
import {
  EVT_F_ADDR_SIZE, EVT_F_TRANSLATION, FF_ARM_CLASS_SHIFT, FF_ARM_S2, SU_ASID, SU_FLAGS, SU_S1_OBITS, SU_S2_OBITS, SU_S2_START,
  SU_S2T0SZ, SU_S2TG_LG2, SU_S2TTB, SU_T0SZ, SU_T1SZ, SU_TG0_LG2, SU_TG1_LG2, SU_TTB0, SU_TTB1, SU_VMID, SUF_AFFD,
  SUF_EPD0, SUF_EPD1, SUF_HAD0, SUF_HAD1, SUF_S1, SUF_S2, SUF_S2AFFD, SUF_TBI0, SUF_TBI1, SUF_BLOCKS_ANY_LEVEL, SUF_OA_LEAF_LAST, SUF_OA_NONE, SUF_PAN, SUF_WXN,
} from '../abi/smmu-layout';
import { bump } from '../stats';
import { outSet, outSucceed } from '../out';
import { bucketOf } from '../cache/gen';
import { entryFrame, entryLg2, entryPerms, iotlbInsert, iotlbProbe, iotlbTouch, PRIV_FLAG } from '../cache/iotlb';
import { neededPerms } from '../fast';
import { armStride } from '../spec/arm-pte';
import * as W from './arm-walk';
import { P_DIRTY, P_FAR, P_R, P_W, P_X, joinStages, wFrame, wLg2, wPerms } from './walk';

/** Translate `iova` for the setup record at `su` (validated by the caller).
 *  Returns 0 or the SMMU event number; see the out-buffer. */
export function armTranslate(su: usize, iova: u64, access: u32): u32 {
  bump(STAT_TRANSLATIONS);
  const flags = load<u32>(su, SU_FLAGS);
  const vmid = load<u32>(su, SU_VMID) & 0xffff;
  if ((flags & (SUF_S1 | SUF_S2)) == 0) return outSucceed(iova, 12, P_R | P_W | P_X, vmid, SRC_PT);
  const s1 = (flags & SUF_S1) != 0;
  const priv = (access & ACC_PRIV) != 0;
  const tag = s1 ? (load<u32>(su, SU_ASID) & 0xffff) | (priv ? PRIV_FLAG : 0) : PASID_NONE;
  const e = iotlbProbe(vmid, tag, bucketOf(vmid, tag & ~PRIV_FLAG), iova);
  if (e != 0) {
    const need = neededPerms(access);
    if ((entryPerms(e) & need) == need) {
      iotlbTouch(e);
      const lg2 = entryLg2(e);
      return outSucceed(entryFrame(e) | (iova & ((<u64>1 << lg2) - 1)), lg2, entryPerms(e) & 7, vmid, SRC_IOTLB);
    }
  }
  bump(STAT_IOTLB_MISSES);
  setEnv(su, flags, vmid);
  let fr: u32 = 0;
  if (s1) {
    fr = selectTtb(su, flags, iova);
    if (fr == 0) fr = W.armWalkS1(iova, access);
    if (fr == 0 && W.aeNested) fr = nestOutput(iova, access);
  } else {
    fr = W.ae2IBits < 64 && (iova >> W.ae2IBits) != 0
      ? fail2(EVT_F_TRANSLATION, iova) : W.armWalkS2(iova, access, W.CLASS_IN, iova);
  }
  if (fr != 0) return failOut(fr, iova);
  // P_DIRTY: no Dirty flag to set (HTTU = 0); P_FAR: no interrupt range
  // inside the IOVA space (an SMMU translates MSI writes as any other).
  iotlbInsert(vmid, 0, tag, s1, iova, tlbLg2(wLg2), tlbFrame(iova), wPerms | P_DIRTY | P_FAR, e == 0, false);
  return outSucceed(wFrame | (iova & ((<u64>1 << wLg2) - 1)), wLg2, wPerms, vmid, SRC_WALK);
}

/** Stage 2 only, for an IPA the host fetches a context descriptor from
 *  (nested STE: S1ContextPtr is an IPA): CLASS_CD faults. No IOTLB. */
export function armTranslateS2(su: usize, ipa: u64, access: u32): u32 {
  bump(STAT_TRANSLATIONS);
  const flags = load<u32>(su, SU_FLAGS);
  const vmid = load<u32>(su, SU_VMID) & 0xffff;
  if ((flags & SUF_S2) == 0) return outSucceed(ipa, 12, P_R | P_W | P_X, vmid, SRC_PT);
  setEnv(su, flags, vmid);
  let fr: u32 = 0;
  if (W.ae2IBits < 64 && (ipa >> W.ae2IBits) != 0) fr = fail2(EVT_F_TRANSLATION, ipa);
  else fr = W.armWalkS2(ipa, access, W.CLASS_CD, ipa);
  if (fr != 0) {
    W.afClass = W.CLASS_CD;
    return failOut(fr, ipa);
  }
  return outSucceed(wFrame | (ipa & ((<u64>1 << wLg2) - 1)), wLg2, wPerms, vmid, SRC_WALK);
}

// The walk environment from the setup record.
function setEnv(su: usize, flags: u32, vmid: u32): void {
  W.aeVmid = vmid;
  W.aeAsid = load<u32>(su, SU_ASID) & 0xffff;
  W.aeNested = (flags & (SUF_S1 | SUF_S2)) == (SUF_S1 | SUF_S2);
  W.aeAnyBlock = (flags & SUF_BLOCKS_ANY_LEVEL) != 0;
  W.aeOaLeafLast = (flags & SUF_OA_LEAF_LAST) != 0;
  W.aeOaNone = (flags & SUF_OA_NONE) != 0;
  W.ae1Affd = (flags & SUF_AFFD) != 0;
  W.ae1Pan = (flags & SUF_PAN) != 0;
  W.ae1Wxn = (flags & SUF_WXN) != 0;
  W.ae1OBits = load<u8>(su, SU_S1_OBITS);
  if ((flags & SUF_S2) == 0) return;
  const gran = <u32>load<u8>(su, SU_S2TG_LG2);
  const ibits = 64 - <u32>load<u8>(su, SU_S2T0SZ);
  const top = 3 - <i32>load<u8>(su, SU_S2_START);
  W.ae2Gran = gran;
  W.ae2Top = top;
  W.ae2IBits = ibits;
  W.ae2TopBits = ibits - (gran + armStride(gran) * <u32>top);
  W.ae2OBits = load<u8>(su, SU_S2_OBITS);
  W.ae2Root = load<u64>(su, SU_S2TTB);
  W.ae2Affd = (flags & SUF_S2AFFD) != 0;
}

// Stage 1: which translation table covers `iova` (CD.TxSZ, TBI, EPDx);
// an address in neither range, or in a disabled one, is a Translation fault.
function selectTtb(su: usize, flags: u32, iova: u64): u32 {
  const upper = (iova >> 55) & 1;
  const tbi = (flags & (upper != 0 ? SUF_TBI1 : SUF_TBI0)) != 0;
  const tsz = <u32>load<u8>(su + (upper != 0 ? SU_T1SZ : SU_T0SZ));
  const ibits = 64 - tsz;
  // Bits ibits..63 (..55 with TBI) must all equal bit 55's value.
  const topBit: u32 = tbi ? 56 : 64;
  const span = topBit - ibits;
  const hi = (iova >> ibits) & ((<u64>1 << span) - 1);
  const want: u64 = upper != 0 ? (<u64>1 << span) - 1 : 0;
  if (hi != want) return fail1(EVT_F_TRANSLATION);
  if ((flags & (upper != 0 ? SUF_EPD1 : SUF_EPD0)) != 0) return fail1(EVT_F_TRANSLATION);
  const gran = <u32>load<u8>(su + (upper != 0 ? SU_TG1_LG2 : SU_TG0_LG2));
  const stride = armStride(gran);
  const levels = (ibits - gran + stride - 1) / stride;
  W.ae1Gran = gran;
  W.ae1Top = <i32>levels - 1;
  W.ae1TopBits = ibits - (gran + stride * (levels - 1));
  W.ae1Root = load<u64>(su + (upper != 0 ? SU_TTB1 : SU_TTB0));
  W.ae1Had = (flags & (upper != 0 ? SUF_HAD1 : SUF_HAD0)) != 0;
  return 0;
}

// Nested: the stage-1 output (an IPA) through stage 2; CLASS_IN faults
// with the IPA. The result's permissions are both stages'.
function nestOutput(iova: u64, access: u32): u32 {
  const s1Lg2 = wLg2;
  const s1Perms = wPerms;
  const ipa = wFrame | (iova & ((<u64>1 << s1Lg2) - 1));
  if (!W.aeOaNone && (ipa >> W.ae1OBits) != 0) return fail1(EVT_F_ADDR_SIZE);
  if (W.ae2IBits < 64 && (ipa >> W.ae2IBits) != 0) return fail2(EVT_F_TRANSLATION, ipa);
  const fr = W.armWalkS2(ipa, access, W.CLASS_IN, ipa);
  if (fr != 0) return fr;
  joinStages(ipa, s1Lg2, s1Perms);
  return 0;
}

function fail1(evt: u32): u32 {
  W.afS2 = false; W.afClass = W.CLASS_IN; W.afAddr = 0;
  return evt;
}

function fail2(evt: u32, ipa: u64): u32 {
  W.afS2 = true; W.afClass = W.CLASS_IN; W.afAddr = ipa;
  return evt;
}

// IOTLB entries come in 4 KiB, 2 MiB and 1 GiB sizes (cache/iotlb.ts): a
// page of another size is cached as the largest of those inside it.
function tlbLg2(lg2: u32): u32 {
  return lg2 >= 30 ? 30 : lg2 >= 21 ? 21 : 12;
}
function tlbFrame(iova: u64): u64 {
  const lg2 = tlbLg2(wLg2);
  return wFrame | (iova & ((<u64>1 << wLg2) - 1) & ~((<u64>1 << lg2) - 1));
}

function failOut(evt: u32, iova: u64): u32 {
  bump(STAT_FAULTS);
  const addr = W.afS2 || W.afAddr != 0 ? W.afAddr : iova;
  outSet(OUT_STATUS, evt);
  outSet(OUT_FAULT_FLAGS, FF_WALK | (W.afS2 ? FF_ARM_S2 : 0) | (W.afClass << FF_ARM_CLASS_SHIFT));
  outSet(OUT_FAULT_PASID, 0);
  outSet(OUT_FAULT_ADDR_LO, <u32>addr);
  outSet(OUT_FAULT_ADDR_HI, <u32>(addr >> 32));
  outSet(OUT_PERMS, 0);
  outSet(OUT_SOURCE, SRC_WALK);
  return evt;
}
