/**
 * IOAS: an I/O address space (iommufd's io_pagetable). It holds *areas*,
 * IOVA ranges mapped to host memory ("pinned pages"), and mirrors every
 * change into the domains built from it (HWPT paging). The same IOAS may
 * back several domains; each map is all-or-nothing across all of them.
 *
 * - `map`: at a fixed IOVA or at one the IOAS allocates (lowest fitting
 *   hole that avoids areas and reserved regions, below every domain's limit).
 * - `unmap`: removes whole areas; a range cutting through an area is EINVAL.
 * - `copy`: maps the pages behind a source range again (no new pinning,
 *   as iommufd shares the pages object).
 * - Pinned pages are charged to a `PinAccount` (one per owner, shared by its
 *   contexts) against its limit (ENOMEM over it, as RLIMIT_MEMLOCK).
 *
 * Ranges are start/end half-open (asm/GLOSSARY.md) unless named `last`.
 */
import { checkU64, fail } from './errors.js';
import type { FailInjector } from './fail-nth.js';
import type { HostObject } from './objects.js';
import { PAGE } from './host-pages.js';
import { PERM } from './ss-table.js';
import type { Iova } from '../types.js';

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

/** A domain mirrors an IOAS (implemented by HWPT paging). */
export interface IoasDomain {
  /** Largest IOVA + 1 the domain can map. */
  readonly limit: bigint;
  /** Maps a range (all-or-nothing; throws on failure). */
  map(iova: bigint, hpa: bigint, len: bigint, perms: number): void;
  /** Unmaps a mapped range (never fails). */
  unmap(iova: bigint, len: bigint): void;
}

/** Pinned host pages shared by the areas that map them. */
interface Pages { readonly hpa: bigint; readonly len: bigint; refs: number; readonly account: PinAccount }

/** One mapping of an IOAS. */
export interface Area {
  /** First IOVA. */
  readonly iova: bigint;
  /** Length in bytes (4 KiB multiple). */
  readonly len: bigint;
  /** Host address of the first byte. */
  readonly hpa: bigint;
  /** PERM bits. */
  readonly perms: number;
  /** The pinned pages behind it. */
  readonly pages: Pages;
}

/** Arguments of `Ioas.map`. */
export interface MapArgs {
  /** Host address of the memory to map (4 KiB aligned). */
  readonly hpa: bigint;
  /** Length in bytes (4 KiB multiple, > 0). */
  readonly len: bigint;
  /** PERM bits (default read | write). */
  readonly perms?: number;
  /** Fixed IOVA; omitted: the IOAS allocates one. */
  readonly iova?: bigint;
}

/** A reserved IOVA range (e.g. an attached device's MSI window), inclusive `last`. */
interface Reserved { readonly start: bigint; readonly last: bigint; readonly owner: string }

const pagesOf = (len: bigint): number => Number(len / PAGE);
const overlaps = (a: bigint, aEnd: bigint, b: bigint, bEnd: bigint): boolean => a < bEnd && b < aEnd;
const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** An I/O address space. */
export class Ioas implements HostObject {
  readonly kind = 'ioas' as const;
  id = 0;
  users = 0;
  private areas: Area[] = [];
  private readonly reserved: Reserved[] = [];
  private readonly domains = new Set<IoasDomain>();

  /** `hostMemory` says whether a host range may be mapped (EFAULT otherwise). */
  constructor(private readonly account: PinAccount, private readonly injector: FailInjector, private readonly hostMemory: (hpa: bigint, len: bigint) => boolean) {}

  /** The areas, sorted by IOVA. */
  get mappings(): readonly Area[] {
    return this.areas;
  }

  /** Largest IOVA + 1 every domain can map (2^64 without domains). */
  get limit(): bigint {
    let l = 1n << 64n;
    for (const d of this.domains) if (d.limit < l) l = d.limit;
    return l;
  }

