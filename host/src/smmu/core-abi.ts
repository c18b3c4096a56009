/**
 * The SMMUv3 front end's side of the core ABI (docs/ABI.md "SMMUv3
 * translation"): a mirror of asm/assembly/abi/smmu-layout.ts (a test keeps
 * the two equal) and `SmmuCore`, the typed access to the three exports the
 * front end calls (armTranslate, armTranslateS2, armDmaCopy) plus the setup
 * record it writes into a device buffer. Numbers only on the DMA path.
 */
import type { Core } from '../core/core.js';
import type { Iova } from '../types.js';

/** Bytes of a setup record. */
export const SU_BYTES = 64;
/** u32: SUF_* flags. */
export const SU_FLAGS = 0;
/** u32: VMID (the IOTLB's domain tag). */
export const SU_VMID = 4;
/** u32: ASID (the IOTLB's PASID tag of stage-1 entries). */
export const SU_ASID = 8;
/** u8: CD.T0SZ. */
export const SU_T0SZ = 12;
/** u8: CD.T1SZ. */
export const SU_T1SZ = 13;
/** u8: stage-1 output size in bits (CD.IPS capped by SMMU_IDR5.OAS). */
export const SU_S1_OBITS = 14;
/** u8: log2 of the TTB0 granule (12, 14, 16). */
export const SU_TG0_LG2 = 15;
/** u8: log2 of the TTB1 granule. */
export const SU_TG1_LG2 = 16;
/** u8: STE.S2T0SZ. */
export const SU_S2T0SZ = 17;
/** u8: stage-2 start level, Arm numbering (0..3, from S2SL0 and S2TG). */
export const SU_S2_START = 18;
/** u8: stage-2 output size in bits (STE.S2PS capped by SMMU_IDR5.OAS). */
export const SU_S2_OBITS = 19;
/** u8: log2 of the stage-2 granule. */
export const SU_S2TG_LG2 = 20;
/** u64: CD.TTB0. */
export const SU_TTB0 = 24;
/** u64: CD.TTB1. */
export const SU_TTB1 = 32;
/** u64: STE.S2TTB. */
export const SU_S2TTB = 40;
/** Setup flag: stage 1 translates (STE.Config[0]). */
export const SUF_S1 = 1 << 0;
/** Setup flag: stage 2 translates (STE.Config[1]). */
export const SUF_S2 = 1 << 1;
/** Setup flag: CD.EPD0, no walks through TTB0. */
export const SUF_EPD0 = 1 << 2;
/** Setup flag: CD.EPD1. */
export const SUF_EPD1 = 1 << 3;
/** Setup flag: CD.AFFD, an AF=0 stage-1 descriptor is no Access fault. */
export const SUF_AFFD = 1 << 4;
/** Setup flag: STE.S2AFFD. */
export const SUF_S2AFFD = 1 << 5;
/** Setup flag: CD.HAD0, hierarchical attributes of TTB0 tables disabled. */
export const SUF_HAD0 = 1 << 6;
/** Setup flag: CD.HAD1. */
export const SUF_HAD1 = 1 << 7;
/** Setup flag: CD.TBI[0], top byte ignored in the TTB0 range. */
export const SUF_TBI0 = 1 << 8;
/** Setup flag: CD.TBI[1]. */
export const SUF_TBI1 = 1 << 9;
/** Setup flag (profile switch walkBlocksAnyLevel): a block descriptor is accepted at every level above the leaf. */
export const SUF_BLOCKS_ANY_LEVEL = 1 << 10;
/** Setup flag (walkOutputCheck 'leaf-last'): only the leaf's output is size-checked, after AF and permissions; bits 51:48 ignored. */
export const SUF_OA_LEAF_LAST = 1 << 11;
/** Setup flag (walkOutputCheck 'none'): no Address size checks; bits 51:48 ignored. */
export const SUF_OA_NONE = 1 << 12;
/** Setup flag: CD.PAN, privileged data accesses to EL0-accessible pages fault (IHI 0070 §5.4, Arm ARM D8.4). */
export const SUF_PAN = 1 << 13;
/** Setup flag: CD.WXN, instruction fetches from writable pages fault. */
export const SUF_WXN = 1 << 14;
/** Fault flag (OUT_FAULT_FLAGS): the fault is a stage-2 fault (event S2 = 1, IPA in OUT_FAULT_ADDR). */
export const FF_ARM_S2 = 1 << 5;
/** OUT_FAULT_FLAGS bits 7:6: the event's CLASS (0 CD, 1 TT, 2 IN). */
export const FF_ARM_CLASS_SHIFT = 6;
/** Event number (IHI 0070 §7.3.11): external abort on a table or descriptor fetch (outside RAM). */
export const EVT_F_WALK_EABT = 0x0b;
/** Event number (§7.3.12): translation fault. */
export const EVT_F_TRANSLATION = 0x10;
/** Event number (§7.3.13): address size fault. */
export const EVT_F_ADDR_SIZE = 0x11;
/** Event number (§7.3.14): access flag fault. */
export const EVT_F_ACCESS = 0x12;
/** Event number (§7.3.15): permission fault. */
export const EVT_F_PERMISSION = 0x13;

