/**
 * Shadow domains: a guest second-stage table (a legacy context entry's, or a
 * scalable-mode PASID entry's with PGTT = 2) mirrored into a host second
 * stage, one host address space per guest domain id (an IOAS and paging
 * HWPT, or a VFIO container on the group path: shadow-spaces.ts). The guest runs with
 * caching mode (CAP.CM = 1, §6.1), so it invalidates after every change of
 * its tables, not-present -> present included; each IOTLB invalidation
 * (§6.5.2.3; register-based §6.5.1) makes the VMM re-read exactly the scope
 * it names and turn the difference into IOAS unmap / map. A guest that
 * changes a mapping and forgets the invalidation keeps the old host
 * mapping, as a stale IOTLB entry on real hardware would.
 *
 * Cost: a sync is linear in the guest table entries it visits plus the host
 * mappings in its scope (an ordered map of runs, O(log n) per step), and is
 * charged to the guest access's work budget (work-budget.ts). Host mappings
 * are runs of contiguous leaves within one leaf table, so a contiguous guest
 * domain of N pages costs about N/512 host map calls.
 *
 * At the budget, or when the host refuses a mapping, the domain is
 * *blocked*: every host mapping of it is removed, logged, and the guest's
 * DMA through it faults as "cannot access a second-stage entry" (§7.1.3
 * LSL.1 0x7 / SSL.1 0x78). Nothing unverified is ever mapped. The next
 * invalidation covering the whole domain (global or domain-selective IOTLB,
 * or a context change) tries again with that access's budget.
 */
import type { GuestMemory } from '../core/guest-memory.js';
import type { InvalidationEvent } from '../vtd/cache-invalidation.js';
import { isHostIommuError } from '../hostiommu/errors.js';
import type { HostIommu } from '../hostiommu/host-iommu.js';
import { IntervalMap } from '../hostiommu/interval-map.js';
import { U64_MAX } from '../hostiommu/iova-space.js';
import { iommufdSpace, type DomainSpace } from './shadow-spaces.js';
import { ssFault, ssRuns, type SsFaultKind, type SsLimits, type SsRun } from './ss-walk.js';
import { HOST_CALL_COST, type WorkBudget } from './work-budget.js';
import type { Did, Gpa, Iova, Hpa } from '../types.js';

/** What the domains need from their VM. */
export interface ShadowHost {
  readonly ctx: HostIommu;
  /** Guest RAM (GPA 0 up to `size`). */
  readonly ram: GuestMemory & { readonly size: bigint };
  /** Host-physical address of a guest-physical one. */
  hpaOf(gpa: Gpa): Hpa;
  /** The guest unit's second-stage rules. */
  readonly limits: SsLimits;
  log(msg: string): void;
  /** A new host space for guest domain `did` (default: an IOAS + paging HWPT in `ctx`). */
  space?(did: Did): DomainSpace;
}

/** The guest table a domain follows. */
export interface ShadowTable {
  readonly did: Did;
  /** Page number of the top table. */
  readonly root: number;
  readonly levels: number;
}

/** One shadowed guest domain. */
export class ShadowDomain {
  /** Host mappings made from the guest's leaves, keyed by IOVA byte address. */
  readonly runs = new IntervalMap<SsRun>();
  /** The guest table of each binding using it (one entry per binding). */
  readonly tables: ShadowTable[] = [];
  /** True while its host mappings are withdrawn (over budget or refused by the host). */
  blocked = false;

  constructor(readonly did: Did, public root: number, public levels: number, readonly space: DomainSpace) {}

  /** Bindings using it. */
  get users(): number {
    return this.tables.length;
  }

  /** IOVA pages the guest table can address. */
  get pagesSpanned(): number {
    return 512 ** this.levels;
  }

  /** 4 KiB pages mapped on the host. */
  mappedPages(): number {
    let n = 0;
    for (const e of this.runs.entries()) n += e.value.pages;
    return n;
  }
}

const PAGE = 4096n;
/** 4 KiB pages in the 64-bit IOVA space. */
const IOVA_PAGES = 2 ** 52;
const byteOf = (page: number): bigint => BigInt(page) * PAGE;
const sameTable = (a: { root: number; levels: number }, b: { root: number; levels: number }): boolean => a.root === b.root && a.levels === b.levels;
const sameRun = (a: SsRun, b: SsRun): boolean => a.iova === b.iova && a.gpa === b.gpa && a.pages === b.pages && a.perms === b.perms;

