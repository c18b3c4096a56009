/**
 * The core's ABI numbers for the host (docs/ABI.md): a mirror of
 * asm/assembly/abi/layout.ts and asm/assembly/spec/fault-reasons.ts.
 * asm/tests/core-constants.test.ts keeps the two sides equal.
 */

// ---- abi/layout.ts ----
/** Read request (also the default when neither R nor W is asked). */
export const ACC_READ = 1;
/** Write request. */
export const ACC_WRITE = 2;
/** Execute request (needs ECAP.ERS and PASID-entry ERE). */
export const ACC_EXEC = 4;
/** Supervisor (privileged) request. */
export const ACC_PRIV = 8;
/** The request carries a PASID (else RID_PASID applies in scalable mode). */
export const ACC_PASID = 16;
/** ATS translation request: report permissions, no permission faults. */
export const ACC_TRANSLATION_REQ = 32;
/** Probe: do not set first-stage Accessed/Dirty flags. */
export const ACC_NO_AD = 64;
/** checkTranslated: the translated request is blocked as an Unsupported Request without a fault record (TES=0, VT-d §4.2.1). */
export const TRANSLATED_UR = 256;
/** Status: 0 or the fault reason (same as translate's return value). */
export const OUT_STATUS = 0;
/** Output address of the requested byte, low 32 bits. */
export const OUT_ADDR_LO = 1;
/** Output address, high 32 bits. */
export const OUT_ADDR_HI = 2;
/** log2 of the translated page size. */
export const OUT_PAGE_LG2 = 3;
/** Allowed permissions of the page: bit0 R, bit1 W, bit2 X. */
export const OUT_PERMS = 4;
/** FF_* flags of a fault. */
export const OUT_FAULT_FLAGS = 5;
/** PASID value (PV) for the fault record. */
export const OUT_FAULT_PASID = 6;
/** Faulting page address (FRCD.FI), low 32 bits. */
export const OUT_FAULT_ADDR_LO = 7;
/** Faulting page address, high 32 bits. */
export const OUT_FAULT_ADDR_HI = 8;
/** Domain id used (valid on success). */
export const OUT_DID = 9;
/** SRC_* where the answer came from. */
export const OUT_SOURCE = 10;
/** Number of words in the out-buffer. */
export const OUT_WORDS = 12;
/** An FPD on the path suppresses this qualified fault: do not record it. */
export const FF_SUPPRESSED = 1;
/** The fault record has PP=1 (PASID present, PV = OUT_FAULT_PASID). */
export const FF_PP = 2;
/** The fault happened in a paging-structure walk (not root/context/PASID). */
export const FF_WALK = 4;
/** A page request could resolve it (PRE=1 and a not-present/permission fault). */
export const FF_RECOVERABLE = 8;
/** Profile: fail the access without any fault record. */
export const FF_SILENT = 16;
/** Page walk. */
export const SRC_WALK = 0;
/** IOTLB hit. */
export const SRC_IOTLB = 1;
/** Pass-through (TT=10 / PGTT=100). */
export const SRC_PT = 2;
/** Translation disabled (GSTS.TES=0). */
export const SRC_DISABLED = 3;
/** CAP.SAGAW bits (bit 1 = 39-bit/3-level, bit 2 = 48/4, bit 3 = 57/5). */
export const CFG_SAGAW = 0;
/** Maximum guest address width in bits (CAP.MGAW + 1). */
export const CFG_MGAW = 1;
/** Host address width in bits: output-address bits at or above it are reserved. */
export const CFG_HAW = 2;
/** CAP.SSLPS: bit 0 = 2 MiB, bit 1 = 1 GiB second-stage pages. */
export const CFG_SSLPS = 3;
/** CAP.FS1GP: first-stage 1 GiB pages. */
export const CFG_FS1GP = 4;
/** CAP.FS5LP: first-stage 5-level paging. */
export const CFG_FS5LP = 5;
/** ECAP.PT: pass-through. */
export const CFG_ECAP_PT = 6;
/** ECAP.SC: snoop control (SS-PTE SNP allowed). */
export const CFG_ECAP_SC = 7;
/** ECAP.NEST: nested translation. */
export const CFG_ECAP_NEST = 8;
/** ECAP.SRS: supervisor requests. */
export const CFG_ECAP_SRS = 9;
/** ECAP.ERS: execute requests. */
export const CFG_ECAP_ERS = 10;
/** ECAP.DT: device-TLB (translation requests). */
export const CFG_ECAP_DT = 11;
/** ECAP.PASID. */
export const CFG_ECAP_PASID = 12;
/** ECAP.SMTS: scalable-mode translation. */
export const CFG_ECAP_SMTS = 13;
/** ECAP.FSTS: first-stage translation. */
export const CFG_ECAP_FSTS = 14;
/** ECAP.SSTS: second-stage translation in scalable mode. */
export const CFG_ECAP_SSTS = 15;
/** ECAP.PRS: page requests. */
export const CFG_ECAP_PRS = 16;
/** Supported PASID width (ECAP.PSS + 1). */
export const CFG_PASID_BITS = 17;
/** CAP.CM caching mode. */
export const CFG_CM = 18;
/** log2 of the number of IOTLB sets (0..12; setting it resets the IOTLB). */
export const CFG_IOTLB_SETS_LG2 = 19;
/** IOTLB ways per set (1..16; setting it resets the IOTLB). */
export const CFG_IOTLB_WAYS = 20;
/** Bit set of QUIRK_* profile behaviours. */
export const CFG_QUIRKS = 21;
/** QUIRK_IOTLB_FLUSH_WHEN_FULL: the entries the IOTLB holds before a fill
 *  empties it (1..1024; QEMU intel-iommu 1024, QEMU SMMUv3 256). */