  /** Maps host memory; returns the IOVA used. */
  map(args: MapArgs): Iova {
    const hpa = checkU64(args.hpa, 'hpa');
    const len = checkU64(args.len, 'len');
    const perms = args.perms ?? PERM.READ | PERM.WRITE;
    if (len === 0n || len % PAGE !== 0n) fail('EINVAL', `len: ${hex(len)} is not a positive 4 KiB multiple`);
    if (hpa % PAGE !== 0n) fail('EINVAL', `hpa: ${hex(hpa)} is not 4 KiB aligned`);
    if (perms !== (perms & (PERM.READ | PERM.WRITE)) || perms === 0) fail('EINVAL', `perms: ${String(perms)} is not a non-empty set of read (1) / write (2)`);
    if (!this.hostMemory(hpa, len)) fail('EFAULT', `hpa: [${hex(hpa)}, +${hex(len)}) is not host memory that can be pinned`);
    const iova = args.iova === undefined ? this.allocIova(len, hpa) : this.checkFixed(checkU64(args.iova, 'iova'), len);
    this.account.charge(pagesOf(len), 'len');
    try {
      this.injector.point('pin pages');
      const pages: Pages = { hpa, len, refs: 0, account: this.account };
      this.insert({ iova, len, hpa, perms, pages });
    } catch (e) {
      this.account.uncharge(pagesOf(len));
      throw e;
    }
    return iova as Iova;
  }

  /** Unmaps the areas inside `[iova, iova + len)`; returns the bytes unmapped. ENOENT if none. */
  unmap(iova: bigint, len: bigint): bigint {
    checkU64(iova, 'iova');
    checkU64(len, 'len');
    const end = iova + len;
    const hit = this.areas.filter((a) => overlaps(a.iova, a.iova + a.len, iova, end));
    if (hit.length === 0) fail('ENOENT', `iova: nothing is mapped in [${hex(iova)}, +${hex(len)})`);
    const cut = hit.find((a) => a.iova < iova || a.iova + a.len > end);
    if (cut) fail('EINVAL', `iova/len: [${hex(iova)}, +${hex(len)}) cuts the mapping at ${hex(cut.iova)} (+${hex(cut.len)})`);
    let bytes = 0n;
    for (const a of hit) {
      this.remove(a);
      bytes += a.len;
    }
    return bytes;
  }

  /** Unmaps everything; returns the bytes unmapped. */
  unmapAll(): bigint {
    let bytes = 0n;
    for (const a of [...this.areas]) {
      this.remove(a);
      bytes += a.len;
    }
    return bytes;
  }

  /**
   * Maps the pages behind `src`'s `[srcIova, srcIova + len)` into this IOAS
   * (no new pinning). The source range must be exactly covered by areas.
   */
  copy(src: Ioas, srcIova: bigint, len: bigint, dstIova?: bigint, perms?: number): Iova {
    checkU64(srcIova, 'srcIova');
    checkU64(len, 'len');
    if (len === 0n || len % PAGE !== 0n || srcIova % PAGE !== 0n) fail('EINVAL', `srcIova/len: ${hex(srcIova)}/${hex(len)} not 4 KiB aligned`);
    const pieces = src.covering(srcIova, len);
    const base = dstIova === undefined ? this.allocIova(len, pieces[0]!.hpa) : this.checkFixed(checkU64(dstIova, 'dstIova'), len);
    const added: Area[] = [];
    try {
      for (const p of pieces) {
        const want = perms ?? p.perms;
        if ((want & ~p.perms) !== 0) fail('EINVAL', `perms: ${want} exceeds the source mapping's ${p.perms}`);
        this.injector.point('copy area');
        const area = { iova: base + (p.iova - srcIova), len: p.len, hpa: p.hpa, perms: want, pages: p.pages };
        this.insert(area);
        added.push(area);
      }
    } catch (e) {
      for (const a of added) this.remove(a);
      throw e;
    }
    return base as Iova;
  }

  /** Reserves `[start, last]` for `owner`; EADDRINUSE if an area overlaps it. */
  reserve(owner: string, start: bigint, last: bigint): void {
    const a = this.areas.find((x) => overlaps(x.iova, x.iova + x.len, start, last + 1n));
    if (a) fail('EADDRINUSE', `reserved region [${hex(start)}, ${hex(last)}] of ${owner} overlaps the mapping at ${hex(a.iova)}`);
    this.reserved.push({ start, last, owner });
  }

  /** Drops every reserved region of `owner`. */
  unreserve(owner: string): void {
    for (let i = this.reserved.length - 1; i >= 0; i--) if (this.reserved[i]!.owner === owner) this.reserved.splice(i, 1);
  }

  /** Adds a domain and fills it with every area (all-or-nothing). */
  addDomain(d: IoasDomain): void {
    const high = this.areas.find((a) => a.iova + a.len > d.limit);
    if (high) fail('EINVAL', `ioas: mapping at ${hex(high.iova)} lies above the domain's limit ${hex(d.limit)}`);
    const done: Area[] = [];
    try {
      for (const a of this.areas) {
        d.map(a.iova, a.hpa, a.len, a.perms);
        done.push(a);
      }
    } catch (e) {
      for (const a of done) d.unmap(a.iova, a.len);
      throw e;
    }
    this.domains.add(d);
  }