/** The shadow domains of one VM, by guest domain id. */
export class ShadowDomains {
  readonly byDid = new Map<number, ShadowDomain>();
  /** Host map / unmap calls and domains blocked (for narration and tests). */
  readonly stats = { maps: 0, unmaps: 0, blocks: 0 };

  constructor(private readonly host: ShadowHost) {}

  /**
   * A domain following `t` for one more binding: the existing one of that
   * DID (re-pointed and fully re-synced if the guest gave it another table)
   * or a new one built now. Throws the host's error when it cannot allocate.
   *
   * A guest that gives one DID two tables breaks §9.3 / §9.6 (entries with
   * the same domain id must reference the same tables): the domain follows
   * the table bound last, and goes back to a remaining binding's table when
   * the last binding of the one it follows leaves (`release`).
   */
  acquire(t: ShadowTable, budget: WorkBudget): ShadowDomain {
    let d = this.byDid.get(t.did);
    if (d === undefined) {
      d = new ShadowDomain(t.did, t.root, t.levels, this.host.space?.(t.did) ?? iommufdSpace(this.host.ctx));
      this.byDid.set(t.did, d);
      this.syncWhole(d, budget);
    } else {
      this.follow(d, t, budget);
    }
    d.tables.push({ did: t.did, root: t.root, levels: t.levels });
    return d;
  }

  /** The binding of table `t` leaves `d`; the domain and its host objects go with the last binding. */
  release(d: ShadowDomain, t: ShadowTable, budget: WorkBudget): void {
    const i = d.tables.findIndex((u) => sameTable(u, t));
    d.tables.splice(i < 0 ? d.tables.length - 1 : i, 1);
    const last = d.tables.at(-1);
    if (last === undefined) {
      d.space.drop();
      this.byDid.delete(d.did);
    } else if (!d.tables.some((u) => sameTable(u, d))) {
      this.follow(d, last, budget);
    }
  }

  /** A guest IOTLB invalidation: re-syncs its scope (other kinds do not reach the shadows). */
  invalidate(ev: InvalidationEvent, budget: WorkBudget): void {
    if (ev.kind === 'iotlbGlobal') {
      for (const d of this.byDid.values()) this.syncWhole(d, budget);
    } else if (ev.kind === 'iotlbDomain' || ev.kind === 'pasidIotlb') {
      const d = this.byDid.get(ev.did);
      if (d) this.syncWhole(d, budget);
    } else if (ev.kind === 'iotlbPage') {
      const d = this.byDid.get(ev.did);
      if (!d) return;
      const lg2 = Math.min(ev.am, 52);
      const first = Number((ev.addr >> 12n) & ~((1n << BigInt(lg2)) - 1n));
      this.sync(d, Math.min(first, d.pagesSpanned), Math.min(first + 2 ** lg2, d.pagesSpanned), budget);
    }
  }

  /** Re-syncs all of `d` (what a domain-selective invalidation does). */
  syncWhole(d: ShadowDomain, budget: WorkBudget): void {
    this.sync(d, 0, d.pagesSpanned, budget);
  }

  /** Re-points `d` at table `t` (fully re-synced) when it follows another one. */
  private follow(d: ShadowDomain, t: ShadowTable, budget: WorkBudget): void {
    if (sameTable(d, t)) return;
    this.host.log(`shadow: guest domain ${d.did} now uses the table at 0x${byteOf(t.root).toString(16)} (${t.levels} levels)`);
    Object.assign(d, { root: t.root, levels: t.levels });
    this.syncWhole(d, budget);
  }

  /** Why a DMA at `iova` through `d` faults, as the guest's tables say ('access' while blocked). */
  faultKind(d: ShadowDomain, iova: Iova, write: boolean): SsFaultKind {
    if (d.blocked) return 'access';
    return ssFault(this.host.ram, d.root, d.levels, Number(iova >> 12n), write, this.host.limits) ?? 'not-present';
  }

  /** Drops every domain (VM teardown; bindings are detached by their owner). */
  teardown(): void {
    for (const d of this.byDid.values()) d.space.drop();
    this.byDid.clear();
  }