export const CFG_IOTLB_MAX_ENTRIES = 22;
/** Number of configuration keys. */
export const CFG_COUNT = 23;
/** QEMU: in legacy mode the IOTLB is looked up (by source id) before the
 *  context entry, so a cached translation survives a context change until an
 *  IOTLB invalidation. Spec: the IOTLB is tagged by DID, which comes from the
 *  (cached) context entry, so context faults are seen first. */
export const QUIRK_IOTLB_BEFORE_CONTEXT = 1;
/** QEMU: no PASID cache; the PASID directory entry (P, validity) is read on
 *  every request, in the order context (cached), PASID dir+entry,
 *  pass-through, IOTLB; PASID-entry P is checked only when the context entry
 *  is fetched. Spec: PASID entries are cached (tagged by DID) until a
 *  PASID-cache invalidation. */
export const QUIRK_NO_PASID_CACHE = 2;
/** QEMU: scalable root/context faults use the legacy codes 0x1/0xA/0x2/0xB
 *  (0x8/0x9 unreadable), the second-stage walk in scalable mode uses 5/6/0xC
 *  (0x4 address width) and SNP is never reserved. Spec: 0x38-0x48 for
 *  root/context, 0x78-0x7A/0x84-0x86 for the second-stage walk. */
export const QUIRK_LEGACY_CODES_IN_SM = 4;
/** QEMU: every first-stage request counts as a user request (ACC_PRIV
 *  ignored). Spec: supervisor requests (with SRE) skip the U/S check. */
export const QUIRK_FS_ALL_USER = 8;
/** QEMU: first-stage entries are checked in the order unreadable, P, U/S,
 *  R/W (writes only), reserved, each entry as it is read; an entry gets A only
 *  if A was clear, and a written leaf gets A|D only if A was clear (so a leaf
 *  with A never gets D). Spec: D is set on a written leaf whenever D is clear;
 *  permissions are checked on the combined result. */
export const QUIRK_FS_AD_IF_A_CLEAR = 0x10;
/** QEMU: a device's DMA takes the remapping or the pass-through (identity)
 *  address space, decided from guest memory (context TT=10 / RID_PASID entry
 *  PGTT=100 read at that moment) only at a TE change, SRTP, a context-cache
 *  invalidation covering it and a pass-through translation (ctx/pt-space.ts);
 *  identity DMA bypasses the IOTLB. Spec: every request is looked up through
 *  the context, PASID and IOTLB caches. */
export const QUIRK_PT_STICKY = 0x20;
/** QEMU 7.2: page-selective IOTLB invalidation compared page numbers through
 *  an 8-bit mask (VTDIOTLBPageInvInfo.mask was uint8_t), so a PSI of 0x1000
 *  also dropped 0x101000 (page numbers equal in their low 8 bits above AM).
 *  Spec: only the 2^AM pages named are invalidated (QEMU 10.0 fixed it). */
