/**
 * Invalidation descriptors (VT-d spec §6.5.2): type codes, field accessors,
 * reserved-bit masks, and one encoder per descriptor type (what a guest
 * driver writes into the queue). Constants, accessors and encoders only: no
 * state, no policy.
 *
 * A descriptor is 128 bits (qw0, qw1) or, in a queue with IQA.DW=1, 256 bits
 * (qw0..qw3). The queue decodes it as little-endian u32 words: `w[0]` is
 * qw0[31:0], `w[1]` qw0[63:32], `w[2]` qw1[31:0], `w[3]` qw1[63:32], then
 * qw2 and qw3 in `w[4..7]`; accessors take the word that holds the field, so
 * decoding never builds a BigInt. The 7-bit type is qw0[11:9] << 4 |
 * qw0[3:0] (§6.5.2: "Type" is split; every type defined today has
 * qw0[11:9] = 0).
 *
 * Reserved masks name the bits the spec marks Reserved(0) in each qword (as
 * the spec writes them); `maskWords` turns them into the word form the queue
 * checks. The type bits (3:0, 11:9) are never part of a mask.
 */
import type { Did, Iova, Pasid, Sid } from '../../types.js';

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

/** Number of type codes (7 bits). */
export const DESC_TYPES = 128;

/** A descriptor as eight u32 words, qw0[31:0] first (words 4-7 are 0 in a 128-bit queue). */
export type DescWords = Uint32Array;

/** The 7-bit descriptor type from qw0[31:0]: qw0[11:9] << 4 | qw0[3:0] (§6.5.2). */
export function descType(w0: number): number {
  return (((w0 >>> 9) & 7) << 4) | (w0 & 0xf);
}

/** qw0[11:9], the type's high bits (§6.5.2), in the low dword. */
export const TYPE_HIGH_BITS = 0xe00;

/** Granularity field G, qw0[5:4] (context-cache, IOTLB, PASID-IOTLB, PASID-cache); from w[0]. */
export const granularity = (w0: number): number => (w0 >>> 4) & 3;
/** Domain id, qw0[31:16]; from w[0]. */
export const did = (w0: number): number => w0 >>> 16;
/** PASID, qw0[51:32] (PASID-based descriptors and page-group response); from w[1]. */
export const pasid = (w1: number): number => w1 & 0xf_ffff;
/** Page address qw1[63:12], low word (IOTLB, PASID-IOTLB, device-TLB); from w[2] (the high word is w[3]). */
export const pageAddrLo = (w2: number): number => (w2 & 0xffff_f000) >>> 0;
/** Address mask AM, qw1[5:0]: 2^AM pages (IOTLB, PASID-IOTLB); from w[2]. */
export const addrMask = (w2: number): number => w2 & 0x3f;
/** Invalidation hint IH, qw1[6]: 1 = leaf entries only, keep paging-structure caches; from w[2]. */
export const invHint = (w2: number): number => (w2 >>> 6) & 1;

/** §6.5.2.1 context-cache invalidate: G 5:4, DID 31:16, SID 47:32, FM 49:48. */
export const CC = {
  G_GLOBAL: 1, G_DOMAIN: 2, G_DEVICE: 3,
  /** SID, from w[1]. */
  sid: (w1: number): number => w1 & 0xffff,
  /** FM, from w[1]. */
  fm: (w1: number): number => (w1 >>> 16) & 3,
  /** Reserved: 8:6, 15:12, 63:50; qw1 entirely. */
  RSVD: [0xfffc_0000_0000_f1c0n, 0xffff_ffff_ffff_ffffn] as const,
} as const;

/** §6.5.2.3 IOTLB invalidate: G 5:4, DW 6, DR 7, DID 31:16; qw1 AM 5:0, IH 6, ADDR 63:12. */
export const IOTLB_DESC = {
  G_GLOBAL: 1, G_DOMAIN: 2, G_PAGE: 3,
  /** DW, from w[0]. */
  drainWrites: (w0: number): number => (w0 >>> 6) & 1,
  /** DR, from w[0]. */
  drainReads: (w0: number): number => (w0 >>> 7) & 1,
  /** Reserved: qw0 8, 15:12, 63:32; qw1 11:7. */
  RSVD: [0xffff_ffff_0000_f100n, 0xf80n] as const,
} as const;

/** §6.5.2.5 device-TLB invalidate: PFSID 15:12 + 63:52, MIP 20:16, SID 47:32; qw1 S 0, ADDR 63:12. */
export const DEVTLB = {
  /** PFSID from w[0] (15:12) and w[1] (qw0 63:52). */
  pfsid: (w0: number, w1: number): number => ((w0 >>> 12) & 0xf) | (((w1 >>> 20) & 0xfff) << 4),
  /** MIP, from w[0]. */
  mip: (w0: number): number => (w0 >>> 16) & 0x1f,
  /** SID, from w[1]. */
  sid: (w1: number): number => w1 & 0xffff,
  /** S, from w[2]. */
  size: (w2: number): number => w2 & 1,
  /** Reserved: qw0 8:4, 31:21, 51:48; qw1 11:1. */
  RSVD: [0x000f_0000_ffe0_01f0n, 0xffen] as const,
} as const;

