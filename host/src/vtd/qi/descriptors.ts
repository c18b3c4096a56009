/**
 * Invalidation descriptors (VT-d spec §6.5.2): type codes, field accessors and
 * reserved-bit masks. Constants and accessors only: no state, no policy.
 *
 * A descriptor is 128 bits (qw0, qw1) or, in a queue with IQA.DW=1, 256 bits
 * (qw0..qw3). The 7-bit type is qw0[11:9] << 4 | qw0[3:0] (§6.5.2: "Type" is
 * split; every type defined today has qw0[11:9] = 0).
 *
 * Reserved masks name the bits the spec marks Reserved(0) in each word; the
 * type bits (3:0, 11:9) are never part of a mask.
 */

/** Descriptor type codes (§6.5.2, Table "Invalidation descriptor types"). */
export const DESC = {
  /** §6.5.2.1 context-cache invalidate. */
  CONTEXT_CACHE: 0x1,
  /** §6.5.2.3 IOTLB invalidate. */
  IOTLB: 0x2,
  /** §6.5.2.5 device-TLB invalidate. */
  DEVICE_TLB: 0x3,
  /** §6.5.2.7 interrupt-entry-cache invalidate. */
  IEC: 0x4,
  /** §6.5.2.8 invalidation wait. */
  WAIT: 0x5,
  /** §6.5.2.4 PASID-based IOTLB invalidate (256-bit). */
  PASID_IOTLB: 0x6,
  /** §6.5.2.2 PASID-cache invalidate (256-bit). */
  PASID_CACHE: 0x7,
  /** §6.5.2.6 PASID-based device-TLB invalidate (256-bit). */
  PASID_DEVICE_TLB: 0x8,
  /** §7.7 (3.x) / §6.5.2.9 page-group response (256-bit). */
  PAGE_GROUP_RESPONSE: 0x9,
} as const;

/** A descriptor as four 64-bit words (qw2/qw3 are 0n when read from a 128-bit queue). */
export type DescWords = readonly [bigint, bigint, bigint, bigint];

/** The 7-bit descriptor type: qw0[11:9] << 4 | qw0[3:0] (§6.5.2). */
export function descType(qw0: bigint): number {
  return Number(((qw0 >> 9n) & 7n) << 4n | (qw0 & 0xfn));
}

/** Extracts `width` bits of `v` starting at bit `lo`. */
export function bits(v: bigint, lo: number, width: number): number {
  return Number((v >> BigInt(lo)) & ((1n << BigInt(width)) - 1n));
}

/** Granularity field G, qw0[5:4] (context-cache, IOTLB, PASID-IOTLB, PASID-cache). */
export const granularity = (qw0: bigint): number => bits(qw0, 4, 2);
/** Domain id, qw0[31:16]. */
export const did = (qw0: bigint): number => bits(qw0, 16, 16);
/** PASID, qw0[51:32] (PASID-based descriptors and page-group response). */
export const pasid = (qw0: bigint): number => bits(qw0, 32, 20);
/** Page address, qw1[63:12] (IOTLB, PASID-IOTLB, device-TLB). */
export const pageAddr = (qw1: bigint): bigint => qw1 & 0xffff_ffff_ffff_f000n;
/** Address mask AM, qw1[5:0]: 2^AM pages (IOTLB, PASID-IOTLB). */
export const addrMask = (qw1: bigint): number => bits(qw1, 0, 6);
/** Invalidation hint IH, qw1[6]: 1 = leaf entries only, keep paging-structure caches. */
export const invHint = (qw1: bigint): number => bits(qw1, 6, 1);

/** §6.5.2.1 context-cache invalidate: G 5:4, DID 31:16, SID 47:32, FM 49:48. */
export const CC = {
  G_GLOBAL: 1, G_DOMAIN: 2, G_DEVICE: 3,
  sid: (qw0: bigint): number => bits(qw0, 32, 16),
  fm: (qw0: bigint): number => bits(qw0, 48, 2),
  /** Reserved: 8:6, 15:12, 63:50; qw1 entirely. */
  RSVD: [0xfffc_0000_0000_f1c0n, 0xffff_ffff_ffff_ffffn] as const,
} as const;

/** §6.5.2.3 IOTLB invalidate: G 5:4, DW 6, DR 7, DID 31:16; qw1 AM 5:0, IH 6, ADDR 63:12. */
export const IOTLB_DESC = {
  G_GLOBAL: 1, G_DOMAIN: 2, G_PAGE: 3,
  drainWrites: (qw0: bigint): number => bits(qw0, 6, 1),
  drainReads: (qw0: bigint): number => bits(qw0, 7, 1),
  /** Reserved: qw0 8, 15:12, 63:32; qw1 11:7. */
  RSVD: [0xffff_ffff_0000_f100n, 0xf80n] as const,
} as const;

/** §6.5.2.5 device-TLB invalidate: PFSID 15:12 + 63:52, MIP 20:16, SID 47:32; qw1 S 0, ADDR 63:12. */
export const DEVTLB = {
  pfsid: (qw0: bigint): number => bits(qw0, 12, 4) | (bits(qw0, 52, 12) << 4),
  mip: (qw0: bigint): number => bits(qw0, 16, 5),
  sid: (qw0: bigint): number => bits(qw0, 32, 16),
  size: (qw1: bigint): number => bits(qw1, 0, 1),
  /** Reserved: qw0 8:4, 31:21, 51:48; qw1 11:1. */
  RSVD: [0x000f_0000_ffe0_01f0n, 0xffen] as const,
} as const;