export const QUIRK_PSI_ALIAS = 0x40;
/** QEMU: a request hitting an IOTLB entry that lacks the permission fails
 *  without a fault record (FF_SILENT). Spec: the entry is re-walked and a
 *  missing permission is a recorded fault. */
export const QUIRK_NO_FAULT_ON_CACHED_PERM = 0x80;
/** QEMU: fault-record PASID fields: legacy walk faults PV=0xFFFF with PP=0,
 *  scalable walk faults PP=1 PV=RID_PASID, root/context/PASID-level faults
 *  PP=0 PV=0. Spec: PP/PV describe the request's own PASID. */
export const QUIRK_QEMU_FAULT_PV = 0x100;
/** QEMU: a leaf whose whole page overlaps 0xFEE00000-0xFEEFFFFF faults
 *  (0xE / 0x87). Spec: only an output address inside the range faults. */
export const QUIRK_INTR_PAGE_OVERLAP = 0x200;
/** QEMU: reason 0xB (reserved bits in a context entry) is not qualified, so
 *  FPD does not suppress it. Spec (LCT.3): qualified. */
export const QUIRK_RSVD_CTX_UNQUALIFIED = 0x400;
/** QEMU: no paging-structure cache; every IOTLB miss reads every level.
 *  Spec: non-leaf entries may be cached until an invalidation with IH=0. */
export const QUIRK_NO_PSC = 0x800;
/** QEMU 7.2: a PASID entry with PGTT=1 (first stage) on a unit without
 *  first-stage support (ECAP.FSTS=0) is walked as second stage. Spec (and
 *  QEMU 10.0): PGTT not supported by ECAP -> 0x5B. */
export const QUIRK_FS_AS_SS = 0x1000;
/** QEMU (7.2 and 10.0): the FPD bit of a PASID directory entry is ignored
 *  (QEMU reads FPD only from the context and PASID-table entries), so a
 *  directory entry with P=0 and FPD=1 still records 0x51. Spec (§9.5): FPD
 *  in the directory entry suppresses qualified faults below it. */
export const QUIRK_NO_PDIR_FPD = 0x4000;
/** QEMU 7.2: every PASID-directory/PASID-table fault (unreadable, P=0,
 *  invalid entry) is reported as 0x58 (its VTD_FR_PASID_TABLE_INV), which is
 *  not qualified. Spec (and QEMU 10.0): 0x50/0x51/0x58/0x59/0x5B. */
export const QUIRK_PASID_FAULTS_0X58 = 0x8000;
/** QEMU (7.2 and 10.0): a present second-stage entry is checked for the
 *  request's R/W permission before its reserved bits, so a read-only entry
 *  with a reserved bit set faults 5 on a write (recorded: gen-ss-check-order-2).
 *  Spec (§7.1.3, and the reference model): the reserved bits of a present
 *  entry are checked when it is fetched, before permissions: 0xC. */
export const QUIRK_SS_PERM_BEFORE_RSVD = 0x10000;
/** QEMU (7.2 and 10.0): the RID_PASID (or request PASID) is looked up in the
 *  PASID directory whatever the context entry's PDTS says, so an index past
 *  the 2^(PDTS+7) entries reads the memory after the directory. Spec (§9.4,
 *  SCT.5): a PASID whose directory index is beyond PDTS faults 0x46. */
export const QUIRK_NO_PDTS_CHECK = 0x20000;
/** QEMU 10.0: a PASID entry that is not present (checked when the context
 *  entry is fetched) or invalid (PGTT, AW) is recorded even when that PASID
 *  entry has FPD=1: QEMU reads the entry's FPD only once the entry passed its
 *  checks, so it counts for the walk's faults only. (7.2 reports every
 *  PASID-level fault as the unqualified 0x58 anyway.) Spec (§9.6): the PASID
 *  entry's FPD suppresses the qualified faults found in it too. */
export const QUIRK_PASID_FAULT_IGNORES_FPD = 0x40000;
/** QEMU (7.2 and 10.0): IOTLB entries are keyed by source id (and PASID, page
 *  number, size), not by domain id: each device sharing a domain has its own
 *  entries, a lookup never compares the DID, and an entry keeps the DID it
 *  was filled with, so it lives until an invalidation names that DID (also
 *  after the device moved to another domain). Spec (§6.2.2): the IOTLB is
 *  tagged by DID, so devices of one domain share entries. */
