/**
 * IOAS: an I/O address space (iommufd's io_pagetable). It holds *areas*,
 * IOVA ranges mapped to host memory ("pinned pages"), in an ordered
 * interval map (O(log n) map, unmap and lookup), and mirrors every change
 * into the domains built from it (HWPT paging). The same IOAS may back
 * several domains; each map is all-or-nothing across all of them.
 *
 * The kernel's rules (io_pagetable.c, ioas.c), each with its errno:
 * - IOVA alignment is 1 byte while the IOAS has no domain and 4 KiB (the
 *   VT-d second-stage page) once one is attached; iova, length and the host
 *   address's page offset must be multiples of it (EINVAL). Adding a domain
 *   while an area is not 4 KiB aligned is EADDRINUSE.
 * - `map`: length 0 is EINVAL; iova or length >= 2^64 - 1, or an end that
 *   wraps past 2^64, is EOVERFLOW; a fixed range over a reserved region is
 *   EINVAL, over a mapping EEXIST; automatic IOVAs follow iova-space.ts.
 * - `unmap` removes whole areas: a range that cuts an area, or holds none,
 *   is ENOENT; length 0 EINVAL; iova 0 with length 2^64 - 1 unmaps
 *   everything and succeeds on an empty IOAS. Unlike the kernel, a range
 *   that cuts its last area leaves the earlier ones mapped too (nothing is
 *   half-done).
 * - `copy`: maps the pages behind a source range again (no new pinning, as
 *   iommufd shares the pages object); a hole in the source is ENOENT, a
 *   writable copy of pages mapped read-only EPERM.
 * - Pinned pages are charged to a `PinAccount` (one per owner, shared by
 *   its contexts) against its limit (ENOMEM over it, as RLIMIT_MEMLOCK).
 *
 * Ranges are start/end half-open (asm/GLOSSARY.md) unless named `last`.
 */
import { checkU64, fail } from './errors.js';
import type { FailInjector } from './fail-nth.js';
import type { HostObject } from './objects.js';
import { PAGE } from './host-pages.js';
import { PERM } from './ss-table.js';
import { IntervalMap } from './interval-map.js';
import { allocIova, IovaSpace, U64_MAX, type IovaRange } from './iova-space.js';
import { rangeEnd, type Iova, type Hpa } from '../types.js';

/** Per-owner pinned-page accounting (the locked-memory limit). */
export class PinAccount {
  /** Pages currently charged. */
  pinned = 0;

  /**
   * An account.
   * @param owner Whose pages these are.
   * @param limitPages Most pages it may pin.
   */
  constructor(readonly owner: string, readonly limitPages: number) {}

  /** Charges `pages`; ENOMEM when the limit would be passed. */
  charge(pages: number, what: string): void {
    if (this.pinned + pages > this.limitPages) {
      fail('ENOMEM', `${what}: pinning ${pages} pages would pass ${this.owner}'s limit of ${this.limitPages} (${this.pinned} pinned)`);
    }
    this.pinned += pages;
  }

  /** Returns `pages` to the account. */
  uncharge(pages: number): void {
    this.pinned -= pages;
  }
}

/** A domain mirrors an IOAS (implemented by HWPT paging). Domains map 4 KiB pages. */
export interface IoasDomain {
  /** Largest IOVA + 1 the domain can map (its aperture ends below). */
  readonly limit: bigint;
  /** Maps a range (all-or-nothing; throws on failure). */
  map(iova: Iova, hpa: Hpa, len: bigint, perms: number): void;
  /** Unmaps a mapped range (never fails). */
  unmap(iova: Iova, len: bigint): void;
}

/** Pinned host pages shared by the areas that map them (iommufd's iopt_pages). */
export interface Pages {
  /** First pinned page. */
  readonly base: bigint;
  /** Number of 4 KiB pages pinned. */
  readonly npages: number;
  /** Mapped writable at pin time: copies may ask for write. */
  readonly writable: boolean;
  /** Areas using these pages. */
  refs: number;
  /** The pin account charged for them. */
  readonly account: PinAccount;
}

