/**
 * VT-d §9.7 first-stage paging entries (the x86 4-/5-level format, all
 * levels). Level 0 is the PTE, 1 the PDE (2 MiB leaf with PS), 2 the PDPE
 * (1 GiB leaf with PS, needs CAP.FS1GP), 3 the PML4E, 4 the PML5E. Layout
 * and codec only; the core's twin is asm/assembly/spec/fs-pte.ts.
 */
import { addr, decodeFields, encodeFields, flag, type Fields, type Layout } from './field-codec.js';

/**
 * §9.7 first-stage paging entry. In a 2 MiB / 1 GiB leaf bit 12 is PAT and
 * the address starts at bit 21 / 30 (`FS_PAT_LARGE`); in a 4 KiB leaf bit 7
 * is PAT (it shares the bit with PS).
 */
export const FS_PTE = {
  P: flag(0, 0),
  RW: flag(0, 1),
  US: flag(0, 2),
  PWT: flag(0, 3),
  PCD: flag(0, 4),
  A: flag(0, 5),
  D: flag(0, 6),
  PS: flag(0, 7),
  G: flag(0, 8),
  EA: flag(0, 10),
  ADDR: addr(0, 51, 12),
  XD: flag(0, 63),
} as const satisfies Layout;
/** Decoded §9.7 first-stage entry. */
export type FsPte = Fields<typeof FS_PTE>;

/** Bit 12 of a first-stage 2 MiB / 1 GiB leaf: PAT (§9.7). */
export const FS_PAT_LARGE = 1n << 12n;

/** Encodes a §9.7 first-stage entry (one word). */
export const encodeFsPte = (e: Partial<FsPte>): bigint => encodeFields(FS_PTE, e)[0]!;
/** Decodes a §9.7 first-stage entry. */
export const decodeFsPte = (w: bigint): FsPte => decodeFields(FS_PTE, [w]);
