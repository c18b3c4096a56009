// The numbers shared by the WASM core and the host (docs/ABI.md).
// host/src/core/constants.ts mirrors every `export const` here; a test keeps
// them equal. Only constants live here: no state, no policy.

// ---- access bits of a request (translate `access`) -------------------------
/** Read request (also the default when neither R nor W is asked). */
export const ACC_READ: u32 = 1;
/** Write request. */
export const ACC_WRITE: u32 = 2;
/** Execute request (needs ECAP.ERS and PASID-entry ERE). */
export const ACC_EXEC: u32 = 4;
/** Supervisor (privileged) request. */
export const ACC_PRIV: u32 = 8;
/** The request carries a PASID (else RID_PASID applies in scalable mode). */
export const ACC_PASID: u32 = 16;
/** ATS translation request: report permissions, no permission faults. */
export const ACC_TRANSLATION_REQ: u32 = 32;
/** Probe: do not set first-stage Accessed/Dirty flags. */
export const ACC_NO_AD: u32 = 64;
/** checkTranslated: the translated request is blocked as an Unsupported Request without a fault record (TES=0, VT-d §4.2.1). */
export const TRANSLATED_UR: u32 = 256;

// ---- out-buffer word indices (u32 words at outPtr()) ------------------------
/** Status: 0 or the fault reason (same as translate's return value). */
export const OUT_STATUS: u32 = 0;
/** Output address of the requested byte, low 32 bits. */
export const OUT_ADDR_LO: u32 = 1;
/** Output address, high 32 bits. */
export const OUT_ADDR_HI: u32 = 2;
/** log2 of the translated page size. */
export const OUT_PAGE_LG2: u32 = 3;
/** Allowed permissions of the page: bit0 R, bit1 W, bit2 X. */
export const OUT_PERMS: u32 = 4;
/** FF_* flags of a fault. */
export const OUT_FAULT_FLAGS: u32 = 5;
/** PASID value (PV) for the fault record. */
export const OUT_FAULT_PASID: u32 = 6;
/** Faulting page address (FRCD.FI), low 32 bits. */
export const OUT_FAULT_ADDR_LO: u32 = 7;
/** Faulting page address, high 32 bits. */
export const OUT_FAULT_ADDR_HI: u32 = 8;
/** Domain id used (valid on success). */
export const OUT_DID: u32 = 9;
/** SRC_* where the answer came from. */
export const OUT_SOURCE: u32 = 10;
/** Number of words in the out-buffer. */
export const OUT_WORDS: u32 = 12;

// ---- fault flags (OUT_FAULT_FLAGS) -----------------------------------------
/** An FPD on the path suppresses this qualified fault: do not record it. */
export const FF_SUPPRESSED: u32 = 1;
/** The fault record has PP=1 (PASID present, PV = OUT_FAULT_PASID). */
export const FF_PP: u32 = 2;
/** The fault happened in a paging-structure walk (not root/context/PASID). */
export const FF_WALK: u32 = 4;
/** A page request could resolve it (PRE=1 and a not-present/permission fault). */
export const FF_RECOVERABLE: u32 = 8;
/** Profile: fail the access without any fault record. */
export const FF_SILENT: u32 = 16;

// ---- answer sources (OUT_SOURCE) --------------------------------------------
/** Page walk. */
export const SRC_WALK: u32 = 0;
/** IOTLB hit. */
export const SRC_IOTLB: u32 = 1;
/** Pass-through (TT=10 / PGTT=100). */
export const SRC_PT: u32 = 2;
/** Translation disabled (GSTS.TES=0). */
export const SRC_DISABLED: u32 = 3;

