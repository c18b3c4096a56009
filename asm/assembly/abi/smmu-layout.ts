// The numbers of the SMMUv3 front end's core ABI (docs/ABI.md "SMMUv3
// translation"), shared by the core and host/src/smmu/core-abi.ts (a test
// keeps the two equal). Only constants live here.
//
// The host decodes stream table entries and context descriptors (IHI 0070
// §5.2, §5.4) and writes what a walk needs as a setup record into a device
// buffer (bufAlloc); armTranslate(setupOff, ...) then looks up the IOTLB and
// walks the AArch64 tables (pt/walk.ts with the formats of pt/arm-walk.ts).

/** Bytes of a setup record. */
export const SU_BYTES: u32 = 64;
/** u32: SUF_* flags. */
export const SU_FLAGS: u32 = 0;
/** u32: VMID (the IOTLB's domain tag). */
export const SU_VMID: u32 = 4;
/** u32: ASID (the IOTLB's PASID tag of stage-1 entries). */
export const SU_ASID: u32 = 8;
/** u8: CD.T0SZ. */
export const SU_T0SZ: u32 = 12;
/** u8: CD.T1SZ. */
export const SU_T1SZ: u32 = 13;
/** u8: stage-1 output size in bits (CD.IPS capped by SMMU_IDR5.OAS). */
export const SU_S1_OBITS: u32 = 14;
/** u8: log2 of the TTB0 granule (12, 14, 16). */
export const SU_TG0_LG2: u32 = 15;
/** u8: log2 of the TTB1 granule. */
export const SU_TG1_LG2: u32 = 16;
/** u8: STE.S2T0SZ. */
export const SU_S2T0SZ: u32 = 17;
/** u8: stage-2 start level, Arm numbering (0..3, from S2SL0 and S2TG). */
export const SU_S2_START: u32 = 18;
/** u8: stage-2 output size in bits (STE.S2PS capped by SMMU_IDR5.OAS). */
export const SU_S2_OBITS: u32 = 19;
/** u8: log2 of the stage-2 granule. */
export const SU_S2TG_LG2: u32 = 20;
/** u64: CD.TTB0. */
export const SU_TTB0: u32 = 24;
/** u64: CD.TTB1. */
export const SU_TTB1: u32 = 32;
/** u64: STE.S2TTB. */
export const SU_S2TTB: u32 = 40;

/** Setup flag: stage 1 translates (STE.Config[0]). */
export const SUF_S1: u32 = 1 << 0;
/** Setup flag: stage 2 translates (STE.Config[1]). */
export const SUF_S2: u32 = 1 << 1;
/** Setup flag: CD.EPD0, no walks through TTB0. */
export const SUF_EPD0: u32 = 1 << 2;
/** Setup flag: CD.EPD1. */
export const SUF_EPD1: u32 = 1 << 3;
/** Setup flag: CD.AFFD, an AF=0 stage-1 descriptor is no Access fault. */
export const SUF_AFFD: u32 = 1 << 4;
/** Setup flag: STE.S2AFFD. */
export const SUF_S2AFFD: u32 = 1 << 5;
/** Setup flag: CD.HAD0, hierarchical attributes of TTB0 tables disabled. */
export const SUF_HAD0: u32 = 1 << 6;
/** Setup flag: CD.HAD1. */
export const SUF_HAD1: u32 = 1 << 7;
/** Setup flag: CD.TBI[0], top byte ignored in the TTB0 range. */
export const SUF_TBI0: u32 = 1 << 8;
/** Setup flag: CD.TBI[1]. */
export const SUF_TBI1: u32 = 1 << 9;
/** Setup flag (profile switch walkBlocksAnyLevel): a block descriptor is accepted at every level above the leaf. */
export const SUF_BLOCKS_ANY_LEVEL: u32 = 1 << 10;
/**
 * Setup flag (profile switch walkOutputCheck 'leaf-last'): only a leaf's
 * output address is checked against the output size, after the Access flag
 * and permissions; table addresses are not; descriptor bits 51:48 are ignored.
 */
export const SUF_OA_LEAF_LAST: u32 = 1 << 11;
/** Setup flag (profile switch walkOutputCheck 'none'): no Address size checks; descriptor bits 51:48 are ignored. */
export const SUF_OA_NONE: u32 = 1 << 12;
/** Setup flag: CD.PAN, privileged data accesses to EL0-accessible pages fault (IHI 0070 §5.4, Arm ARM D8.4). */
export const SUF_PAN: u32 = 1 << 13;
/** Setup flag: CD.WXN, instruction fetches from writable pages fault. */
export const SUF_WXN: u32 = 1 << 14;

/** Fault flag (OUT_FAULT_FLAGS): the fault is a stage-2 fault (event S2 = 1, IPA in OUT_FAULT_ADDR). */
export const FF_ARM_S2: u32 = 1 << 5;
/** OUT_FAULT_FLAGS bits 7:6: the event's CLASS (0 CD, 1 TT, 2 IN). */
export const FF_ARM_CLASS_SHIFT: u32 = 6;

/** Event number (IHI 0070 §7.3.11): external abort on a table or descriptor fetch (outside RAM). */
export const EVT_F_WALK_EABT: u32 = 0x0b;
/** Event number (§7.3.12): translation fault. */
export const EVT_F_TRANSLATION: u32 = 0x10;
/** Event number (§7.3.13): address size fault. */
export const EVT_F_ADDR_SIZE: u32 = 0x11;
/** Event number (§7.3.14): access flag fault. */
export const EVT_F_ACCESS: u32 = 0x12;
/** Event number (§7.3.15): permission fault. */
export const EVT_F_PERMISSION: u32 = 0x13;
