/**
 * Numbers the reference model shares with the core's ABI (docs/ABI.md):
 * request access bits, fault flags, result sources, and the VT-d fault
 * reason codes (VT-d §7.1.3 fault-condition tables). Written
 * here independently of asm/assembly so a test can check the two agree.
 */

/** Request access bits (docs/ABI.md `translate`). */
export const ACC = {
  READ: 1,
  WRITE: 2,
  EXEC: 4,
  PRIV: 8,
  PASID: 16,
  TRANSLATION_REQ: 32,
  NO_AD: 64,
} as const;

/** Permission bits of a translated page (OUT_PERMS). */
export const PERM = { R: 1, W: 2, X: 4 } as const;

/** Fault flags (OUT_FAULT_FLAGS). */
export const FF = { SUPPRESSED: 1, PP: 2, WALK: 4, RECOVERABLE: 8, SILENT: 16 } as const;

/** Where an answer came from (OUT_SOURCE). */
export const SOURCE = { WALK: 0, IOTLB: 1, PASS_THROUGH: 2, DISABLED: 3 } as const;

/**
 * Fault reasons, named after the spec's fault conditions (§7.1.3).
 * Legacy mode 0x1-0xE, scalable mode 0x30-0x91.
 */
export const FR = {
  // Legacy (LRT / LCT / LGN / LSL)
  ROOT_NOT_PRESENT: 0x1, // LRT.2
  CTX_NOT_PRESENT: 0x2, // LCT.2
  CTX_INVALID: 0x3, // LCT.4.x
  ADDR_BEYOND_MGAW: 0x4, // LGN.1
  WRITE: 0x5, // LGN.2
  READ: 0x6, // LGN.3
  SS_ENTRY_UNREADABLE: 0x7, // LSL.1
  ROOT_UNREADABLE: 0x8, // LRT.1
  CTX_UNREADABLE: 0x9, // LCT.1
  ROOT_RSVD: 0xa, // LRT.3
  CTX_RSVD: 0xb, // LCT.3
  SS_ENTRY_RSVD: 0xc, // LSL.2
  TT_BLOCKED: 0xd, // LCT.5
  INTR_RANGE: 0xe, // LGN.4
  // Scalable mode: root table address / SM root / SM context
  RTA_INVALID: 0x30, // RTA.1
  RTA_LEGACY_PASID: 0x31, // RTA.2
  SRT_UNREADABLE: 0x38, // SRT.1
  SRT_NOT_PRESENT: 0x39, // SRT.2
  SRT_RSVD: 0x3a, // SRT.3
  SCT_UNREADABLE: 0x40, // SCT.1
  SCT_NOT_PRESENT: 0x41, // SCT.2
  SCT_RSVD: 0x42, // SCT.3
  SCT_INVALID: 0x43, // SCT.4
  SCT_DTE: 0x44, // SCT.5 translation request with DTE=0
  SCT_PASIDE: 0x45, // SCT.6 request with PASID and PASIDE=0
  SCT_PDTS: 0x46, // SCT.7 PASID beyond the directory size
  // PASID directory / table
  SPD_UNREADABLE: 0x50, // SPD.1
  SPD_NOT_PRESENT: 0x51, // SPD.2
  SPD_RSVD: 0x52, // SPD.3
  SPT_UNREADABLE: 0x58, // SPT.1
  SPT_NOT_PRESENT: 0x59, // SPT.2
  SPT_RSVD: 0x5a, // SPT.3
  SPT_INVALID: 0x5b, // SPT.4.x
  SPT_ERE: 0x5c, // SPT.5 execute request with ERE=0
  SPT_SRE: 0x5d, // SPT.6 supervisor request with SRE=0
  // First stage
  SFL_UNREADABLE: 0x70, // SFL.1
  SFL_NOT_PRESENT: 0x71, // SFL.2
  SFL_RSVD: 0x72, // SFL.3
  SFL_PTR_UNREADABLE: 0x73, // SFL.4
  SFL_NESTED_BEYOND: 0x74, // SFL.5 FS entry address beyond the SS width (nested)
  SFL_NESTED_TOP_READ: 0x75, // SFL.6 SS denies read of the FS top-level table (nested)
  SFL_NESTED_READ: 0x76, // SFL.7 SS denies read of a FS table (nested)
  SFL_NESTED_WRITE: 0x77, // SFL.8 SS denies the A/D write to a FS entry (nested)
  // Second stage in scalable mode
  SSL_UNREADABLE: 0x78, // SSL.1
  SSL_PERM: 0x79, // SSL.2 R/W permission (not-present) error in a SS entry
  SSL_RSVD: 0x7a, // SSL.3
  SSL_PTR_INVALID: 0x7b, // SSL.4
  // Scalable-mode generic
  SGN_NON_CANONICAL: 0x80, // SGN.1
  SGN_USER: 0x81, // SGN.2
  SGN_EXEC: 0x82, // SGN.3
  SGN_BEYOND_AW: 0x84, // SGN.5
  SGN_WRITE: 0x85, // SGN.6
  SGN_READ: 0x86, // SGN.7
  SGN_INTR_RANGE: 0x87, // SGN.8
} as const;

/** Interrupt address range 0xFEE0_0000-0xFEEF_FFFF (§3.15). */
export const INTR_RANGE_START = 0xfee0_0000n;
/** Last byte of the interrupt address range. */
export const INTR_RANGE_LAST = 0xfeef_ffffn;

/**
 * Fault reasons the spec marks "qualified" (suppressed when FPD=1 on the
 * path, §7.1.3 / §7.2.1): every condition detected after the entry holding
 * an FPD was read, except "cannot access" conditions and SM table-pointer
 * conditions, as the §7.1.3 tables mark them; 0xB follows VirtualBox.
 */
export const QUALIFIED = new Set<number>([
  0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe,
  0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
  0x51, 0x52, 0x59, 0x5a, 0x5b, 0x5c, 0x5d,
  0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b,
  0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x91,
]);

/**
 * Profile quirks the reference implements (docs/ABI.md QUIRK_*; the core's
 * abi/layout.ts states QEMU's behaviour and the spec's for each). Only those
 * that change a single translation's result; cache quirks are not modelled.
 */
export const QUIRK = {
  /** SM root/context faults use legacy codes; the SS walk in SM uses 4/5/6/7/0xC; SNP never reserved. */
  LEGACY_CODES_IN_SM: 1 << 2,
  /** First-stage requests all count as user requests (ACC_PRIV ignored). */
  FS_ALL_USER: 1 << 3,
  /** A leaf whose page overlaps the interrupt range faults. */
  INTR_PAGE_OVERLAP: 1 << 9,
  /** 0xB is not qualified (FPD does not suppress it). */
  RSVD_CTX_UNQUALIFIED: 1 << 10,
  /** A second-stage entry's rights are checked before its reserved bits. */
  SS_PERM_BEFORE_RSVD: 1 << 16,
} as const;