/** §6.5.2.7 interrupt-entry-cache invalidate: G 4 (0 global, 1 index-selective), IM 31:27, IIDX 47:32. */
export const IEC_DESC = {
  G_GLOBAL: 0, G_INDEX: 1,
  /** G, from w[0]. */
  g: (w0: number): number => (w0 >>> 4) & 1,
  /** IM, from w[0]. */
  im: (w0: number): number => (w0 >>> 27) & 0x1f,
  /** IIDX, from w[1]. */
  iidx: (w1: number): number => w1 & 0xffff,
  /** Reserved: qw0 8:5, 26:12, 63:48; qw1 entirely. */
  RSVD: [0xffff_0000_07ff_f1e0n, 0xffff_ffff_ffff_ffffn] as const,
} as const;

/** §6.5.2.8 invalidation wait: IF 4, SW 5, FN 6, PD 7 (bits of w[0]), status data 63:32 (w[1]); qw1 status address 63:2. */
export const WAIT_DESC = {
  IF: 1 << 4, SW: 1 << 5, FN: 1 << 6, PD: 1 << 7,
  /** PD as a qword mask bit (for the reserved mask). */
  PD_MASK: 1n << 7n,
  /** Status address 63:2, low word, from w[2] (the high word is w[3]). */
  statusAddrLo: (w2: number): number => (w2 & ~3) >>> 0,
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
  /** MIP, from w[0]. */
  mip: (w0: number): number => (w0 >>> 4) & 0x1f,
  /** PFSID from w[0] (15:12) and w[1] (qw0 63:52). */
  pfsid: (w0: number, w1: number): number => ((w0 >>> 12) & 0xf) | (((w1 >>> 20) & 0xfff) << 4),
  /** SID, from w[0]. */
  sid: (w0: number): number => w0 >>> 16,
  /** G, from w[2]. */
  global: (w2: number): number => w2 & 1,
  /** S, from w[2]. */
  size: (w2: number): number => (w2 >>> 11) & 1,
  /** Reserved: qw0 none; qw1 10:1; qw2, qw3 entirely. */
  RSVD: [0n, 0x7fen] as const,
} as const;

/** Page-group response (§7.7 in 3.x): PP 4, RC 15:12, RID 31:16, PASID 51:32; qw1 LPIG 2, PRGI 11:3. */
export const PGR = {
  /** PP, from w[0]. */
  pasidPresent: (w0: number): number => (w0 >>> 4) & 1,
  /** Response code, from w[0]. */
  responseCode: (w0: number): number => (w0 >>> 12) & 0xf,
  /** RID, from w[0]. */
  rid: (w0: number): number => w0 >>> 16,
  /** LPIG, from w[2]. */
  lpig: (w2: number): number => (w2 >>> 2) & 1,
  /** PRGI, from w[2]. */
  prgi: (w2: number): number => (w2 >>> 3) & 0x1ff,
  /** Reserved: qw0 5 (PDP, removed in 4.0), 8:6, 63:52; qw1 1:0, 63:12; qw2, qw3 entirely. */
  RSVD: [0xfff0_0000_0000_01e0n, 0xffff_ffff_ffff_f003n] as const,
} as const;

/**
 * Reserved qword masks (`masks[i]` for qword i) as eight u32 words; qwords
 * past the end of `masks` are entirely reserved when `upper`, else not.
 */
export function maskWords(masks: readonly bigint[], upper: boolean): Uint32Array {
  const w = new Uint32Array(8);
  for (let i = 0; i < 4; i++) {
    const m = i < masks.length ? masks[i]! : upper ? 0xffff_ffff_ffff_ffffn : 0n;
    w[2 * i] = Number(m & 0xffff_ffffn);
    w[2 * i + 1] = Number(m >> 32n);
  }
  return w;
}

/** The 64-bit value of qword `q` of a descriptor (logs and BigInt-taking primitives; not the hot path). */
export function qwordOf(w: DescWords, q: number): bigint {
  return BigInt(w[2 * q]!) | (BigInt(w[2 * q + 1]!) << 32n);
}

/**
 * Device-TLB invalidation size (§6.5.2.5, PCIe ATS "Invalidate Request"):
 * S=0 is one 4 KiB page; S=1 takes the size from the lowest 0 bit of ADDR
 * above bit 11: bit 12 = 0 -> 8 KiB, bits 13:12 = 01 -> 16 KiB, ...
 * Returns the log2 size (12..64) and the address aligned down to it.
 */
export function deviceTlbRange(addr: Iova, s: number): { addr: bigint; sizeLg2: number } {
  const page = addr & 0xffff_ffff_ffff_f000n;
  if (s === 0) return { addr: page, sizeLg2: 12 };
  let ones = 0;
  while (ones < 52 && ((page >> BigInt(12 + ones)) & 1n) === 1n) ones++;
  const sizeLg2 = Math.min(64, 13 + ones);
  const aligned = sizeLg2 >= 64 ? 0n : page & ~((1n << BigInt(sizeLg2)) - 1n);
  return { addr: aligned, sizeLg2 };
}

