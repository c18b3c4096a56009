/**
 * VT-d register offsets and bit fields (§11.4, Intel VT-d spec rev 4.x).
 * Constants and field accessors only: no state, no policy. Widths, reset
 * values and masks live in ../register-table.ts.
 */
import type { Did, Iova, Sid } from '../../types.js';

/** Fixed register offsets from the register base (§11.4). */
export const REG = {
  VER: 0x000, CAP: 0x008, ECAP: 0x010, GCMD: 0x018, GSTS: 0x01c, RTADDR: 0x020, CCMD: 0x028,
  FSTS: 0x034, FECTL: 0x038, FEDATA: 0x03c, FEADDR: 0x040, FEUADDR: 0x044, AFLOG: 0x058,
  PMEN: 0x064, PLMBASE: 0x068, PLMLIMIT: 0x06c, PHMBASE: 0x070, PHMLIMIT: 0x078,
  IQH: 0x080, IQT: 0x088, IQA: 0x090, ICS: 0x09c, IECTL: 0x0a0, IEDATA: 0x0a4, IEADDR: 0x0a8,
  IEUADDR: 0x0ac, IQERCD: 0x0b0, IRTA: 0x0b8, PQH: 0x0c0, PQT: 0x0c8, PQA: 0x0d0, PRS: 0x0dc,
  PECTL: 0x0e0, PEDATA: 0x0e4, PEADDR: 0x0e8, PEUADDR: 0x0ec, MTRRCAP: 0x100, MTRRDEF: 0x108,
  // Virtual command interface (VT-d rev 3.3 §10.4.43-46, removed in rev 4.0; spec/virtual-command.ts).
  VCMD: 0xe00, VCRSP: 0xe10, VCCAP: 0xe30,
} as const;

/** GCMD (§11.4.4.1) command bits; GSTS (§11.4.4.2) reports each at the same position. */
export const GCMD = {
  TE: 1 << 31, SRTP: 1 << 30, SFL: 1 << 29, EAFL: 1 << 28, WBF: 1 << 27,
  QIE: 1 << 26, IRE: 1 << 25, SIRTP: 1 << 24, CFI: 1 << 23,
} as const;

/** GCMD bits that are persistent enables (their GSTS bit follows the written value). */
export const GCMD_PERSISTENT = GCMD.TE | GCMD.EAFL | GCMD.QIE | GCMD.IRE | GCMD.CFI;
/** GCMD bits that are one-shot commands (act when written as 1). */
export const GCMD_ONE_SHOT = GCMD.SRTP | GCMD.SFL | GCMD.WBF | GCMD.SIRTP;

/** FSTS (§11.4.7.1) bits. FRI is bits 15:8. */
export const FSTS = {
  PFO: 1 << 0, PPF: 1 << 1, AFO: 1 << 2, APF: 1 << 3, IQE: 1 << 4, ICE: 1 << 5, ITE: 1 << 6,
  FRI_SHIFT: 8, FRI_MASK: 0xff << 8,
} as const;

/** FECTL / IECTL / PECTL (§11.4.7.2, §11.4.9.5, §11.4.11.5): IM (mask), IP (pending). */
export const ECTL = { IM: 0x8000_0000, IP: 0x4000_0000 } as const;

/** RTADDR (§11.4.5): table address 63:12, translation table mode 11:10. */
export const RTADDR = {
  RTA_MASK: 0xffff_ffff_ffff_f000n,
  TTM_SHIFT: 10n,
  ttm: (v: bigint): number => Number((v >> 10n) & 3n),
} as const;

/** Translation table modes (RTADDR.TTM). */
export const TTM = { LEGACY: 0, SCALABLE: 1, RESERVED: 2, ABORT_DMA: 3 } as const;

/** CCMD (§11.4.6): ICC 63, CIRG 62:61, CAIG 60:59, FM 33:32, SID 31:16, DID 15:0. */
export const CCMD = {
  ICC: 1n << 63n,
  cirg: (v: bigint): number => Number((v >> 61n) & 3n),
  caigBits: (g: number): bigint => BigInt(g & 3) << 59n,
  CAIG_MASK: 3n << 59n,
  fm: (v: bigint): number => Number((v >> 32n) & 3n),
  sid: (v: bigint): number => Number((v >> 16n) & 0xffffn),
  did: (v: bigint): number => Number(v & 0xffffn),
} as const;

/** Invalidation granularities shared by CCMD.CIRG and IOTLB.IIRG encodings. */
export const GRAN = { NONE: 0, GLOBAL: 1, DOMAIN: 2, DEVICE_OR_PAGE: 3 } as const;

/** A CCMD write (§11.4.6) that invalidates: ICC, CIRG `g` (`GRAN`), FM, SID, DID (each masked to its field). */
export function ccmdCommand(g: number, did: Did = 0, sid: Sid = 0, fm = 0): bigint {
  return CCMD.ICC | (BigInt(g & 3) << 61n) | (BigInt(fm & 3) << 32n) | (BigInt(sid & 0xffff) << 16n) | BigInt(did & 0xffff);
}