/** One mapping of an IOAS. */
export interface Area {
  /** First IOVA. */
  readonly iova: Iova;
  /** Length in bytes (> 0). */
  readonly len: bigint;
  /** Host address of the first byte. */
  readonly hpa: Hpa;
  /** PERM bits. */
  readonly perms: number;
  /** The pinned pages behind it. */
  readonly pages: Pages;
}

/** Arguments of `Ioas.map`. */
export interface MapArgs {
  /** Host address of the memory to map. */
  readonly hpa: Hpa;
  /** Length in bytes (> 0). */
  readonly len: bigint;
  /** PERM bits (default read | write). */
  readonly perms?: number;
  /** Fixed IOVA; omitted: the IOAS allocates one. */
  readonly iova?: Iova;
}

/** Validated map arguments. */
interface CheckedMap { readonly hpa: bigint; readonly len: bigint; readonly perms: number; readonly iova: bigint | undefined }

const hex = (v: bigint): string => `0x${v.toString(16)}`;
const PERM_ALL = PERM.READ | PERM.WRITE;

/**
 * The permission argument of map/copy (IOMMU_IOAS_MAP_READABLE/WRITEABLE):
 * EINVAL unless an integer; EOPNOTSUPP for other bits; EINVAL for neither.
 */
export function checkPerms(v: unknown, what = 'perms'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) fail('EINVAL', `${what}: ${String(v)} is not a set of PERM bits`);
  if ((v & ~PERM_ALL) !== 0) fail('EOPNOTSUPP', `${what}: bits 0x${(v & ~PERM_ALL).toString(16)} are not read (1) / write (2)`);
  if (v === 0) fail('EINVAL', `${what}: 0 grants neither read (1) nor write (2)`);
  return v;
}

/** Checks the arguments of IOMMU_IOAS_MAP in the kernel's order (before the IOAS is looked at). */
export function checkMapArgs(args: unknown): CheckedMap {
  if (typeof args !== 'object' || args === null) fail('EINVAL', `args: ${String(args)} is not an object`);
  const a = args as MapArgs;
  const perms = a.perms === undefined ? PERM_ALL : checkPerms(a.perms);
  const hpa = checkU64(a.hpa, 'hpa');
  const len = checkU64(a.len, 'len');
  const iova = a.iova === undefined ? undefined : checkU64(a.iova, 'iova');
  if ((iova ?? 0n) >= U64_MAX || len >= U64_MAX) fail('EOVERFLOW', `iova/len: ${hex(iova ?? 0n)}/${hex(len)} do not fit below 2^64 - 1`);
  if (len === 0n) fail('EINVAL', 'len: 0 bytes');
  if (rangeEnd(hpa, len) === undefined) fail('EOVERFLOW', `hpa: [${hex(hpa)}, +${hex(len)}) wraps past 2^64`);
  return { hpa, len, perms, iova };
}

/** An I/O address space. */
export class Ioas implements HostObject {
  readonly kind = 'ioas' as const;
  id = 0;
  users = 0;
  /** Reserved regions and allowed ranges. */
  readonly space = new IovaSpace();
  private readonly areas = new IntervalMap<Area>();
  private readonly domainSet = new Set<IoasDomain>();
  private changes = 0;

  /** `hostMemory` says whether a host range may be mapped (EFAULT otherwise). */
  constructor(private readonly account: PinAccount, private readonly injector: FailInjector, private readonly hostMemory: (hpa: bigint, len: bigint) => boolean) {}

  /** The areas, sorted by IOVA (a copy; O(n)). */
  get mappings(): readonly Area[] {
    return [...this.areas.entries()].map((e) => e.value);
  }