/** The SMMUv3 exports of the core (asm/assembly/index.ts). */
interface SmmuExports {
  armTranslate(setupOff: number, iovaHi: number, iovaLo: number, access: number): number;
  armTranslateS2(setupOff: number, ipaHi: number, ipaLo: number, access: number): number;
  armDmaCopy(setupOff: number, iovaHi: number, iovaLo: number, len: number, access: number, bufOff: number): number;
  armInvVaa(vmid: number, addrHi: number, addrLo: number, am: number, leaf: number): void;
}

/** What a decoded STE (+ CD) asks the walk for (host/src/smmu/config.ts fills it). */
export interface WalkSetup {
  /** Stage 1 translates. */
  readonly s1: boolean;
  /** Stage 2 translates. */
  readonly s2: boolean;
  /** VMID the cache entries are tagged with (STE.S2VMID). */
  readonly vmid: number;
  /** ASID the stage-1 cache entries are tagged with (CD.ASID). */
  readonly asid: number;
  /** SUF_* flags other than SUF_S1/SUF_S2. */
  readonly flags: number;
  /** CD.T0SZ: the lower range is 2^(64 - T0SZ) bytes. */
  readonly t0sz: number;
  /** CD.T1SZ: the upper range is 2^(64 - T1SZ) bytes. */
  readonly t1sz: number;
  /** Stage-1 output size in bits. */
  readonly s1OBits: number;
  /** TTB0's granule, log2 (12, 14, 16). */
  readonly tg0Lg2: number;
  /** TTB1's granule, log2. */
  readonly tg1Lg2: number;
  /** CD.TTB0, aligned to its start table. */
  readonly ttb0: bigint;
  /** CD.TTB1, aligned to its start table. */
  readonly ttb1: bigint;
  /** STE.S2T0SZ: the IPA range is 2^(64 - S2T0SZ) bytes. */
  readonly s2t0sz: number;
  /** Stage-2 start level (Arm numbering). */
  readonly s2Start: number;
  /** Stage-2 output size in bits (the effective STE.S2PS). */
  readonly s2OBits: number;
  /** Stage-2 granule, log2. */
  readonly s2TgLg2: number;
  /** STE.S2TTB, aligned to its start table(s). */
  readonly s2ttb: bigint;
}

/** A setup that translates nothing (bypass). */
export const BYPASS_SETUP: WalkSetup = {
  s1: false, s2: false, vmid: 0, asid: 0, flags: 0, t0sz: 0, t1sz: 0, s1OBits: 48, tg0Lg2: 12, tg1Lg2: 12,
  ttb0: 0n, ttb1: 0n, s2t0sz: 0, s2Start: 0, s2OBits: 48, s2TgLg2: 12, s2ttb: 0n,
};

const TWO_32 = 4294967296;

/** The core as the SMMUv3 front end uses it: setup records and the three calls. */
export class SmmuCore {
  private readonly x: SmmuExports;