// ---- configuration keys (setConfig/getConfig) ------------------------------
/** CAP.SAGAW bits (bit 1 = 39-bit/3-level, bit 2 = 48/4, bit 3 = 57/5). */
export const CFG_SAGAW: u32 = 0;
/** Maximum guest address width in bits (CAP.MGAW + 1). */
export const CFG_MGAW: u32 = 1;
/** Host address width in bits: output-address bits at or above it are reserved. */
export const CFG_HAW: u32 = 2;
/** CAP.SSLPS: bit 0 = 2 MiB, bit 1 = 1 GiB second-stage pages. */
export const CFG_SSLPS: u32 = 3;
/** CAP.FS1GP: first-stage 1 GiB pages. */
export const CFG_FS1GP: u32 = 4;
/** CAP.FS5LP: first-stage 5-level paging. */
export const CFG_FS5LP: u32 = 5;
/** ECAP.PT: pass-through. */
export const CFG_ECAP_PT: u32 = 6;
/** ECAP.SC: snoop control (SS-PTE SNP allowed). */
export const CFG_ECAP_SC: u32 = 7;
/** ECAP.NEST: nested translation. */
export const CFG_ECAP_NEST: u32 = 8;
/** ECAP.SRS: supervisor requests. */
export const CFG_ECAP_SRS: u32 = 9;
/** ECAP.ERS: execute requests. */
export const CFG_ECAP_ERS: u32 = 10;
/** ECAP.DT: device-TLB (translation requests). */
export const CFG_ECAP_DT: u32 = 11;
/** ECAP.PASID. */
export const CFG_ECAP_PASID: u32 = 12;
/** ECAP.SMTS: scalable-mode translation. */
export const CFG_ECAP_SMTS: u32 = 13;
/** ECAP.FSTS: first-stage translation. */
export const CFG_ECAP_FSTS: u32 = 14;
/** ECAP.SSTS: second-stage translation in scalable mode. */
export const CFG_ECAP_SSTS: u32 = 15;
/** ECAP.PRS: page requests. */
export const CFG_ECAP_PRS: u32 = 16;
/** Supported PASID width (ECAP.PSS + 1). */
export const CFG_PASID_BITS: u32 = 17;
/** CAP.CM caching mode. */
export const CFG_CM: u32 = 18;
/** log2 of the number of IOTLB sets (0..12; setting it resets the IOTLB). */
export const CFG_IOTLB_SETS_LG2: u32 = 19;
/** IOTLB ways per set (1..16; setting it resets the IOTLB). */
export const CFG_IOTLB_WAYS: u32 = 20;
/** Bit set of QUIRK_* profile behaviours. */
export const CFG_QUIRKS: u32 = 21;
/** QUIRK_IOTLB_FLUSH_WHEN_FULL: the entries the IOTLB holds before a fill
 *  empties it (1..1024; QEMU intel-iommu 1024, QEMU SMMUv3 256). */
export const CFG_IOTLB_MAX_ENTRIES: u32 = 22;
/** Number of configuration keys. */
export const CFG_COUNT: u32 = 23;

// ---- profile quirks (CFG_QUIRKS bits) ---------------------------------------
/** QEMU: in legacy mode the IOTLB is looked up (by source id) before the
 *  context entry, so a cached translation survives a context change until an
 *  IOTLB invalidation. Spec: the IOTLB is tagged by DID, which comes from the
 *  (cached) context entry, so context faults are seen first. */
export const QUIRK_IOTLB_BEFORE_CONTEXT: u32 = 1 << 0;
/** QEMU: no PASID cache; the PASID directory entry (P, validity) is read on
 *  every request, in the order context (cached), PASID dir+entry,
 *  pass-through, IOTLB; PASID-entry P is checked only when the context entry
 *  is fetched. Spec: PASID entries are cached (tagged by DID) until a
 *  PASID-cache invalidation. */
export const QUIRK_NO_PASID_CACHE: u32 = 1 << 1;
/** QEMU: scalable root/context faults use the legacy codes 0x1/0xA/0x2/0xB
 *  (0x8/0x9 unreadable), the second-stage walk in scalable mode uses 5/6/0xC
 *  (0x4 address width) and SNP is never reserved. Spec: 0x38-0x48 for
 *  root/context, 0x78-0x7A/0x84-0x86 for the second-stage walk. */
export const QUIRK_LEGACY_CODES_IN_SM: u32 = 1 << 2;
/** QEMU: the privilege of a request is never looked at (neither ACC_PRIV
 *  nor the context entry's RID_PRIV, so no SRE check either): every request
 *  is a user request and a U/S=0 first-stage entry faults 0x81. Spec (§3.6.2,
 *  §9.4 RID_PRIV, §9.6 SRE): a supervisor request needs SRE=1 (else 0x5D /
 *  SPT.5) and may then use U/S=0 pages. */
export const QUIRK_FS_ALL_USER: u32 = 1 << 3;
/** QEMU: first-stage entries are checked in the order unreadable, P, U/S,
 *  R/W (writes only), reserved, each entry as it is read; an entry gets A only
 *  if A was clear, and a written leaf gets A|D only if A was clear (so a leaf
 *  with A never gets D). Spec: D is set on a written leaf whenever D is clear;
 *  permissions are checked on the combined result. */