  /** Removes a domain, unmapping every area from it. */
  removeDomain(d: IoasDomain): void {
    if (!this.domains.delete(d)) return;
    for (const a of this.areas) d.unmap(a.iova, a.len);
  }

  /** Number of pages pinned by this IOAS's own mappings (copies share pages). */
  get pinnedPages(): number {
    const seen = new Set<Pages>(this.areas.map((a) => a.pages));
    return [...seen].reduce((n, p) => n + pagesOf(p.len), 0);
  }

  /** Host memory behind `[iova, iova + len)`, split at area boundaries (ENOENT on a hole). */
  covering(iova: bigint, len: bigint): Area[] {
    const out: Area[] = [];
    let at = iova;
    const end = iova + len;
    while (at < end) {
      const a = this.areas.find((x) => x.iova <= at && at < x.iova + x.len);
      if (!a) fail('ENOENT', `srcIova: ${hex(at)} is not mapped`);
      const take = (a.iova + a.len < end ? a.iova + a.len : end) - at;
      out.push({ ...a, iova: at, len: take, hpa: a.hpa + (at - a.iova) });
      at += take;
    }
    return out;
  }

  /** The host address `iova` maps to, or undefined. */
  lookup(iova: bigint): bigint | undefined {
    const a = this.areas.find((x) => x.iova <= iova && iova < x.iova + x.len);
    return a === undefined ? undefined : a.hpa + (iova - a.iova);
  }

  release(): void {
    this.unmapAll();
  }

  /** Validates a fixed IOVA range: EINVAL unaligned/above limit, EADDRINUSE reserved, EEXIST mapped. */
  private checkFixed(iova: bigint, len: bigint): bigint {
    if (iova % PAGE !== 0n) fail('EINVAL', `iova: ${hex(iova)} is not 4 KiB aligned`);
    if (iova + len > this.limit) fail('EINVAL', `iova: [${hex(iova)}, +${hex(len)}) ends above the limit ${hex(this.limit)}`);
    const r = this.reserved.find((x) => overlaps(x.start, x.last + 1n, iova, iova + len));
    if (r) fail('EADDRINUSE', `iova: [${hex(iova)}, +${hex(len)}) overlaps ${r.owner}'s reserved [${hex(r.start)}, ${hex(r.last)}]`);
    const a = this.areas.find((x) => overlaps(x.iova, x.iova + x.len, iova, iova + len));
    if (a) fail('EEXIST', `iova: [${hex(iova)}, +${hex(len)}) overlaps the mapping at ${hex(a.iova)}`);
    return iova;
  }

  /** The lowest IOVA fitting `len` (2 MiB aligned when len and hpa allow it); ENOSPC if none. */
  private allocIova(len: bigint, hpa: bigint): bigint {
    const big = 1n << 21n;
    const align = len >= big && hpa % big === 0n ? big : PAGE;
    const busy = [...this.areas.map((a) => [a.iova, a.iova + a.len]), ...this.reserved.map((r) => [r.start, r.last + 1n])].sort((x, y) => (x[0]! < y[0]! ? -1 : 1));
    let at = 0n;
    for (const [s, e] of busy) {
      if (at + len <= s!) break;
      if (e! > at) at = (e! + align - 1n) & ~(align - 1n);
    }
    if (at + len > this.limit) fail('ENOSPC', `len: no free ${hex(len)}-byte IOVA range below ${hex(this.limit)}`);
    return at;
  }

  /** Inserts an area (sorted), mirroring it into every domain (all-or-nothing). */
  private insert(area: Area): void {
    const done: IoasDomain[] = [];
    try {
      for (const d of this.domains) {
        d.map(area.iova, area.hpa, area.len, area.perms);
        done.push(d);
      }
    } catch (e) {
      for (const d of done) d.unmap(area.iova, area.len);
      throw e;
    }
    area.pages.refs++;
    this.areas.push(area);
    this.areas.sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  }

  /** Removes an area from the domains and the list, unpinning its pages on the last reference. */
  private remove(area: Area): void {
    for (const d of this.domains) d.unmap(area.iova, area.len);
    this.areas = this.areas.filter((a) => a !== area);
    if (--area.pages.refs === 0) area.pages.account.uncharge(pagesOf(area.pages.len));
  }
}
