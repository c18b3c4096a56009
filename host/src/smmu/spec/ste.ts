/**
 * Stream table entries (IHI 0070 §5.2 STE, 64 bytes = 8 doublewords) and
 * level-1 stream table descriptors (§5.1 L1STD). Fields are (doubleword,
 * hi, lo) with bit numbers inside the doubleword; the comment gives the
 * spec's absolute bit numbers. Constants and accessors only.
 */
import { f } from './bits.js';

/** Bytes per STE. */
export const STE_BYTES = 64;
/** Bytes per level-1 stream table descriptor. */
export const L1STD_BYTES = 8;

/** STE fields (§5.2). */
export const STE = {
  V: f(0, 0),
  Config: f(0, 3, 1),
  S1Fmt: f(0, 5, 4),
  S1ContextPtr: f(0, 51, 6),
  S1CDMax: f(0, 63, 59),
  S1DSS: f(1, 1, 0), // 65:64
  S1CIR: f(1, 3, 2),
  S1COR: f(1, 5, 4),
  S1CSH: f(1, 7, 6),
  DRE: f(1, 12), // 76
  CONT: f(1, 16, 13),
  DCP: f(1, 17),
  PPAR: f(1, 18),
  MEV: f(1, 19),
  S1STALLD: f(1, 27), // 91
  EATS: f(1, 29, 28), // 93:92
  STRW: f(1, 31, 30), // 95:94
  MemAttr: f(1, 35, 32),
  MTCFG: f(1, 36),
  ALLOCCFG: f(1, 40, 37),
  SHCFG: f(1, 45, 44),
  NSCFG: f(1, 47, 46),
  PRIVCFG: f(1, 49, 48),
  INSTCFG: f(1, 51, 50),
  S2VMID: f(2, 15, 0), // 143:128
  S2T0SZ: f(2, 37, 32), // 165:160
  S2SL0: f(2, 39, 38),
  S2IR0: f(2, 41, 40),
  S2OR0: f(2, 43, 42),
  S2SH0: f(2, 45, 44),
  S2TG: f(2, 47, 46), // 175:174
  S2PS: f(2, 50, 48), // 178:176
  S2AA64: f(2, 51), // 179
  S2ENDI: f(2, 52),
  S2AFFD: f(2, 53),
  S2PTW: f(2, 54),
  S2HD: f(2, 55),
  S2HA: f(2, 56),
  S2S: f(2, 57),
  S2R: f(2, 58), // 186
  S2TTB: f(3, 51, 4), // 243:196
} as const;

/** STE.Config values (§5.2): bit 2 = translate, bit 0 = stage 1, bit 1 = stage 2. */
export const STE_CONFIG = { ABORT: 0b000, BYPASS: 0b100, S1: 0b101, S2: 0b110, NESTED: 0b111 } as const;

/** STE.S1Fmt values (§5.2): linear CD table, or 2-level with 4 KiB / 64 KiB leaf tables. */
export const S1FMT = { LINEAR: 0, L2_4K: 1, L2_64K: 2 } as const;
/** log2 of the CDs per leaf table of a 2-level CD table, by S1Fmt (4 KiB / 64 B = 2^6, 64 KiB / 64 B = 2^10). */
export const CD_SPLIT: Readonly<Record<number, number>> = { [S1FMT.L2_4K]: 6, [S1FMT.L2_64K]: 10 };

/** STE.S1DSS (§5.2): what a transaction without a substream does when S1CDMax != 0. */
export const S1DSS = { TERMINATE: 0, BYPASS: 1, SSID0: 2 } as const;

/** STE.EATS (§5.2): ATS translation requests 0 abort, 1 full (S1+S2 answered), 2 split-stage. */
export const EATS = { ABORT: 0, TRANS: 1, S1CHK: 2 } as const;

/** STE.STRW (§5.2): 0 = NS-EL1 (the only value used when SMMU_CR2.E2H == 0 and no EL2 stream world). */
export const STRW_NSEL1 = 0;

/** L1STD fields (§5.1): Span 4:0 (0 = invalid, else 2^(Span-1) STEs), L2Ptr 51:6. */
export const L1STD = { Span: f(0, 4, 0), L2Ptr: f(0, 51, 6) } as const;
/** Largest valid L1STD.Span (§5.1: 12, i.e. 2^11 STEs). */
export const L1STD_SPAN_MAX = 12;