export const QUIRK_FS_AD_IF_A_CLEAR: u32 = 1 << 4;
/** QEMU: a device's DMA takes the remapping or the pass-through (identity)
 *  address space, decided from guest memory (context TT=10 / RID_PASID entry
 *  PGTT=100 read at that moment) only at a TE change, SRTP, a context-cache
 *  invalidation covering it and a pass-through translation (ctx/pt-space.ts);
 *  identity DMA bypasses the IOTLB. Spec: every request is looked up through
 *  the context, PASID and IOTLB caches. */
export const QUIRK_PT_STICKY: u32 = 1 << 5;
/** QEMU 7.2: page-selective IOTLB invalidation compared page numbers through
 *  an 8-bit mask (VTDIOTLBPageInvInfo.mask was uint8_t), so a PSI of 0x1000
 *  also dropped 0x101000 (page numbers equal in their low 8 bits above AM).
 *  Spec: only the 2^AM pages named are invalidated (QEMU 10.0 fixed it). */
export const QUIRK_PSI_ALIAS: u32 = 1 << 6;
/** QEMU: a request hitting an IOTLB entry that lacks the permission fails
 *  without a fault record (FF_SILENT). Spec: the entry is re-walked and a
 *  missing permission is a recorded fault. */
export const QUIRK_NO_FAULT_ON_CACHED_PERM: u32 = 1 << 7;
/** QEMU: fault-record PASID fields: legacy walk faults PV=0xFFFF with PP=0,
 *  scalable walk faults PP=1 PV=RID_PASID, root/context/PASID-level faults
 *  PP=0 PV=0. Spec: PP/PV describe the request's own PASID. */
export const QUIRK_QEMU_FAULT_PV: u32 = 1 << 8;
/** QEMU: a leaf whose whole page overlaps 0xFEE00000-0xFEEFFFFF faults
 *  (0xE / 0x87). Spec: only an output address inside the range faults. */
export const QUIRK_INTR_PAGE_OVERLAP: u32 = 1 << 9;
/** QEMU: reason 0xB (reserved bits in a context entry) is not qualified, so
 *  FPD does not suppress it. Spec (LCT.3): qualified. */
export const QUIRK_RSVD_CTX_UNQUALIFIED: u32 = 1 << 10;
/** QEMU: no paging-structure cache; every IOTLB miss reads every level.
 *  Spec: non-leaf entries may be cached until an invalidation with IH=0. */
export const QUIRK_NO_PSC: u32 = 1 << 11;
/** QEMU 7.2: a PASID entry with PGTT=1 (first stage) or PGTT=3 (nested) on a
 *  unit without that support (ECAP.FSTS=0 / ECAP.NEST=0) is walked as second
 *  stage (recorded: gen-scalable-19). Spec (and QEMU 10.0): PGTT not
 *  supported by ECAP -> 0x5B. */
export const QUIRK_FS_AS_SS: u32 = 1 << 12;
// 1 << 13 is free: it was QUIRK_PSI_ALL_FS, QEMU 10.0's page-selective IOTLB
// invalidation dropping every first-stage entry of the domain, which is the
// spec's rule (§6.5.2.3) and so now every profile's (inval/inval.ts).
/** QEMU (7.2 and 10.0): the FPD bit of a PASID directory entry is ignored
 *  (QEMU reads FPD only from the context and PASID-table entries), so a
 *  directory entry with P=0 and FPD=1 still records 0x51. Spec (§9.5): FPD
 *  in the directory entry suppresses qualified faults below it. */
export const QUIRK_NO_PDIR_FPD: u32 = 1 << 14;
/** QEMU 7.2: every PASID-directory/PASID-table fault (unreadable, P=0,
 *  invalid entry) is reported as 0x58 (its VTD_FR_PASID_TABLE_INV), which is
 *  not qualified. Spec (and QEMU 10.0): 0x50/0x51/0x58/0x59/0x5B. */
export const QUIRK_PASID_FAULTS_0X58: u32 = 1 << 15;
/** QEMU (7.2 and 10.0): a present second-stage entry is checked for the
 *  request's R/W permission before its reserved bits, so a read-only entry
 *  with a reserved bit set faults 5 on a write (recorded: gen-ss-check-order-2).
 *  Spec (§7.1.3, and the reference model): the reserved bits of a present
 *  entry are checked when it is fetched, before permissions: 0xC. */
