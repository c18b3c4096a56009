/**
 * VT-d §9.8 second-stage paging entries (all levels) and the table indexing
 * shared by both paging formats. Level 0 is the leaf table (SS-PTE), 1 the
 * SS-PDE (2 MiB leaf with PS), 2 the SS-PDPE (1 GiB leaf), 3-4 SS-PML4E /
 * SS-PML5E. Layout, codec and indexing only; the core's twin is
 * asm/assembly/spec/ss-pte.ts (a test keeps the two equal).
 */
import { addr, decodeFields, encodeFields, flag, uint, type Fields, type Layout } from './field-codec.js';
import type { Iova } from '../../types.js';

/**
 * §9.8 second-stage paging entry. Leaf-only fields (EMT, IPAT, D, SNP) are
 * reserved or ignored in non-leaf entries (per-level reserved bits: the
 * reference model, asm/tests/reference/paging.ts). ADDR holds bits 51:12; a
 * 2 MiB / 1 GiB leaf keeps bits 20:12 / 29:12 zero. Bit 62 is TM (transient
 * mapping) in older revisions; the model treats it as reserved.
 */
export const SS_PTE = {
  R: flag(0, 0),
  W: flag(0, 1),
  X: flag(0, 2),
  EMT: uint(0, 5, 3),
  IPAT: flag(0, 6),
  PS: flag(0, 7),
  A: flag(0, 8),
  D: flag(0, 9),
  SNP: flag(0, 11),
  ADDR: addr(0, 51, 12),
  TM: flag(0, 62),
} as const satisfies Layout;
/** Decoded §9.8 second-stage entry. */
export type SsPte = Fields<typeof SS_PTE>;

/** Encodes a §9.8 second-stage entry (one word). */
export const encodeSsPte = (e: Partial<SsPte>): bigint => encodeFields(SS_PTE, e)[0]!;
/** Decodes a §9.8 second-stage entry. */
export const decodeSsPte = (w: bigint): SsPte => decodeFields(SS_PTE, [w]);

/** Index into the paging table at `level` (0 = leaf): iova bits 12+9*level+8 : 12+9*level. */
export const ptIndex = (iova: Iova, level: number): number => Number((iova >> BigInt(12 + 9 * level)) & 0x1ffn);
/** log2 of the region one entry at `level` maps (12, 21, 30, 39, 48). */
export const levelPageLg2 = (level: number): number => 12 + 9 * level;