export const QUIRK_IOTLB_BY_SID = 0x80000;
/** QEMU (7.2 and 10.0): the IOTLB holds up to 1024 entries and a fill that
 *  finds it holding 1024 empties it completely first (VTD_IOTLB_MAX_SIZE,
 *  vtd_update_iotlb); nothing else evicts. A fill whose set holds only live
 *  entries goes to a spill area of 1024 entries (cache/iotlb.ts), so however
 *  the entries fall into sets none is evicted before. Spec: the IOTLB's
 *  size and replacement are implementation choices (§6.2.2); the model's
 *  default is 256 sets x 4 ways with least-recently-used replacement. */
export const QUIRK_IOTLB_FLUSH_WHEN_FULL = 0x100000;
/** QEMU (7.2 and 10.0): a multi-page DMA is translated once per translation
 *  it gets: the bytes up to the end of the translated page (a 2 MiB entry:
 *  the rest of the 2 MiB page) go through that one answer, so pages inside a
 *  large entry are not looked up again (stale 4 KiB entries for them are not
 *  hit). Spec/PCIe: a request never crosses a 4 KiB boundary (PCIe §2.2.7),
 *  so the model translates every 4 KiB page of the transfer. */
export const QUIRK_DMA_PER_TRANSLATION = 0x200000;
/** QEMU (7.2 and 10.0): a legacy context entry's AW must be in SAGAW for
 *  every translation type, pass-through (TT=10) included: otherwise the
 *  entry is invalid (0x3) and the device is not in pass-through. The model
 *  reads AW only for TT=00/01: §9.3 says what software must program for
 *  TT=10 (the largest supported AGAW), not that hardware checks it. */
export const QUIRK_PT_CONTEXT_AW_CHECKED = 0x400000;
/** QEMU (7.2 and 10.0): a DMA read that translates to an address outside RAM
 *  (unassigned, not a device's MMIO) gets 0 (QEMU's unassigned memory);
 *  writes there are dropped on both sides. The model answers such a read as
 *  a master abort: all-ones (PCI §6.2, as the CPU would see it). */
export const QUIRK_UNASSIGNED_READS_ZERO = 0x800000;
/** QEMU (7.2 and 10.0): no reserved-bit checks in PASID-directory and
 *  PASID-table entries (q0 11:10, q1 22:16, q2 11:8, qw3-qw7, table pointers
 *  above the address width): the entry is used as it is, a pointer outside
 *  RAM fails when it is read. Spec (§9.5, §9.6, SPD.2/SPT.3): reserved bits
 *  set fault 0x52 / 0x5A. */
export const QUIRK_PASID_RSVD_UNCHECKED = 0x1000000;
/** QEMU (7.2 and 10.0): a PASID entry's PGTT and its table levels (AW, FSPM)
 *  are checked before its P bit, so a not-present entry with an invalid PGTT
 *  or AW is invalid (0x5B) rather than not present (0x59). (7.2 reports both
 *  as 0x58.) Spec (§9.6): P=0 means the rest of the entry is not looked at:
 *  0x59. */