export const QUIRK_SS_PERM_BEFORE_RSVD: u32 = 1 << 16;
/** QEMU (7.2 and 10.0): the RID_PASID (or request PASID) is looked up in the
 *  PASID directory whatever the context entry's PDTS says, so an index past
 *  the 2^(PDTS+7) entries reads the memory after the directory. Spec (§9.4,
 *  SCT.5): a PASID whose directory index is beyond PDTS faults 0x46. */
export const QUIRK_NO_PDTS_CHECK: u32 = 1 << 17;
/** QEMU 10.0: a PASID entry that is not present (checked when the context
 *  entry is fetched) or invalid (PGTT, AW) is recorded even when that PASID
 *  entry has FPD=1: QEMU reads the entry's FPD only once the entry passed its
 *  checks, so it counts for the walk's faults only. (7.2 reports every
 *  PASID-level fault as the unqualified 0x58 anyway.) Spec (§9.6): the PASID
 *  entry's FPD suppresses the qualified faults found in it too. */
export const QUIRK_PASID_FAULT_IGNORES_FPD: u32 = 1 << 18;
/** QEMU (7.2 and 10.0): IOTLB entries are keyed by source id (and PASID, page
 *  number, size), not by domain id: each device sharing a domain has its own
 *  entries, a lookup never compares the DID, and an entry keeps the DID it
 *  was filled with, so it lives until an invalidation names that DID (also
 *  after the device moved to another domain). Spec (§6.2.2): the IOTLB is
 *  tagged by DID, so devices of one domain share entries. */
export const QUIRK_IOTLB_BY_SID: u32 = 1 << 19;
/** QEMU (7.2 and 10.0): the IOTLB holds up to 1024 entries and a fill that
 *  finds it holding 1024 empties it completely first (VTD_IOTLB_MAX_SIZE,
 *  vtd_update_iotlb); nothing else evicts. A fill whose set holds only live
 *  entries goes to a spill area of 1024 entries (cache/iotlb.ts), so however
 *  the entries fall into sets none is evicted before. Spec: the IOTLB's
 *  size and replacement are implementation choices (§6.2.2); the model's
 *  default is 256 sets x 4 ways with least-recently-used replacement. */
export const QUIRK_IOTLB_FLUSH_WHEN_FULL: u32 = 1 << 20;
/** QEMU (7.2 and 10.0): a multi-page DMA is translated once per translation
 *  it gets: the bytes up to the end of the translated page (a 2 MiB entry:
 *  the rest of the 2 MiB page) go through that one answer, so pages inside a
 *  large entry are not looked up again (stale 4 KiB entries for them are not
 *  hit). Spec/PCIe: a request never crosses a 4 KiB boundary (PCIe §2.2.7),
 *  so the model translates every 4 KiB page of the transfer. */
export const QUIRK_DMA_PER_TRANSLATION: u32 = 1 << 21;
/** QEMU (7.2 and 10.0): a legacy context entry's AW must be in SAGAW for
 *  every translation type, pass-through (TT=10) included: otherwise the
 *  entry is invalid (0x3) and the device is not in pass-through. The model
 *  reads AW only for TT=00/01: §9.3 says what software must program for
 *  TT=10 (the largest supported AGAW), not that hardware checks it. */
export const QUIRK_PT_CONTEXT_AW_CHECKED: u32 = 1 << 22;
/** QEMU (7.2 and 10.0): a DMA read that translates to an address outside RAM
 *  (unassigned, not a device's MMIO) gets 0 (QEMU's unassigned memory);
 *  writes there are dropped on both sides. The model answers such a read as
 *  a master abort: all-ones (PCI §6.2, as the CPU would see it). */
export const QUIRK_UNASSIGNED_READS_ZERO: u32 = 1 << 23;
/** QEMU (7.2 and 10.0): no reserved-bit checks in PASID-directory and
 *  PASID-table entries (q0 11:10, q1 22:16, q2 11:8, qw3-qw7, table pointers
 *  above the address width): the entry is used as it is, a pointer outside
 *  RAM fails when it is read. Spec (§9.5, §9.6, SPD.2/SPT.3): reserved bits
 *  set fault 0x52 / 0x5A. */
export const QUIRK_PASID_RSVD_UNCHECKED: u32 = 1 << 24;
/** QEMU (7.2 and 10.0): a PASID entry's PGTT and its table levels (AW, FSPM)
 *  are checked before its P bit, so a not-present entry with an invalid PGTT
 *  or AW is invalid (0x5B) rather than not present (0x59). (7.2 reports both
 *  as 0x58.) Spec (§9.6): P=0 means the rest of the entry is not looked at:
 *  0x59. */