  /**
   * Changes to the areas so far (each area mapped or removed counts one):
   * equal values mean equal `mappings`, so a caller that keeps something
   * derived from them (a consistency check) need not read them again.
   */
  get version(): number {
    return this.changes;
  }

  /** Number of areas. */
  get areaCount(): number {
    return this.areas.size;
  }

  /** The domains built from this IOAS, oldest first. */
  get domains(): readonly IoasDomain[] {
    return [...this.domainSet];
  }

  /** IOVA alignment every map must keep: 1 byte without domains, 4 KiB with (out_iova_alignment). */
  get iovaAlignment(): bigint {
    return this.domainSet.size === 0 ? 1n : PAGE;
  }

  /** IOMMU_IOAS_MAP: maps host memory; returns the IOVA used. */
  map(args: MapArgs): Iova {
    const { hpa, len, perms, iova: fixed } = checkMapArgs(args);
    this.checkLength(len);
    const iova = fixed === undefined ? allocIova(this.space, this.areas, len, hpa, this.iovaAlignment) : this.checkFixed(fixed, len);
    this.checkOffset(hpa);
    const pages = this.pin(hpa, len, (perms & PERM.WRITE) !== 0);
    try {
      this.insert({ iova, len, hpa, perms, pages });
    } catch (e) {
      this.unpin(pages);
      throw e;
    }
    return iova as Iova;
  }

  /**
   * IOMMU_IOAS_UNMAP: unmaps the areas inside `[iova, iova + len)`; returns
   * the bytes unmapped (see the file comment for the errors).
   */
  unmap(iova: Iova, len: bigint): bigint {
    checkU64(iova, 'iova');
    checkU64(len, 'len');
    if (iova === 0n && len === U64_MAX) return this.unmapAll();
    if (iova >= U64_MAX || len >= U64_MAX) fail('EOVERFLOW', `iova/len: ${hex(iova)}/${hex(len)} do not fit below 2^64 - 1`);
    if (len === 0n) fail('EINVAL', 'len: 0 bytes');
    if (rangeEnd(iova, len) === undefined) fail('EOVERFLOW', `iova: [${hex(iova)}, +${hex(len)}) wraps past 2^64`);
    const last = iova + len - 1n;
    const first = this.areas.firstOverlap(iova, last);
    if (first === undefined) fail('ENOENT', `iova: nothing is mapped in [${hex(iova)}, ${hex(last)}]`);
    const end = this.areas.lastOverlap(iova, last)!;
    for (const cut of [first, end]) {
      if (cut.start < iova || cut.end - 1n > last) fail('ENOENT', `iova/len: [${hex(iova)}, ${hex(last)}] cuts the mapping [${hex(cut.start)}, ${hex(cut.end - 1n)}]`);
    }
    let bytes = 0n;
    for (const a of [...this.areas.overlapping(iova, last)]) {
      this.remove(a.value);
      bytes += a.value.len;
    }
    return bytes;
  }

  /** Unmaps everything; returns the bytes unmapped. */
  unmapAll(): bigint {
    let bytes = 0n;
    for (const a of [...this.areas.entries()]) {
      this.remove(a.value);
      bytes += a.value.len;
    }
    return bytes;
  }

  /**
   * IOMMU_IOAS_COPY: maps the pages behind `src`'s `[srcIova, srcIova + len)`
   * into this IOAS (no new pinning). `perms` undefined keeps each source
   * area's permissions.
   */
  copy(src: Ioas, srcIova: Iova, len: bigint, dstIova?: Iova, perms?: number): Iova {
    const pieces = src.covering(srcIova, len);
    this.checkLength(len);
    const base = dstIova === undefined ? allocIova(this.space, this.areas, len, pieces[0]!.hpa, this.iovaAlignment) : this.checkFixed(dstIova, len);
    for (const p of pieces) {
      this.checkOffset(p.hpa);
      if (((perms ?? p.perms) & PERM.WRITE) !== 0 && !p.pages.writable) fail('EPERM', `perms: the source at ${hex(p.iova)} was mapped read-only; a writable copy is not allowed`);
    }
    const added: Area[] = [];
    try {
      for (const p of pieces) {
        this.injector.point('copy area');
        const area = { iova: base + (p.iova - srcIova), len: p.len, hpa: p.hpa, perms: perms ?? p.perms, pages: p.pages };
        this.insert(area);
        added.push(area);
      }
    } catch (e) {
      for (const a of added) this.remove(a);
      throw e;
    }
    return base as Iova;
  }