export const QUIRK_PASID_TYPE_BEFORE_P = 0x2000000;
/** IOTLB hits. */
export const STAT_IOTLB_HITS = 0;
/** IOTLB misses. */
export const STAT_IOTLB_MISSES = 1;
/** Context-cache hits. */
export const STAT_CTX_HITS = 2;
/** Context-cache misses. */
export const STAT_CTX_MISSES = 3;
/** PASID-cache hits. */
export const STAT_PASID_HITS = 4;
/** PASID-cache misses. */
export const STAT_PASID_MISSES = 5;
/** Paging-structure-cache hits. */
export const STAT_PSC_HITS = 6;
/** Paging-structure-cache misses. */
export const STAT_PSC_MISSES = 7;
/** Page walks started. */
export const STAT_WALKS = 8;
/** Paging-structure entries read from guest memory. */
export const STAT_PTE_READS = 9;
/** Invalidation primitives run. */
export const STAT_INVALIDATIONS = 10;
/** translate() calls. */
export const STAT_TRANSLATIONS = 11;
/** Translations that ended in a fault. */
export const STAT_FAULTS = 12;
/** Root/context/PASID-structure entries read from guest memory. */
export const STAT_STRUCT_READS = 13;
/** Number of counters. */
export const STAT_COUNT = 14;
/** An argument is out of range or not an integer. */
export const ERR_BAD_ARG = -1;
/** The RAM region overlaps an existing one. */
export const ERR_OVERLAP = -2;
/** Base or size not 4 KiB aligned. */
export const ERR_UNALIGNED = -3;
/** The region is larger than the wasm32 address space allows. */
export const ERR_TOO_LARGE = -4;
/** Too many RAM regions (MAX_RAM_REGIONS). */
export const ERR_TOO_MANY = -5;
/** memory.grow failed, or the state region is full. */
export const ERR_NO_MEMORY = -6;
/** The region's bytes overlap the core's state region. */
export const ERR_STATE = -7;
/** The region's bytes are not inside the memory. */
export const ERR_OUTSIDE = -8;
/** Maximum number of RAM regions. */
export const MAX_RAM_REGIONS = 16;
/** Alignment of the state region's base and size. */
export const STATE_ALIGN = 4096;
/** Smallest bounded state region the core instantiates in (its caches and
 *  tables at the default IOTLB geometry take ~3.8 MiB); what is left over
 *  holds device buffers and larger IOTLBs. */
export const STATE_BYTES_MIN = 4194304;
/** u32 words per batch request record. */
export const BREQ_WORDS = 8;
/** Request word: source id. */
export const BREQ_SID = 0;
/** Request word: PASID. */
export const BREQ_PASID = 1;
/** Request word: IOVA low 32 bits. */
export const BREQ_IOVA_LO = 2;
/** Request word: IOVA high 32 bits. */
export const BREQ_IOVA_HI = 3;
/** Request word: ACC_* bits. */
export const BREQ_ACCESS = 4;
/** Request word: length in bytes (copy mode). */
export const BREQ_LEN = 5;
/** Request word: buffer offset (copy mode). */
export const BREQ_BUF = 6;
/** Result word 0: status (fault reason or 0). */
export const BRES_STATUS = 0;
/** Result word 1: output address low. */
export const BRES_ADDR_LO = 1;
/** Result word 2: output address high. */
export const BRES_ADDR_HI = 2;
/** Result word 3: pageLg2 | perms << 8. */
export const BRES_PAGE = 3;
/** Number of request records in the batch ring. */
export const BATCH_CAPACITY = 4096;
/** The PASID tag of requests without PASID in legacy mode (no 20-bit PASID). */
export const PASID_NONE = 0x100000;