export const QUIRK_PASID_TYPE_BEFORE_P: u32 = 1 << 25;

// ---- statistics (f64 counters at statsPtr()) --------------------------------
/** IOTLB hits. */
export const STAT_IOTLB_HITS: u32 = 0;
/** IOTLB misses. */
export const STAT_IOTLB_MISSES: u32 = 1;
/** Context-cache hits. */
export const STAT_CTX_HITS: u32 = 2;
/** Context-cache misses. */
export const STAT_CTX_MISSES: u32 = 3;
/** PASID-cache hits. */
export const STAT_PASID_HITS: u32 = 4;
/** PASID-cache misses. */
export const STAT_PASID_MISSES: u32 = 5;
/** Paging-structure-cache hits. */
export const STAT_PSC_HITS: u32 = 6;
/** Paging-structure-cache misses. */
export const STAT_PSC_MISSES: u32 = 7;
/** Page walks started. */
export const STAT_WALKS: u32 = 8;
/** Paging-structure entries read from guest memory. */
export const STAT_PTE_READS: u32 = 9;
/** Invalidation primitives run. */
export const STAT_INVALIDATIONS: u32 = 10;
/** translate() calls. */
export const STAT_TRANSLATIONS: u32 = 11;
/** Translations that ended in a fault. */
export const STAT_FAULTS: u32 = 12;
/** Root/context/PASID-structure entries read from guest memory. */
export const STAT_STRUCT_READS: u32 = 13;
/** Number of counters. */
export const STAT_COUNT: u32 = 14;

// ---- setup error codes (negative i32 returns) --------------------------------
/** An argument is out of range or not an integer. */
export const ERR_BAD_ARG: i32 = -1;
/** The RAM region overlaps an existing one. */
export const ERR_OVERLAP: i32 = -2;
/** Base or size not 4 KiB aligned. */
export const ERR_UNALIGNED: i32 = -3;
/** The region is larger than the wasm32 address space allows. */
export const ERR_TOO_LARGE: i32 = -4;
/** Too many RAM regions (MAX_RAM_REGIONS). */
export const ERR_TOO_MANY: i32 = -5;
/** memory.grow failed, or the state region is full. */
export const ERR_NO_MEMORY: i32 = -6;
/** The region's bytes overlap the core's state region. */
export const ERR_STATE: i32 = -7;
/** The region's bytes are not inside the memory. */
export const ERR_OUTSIDE: i32 = -8;
/** Maximum number of RAM regions. */
export const MAX_RAM_REGIONS: u32 = 16;

// ---- state region (imports env.stateBase / env.stateBytes) -------------------
/** Alignment of the state region's base and size. */
export const STATE_ALIGN: u32 = 4096;
/** Smallest bounded state region the core instantiates in (its caches and
 *  tables at the default IOTLB geometry take ~3.8 MiB); what is left over
 *  holds device buffers and larger IOTLBs. */
export const STATE_BYTES_MIN: u32 = 4 << 20;

// ---- batch ring ---------------------------------------------------------------
/** u32 words per batch request record. */
export const BREQ_WORDS: u32 = 8;
/** Request word: source id. */
export const BREQ_SID: u32 = 0;
/** Request word: PASID. */
export const BREQ_PASID: u32 = 1;
/** Request word: IOVA low 32 bits. */
export const BREQ_IOVA_LO: u32 = 2;
/** Request word: IOVA high 32 bits. */
export const BREQ_IOVA_HI: u32 = 3;
/** Request word: ACC_* bits. */
export const BREQ_ACCESS: u32 = 4;
/** Request word: length in bytes (copy mode). */
export const BREQ_LEN: u32 = 5;
/** Request word: buffer offset (copy mode). */
export const BREQ_BUF: u32 = 6;
/** Result word 0: status (fault reason or 0). */
export const BRES_STATUS: u32 = 0;
/** Result word 1: output address low. */
export const BRES_ADDR_LO: u32 = 1;
/** Result word 2: output address high. */
export const BRES_ADDR_HI: u32 = 2;
/** Result word 3: pageLg2 | perms << 8. */
export const BRES_PAGE: u32 = 3;
/** Number of request records in the batch ring. */
export const BATCH_CAPACITY: u32 = 4096;

/** The PASID tag of requests without PASID in legacy mode (no 20-bit PASID). */
export const PASID_NONE: u32 = 0x100000;
