// §9.7 first-stage paging entries (x86 4-/5-level format). Level 0 is the
// PTE, 1 the PDE (2 MiB leaf with PS), 2 the PDPE (1 GiB leaf with PS, needs
// CAP.FS1GP), 3 PML4E, 4 PML5E. Constants and field accessors only.

/** Bit 0: present. */
export const FS_P: u64 = 1;
/** Bit 1: read/write. */
export const FS_RW: u64 = 2;
/** Bit 2: user/supervisor. */
export const FS_US: u64 = 4;
/** Bit 5: accessed. */
export const FS_A: u64 = 0x20;
/** Bit 6: dirty (leaves). */
export const FS_D: u64 = 0x40;
/** Bit 7: page size (PDE/PDPE); reserved in PML4E/PML5E; PAT in a PTE. */
export const FS_PS: u64 = 0x80;
/** Bit 63: execute disable. */
export const FS_XD: u64 = <u64>1 << 63;
/** Bits 51:12: address. */
export const FS_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/** Whether a present first-stage entry at `level` is a leaf. */
// @ts-ignore: decorator
@inline export function fsIsLeaf(pte: u64, level: i32): bool {
  return level == 0 || ((pte & FS_PS) != 0 && level <= 2);
}

/** Reserved bits of a present first-stage entry: address bits 51:haw, PS in
 *  a PML4E/PML5E, PS at level 2 without FS1GP, bits 29:13 of a 1 GiB leaf,
 *  bits 20:13 of a 2 MiB leaf (bit 12 is PAT there). */
export function fsReserved(pte: u64, level: i32, haw: u32, fs1gp: bool): bool {
  if (haw < 52 && ((pte & FS_ADDR_MASK) >> haw) != 0) return true;
  if (level == 0 || (pte & FS_PS) == 0) return false;
  if (level > 2) return true;
  if (level == 2 && !fs1gp) return true;
  const lowMask: u64 = (((<u64>1 << (9 * <u64>level)) - 1) << 12) & ~(<u64>0x1000);
  return (pte & lowMask) != 0;
}

/** Leaf output frame: bits 51:12 of a PTE, 51:21 / 51:30 of a superpage. */
// @ts-ignore: decorator
@inline export function fsLeafFrame(pte: u64, pageLg2: u32): u64 {
  return pte & FS_ADDR_MASK & ~((<u64>1 << pageLg2) - 1);
}

/** §9.7 canonical check: bits 63:(width-1) of iova all equal (width 48 or 57). */
export function fsCanonical(iova: u64, width: u32): bool {
  const top = <i64>iova >> (width - 1);
  return top == 0 || top == -1;
}
