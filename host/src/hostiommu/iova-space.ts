/**
 * The IOVA rules of an IOAS apart from its mappings (iommufd io_pagetable.c):
 *
 * - **Reserved regions**: ranges no mapping may use. Attaching a device's
 *   RID to a paging domain reserves its MSI window; adding a domain
 *   reserves everything outside its aperture; a VMM may reserve more
 *   (IOMMU_TEST_OP_ADD_RESERVED's role). Reserving over a mapping or an
 *   allowed range is EADDRINUSE. Regions of different owners may overlap.
 * - **Allowed ranges** (IOMMU_IOAS_ALLOW_IOVAS): ranges promised to stay
 *   usable. Automatic IOVA allocation only picks addresses inside them (when
 *   any are set); reserving over them is refused. Each range needs
 *   start < last, the ranges must not overlap (EINVAL) nor touch a reserved
 *   region (EADDRINUSE); the call replaces the whole list.
 * - **Usable ranges** (IOMMU_IOAS_IOVA_RANGES): the complement of the
 *   reserved regions in [0, 2^64 - 1].
 * - **Automatic allocation** (iopt_alloc_iova): aligned to
 *   min(length rounded up to a power of two, the lowest set bit of the
 *   host address), at most 2 MiB, with the host address's page offset; never
 *   in the first or last 4 KiB page (IOVA 0 is never handed out); the lowest
 *   hole that fits at that alignment, else ENOSPC (never a smaller alignment).
 *
 * Ranges here are inclusive `start/last`, as the uAPI's iommu_iova_range.
 */
import { checkU64, fail } from './errors.js';
import { PAGE } from './host-pages.js';
import type { IntervalMap } from './interval-map.js';
import type { Hpa, Iova } from '../types.js';

/** An inclusive IOVA range (struct iommu_iova_range). */
export interface IovaRange {
  /** First IOVA. */
  readonly start: bigint;
  /** Last IOVA (inclusive). */
  readonly last: bigint;
}

/** 2^64 - 1, the last IOVA (ULONG_MAX of the uAPI). */
export const U64_MAX = (1n << 64n) - 1n;

/** Largest alignment automatic allocation uses (HPAGE_SIZE: 2 MiB, as a kernel with transparent huge pages). */
export const MAX_AUTO_ALIGN = 1n << 21n;

/** A reserved region and whose it is. */
interface Reserved extends IovaRange {
  /** The reserving object (a device, a domain, the IOAS itself); removed together. */
  readonly owner: object;
  /** Names the owner in errors. */
  readonly label: string;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;
const overlaps = (a: IovaRange, b: IovaRange): boolean => a.start <= b.last && b.start <= a.last;

/** The smallest power of two >= v (v >= 1). */
function roundupPow2(v: bigint): bigint {
  let p = 1n;
  while (p < v) p <<= 1n;
  return p;
}

/** Sorted, merged copy of `ranges` (touching ranges joined). */
function merge(ranges: readonly IovaRange[]): IovaRange[] {
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: IovaRange[] = [];
  for (const r of sorted) {
    const top = out[out.length - 1];
    if (top !== undefined && r.start <= top.last + 1n) {
      if (r.last > top.last) out[out.length - 1] = { start: top.start, last: r.last };
    } else out.push({ start: r.start, last: r.last });
  }
  return out;
}

/** `range` minus the sorted, merged `holes`-to-remove `cut`, in order. */
function subtract(range: IovaRange, cut: readonly IovaRange[]): IovaRange[] {
  const out: IovaRange[] = [];
  let at = range.start;
  for (const c of cut) {
    if (c.last < at) continue;
    if (c.start > range.last) break;
    if (c.start > at) out.push({ start: at, last: c.start - 1n });
    if (c.last >= range.last) return out;
    at = c.last + 1n;
  }
  if (at <= range.last) out.push({ start: at, last: range.last });
  return out;
}

/** Reserved regions and allowed ranges of one IOAS, and automatic IOVA allocation over them. */
export class IovaSpace {
  private readonly reserved: Reserved[] = [];
  /** The reserved regions merged and sorted (rebuilt when they change; queried by binary search). */
  private reservedUnion: IovaRange[] = [];
  private allowed: IovaRange[] = [];

  /** The allowed ranges, sorted (empty: no restriction). */
  get allowedRanges(): readonly IovaRange[] {
    return this.allowed;
  }

  /** A reserved region overlapping `[start, last]`, or undefined (O(log r) when none does). */
  reservedIn(start: bigint, last: bigint): { readonly start: bigint; readonly last: bigint; readonly label: string } | undefined {
    const u = this.reservedUnion;
    let lo = 0;
    let hi = u.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (u[mid]!.last < start) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= u.length || u[lo]!.start > last) return undefined;
    return this.reserved.find((r) => overlaps(r, { start, last }));
  }

  /**
   * Reserves `[start, last]` for `owner`; EADDRINUSE when `mapped` says a
   * mapping overlaps it or an allowed range does.
   */
  reserve(owner: object, label: string, start: bigint, last: bigint, mapped: (start: bigint, last: bigint) => bigint | undefined): void {
    checkU64(start, 'start');
    checkU64(last, 'last');
    if (start > last) fail('EINVAL', `start/last: [${hex(start)}, ${hex(last)}] is empty`);
    const at = mapped(start, last);
    if (at !== undefined) fail('EADDRINUSE', `reserved region [${hex(start)}, ${hex(last)}] of ${label} overlaps the mapping at ${hex(at)}`);
    const a = this.allowed.find((x) => overlaps(x, { start, last }));
    if (a) fail('EADDRINUSE', `reserved region [${hex(start)}, ${hex(last)}] of ${label} overlaps the allowed range [${hex(a.start)}, ${hex(a.last)}]`);
    this.reserved.push({ start, last, owner, label });
    this.reservedUnion = merge(this.reserved);
  }