  /** Reserves `[start, last]` for `owner`; EADDRINUSE over a mapping or an allowed range. */
  reserve(owner: object, label: string, start: bigint, last: bigint): void {
    this.space.reserve(owner, label, start, last, (s, l) => this.areas.firstOverlap(s, l)?.start);
  }

  /** Drops every reserved region of `owner`. */
  unreserve(owner: object): void {
    this.space.unreserve(owner);
  }

  /** IOMMU_IOAS_ALLOW_IOVAS (see iova-space.ts). */
  allowIovas(ranges: readonly IovaRange[]): void {
    this.space.setAllowed(ranges);
  }

  /**
   * Adds a domain and fills it with every area (all-or-nothing):
   * EADDRINUSE if an area is not 4 KiB aligned or lies above the domain's limit.
   */
  addDomain(d: IoasDomain): void {
    if (this.domainSet.size === 0) {
      for (const { value: a } of this.areas.entries()) {
        if ((a.iova | a.len | a.hpa) % PAGE !== 0n) fail('EADDRINUSE', `ioas: the mapping at ${hex(a.iova)} (+${hex(a.len)}, host ${hex(a.hpa)}) is not 4 KiB aligned for a domain`);
      }
    }
    if (d.limit <= U64_MAX) this.reserve(d, 'a domain\'s aperture', d.limit, U64_MAX);
    const done: Area[] = [];
    try {
      for (const { value: a } of this.areas.entries()) {
        d.map(a.iova, a.hpa, a.len, a.perms);
        done.push(a);
      }
    } catch (e) {
      for (const a of done) d.unmap(a.iova, a.len);
      this.unreserve(d);
      throw e;
    }
    this.domainSet.add(d);
  }

  /** Removes a domain, unmapping every area from it and dropping its aperture reservation. */
  removeDomain(d: IoasDomain): void {
    if (!this.domainSet.delete(d)) return;
    for (const { value: a } of this.areas.entries()) d.unmap(a.iova, a.len);
    this.unreserve(d);
  }

  /** Number of pages pinned by this IOAS's own mappings (copies share pages). */
  get pinnedPages(): number {
    const seen = new Set<Pages>();
    for (const { value: a } of this.areas.entries()) seen.add(a.pages);
    return [...seen].reduce((n, p) => n + p.npages, 0);
  }

  /**
   * Host memory behind `[iova, iova + len)`, split at area boundaries:
   * EINVAL for length 0, EOVERFLOW for a wrap, ENOENT on a hole.
   */
  covering(iova: Iova, len: bigint): Area[] {
    checkU64(iova, 'srcIova');
    checkU64(len, 'len');
    if (len === 0n) fail('EINVAL', 'len: 0 bytes');
    if (rangeEnd(iova, len) === undefined) fail('EOVERFLOW', `srcIova: [${hex(iova)}, +${hex(len)}) wraps past 2^64`);
    const out: Area[] = [];
    const end = iova + len;
    let at = iova;
    while (at < end) {
      const a = this.areas.find(at)?.value;
      if (!a) fail('ENOENT', `srcIova: ${hex(at)} is not mapped`);
      const take = (a.iova + a.len < end ? a.iova + a.len : end) - at;
      out.push({ ...a, iova: at, len: take, hpa: a.hpa + (at - a.iova) });
      at += take;
    }
    return out;
  }

