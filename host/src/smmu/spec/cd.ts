/**
 * Context descriptors (IHI 0070 §5.4 CD, 64 bytes) and level-1 context
 * descriptor table entries (§5.3 L1CD), plus the AArch64 TCR-like fields a
 * CD carries for its two translation tables (TTB0 for the lower, TTB1 for
 * the upper VA range). Constants and accessors only.
 */
import { f } from './bits.js';

/** Bytes per CD. */
export const CD_BYTES = 64;
/** Bytes per L1CD. */
export const L1CD_BYTES = 8;

/** CD fields (§5.4). Doubleword 3 is MAIR, 4 AMAIR (not used by the walk). */
export const CD = {
  T0SZ: f(0, 5, 0),
  TG0: f(0, 7, 6),
  IR0: f(0, 9, 8),
  OR0: f(0, 11, 10),
  SH0: f(0, 13, 12),
  EPD0: f(0, 14),
  ENDI: f(0, 15),
  T1SZ: f(0, 21, 16),
  TG1: f(0, 23, 22),
  IR1: f(0, 25, 24),
  OR1: f(0, 27, 26),
  SH1: f(0, 29, 28),
  EPD1: f(0, 30),
  V: f(0, 31),
  IPS: f(0, 34, 32),
  AFFD: f(0, 35),
  WXN: f(0, 36),
  UWXN: f(0, 37),
  TBI: f(0, 39, 38),
  PAN: f(0, 40),
  AA64: f(0, 41),
  HD: f(0, 42),
  HA: f(0, 43),
  S: f(0, 44),
  R: f(0, 45),
  A: f(0, 46),
  ASET: f(0, 47),
  ASID: f(0, 63, 48),
  NSCFG0: f(1, 0),
  HAD0: f(1, 1),
  E0PD0: f(1, 2),
  TTB0: f(1, 51, 4),
  NSCFG1: f(2, 0),
  HAD1: f(2, 1),
  E0PD1: f(2, 2),
  TTB1: f(2, 51, 4),
  MAIR: f(3, 63, 0),
} as const;

/** CD.TG0 encodings (§5.4): granule log2 by value (TG0: 0 4K, 1 64K, 2 16K). */
export const TG0_GRANULE: Readonly<Record<number, number>> = { 0: 12, 1: 16, 2: 14 };
/** CD.TG1 encodings (§5.4): TG1: 1 16K, 2 4K, 3 64K. */
export const TG1_GRANULE: Readonly<Record<number, number>> = { 1: 14, 2: 12, 3: 16 };
/** STE.S2TG encodings (§5.2): as TG0. */
export const S2TG_GRANULE = TG0_GRANULE;

/** L1CD fields (§5.3): V bit 0, L2Ptr 51:12. */
export const L1CD = { V: f(0, 0), L2Ptr: f(0, 51, 12) } as const;

/** Smallest and largest TxSZ for the 4 KiB granule without LVA (§5.4: 16..39, input 48..25 bits). */
export const TSZ_4K = { min: 16, max: 39 } as const;