  /**
   * Wraps `core`; throws when the core build lacks the SMMUv3 exports.
   * @param core The wasm core whose AArch64 walker and caches it calls.
   */
  constructor(readonly core: Core) {
    const e = core.unsafeExports as unknown as Partial<SmmuExports>;
    if (typeof e.armTranslate !== 'function' || typeof e.armTranslateS2 !== 'function' || typeof e.armDmaCopy !== 'function' ||
      typeof e.armInvVaa !== 'function') {
      throw new Error('core: this core build has no SMMUv3 exports (armTranslate)');
    }
    this.x = e as SmmuExports;
  }

  /** A fresh setup record (SU_BYTES in a device buffer); throws when the core is out of memory. */
  allocSetup(): number {
    return this.core.bufAlloc(SU_BYTES);
  }

  /** Writes `s` into the setup record at `off`. */
  writeSetup(off: number, s: WalkSetup): void {
    const b = this.core.buffer(off, SU_BYTES);
    const v = new DataView(b.buffer, b.byteOffset, SU_BYTES);
    v.setUint32(SU_FLAGS, s.flags | (s.s1 ? SUF_S1 : 0) | (s.s2 ? SUF_S2 : 0), true);
    v.setUint32(SU_VMID, s.vmid, true);
    v.setUint32(SU_ASID, s.asid, true);
    v.setUint8(SU_T0SZ, s.t0sz);
    v.setUint8(SU_T1SZ, s.t1sz);
    v.setUint8(SU_S1_OBITS, s.s1OBits);
    v.setUint8(SU_TG0_LG2, s.tg0Lg2);
    v.setUint8(SU_TG1_LG2, s.tg1Lg2);
    v.setUint8(SU_S2T0SZ, s.s2t0sz);
    v.setUint8(SU_S2_START, s.s2Start);
    v.setUint8(SU_S2_OBITS, s.s2OBits);
    v.setUint8(SU_S2TG_LG2, s.s2TgLg2);
    v.setBigUint64(SU_TTB0, s.ttb0, true);
    v.setBigUint64(SU_TTB1, s.ttb1, true);
    v.setBigUint64(SU_S2TTB, s.s2ttb, true);
  }

  /** Translates `iova` through the setup at `off`: 0 or the event number (out-buffer: core.out). */
  translate(off: number, iova: Iova, access: number): number {
    return this.x.armTranslate(off, Number(iova >> 32n) >>> 0, Number(iova & 0xffff_ffffn) >>> 0, access) >>> 0;
  }

  /** `translate` with the IOVA as u32 halves `hi`:`lo` (no BigInt): the ATS Translation Request path. */
  translateHalves(off: number, hi: number, lo: number, access: number): number {
    return this.x.armTranslate(off, hi >>> 0, lo >>> 0, access) >>> 0;
  }

  /** Stage 2 only for `ipa` (a context-descriptor fetch): 0 or the event number. */
  translateS2(off: number, ipa: bigint, access: number): number {
    return this.x.armTranslateS2(off, Number(ipa >> 32n) >>> 0, Number(ipa & 0xffff_ffffn) >>> 0, access) >>> 0;
  }

  /** Translates and copies `len` bytes between guest RAM and the device buffer at `bufOff`. */
  dmaCopy(off: number, iova: Iova, len: number, access: number, bufOff: number): number {
    return this.x.armDmaCopy(off, Number(iova >> 32n) >>> 0, Number(iova & 0xffff_ffffn) >>> 0, len, access, bufOff) >>> 0;
  }

  /** `dmaCopy` with the IOVA as a number (an integer below 2^53; no BigInt): the DMA port's path. */
  dmaCopyNum(off: number, iova: Iova<number>, len: number, access: number, bufOff: number): number {
    return this.x.armDmaCopy(off, (iova / TWO_32) >>> 0, iova >>> 0, len, access, bufOff) >>> 0;
  }

  /** TLBI_NH_VAA: stage-1 entries of `vmid` for 2^am pages from the address `hi`:`lo` (u32 halves), every ASID (`leaf` 1 keeps the walk caches). */
  invVaa(vmid: number, hi: number, lo: number, am: number, leaf: number): void {
    this.x.armInvVaa(vmid, hi >>> 0, lo >>> 0, am, leaf ? 1 : 0);
  }
}