  /** The host address `iova` maps to, or undefined (O(log n)). */
  lookup(iova: Iova): bigint | undefined {
    const a = this.areas.find(iova)?.value;
    return a === undefined ? undefined : a.hpa + (iova - a.iova);
  }

  release(): void {
    this.unmapAll();
    this.space.clear();
  }

  /** Length must be a multiple of the IOVA alignment (EINVAL). */
  private checkLength(len: bigint): void {
    if (len % this.iovaAlignment !== 0n) fail('EINVAL', `len: ${hex(len)} is not a multiple of the IOVA alignment ${hex(this.iovaAlignment)}`);
  }

  /** The host address's page offset must keep the IOVA alignment (EINVAL). */
  private checkOffset(hpa: bigint): void {
    if ((hpa % PAGE) % this.iovaAlignment !== 0n) fail('EINVAL', `hpa: ${hex(hpa)} is not aligned to the IOVA alignment ${hex(this.iovaAlignment)}`);
  }

  /** iopt_check_iova: EINVAL unaligned, EOVERFLOW wrapping, EINVAL reserved, EEXIST mapped. */
  private checkFixed(iova: bigint, len: bigint): bigint {
    checkU64(iova, 'iova');
    if (iova % this.iovaAlignment !== 0n) fail('EINVAL', `iova: ${hex(iova)} is not aligned to the IOVA alignment ${hex(this.iovaAlignment)}`);
    if (rangeEnd(iova, len) === undefined) fail('EOVERFLOW', `iova: [${hex(iova)}, +${hex(len)}) wraps past 2^64`);
    const last = iova + len - 1n;
    const r = this.space.reservedIn(iova, last);
    if (r) fail('EINVAL', `iova: [${hex(iova)}, ${hex(last)}] overlaps the reserved region [${hex(r.start)}, ${hex(r.last)}] of ${r.label}`);
    const a = this.areas.firstOverlap(iova, last);
    if (a) fail('EEXIST', `iova: [${hex(iova)}, ${hex(last)}] overlaps the mapping at ${hex(a.start)}`);
    return iova;
  }

  /** Pins the pages under `[hpa, hpa + len)`: EFAULT outside host memory, ENOMEM over the limit. */
  private pin(hpa: bigint, len: bigint, writable: boolean): Pages {
    const base = hpa - (hpa % PAGE);
    const npages = Number((hpa + len - 1n) / PAGE - base / PAGE) + 1;
    if (!this.hostMemory(base, BigInt(npages) * PAGE)) fail('EFAULT', `hpa: [${hex(hpa)}, +${hex(len)}) is not host memory that can be pinned`);
    this.account.charge(npages, 'len');
    try {
      this.injector.point('pin pages');
    } catch (e) {
      this.account.uncharge(npages);
      throw e;
    }
    return { base, npages, writable, refs: 0, account: this.account };
  }

  private unpin(pages: Pages): void {
    if (pages.refs === 0) pages.account.uncharge(pages.npages);
  }

  /** Inserts an area, mirroring it into every domain (all-or-nothing). */
  private insert(area: Area): void {
    const done: IoasDomain[] = [];
    try {
      for (const d of this.domainSet) {
        d.map(area.iova, area.hpa, area.len, area.perms);
        done.push(d);
      }
    } catch (e) {
      for (const d of done) d.unmap(area.iova, area.len);
      throw e;
    }
    area.pages.refs++;
    this.areas.insert(area.iova, area.iova + area.len, area);
    this.changes++;
  }

  /** Removes an area from the domains and the map, unpinning its pages on the last reference. */
  private remove(area: Area): void {
    for (const d of this.domainSet) d.unmap(area.iova, area.len);
    this.areas.delete(area.iova);
    this.changes++;
    if (--area.pages.refs === 0) area.pages.account.uncharge(area.pages.npages);
  }
}