/** §6.5.2.7 interrupt-entry-cache invalidate: G 4 (0 global, 1 index-selective), IM 31:27, IIDX 47:32. */
export const IEC_DESC = {
  G_GLOBAL: 0, G_INDEX: 1,
  g: (qw0: bigint): number => bits(qw0, 4, 1),
  im: (qw0: bigint): number => bits(qw0, 27, 5),
  iidx: (qw0: bigint): number => bits(qw0, 32, 16),
  /** Reserved: qw0 8:5, 26:12, 63:48; qw1 entirely. */
  RSVD: [0xffff_0000_07ff_f1e0n, 0xffff_ffff_ffff_ffffn] as const,
} as const;

/** §6.5.2.8 invalidation wait: IF 4, SW 5, FN 6, PD 7, status data 63:32; qw1 status address 63:2. */
export const WAIT_DESC = {
  IF: 1n << 4n, SW: 1n << 5n, FN: 1n << 6n, PD: 1n << 7n,
  statusData: (qw0: bigint): number => bits(qw0, 32, 32),
  statusAddr: (qw1: bigint): bigint => qw1 & ~3n,
  /** Reserved: qw0 8, 31:12 (and PD, bit 7, unless ECAP.PDS); qw1 1:0. */
  RSVD: [0xffff_f100n, 0x3n] as const,
} as const;

/** §6.5.2.4 PASID-based IOTLB invalidate: G 5:4 (2 PASID-selective, 3 page-selective in PASID). */
export const PIOTLB = {
  G_PASID: 2, G_PAGE: 3,
  /** Reserved: qw0 8:6, 15:12, 63:52; qw1 11:7; qw2, qw3 entirely. */
  RSVD: [0xfff0_0000_0000_f1c0n, 0xf80n] as const,
} as const;

/** §6.5.2.2 PASID-cache invalidate: G 5:4 (0 domain, 1 PASID in domain, 3 global; 2 reserved). */
export const PC_DESC = {
  G_DOMAIN: 0, G_PASID: 1, G_GLOBAL: 3,
  /** Reserved: qw0 8:6, 15:12, 63:52; qw1..qw3 entirely. */
  RSVD: [0xfff0_0000_0000_f1c0n, 0xffff_ffff_ffff_ffffn] as const,
} as const;

/** §6.5.2.6 PASID-based device-TLB invalidate: MIP 8:4, PFSID 15:12 + 63:52, SID 31:16, PASID 51:32; qw1 G 0, S 11. */
export const PDEVTLB = {
  mip: (qw0: bigint): number => bits(qw0, 4, 5),
  pfsid: (qw0: bigint): number => bits(qw0, 12, 4) | (bits(qw0, 52, 12) << 4),
  sid: (qw0: bigint): number => bits(qw0, 16, 16),
  global: (qw1: bigint): number => bits(qw1, 0, 1),
  size: (qw1: bigint): number => bits(qw1, 11, 1),
  /** Reserved: qw0 none; qw1 10:1; qw2, qw3 entirely. */
  RSVD: [0n, 0x7fen] as const,
} as const;

/** Page-group response (§7.7 in 3.x): PP 4, RC 15:12, RID 31:16, PASID 51:32; qw1 LPIG 2, PRGI 11:3. */
export const PGR = {
  pasidPresent: (qw0: bigint): number => bits(qw0, 4, 1),
  responseCode: (qw0: bigint): number => bits(qw0, 12, 4),
  rid: (qw0: bigint): number => bits(qw0, 16, 16),
  lpig: (qw1: bigint): number => bits(qw1, 2, 1),
  prgi: (qw1: bigint): number => bits(qw1, 3, 9),
  /** Reserved: qw0 5 (PDP, removed in 4.0), 8:6, 63:52; qw1 1:0, 63:12; qw2, qw3 entirely. */
  RSVD: [0xfff0_0000_0000_01e0n, 0xffff_ffff_ffff_f003n] as const,
  /** PCIe PRG response codes. */
  RC_SUCCESS: 0x0, RC_INVALID_REQUEST: 0x1, RC_FAILURE: 0xf,
} as const;

/**
 * Device-TLB invalidation size (§6.5.2.5, PCIe ATS "Invalidate Request"):
 * S=0 is one 4 KiB page; S=1 takes the size from the lowest 0 bit of ADDR
 * above bit 11: bit 12 = 0 -> 8 KiB, bits 13:12 = 01 -> 16 KiB, ...
 * Returns the log2 size (12..64) and the address aligned down to it.
 */
export function deviceTlbRange(addr: bigint, s: number): { addr: bigint; sizeLg2: number } {
  const page = addr & 0xffff_ffff_ffff_f000n;
  if (s === 0) return { addr: page, sizeLg2: 12 };
  let ones = 0;
  while (ones < 52 && ((page >> BigInt(12 + ones)) & 1n) === 1n) ones++;
  const sizeLg2 = Math.min(64, 13 + ones);
  const aligned = sizeLg2 >= 64 ? 0n : page & ~((1n << BigInt(sizeLg2)) - 1n);
  return { addr: aligned, sizeLg2 };
}