/** IOTLB register (§11.4.8.1 in 3.x, "IOTLB_REG"): IVT 63, IIRG 61:60, IAIG 58:57, DR 49, DW 48, DID 47:32. */
export const IOTLB = {
  IVT: 1n << 63n,
  iirg: (v: bigint): number => Number((v >> 60n) & 3n),
  iaigBits: (g: number): bigint => BigInt(g & 3) << 57n,
  IAIG_MASK: 3n << 57n,
  did: (v: bigint): number => Number((v >> 32n) & 0xffffn),
} as const;

/** An IOTLB register write (§11.4.8.1 in 3.x) that invalidates: IVT, IIRG `g` (`GRAN`), DR, DW, DID. */
export function iotlbCommand(g: number, did: Did = 0, drain: { dr?: boolean; dw?: boolean } = {}): bigint {
  return IOTLB.IVT | (BigInt(g & 3) << 60n) | (drain.dr ? 1n << 49n : 0n) | (drain.dw ? 1n << 48n : 0n) | (BigInt(did & 0xffff) << 32n);
}

/** IVA (§11.4.8.2 in 3.x): ADDR 63:12, IH 6, AM 5:0. */
export const IVA = {
  addr: (v: bigint): bigint => v & 0xffff_ffff_ffff_f000n,
  ih: (v: bigint): number => Number((v >> 6n) & 1n),
  am: (v: bigint): number => Number(v & 0x3fn),
} as const;

/** Fault recording register FRCD (§11.4.7.6), as two qwords. */
export const FRCD = {
  /** qw1 bit 63: F (fault), RW1C. */
  F: 1n << 63n,
  /** qw1 bit 62: T (1 = read, 0 = write). */
  T: 1n << 62n,
  /** qw1 bits 61:60: AT. */
  AT_SHIFT: 60n,
  /** qw1 bits 59:40: PV. */
  PV_SHIFT: 40n,
  /** qw1 bits 39:32: FR. */
  FR_SHIFT: 32n,
  /** qw1 bit 31: PP. */
  PP: 1n << 31n,
  /** qw1 bit 30: EXE, 29: PRIV. */
  EXE: 1n << 30n,
  PRIV: 1n << 29n,
} as const;

/** An IVA value (§11.4.8.2 in 3.x): page address `addr` (bits 11:0 dropped), IH, AM (masked to 6 bits). */
export function ivaValue(addr: Iova, am = 0, ih = false): bigint {
  return (addr & 0xffff_ffff_ffff_f000n) | (ih ? 1n << 6n : 0n) | BigInt(am & 0x3f);
}

/** PRS (§11.4.11.4): PPR (pending page request), PRO (page-request overflow); both RW1C. */
export const PRS = { PPR: 1 << 0, PRO: 1 << 1 } as const;

/** ICS (§11.4.9.4): IWC. */
export const ICS_IWC = 1;

/** CAP fields (§11.4.2). */
export const CAP = {
  ND_SHIFT: 0n, AFL: 1n << 3n, RWBF: 1n << 4n, PLMR: 1n << 5n, PHMR: 1n << 6n, CM: 1n << 7n,
  SAGAW_SHIFT: 8n, MGAW_SHIFT: 16n, ZLR: 1n << 22n, FRO_SHIFT: 24n, SSLPS_SHIFT: 34n,
  PSI: 1n << 39n, NFR_SHIFT: 40n, MAMV_SHIFT: 48n, DWD: 1n << 54n, DRD: 1n << 55n,
  FS1GP: 1n << 56n, PI: 1n << 59n, FS5LP: 1n << 60n, ESIRTPS: 1n << 62n, ESRTPS: 1n << 63n,
  fro: (cap: bigint): number => Number((cap >> 24n) & 0x3ffn),
  nfr: (cap: bigint): number => Number((cap >> 40n) & 0xffn),
  mamv: (cap: bigint): number => Number((cap >> 48n) & 0x3fn),
  sagaw: (cap: bigint): number => Number((cap >> 8n) & 0x1fn),
  mgaw: (cap: bigint): number => Number((cap >> 16n) & 0x3fn) + 1,
  sslps: (cap: bigint): number => Number((cap >> 34n) & 0xfn),
} as const;

/** ECAP fields (§11.4.3). */
export const ECAP = {
  C: 1n << 0n, QI: 1n << 1n, DT: 1n << 2n, IR: 1n << 3n, EIM: 1n << 4n, PT: 1n << 6n,
  SC: 1n << 7n, IRO_SHIFT: 8n, MHMV_SHIFT: 20n, NEST: 1n << 26n, PRS: 1n << 29n,
  ERS: 1n << 30n, SRS: 1n << 31n, PSS_SHIFT: 35n, PASID: 1n << 40n, PDS: 1n << 42n,
  SMTS: 1n << 43n, VCS: 1n << 44n, SSADS: 1n << 45n, SSTS: 1n << 46n, FSTS: 1n << 47n, SMPWCS: 1n << 48n,
  RPS: 1n << 49n,
  iro: (ecap: bigint): number => Number((ecap >> 8n) & 0x3ffn),
  pss: (ecap: bigint): number => Number((ecap >> 35n) & 0x1fn),
} as const;
