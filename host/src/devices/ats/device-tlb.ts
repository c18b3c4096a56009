/**
 * The device-TLB of an ATS device (PCIe §10.2, the ATC): translations the
 * device got from translation completions, tagged by PASID (or "no PASID"),
 * input page and size. Lookups hit only entries covering the address;
 * invalidation requests (PCIe §10.3, VT-d §6.5.2.5-6) remove exactly the
 * entries that overlap the named range of the named PASID. Bounded size,
 * oldest entry evicted first.
 */
import type { DeviceTlbInvalidation } from '../../pci/bus.js';
import type { Iova, Pasid, Hpa } from '../../types.js';

/** PASID tag of translations for requests without PASID. */
export const NO_PASID = -1;

/** One cached translation. */
export interface DevTlbEntry {
  /** PASID or NO_PASID. */
  readonly pasid: Pasid;
  /** Input page base (aligned to 2^sizeLg2). */
  readonly iova: Iova;
  readonly sizeLg2: number;
  /** Translated page base. */
  readonly addr: Hpa;
  readonly read: boolean;
  readonly write: boolean;
  readonly exec: boolean;
  readonly priv: boolean;
}

const overlaps = (e: DevTlbEntry, start: bigint, sizeLg2: number): boolean => {
  const end = sizeLg2 >= 64 ? 1n << 64n : start + (1n << BigInt(sizeLg2));
  return e.iova < end && start < e.iova + (1n << BigInt(e.sizeLg2));
};

/** A bounded device-TLB. */
export class DeviceTlb {
  private list: DevTlbEntry[] = [];

  constructor(readonly capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`capacity: ${capacity} is not a positive integer`);
  }

  /** Number of entries. */
  get size(): number {
    return this.list.length;
  }

  /** The entry of `pasid` covering `iova`, if any. */
  lookup(pasid: Pasid, iova: Iova): DevTlbEntry | undefined {
    return this.list.find((e) => e.pasid === pasid && iova >= e.iova && iova < e.iova + (1n << BigInt(e.sizeLg2)));
  }

  /** Adds a translation, replacing overlapping ones of the same PASID; evicts the oldest when full. */
  insert(e: DevTlbEntry): void {
    this.list = this.list.filter((x) => x.pasid !== e.pasid || !overlaps(x, e.iova, e.sizeLg2));
    if (this.list.length >= this.capacity) this.list.shift();
    this.list.push(e);
  }

  /** Removes the entries overlapping the request's range for its PASID (global: every PASID); returns how many. */
  invalidate(req: DeviceTlbInvalidation): number {
    const tag = req.pasid ?? NO_PASID;
    const before = this.list.length;
    this.list = this.list.filter((e) => !((req.global || e.pasid === tag) && overlaps(e, req.addr, req.sizeLg2)));
    return before - this.list.length;
  }

  /** Drops one page's entry of `pasid` (before re-translating it). */
  drop(pasid: Pasid, iova: Iova): void {
    this.list = this.list.filter((e) => !(e.pasid === pasid && overlaps(e, iova & ~0xfffn, 12)));
  }

  /** Empties the cache (ATS disabled, reset). */
  clear(): void {
    this.list = [];
  }

  /** The entries, oldest first (tests, snapshots). */
  entries(): readonly DevTlbEntry[] {
    return this.list;
  }
}
