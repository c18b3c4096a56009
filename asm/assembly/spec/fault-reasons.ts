// Fault reason codes (FRCD.FR), VT-d spec §7.1.3 (3.x) / §7.2 (4.x) tables;
// numbers per VT-d §7.1.3 (fault-condition tables). Constants and the qualification table only.

// ---- legacy mode (TTM=00) ------------------------------------------------------
/** LRT.2 root entry P=0. */
export const FR_ROOT_NP: u32 = 0x1;
/** LCT.2 context entry P=0. */
export const FR_CTX_NP: u32 = 0x2;
/** LCT.4 invalid context entry (AW not in SAGAW, TT reserved/unsupported). */
export const FR_CTX_INVALID: u32 = 0x3;
/** LGN.1 input address above AGAW/MGAW. */
export const FR_ADDR_WIDTH: u32 = 0x4;
/** LGN.2 write without W. */
export const FR_WRITE: u32 = 0x5;
/** LGN.3 read without R. */
export const FR_READ: u32 = 0x6;
/** LSL.1 cannot access a second-stage entry. */
export const FR_SS_ACCESS: u32 = 0x7;
/** LRT.1 cannot access the root entry. */
export const FR_ROOT_ACCESS: u32 = 0x8;
/** LCT.1 cannot access the context entry. */
export const FR_CTX_ACCESS: u32 = 0x9;
/** LRT.3 reserved bits in a present root entry. */
export const FR_ROOT_RSVD: u32 = 0xa;
/** LCT.3 reserved bits in a present context entry. */
export const FR_CTX_RSVD: u32 = 0xb;
/** LSL.2 reserved bits in a present second-stage entry. */
export const FR_SS_RSVD: u32 = 0xc;
/** LCT.5 translation request blocked by TT. */
export const FR_TT_BLOCKED: u32 = 0xd;
/** LGN.4 output address in the interrupt range. */
export const FR_INTR_ADDR: u32 = 0xe;