  /** Makes the host mappings of `d` in IOVA pages [from, to) equal the guest's. */
  private sync(d: ShadowDomain, from: number, to: number, budget: WorkBudget): void {
    if (from >= to) return;
    const whole = from === 0 && to >= d.pagesSpanned;
    if (d.blocked && !whole) return; // only a whole-domain invalidation may lift the block
    const fresh = d.runs.size === 0; // every run found will be mapped: charge it while walking
    const found = ssRuns(this.host.ram, d.root, d.levels, from, to, this.host.limits, budget, fresh ? HOST_CALL_COST : undefined);
    if (found === undefined) return this.block(d, 'its tables need more work than one guest access may cause');
    // A whole sync also takes out runs beyond the table's span: the guest
    // may have given the domain fewer levels (a smaller AW) since they were made.
    const { unmap, map } = this.diff(d, this.inRam(d, found), from, whole ? IOVA_PAGES : to);
    if (!fresh) for (const r of [unmap, map].flat()) budget.left -= r.pages + HOST_CALL_COST;
    if (budget.left < 0) return this.block(d, 'its changes need more work than one guest access may cause');
    this.apply(d, unmap, map);
    if (d.blocked && whole) {
      d.blocked = false;
      this.host.log(`shadow: guest domain ${d.did} shadowed again (${d.runs.size} host mappings)`);
    }
  }

  /**
   * What to unmap and map so that `d`'s runs in pages [from, to) become
   * `guest` (sorted): a merge of the two ordered lists. Old runs reaching
   * outside the scope are replaced, their outside parts mapped as they were.
   */
  private diff(d: ShadowDomain, guest: readonly SsRun[], from: number, to: number): { unmap: SsRun[]; map: SsRun[] } {
    const unmap: SsRun[] = [];
    const map: SsRun[] = [];
    let i = 0;
    for (const e of d.runs.overlapping(byteOf(from), byteOf(to) - 1n)) {
      const r = e.value;
      while (i < guest.length && guest[i]!.iova < r.iova) map.push(guest[i++]!);
      if (i < guest.length && sameRun(guest[i]!, r) && r.iova >= from && r.iova + r.pages <= to) {
        i++;
        continue;
      }
      unmap.push(r);
      if (r.iova < from) map.push({ ...r, pages: from - r.iova });
      if (r.iova + r.pages > to) map.push({ ...r, iova: to, gpa: r.gpa + (to - r.iova), pages: r.iova + r.pages - to });
    }
    while (i < guest.length) map.push(guest[i++]!);
    return { unmap, map };
  }

  /** `runs` clipped to guest RAM (the rest is logged, not mapped). */
  private inRam(d: ShadowDomain, runs: SsRun[]): SsRun[] {
    const ramPages = Number(this.host.ram.size / PAGE);
    let dropped = 0;
    const out: SsRun[] = [];
    for (const r of runs) {
      const pages = Math.max(0, Math.min(r.pages, ramPages - r.gpa));
      dropped += r.pages - pages;
      if (pages > 0) out.push(pages === r.pages ? r : { ...r, pages });
    }
    if (dropped) this.host.log(`shadow: guest domain ${d.did} maps ${dropped} page(s) outside guest RAM; not mapped`);
    return out;
  }

  /** Unmaps, then maps; a host refusal blocks the domain. */
  private apply(d: ShadowDomain, unmap: readonly SsRun[], map: readonly SsRun[]): void {
    for (const r of unmap) {
      d.space.unmap(byteOf(r.iova), byteOf(r.pages));
      d.runs.delete(byteOf(r.iova));
      this.stats.unmaps++;
    }
    for (const r of map) {
      try {
        d.space.map({ iova: byteOf(r.iova), hpa: this.host.hpaOf(byteOf(r.gpa)), len: byteOf(r.pages), perms: r.perms });
      } catch (e) {
        if (!isHostIommuError(e)) throw e;
        return this.block(d, `the host refused a mapping: ${e.message}`);
      }
      d.runs.insert(byteOf(r.iova), byteOf(r.iova + r.pages), r);
      this.stats.maps++;
    }
  }

  /** Withdraws every host mapping of `d` (its DMA faults) until a whole-domain sync succeeds. */
  private block(d: ShadowDomain, why: string): void {
    if (d.runs.size > 0) d.space.unmap(0n, U64_MAX);
    d.runs.clear();
    if (d.blocked) return;
    d.blocked = true;
    this.stats.blocks++;
    this.host.log(`shadow: guest domain ${d.did} blocked: ${why}; its DMA faults until the guest invalidates the whole domain`);
  }
}
