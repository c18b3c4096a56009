// §9.8 second-stage paging entries (VT-d format). Level 0 is the leaf table
// (PTE), level 1 the PDE (2 MiB leaf with PS), level 2 the PDPE (1 GiB
// leaf), levels 3-4 PML4E/PML5E. Constants and field accessors only.

/** Bit 0: read. */
export const SS_R: u64 = 1;
/** Bit 1: write. */
export const SS_W: u64 = 2;
/** Bit 2: execute (used with SSEE). */
export const SS_X: u64 = 4;
/** Bit 7: page size (leaf at level 1/2); reserved at the top level. */
export const SS_PS: u64 = 0x80;
/** Bit 11: SNP (reserved unless ECAP.SC). */
export const SS_SNP: u64 = 0x800;
/** Bit 62: TM (transient mapping in older revisions; reserved here, as in QEMU). */
export const SS_TM: u64 = 1 << 62;
/** Bits 51:12: address. */
export const SS_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/** Index of iova's entry in the table at `level`: iova bits (12+9l+8):(12+9l). */
// @ts-ignore: decorator
@inline export function ptIndex(iova: u64, level: i32): u32 {
  return <u32>(iova >> (12 + 9 * <u64>level)) & 511;
}
/** log2 of the page a leaf at `level` maps (12, 21, 30, ...). */
// @ts-ignore: decorator
@inline export function levelPageLg2(level: i32): u32 { return 12 + 9 * <u32>level; }

/** SNP policy: bit 11 reserved everywhere (no ECAP.SC). */
export const SNP_RESERVED: u32 = 0;
/** SNP policy: bit 11 is SNP in leaves (ECAP.SC), reserved in non-leaves. */
export const SNP_LEAF_OK: u32 = 1;
/** SNP policy: bit 11 never reserved (QEMU scalable mode). */
export const SNP_IGNORED: u32 = 2;

/** Whether a present second-stage entry at `level` is a leaf (level 0, or
 *  PS in a PDE/PDPE; PS in a PML4E/PML5E is reserved, not a leaf). */
// @ts-ignore: decorator
@inline export function ssIsLeaf(pte: u64, level: i32): bool {
  return level == 0 || ((pte & SS_PS) != 0 && level <= 2);
}

/** Reserved bits of a present second-stage entry at `level`: address bits
 *  at or above haw, bit 62, SNP per `snpPolicy`, PS in a PML4E/PML5E (the
 *  top-level entry of 4/5-level tables) or at a size CAP.SSLPS does not
 *  allow, address bits below a superpage's size. */
// @ts-ignore: decorator
@inline export function ssReserved(pte: u64, level: i32, haw: u32, sslps: u32, snpPolicy: u32): bool {
  // (Nested ifs rather than && / || chains: V8 branches instead of
  // materialising partial results; this runs once per entry read.)
  if ((pte & SS_TM) != 0) return true;
  if (haw < 52) {
    if (((pte & SS_ADDR_MASK) >> haw) != 0) return true;
  }
  if ((pte & SS_SNP) != 0) {
    if (snpPolicy != SNP_IGNORED) {
      if (!ssIsLeaf(pte, level) || snpPolicy == SNP_RESERVED) return true;
    }
  }
  if (level == 0) return false;
  if ((pte & SS_PS) == 0) return false;
  if (level > 2) return true;
  if (((sslps >> <u32>(level - 1)) & 1) == 0) return true;
  const lowMask: u64 = ((<u64>1 << (9 * <u64>level)) - 1) << 12;
  return (pte & lowMask) != 0;
}