// ---- scalable mode (TTM=01) ---------------------------------------------------
/** RTA.1 invalid root table address / TTM. */
export const FR_SM_RTADDR_INV: u32 = 0x30;
/** RTA.2 TTM=00 and the request has a PASID. */
export const FR_SM_PASID_IN_LEGACY: u32 = 0x31;
/** SRT.1 cannot access the scalable-mode root entry. */
export const FR_SM_ROOT_ACCESS: u32 = 0x38;
/** SRT.2 root entry LP/UP = 0. */
export const FR_SM_ROOT_NP: u32 = 0x39;
/** SRT.3 reserved bits in the root entry. */
export const FR_SM_ROOT_RSVD: u32 = 0x3a;
/** SCT.1 cannot access the scalable-mode context entry. */
export const FR_SM_CTX_ACCESS: u32 = 0x40;
/** SCT.2 context entry P=0. */
export const FR_SM_CTX_NP: u32 = 0x41;
/** SCT.3 reserved bits in the context entry. */
export const FR_SM_CTX_RSVD: u32 = 0x42;
/** SCT.4 invalid context entry. */
export const FR_SM_CTX_INVALID: u32 = 0x43;
/** SCT.5 translation request with DTE=0. */
export const FR_SM_DTE: u32 = 0x44;
/** SCT.6 request with PASID and PASIDE=0. */
export const FR_SM_PASIDE: u32 = 0x45;
/** SCT.7 PASID beyond the PASID directory size. */
export const FR_SM_PDTS: u32 = 0x46;
/** SCT.9 RID_PASID field error. */
export const FR_SM_RID_PASID: u32 = 0x48;
/** SPD.1 cannot access the PASID directory entry. */
export const FR_PDIR_ACCESS: u32 = 0x50;
/** SPD.2 PASID directory entry P=0. */
export const FR_PDIR_NP: u32 = 0x51;
/** SPD.3 reserved bits in the PASID directory entry. */
export const FR_PDIR_RSVD: u32 = 0x52;
/** SPT.1 cannot access the PASID table entry. */
export const FR_PTE_ACCESS: u32 = 0x58;
/** SPT.2 PASID table entry P=0. */
export const FR_PASID_NP: u32 = 0x59;
/** SPT.3 reserved bits in the PASID table entry. */
export const FR_PASID_RSVD: u32 = 0x5a;
/** SPT.4 invalid PASID table entry (PGTT, AW, FSPM). */
export const FR_PASID_INVALID: u32 = 0x5b;
/** SPT.5 execute request and ERE=0. */
export const FR_PASID_ERE: u32 = 0x5c;
/** SPT.6 supervisor request and SRE=0. */
export const FR_PASID_SRE: u32 = 0x5d;
/** SFL.1 cannot access a first-stage entry (below the top level). */
export const FR_FS_ACCESS: u32 = 0x70;
/** SFL.2 first-stage entry P=0. */
export const FR_FS_NP: u32 = 0x71;
/** SFL.3 reserved bits in a first-stage entry. */
export const FR_FS_RSVD: u32 = 0x72;
/** SFL.4 cannot access the top first-stage table (FSPTPTR). */
export const FR_FS_TOP_ACCESS: u32 = 0x73;
/** SFL.5 nested: first-stage entry address beyond the second-stage AW. */
export const FR_NEST_FS_ADDR: u32 = 0x74;
/** SFL.6 nested: read permission error on the top first-stage table. */
export const FR_NEST_TOP_READ: u32 = 0x75;
/** SFL.7 nested: read permission error on a first-stage entry. */
export const FR_NEST_READ: u32 = 0x76;
/** SFL.8 nested: write permission error on an A/D update. */
export const FR_NEST_AD_WRITE: u32 = 0x77;
/** SSL.1 cannot access a second-stage entry. */
export const FR_SM_SS_ACCESS: u32 = 0x78;
/** SSL.2 second-stage entry not present. */
export const FR_SM_SS_NP: u32 = 0x79;
/** SSL.3 reserved bits in a second-stage entry. */
export const FR_SM_SS_RSVD: u32 = 0x7a;
/** SSL.4 invalid / unreadable SSPTPTR. */
export const FR_SM_SS_TOP_ACCESS: u32 = 0x7b;
/** SGN.1 non-canonical input address (first stage). */
export const FR_NON_CANONICAL: u32 = 0x80;
/** SGN.2 U/S=0 for a user request. */
export const FR_FS_USER: u32 = 0x81;
/** SGN.3 execute request without X permission. */
export const FR_SM_EXEC: u32 = 0x82;
/** SGN.4 address above the host address width (a translated request, or pass-through). */
export const FR_SM_HAW: u32 = 0x83;
/** SGN.5 input address beyond the address width. */
export const FR_SM_ADDR_WIDTH: u32 = 0x84;
/** SGN.6 write without write permission. */
export const FR_SM_WRITE: u32 = 0x85;
/** SGN.7 read without read permission. */
export const FR_SM_READ: u32 = 0x86;
/** SGN.8 output address in the interrupt range. */
export const FR_SM_INTR_ADDR: u32 = 0x87;

// Qualified faults (suppressed by FPD), as inclusive [start, last] ranges.
// Legacy: 0x2-0x7, 0xB-0xE (0xB per LCT.3; QEMU differs, see
// QUIRK_RSVD_CTX_UNQUALIFIED). Scalable: context-level faults after the entry
// was read (0x41-0x48), PASID-level faults after an entry was read, every walk
// fault; access errors of root/context/PASID structures are not qualified.
// @ts-ignore: decorator
@inline function within(fr: u32, start: u32, last: u32): u32 { return <u32>(fr - start <= last - start); }

/** Whether an FPD on the path suppresses fault `fr` (§7.1.3 "qualified"). */
export function isQualified(fr: u32): bool {
  return (within(fr, 0x02, 0x07) | within(fr, 0x0b, 0x0e) | within(fr, 0x41, 0x48) | within(fr, 0x51, 0x52) |
    within(fr, 0x59, 0x5d) | within(fr, 0x70, 0x7d) | within(fr, 0x80, 0x87) | within(fr, 0x90, 0x91)) != 0;
}
