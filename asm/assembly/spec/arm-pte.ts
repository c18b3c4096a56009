// VMSAv8-64 translation table descriptors as an SMMUv3 walks them (IHI 0070
// §3.4 "Address translation" defers to the Arm ARM, DDI 0487 D8 "The AArch64
// Virtual Memory System Architecture": D8.3 descriptor formats, D8.4
// memory access control). Stage 1 (CD.TTB0/TTB1) and stage 2 (STE.S2TTB)
// share the layout: bit 0 valid, bit 1 table (levels 0-2) or page (level 3),
// output/next-table address in bits 47:granule; the attribute bits differ.
// Arm level numbering here (level 3 is the leaf); the walker converts.
// Constants and accessors only.

/** Descriptor bit 0: valid. */
export const ARM_VALID: u64 = 1;
/** Descriptor bit 1: table (levels 0-2) / page (level 3); 0 = block. */
export const ARM_TABLE: u64 = 2;
/** Stage 1 AP[1] (bit 6): unprivileged (EL0) access allowed. */
export const ARM_S1_AP_EL0: u64 = 1 << 6;
/** Stage 1 AP[2] (bit 7): read-only. */
export const ARM_S1_AP_RO: u64 = 1 << 7;
/** Stage 2 S2AP[0] (bit 6): read allowed. */
export const ARM_S2_AP_R: u64 = 1 << 6;
/** Stage 2 S2AP[1] (bit 7): write allowed. */
export const ARM_S2_AP_W: u64 = 1 << 7;
/** Access flag (bit 10). */
export const ARM_AF: u64 = 1 << 10;
/** Stage 1 PXN (bit 53): privileged execute never. */
export const ARM_S1_PXN: u64 = <u64>1 << 53;
/** Stage 1 UXN (bit 54): unprivileged execute never; stage 2 XN[1]. */
export const ARM_XN: u64 = <u64>1 << 54;
/** Table descriptor PXNTable (bit 59). */
export const ARM_PXN_TABLE: u64 = <u64>1 << 59;
/** Table descriptor UXNTable / XNTable (bit 60). */
export const ARM_XN_TABLE: u64 = <u64>1 << 60;
/** Table descriptor APTable[0] (bit 61): no unprivileged access below. */
export const ARM_AP_TABLE_NO_EL0: u64 = <u64>1 << 61;
/** Table descriptor APTable[1] (bit 62): no write access below. */
export const ARM_AP_TABLE_RO: u64 = <u64>1 << 62;
/** Output address bits 47:12 (4 KiB granule; larger granules clear more low bits). */
export const ARM_OA_MASK: u64 = 0x0000_ffff_ffff_f000;
/** Bits 51:48: part of the output address only with 52-bit OAs (LPA), else an Address size fault when set. */
export const ARM_OA_HI_MASK: u64 = 0x000f_0000_0000_0000;

/** Index bits per level for a granule (granule log2 - 3: 9, 11, 13). */
// @ts-ignore: decorator
@inline export function armStride(granLg2: u32): u32 { return granLg2 - 3; }

/** log2 of the region one entry at walker level `wlevel` (0 = leaf) maps. */
// @ts-ignore: decorator
@inline export function armLevelLg2(granLg2: u32, wlevel: i32): u32 { return granLg2 + armStride(granLg2) * <u32>wlevel; }

/** Whether a block descriptor is allowed at walker level `wlevel` (D8.3: 4K granule
 *  blocks at levels 1 and 2, 16K and 64K at level 2 only, without LPA). */
// @ts-ignore: decorator
@inline export function armBlockOk(granLg2: u32, wlevel: i32): bool {
  return wlevel == 1 || (wlevel == 2 && granLg2 == 12);
}

/** The output or next-table address of descriptor `d` for a granule (bits 47:granule). */
// @ts-ignore: decorator
@inline export function armAddr(d: u64, granLg2: u32): u64 { return d & ARM_OA_MASK & ~((<u64>1 << granLg2) - 1); }