  /** Drops every reserved region of `owner`. */
  unreserve(owner: object): void {
    const before = this.reserved.length;
    for (let i = this.reserved.length - 1; i >= 0; i--) if (this.reserved[i]!.owner === owner) this.reserved.splice(i, 1);
    if (this.reserved.length !== before) this.reservedUnion = merge(this.reserved);
  }

  /**
   * IOMMU_IOAS_ALLOW_IOVAS: replaces the allowed ranges (empty: no
   * restriction). EINVAL for start >= last or ranges that overlap each
   * other, EADDRINUSE for a range over a reserved region; on error the old
   * list stays.
   */
  setAllowed(ranges: readonly IovaRange[]): void {
    if (!Array.isArray(ranges)) fail('EINVAL', `ranges: ${String(ranges)} is not an array`);
    ranges.forEach((r: unknown, i) => {
      if (typeof r !== 'object' || r === null) fail('EINVAL', `ranges[${i}]: ${String(r)} is not a { start, last } range`);
      const { start, last } = r as IovaRange;
      checkU64(start, `ranges[${i}].start`);
      checkU64(last, `ranges[${i}].last`);
      if (start >= last) fail('EINVAL', `ranges[${i}]: start ${hex(start)} is not below last ${hex(last)}`);
    });
    const sorted = [...ranges].map((r) => ({ start: r.start, last: r.last })).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    for (let i = 1; i < sorted.length; i++) {
      const [p, r] = [sorted[i - 1]!, sorted[i]!];
      if (r.start <= p.last) fail('EINVAL', `ranges: [${hex(r.start)}, ${hex(r.last)}] overlaps [${hex(p.start)}, ${hex(p.last)}]`);
    }
    for (const r of sorted) {
      const hit = this.reservedIn(r.start, r.last);
      if (hit) fail('EADDRINUSE', `ranges: [${hex(r.start)}, ${hex(r.last)}] overlaps the reserved region [${hex(hit.start)}, ${hex(hit.last)}] of ${hit.label}`);
    }
    this.allowed = sorted;
  }

  /** IOMMU_IOAS_IOVA_RANGES: the IOVA ranges no reserved region covers, in order. */
  usableRanges(): IovaRange[] {
    return subtract({ start: 0n, last: U64_MAX }, this.reservedUnion);
  }

  /**
   * The windows automatic allocation searches, lowest first: the allowed
   * ranges (or everything) inside [4 KiB, 2^64 - 1 - 4 KiB], minus reserved regions.
   */
  allocationWindows(): IovaRange[] {
    const bounds = { start: PAGE, last: U64_MAX - PAGE };
    const spans = this.allowed.length === 0 ? [bounds] : this.allowed.flatMap((a) => (overlaps(a, bounds) ? [{ start: a.start > bounds.start ? a.start : bounds.start, last: a.last < bounds.last ? a.last : bounds.last }] : []));
    return spans.flatMap((s) => subtract(s, this.reservedUnion));
  }

  /** Drops every reserved region and allowed range (the IOAS is being destroyed). */
  clear(): void {
    this.reserved.length = 0;
    this.reservedUnion = [];
    this.allowed = [];
  }
}

/**
 * iopt_alloc_iova: the lowest IOVA for `len` bytes at `addr`'s alignment
 * (see the file comment) in a hole of `areas` inside the windows of `space`.
 * EOVERFLOW for a zero or >= 2^63 length, EINVAL when the alignment is
 * below the IOAS's `iovaAlignment`, ENOSPC when no hole fits.
 */
export function allocIova<V>(space: IovaSpace, areas: IntervalMap<V>, len: bigint, addr: Hpa, iovaAlignment: bigint): bigint {
  if (len === 0n || len >= U64_MAX / 2n) fail('EOVERFLOW', `len: ${hex(len)} is too large to allocate an IOVA for`);
  const lowBit = addr & -addr;
  let align = addr === 0n ? roundupPow2(len) : (roundupPow2(len) < lowBit ? roundupPow2(len) : lowBit);
  if (align >= MAX_AUTO_ALIGN) align = MAX_AUTO_ALIGN;
  if (align < iovaAlignment) fail('EINVAL', `hpa/len: the natural alignment ${hex(align)} is below the IOAS's IOVA alignment ${hex(iovaAlignment)}`);
  const pageOffset = addr % PAGE;
  const fits = (start: bigint, last: bigint): bigint | undefined => {
    const up = start + align - 1n;
    if (up > U64_MAX) return undefined;
    const at = (up & ~(align - 1n)) | pageOffset;
    return at >= last || last - at < len - 1n ? undefined : at;
  };
  for (const w of space.allocationWindows()) {
    if (fits(w.start, w.last) === undefined) continue;
    const at = areas.findHole(w.start, w.last, len, fits);
    if (at !== undefined) return at;
  }
  return fail('ENOSPC', `len: no free ${hex(len)}-byte IOVA range aligned to ${hex(align)}`);
}
