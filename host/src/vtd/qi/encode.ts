/**
 * Builders of invalidation descriptors (§6.5.2), as a guest driver writes
 * them: each returns the qwords of one descriptor (2 for the 128-bit types,
 * 4 for the 256-bit ones). Used by tests, fuzzers and guest drivers.
 */
import { DESC } from './descriptors.js';

const B = BigInt;

/** §6.5.2.1 context-cache invalidate; `g`: 1 global, 2 domain, 3 device. */
export function ccDesc(g: number, did = 0, sid = 0, fm = 0): bigint[] {
  return [B(DESC.CONTEXT_CACHE) | B(g & 3) << 4n | B(did & 0xffff) << 16n | B(sid & 0xffff) << 32n | B(fm & 3) << 48n, 0n];
}

/** §6.5.2.3 IOTLB invalidate; `g`: 1 global, 2 domain, 3 page-selective (addr, am, ih). */
export function iotlbDesc(g: number, did = 0, addr = 0n, am = 0, ih = 0, drain = { dr: 0, dw: 0 }): bigint[] {
  return [
    B(DESC.IOTLB) | B(g & 3) << 4n | B(drain.dw) << 6n | B(drain.dr) << 7n | B(did & 0xffff) << 16n,
    (addr & ~0xfffn) | B(ih & 1) << 6n | B(am & 0x3f),
  ];
}

/** §6.5.2.5 device-TLB invalidate; `size` is the S bit. */
export function devTlbDesc(sid: number, addr: bigint, size = 0, pfsid = 0, mip = 0): bigint[] {
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
export function pasidIotlbDesc(g: number, did: number, pasid: number, addr = 0n, am = 0, ih = 0): bigint[] {
  return [
    B(DESC.PASID_IOTLB) | B(g & 3) << 4n | B(did & 0xffff) << 16n | B(pasid & 0xfffff) << 32n,
    (addr & ~0xfffn) | B(ih & 1) << 6n | B(am & 0x3f), 0n, 0n,
  ];
}

/** §6.5.2.2 PASID-cache invalidate; `g`: 0 domain, 1 PASID in domain, 3 global. */
export function pasidCacheDesc(g: number, did = 0, pasid = 0): bigint[] {
  return [B(DESC.PASID_CACHE) | B(g & 3) << 4n | B(did & 0xffff) << 16n | B(pasid & 0xfffff) << 32n, 0n, 0n, 0n];
}

/** §6.5.2.6 PASID-based device-TLB invalidate. */
export function pasidDevTlbDesc(sid: number, pasid: number, addr: bigint, o: { size?: number; global?: boolean; pfsid?: number } = {}): bigint[] {
  const pfsid = o.pfsid ?? 0;
  return [
    B(DESC.PASID_DEVICE_TLB) | B(pfsid & 0xf) << 12n | B(sid & 0xffff) << 16n | B(pasid & 0xfffff) << 32n | B(pfsid >> 4 & 0xfff) << 52n,
    (addr & ~0xfffn) | B(o.size ?? 0) << 11n | (o.global ? 1n : 0n), 0n, 0n,
  ];
}

/** Page-group response (§7.7 in 3.x). */
export function pageGroupResponseDesc(rid: number, prgi: number, code: number, o: { pasid?: number; lpig?: boolean } = {}): bigint[] {
  return [
    B(DESC.PAGE_GROUP_RESPONSE) | (o.pasid !== undefined ? 1n << 4n : 0n) | B(code & 0xf) << 12n
      | B(rid & 0xffff) << 16n | B((o.pasid ?? 0) & 0xfffff) << 32n,
    (o.lpig ? 1n << 2n : 0n) | B(prgi & 0x1ff) << 3n, 0n, 0n,
  ];
}