// ---- spec/fault-reasons.ts ----
/** LRT.2 root entry P=0. */
export const FR_ROOT_NP = 1;
/** LCT.2 context entry P=0. */
export const FR_CTX_NP = 2;
/** LCT.4 invalid context entry (AW not in SAGAW, TT reserved/unsupported). */
export const FR_CTX_INVALID = 3;
/** LGN.1 input address above AGAW/MGAW. */
export const FR_ADDR_WIDTH = 4;
/** LGN.2 write without W. */
export const FR_WRITE = 5;
/** LGN.3 read without R. */
export const FR_READ = 6;
/** LSL.1 cannot access a second-stage entry. */
export const FR_SS_ACCESS = 7;
/** LRT.1 cannot access the root entry. */
export const FR_ROOT_ACCESS = 8;
/** LCT.1 cannot access the context entry. */
export const FR_CTX_ACCESS = 9;
/** LRT.3 reserved bits in a present root entry. */
export const FR_ROOT_RSVD = 10;
/** LCT.3 reserved bits in a present context entry. */
export const FR_CTX_RSVD = 11;
/** LSL.2 reserved bits in a present second-stage entry. */
export const FR_SS_RSVD = 12;
/** LCT.5 translation request blocked by TT. */
export const FR_TT_BLOCKED = 13;
/** LGN.4 output address in the interrupt range. */
export const FR_INTR_ADDR = 14;
/** RTA.1 invalid root table address / TTM. */
export const FR_SM_RTADDR_INV = 0x30;
/** RTA.2 TTM=00 and the request has a PASID. */
export const FR_SM_PASID_IN_LEGACY = 0x31;
/** SRT.1 cannot access the scalable-mode root entry. */
export const FR_SM_ROOT_ACCESS = 0x38;
/** SRT.2 root entry LP/UP = 0. */
export const FR_SM_ROOT_NP = 0x39;
/** SRT.3 reserved bits in the root entry. */
export const FR_SM_ROOT_RSVD = 0x3a;
/** SCT.1 cannot access the scalable-mode context entry. */
export const FR_SM_CTX_ACCESS = 0x40;
/** SCT.2 context entry P=0. */
export const FR_SM_CTX_NP = 0x41;
/** SCT.3 reserved bits in the context entry. */
export const FR_SM_CTX_RSVD = 0x42;
/** SCT.4 invalid context entry. */
export const FR_SM_CTX_INVALID = 0x43;
/** SCT.5 translation request with DTE=0. */
export const FR_SM_DTE = 0x44;
/** SCT.6 request with PASID and PASIDE=0. */
export const FR_SM_PASIDE = 0x45;
/** SCT.7 PASID beyond the PASID directory size. */
export const FR_SM_PDTS = 0x46;
/** SCT.9 RID_PASID field error. */
export const FR_SM_RID_PASID = 0x48;
/** SPD.1 cannot access the PASID directory entry. */
export const FR_PDIR_ACCESS = 0x50;
/** SPD.2 PASID directory entry P=0. */
export const FR_PDIR_NP = 0x51;
/** SPD.3 reserved bits in the PASID directory entry. */
export const FR_PDIR_RSVD = 0x52;
/** SPT.1 cannot access the PASID table entry. */
export const FR_PTE_ACCESS = 0x58;
/** SPT.2 PASID table entry P=0. */
export const FR_PASID_NP = 0x59;
/** SPT.3 reserved bits in the PASID table entry. */
export const FR_PASID_RSVD = 0x5a;
/** SPT.4 invalid PASID table entry (PGTT, AW, FSPM). */
export const FR_PASID_INVALID = 0x5b;
/** SPT.5 execute request and ERE=0. */
export const FR_PASID_ERE = 0x5c;
/** SPT.6 supervisor request and SRE=0. */
export const FR_PASID_SRE = 0x5d;
/** SFL.1 cannot access a first-stage entry (below the top level). */
export const FR_FS_ACCESS = 0x70;
/** SFL.2 first-stage entry P=0. */
export const FR_FS_NP = 0x71;
/** SFL.3 reserved bits in a first-stage entry. */
export const FR_FS_RSVD = 0x72;
/** SFL.4 cannot access the top first-stage table (FSPTPTR). */
export const FR_FS_TOP_ACCESS = 0x73;
/** SFL.5 nested: first-stage entry address beyond the second-stage AW. */
export const FR_NEST_FS_ADDR = 0x74;
/** SFL.6 nested: read permission error on the top first-stage table. */
export const FR_NEST_TOP_READ = 0x75;
/** SFL.7 nested: read permission error on a first-stage entry. */
export const FR_NEST_READ = 0x76;
/** SFL.8 nested: write permission error on an A/D update. */
export const FR_NEST_AD_WRITE = 0x77;
/** SSL.1 cannot access a second-stage entry. */
export const FR_SM_SS_ACCESS = 0x78;
/** SSL.2 second-stage entry not present. */
export const FR_SM_SS_NP = 0x79;
/** SSL.3 reserved bits in a second-stage entry. */
export const FR_SM_SS_RSVD = 0x7a;
/** SSL.4 invalid / unreadable SSPTPTR. */
export const FR_SM_SS_TOP_ACCESS = 0x7b;
/** SGN.1 non-canonical input address (first stage). */
export const FR_NON_CANONICAL = 0x80;
/** SGN.2 U/S=0 for a user request. */
export const FR_FS_USER = 0x81;
/** SGN.3 execute request without X permission. */
export const FR_SM_EXEC = 0x82;
/** SGN.4 address above the host address width (a translated request, or pass-through). */
export const FR_SM_HAW = 0x83;
/** SGN.5 input address beyond the address width. */
export const FR_SM_ADDR_WIDTH = 0x84;
/** SGN.6 write without write permission. */
export const FR_SM_WRITE = 0x85;
/** SGN.7 read without read permission. */
export const FR_SM_READ = 0x86;
/** SGN.8 output address in the interrupt range. */
export const FR_SM_INTR_ADDR = 0x87;