// ---------------------------------------------------------------------------
// Encoders: the qwords of one descriptor (2 for the 128-bit types, 4 for the
// 256-bit ones), as a guest driver writes them. The single encoder of each
// type: guest drivers (host/src/guest), fuzzers and tests all use these.

const B = BigInt;

/** §6.5.2.1 context-cache invalidate; `g`: 1 global, 2 domain, 3 device. */
export function ccDesc(g: number, did: Did = 0, sid: Sid = 0, fm = 0): bigint[] {
  return [B(DESC.CONTEXT_CACHE) | B(g & 3) << 4n | B(did & 0xffff) << 16n | B(sid & 0xffff) << 32n | B(fm & 3) << 48n, 0n];
}

/** §6.5.2.3 IOTLB invalidate; `g`: 1 global, 2 domain, 3 page-selective (addr, am, ih). */
export function iotlbDesc(g: number, did: Did = 0, addr: Iova = 0n, am = 0, ih: number | boolean = 0, drain = { dr: 0, dw: 0 }): bigint[] {
  return [
    B(DESC.IOTLB) | B(g & 3) << 4n | B(drain.dw) << 6n | B(drain.dr) << 7n | B(did & 0xffff) << 16n,
    (addr & ~0xfffn) | B(Number(ih) & 1) << 6n | B(am & 0x3f),
  ];
}

/** §6.5.2.5 device-TLB invalidate; `size` is the S bit. */
export function devTlbDesc(sid: Sid, addr: Iova, size = 0, pfsid = 0, mip = 0): bigint[] {
  return [
    B(DESC.DEVICE_TLB) | B(pfsid & 0xf) << 12n | B(mip & 0x1f) << 16n | B(sid & 0xffff) << 32n | B(pfsid >> 4 & 0xfff) << 52n,
    (addr & ~0xfffn) | B(size & 1),
  ];
}

/** §6.5.2.7 interrupt-entry-cache invalidate; `g`: 0 global, 1 index-selective. */
export function iecDesc(g: number, iidx = 0, im = 0): bigint[] {
  return [B(DESC.IEC) | B(g & 1) << 4n | B(im & 0x1f) << 27n | B(iidx & 0xffff) << 32n, 0n];
}

/** §6.5.2.8 invalidation wait. */
export function waitDesc(o: { sw?: boolean; if?: boolean; fn?: boolean; pd?: boolean; data?: number; addr?: bigint }): bigint[] {
  return [
    B(DESC.WAIT) | (o.if ? 1n << 4n : 0n) | (o.sw ? 1n << 5n : 0n) | (o.fn ? 1n << 6n : 0n)
      | (o.pd ? 1n << 7n : 0n) | B((o.data ?? 0) >>> 0) << 32n,
    (o.addr ?? 0n) & ~3n,
  ];
}

/** §6.5.2.4 PASID-based IOTLB invalidate; `g`: 2 PASID-selective, 3 page-selective in PASID. */
export function pasidIotlbDesc(g: number, did: Did, pasid: Pasid, addr: Iova = 0n, am = 0, ih: number | boolean = 0): bigint[] {
  return [
    B(DESC.PASID_IOTLB) | B(g & 3) << 4n | B(did & 0xffff) << 16n | B(pasid & 0xfffff) << 32n,
    (addr & ~0xfffn) | B(Number(ih) & 1) << 6n | B(am & 0x3f), 0n, 0n,
  ];
}

/** §6.5.2.2 PASID-cache invalidate; `g`: 0 domain, 1 PASID in domain, 3 global. */
export function pasidCacheDesc(g: number, did: Did = 0, pasid: Pasid = 0): bigint[] {
  return [B(DESC.PASID_CACHE) | B(g & 3) << 4n | B(did & 0xffff) << 16n | B(pasid & 0xfffff) << 32n, 0n, 0n, 0n];
}

/** §6.5.2.6 PASID-based device-TLB invalidate. */
export function pasidDevTlbDesc(sid: Sid, pasid: Pasid, addr: Iova, o: { size?: number; global?: boolean; pfsid?: number } = {}): bigint[] {
  const pfsid = o.pfsid ?? 0;
  return [
    B(DESC.PASID_DEVICE_TLB) | B(pfsid & 0xf) << 12n | B(sid & 0xffff) << 16n | B(pasid & 0xfffff) << 32n | B(pfsid >> 4 & 0xfff) << 52n,
    (addr & ~0xfffn) | B(o.size ?? 0) << 11n | (o.global ? 1n : 0n), 0n, 0n,
  ];
}

/** Page-group response (§7.7 in 3.x). */
export function pageGroupResponseDesc(rid: Sid, prgi: number, code: number, o: { pasid?: number; lpig?: boolean } = {}): bigint[] {
  return [
    B(DESC.PAGE_GROUP_RESPONSE) | (o.pasid !== undefined ? 1n << 4n : 0n) | B(code & 0xf) << 12n
      | B(rid & 0xffff) << 16n | B((o.pasid ?? 0) & 0xfffff) << 32n,
    (o.lpig ? 1n << 2n : 0n) | B(prgi & 0x1ff) << 3n, 0n, 0n,
  ];
}
