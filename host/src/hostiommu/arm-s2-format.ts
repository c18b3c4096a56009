/**
 * The SMMUv3's stage-2 translation table format for the host's second-stage
 * tables (HwptPaging.table over a PhysicalSmmu): VMSAv8-64 stage-2
 * descriptors with a 4 KiB granule (Arm ARM D8.3; IHI 0070 §5.2 STE.S2TTB):
 * bit 0 valid, bit 1 table (or page at the leaf level), a 2 MiB / 1 GiB
 * block with bit 1 clear, S2AP read (6) and write (7), normal write-back
 * memory, inner shareable, Access flag set. Entry encodings only; the tree
 * logic is SsPageTable's.
 */
import type { SsFormat } from './ss-table.js';
import { PERM } from './ss-table.js';

/** Stage-2 descriptor bits the host writes. */
export const S2_DESC = {
  VALID: 1n,
  TABLE: 2n,
  /** MemAttr 0b1111: normal memory, inner and outer write-back. */
  MEMATTR_WB: 0xfn << 2n,
  /** S2AP[0]: read allowed. */
  READ: 1n << 6n,
  /** S2AP[1]: write allowed. */
  WRITE: 1n << 7n,
  /** SH 0b11: inner shareable. */
  SH_INNER: 3n << 8n,
  /** Access flag. */
  AF: 1n << 10n,
  /** Output / next-table address, bits 47:12. */
  ADDR: 0x0000_ffff_ffff_f000n,
} as const;

/** VMSAv8-64 stage 2, 4 KiB granule, as an SsPageTable format. */
export const ARM_S2_FORMAT: SsFormat = {
  present: (e) => (e & S2_DESC.VALID) !== 0n,
  isLeaf: (e, level) => level > 0 && (e & S2_DESC.TABLE) === 0n,
  addr: (e) => e & S2_DESC.ADDR,
  perms: (e) => (e & S2_DESC.READ ? PERM.READ : 0) | (e & S2_DESC.WRITE ? PERM.WRITE : 0),
  table: (t) => t | S2_DESC.VALID | S2_DESC.TABLE,
  leaf: (a, perms, level) => a | S2_DESC.VALID | (level === 0 ? S2_DESC.TABLE : 0n) | S2_DESC.MEMATTR_WB | S2_DESC.SH_INNER | S2_DESC.AF
    | (perms & PERM.READ ? S2_DESC.READ : 0n) | (perms & PERM.WRITE ? S2_DESC.WRITE : 0n),
};
