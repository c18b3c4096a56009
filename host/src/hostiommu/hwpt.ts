/**
 * Hardware page tables (iommufd HWPT objects):
 *
 * - `HwptPaging`: a host second-stage domain built from an IOAS (a real
 *   §9.8 table in host memory, kept equal to the IOAS's mappings). Several
 *   may share one IOAS. Allocated with `nestParent`, it can parent nested
 *   domains (and back a vIOMMU). An *automatic* one is made by attaching a
 *   device to an IOAS; it is never a parent and goes away with its last
 *   attachment.
 * - `HwptNested`: a guest first-stage table pointer (a guest-physical
 *   address, translated through the parent's second stage) over a parent
 *   paging HWPT, or over a vIOMMU's parent. `invalidate` is the stage-1
 *   invalidation call the guest's first-stage invalidations are passed
 *   through with (IOMMU_HWPT_INVALIDATE with an array of struct
 *   iommu_hwpt_vtd_s1_invalidate): entries are applied in order up to the
 *   first malformed one, and the number applied is reported either way.
 *
 * Both record where they are attached, for flushes, may name a fault queue
 * that receives I/O page faults of the devices attached to them, and are
 * PASID-compatible only when allocated so (IOMMU_HWPT_ALLOC_PASID).
 */
import { checkU64, fail, isU64 } from './errors.js';
import type { HostObject } from './objects.js';
import type { Ioas, IoasDomain } from './ioas.js';
import { SsPageTable } from './ss-table.js';
import type { DomainProgram, NestedProgram, PagingProgram, PhysicalIommu } from './backend.js';
import type { FaultQueue } from './fault-queue.js';
import type { Viommu } from './viommu.js';
import type { HwptNestedArm } from './arm-nested.js';
import { PAGE } from './host-pages.js';
import type { Did, Hpa, Iova, Pasid, Sid } from '../types.js';

/** A (physical sid, PASID) a HWPT is installed at. */
export interface Attachment {
  /** Physical requester id. */
  readonly sid: Sid;
  /** Host PASID (RID_PASID for requests without PASID). */
  readonly pasid: Pasid;
}

/** Releases a domain id (the platform's DID allocator). */
export type DidRelease = (did: Did) => void;

const key = (a: Attachment): string => `${a.sid}:${a.pasid}`;

/** What every HWPT kind shares (paging, nested VT-d stage 1, nested SMMUv3 STE). */
export abstract class HwptBase {
  /** Object id in the platform's table (0 until allocated). */
  id = 0;
  /** Objects that use this HWPT (attachments, nested children). */
  users = 0;
  /** Where this HWPT is installed. */
  readonly attachments = new Map<string, Attachment>();

  /**
   * A HWPT with its domain id.
   * @param did Domain id the physical IOMMU tags its entries with.
   * @param faultQueue Where I/O page faults of devices attached here go, if anywhere.
   * @param pasidCompat May be attached at a PASID (IOMMU_HWPT_ALLOC_PASID).
   */
  constructor(readonly did: Did, readonly faultQueue: FaultQueue | undefined, protected readonly freeDid: DidRelease, readonly pasidCompat: boolean) {}

  /** What the physical IOMMU programs for a device attached here. */
  abstract program(): DomainProgram;

  /** Records an attachment (the caller installed it and counts the user). */
  addAttachment(a: Attachment): void {
    this.attachments.set(key(a), a);
  }

  /** Forgets an attachment. */
  dropAttachment(a: Attachment): void {
    this.attachments.delete(key(a));
  }

  /** Takes the references a live HWPT holds (after every fallible step succeeded). */
  protected holdBase(): void {
    if (this.faultQueue) this.faultQueue.users++;
  }

  protected releaseBase(): void {
    if (this.faultQueue) this.faultQueue.users--;
    this.freeDid(this.did);
  }
}

/** Options of HwptPaging. */
export interface HwptPagingOptions {
  /** May parent nested HWPTs and vIOMMUs (IOMMU_HWPT_ALLOC_NEST_PARENT). */
  readonly nestParent?: boolean;
  /** Fault queue for I/O page faults of attached devices. */
  readonly faultQueue?: FaultQueue;
  /** May be attached at PASIDs (IOMMU_HWPT_ALLOC_PASID). */
  readonly pasid?: boolean;
  /** Made by attaching a device to the IOAS (an automatic domain). */
  readonly auto?: boolean;
}

/** A host second-stage domain mirroring an IOAS. */
export class HwptPaging extends HwptBase implements HostObject, IoasDomain {
  readonly kind = 'hwpt-paging' as const;
  /** The host second-stage table. */
  readonly table: SsPageTable;
  /** Allocated as a nesting parent (nested HWPTs may sit on it). */
  readonly nestParent: boolean;
  /** An automatic domain (made by an attach to the IOAS; destroyed with its last attachment). */
  readonly auto: boolean;
  /** Nested HWPTs over this one (their IOTLB entries hold second-stage results too). */
  readonly children = new Set<HwptNested | HwptNestedArm>();

  /**
   * Use `HwptPaging.create`.
   * @param ioas The IOAS whose mappings the table mirrors.
   */
  private constructor(readonly ioas: Ioas, private readonly iommu: PhysicalIommu, did: number, freeDid: DidRelease, opts: HwptPagingOptions) {
    super(did, opts.faultQueue, freeDid, opts.pasid ?? false);
    this.table = new SsPageTable(iommu.pages, iommu.ssLevels, iommu.maxLeafLg2, iommu.tableFormat);
    this.nestParent = opts.nestParent ?? false;
    this.auto = opts.auto ?? false;
  }

  /**
   * Builds the table and fills it from `ioas` (all-or-nothing: on failure
   * the table pages are freed and the error rethrown; the DID stays the caller's).
   */
  static create(ioas: Ioas, iommu: PhysicalIommu, did: Did, freeDid: DidRelease, opts: HwptPagingOptions = {}): HwptPaging {
    const h = new HwptPaging(ioas, iommu, did, freeDid, opts);
    try {
      ioas.addDomain(h);
    } catch (e) {
      h.table.destroy();
      throw e;
    }
    ioas.users++;
    h.holdBase();
    return h;
  }

  get limit(): bigint {
    return this.table.limit;
  }

  map(iova: Iova, hpa: Hpa, len: bigint, perms: number): void {
    this.table.map(iova, hpa, len, perms);
  }

  unmap(iova: Iova, len: bigint): void {
    this.table.unmap(iova, len);
    this.iommu.flushSecondStage(this.did, iova, len);
    for (const c of this.children) this.iommu.flushSecondStage(c.did, 0n, 1n << 64n);
  }

  program(): PagingProgram {
    return { kind: 'paging', did: this.did, ssptptr: this.table.root, levels: this.table.levels };
  }

  release(): void {
    this.ioas.removeDomain(this);
    this.ioas.users--;
    this.table.destroy();
    this.releaseBase();
  }
}

/** Options of a nested HWPT (IOMMU_HWPT_DATA_VTD_S1). */
export interface HwptNestedOptions {
  /** Guest first-stage root table (a guest-physical address, 4 KiB aligned). */
  readonly fsptptr: bigint;
  /** First-stage levels (default 4). */
  readonly fsLevels?: 4 | 5;
  /** Supervisor requests enabled (IOMMU_VTD_S1_SRE). */
  readonly sre?: boolean;
  /** Write protect enable (IOMMU_VTD_S1_WPE). */
  readonly wpe?: boolean;
  /** Fault queue for I/O page faults. */
  readonly faultQueue?: FaultQueue;
  /** The vIOMMU this nested domain belongs to (counted as a user of it). */
  readonly viommu?: Viommu;
  /** May be attached at PASIDs (IOMMU_HWPT_ALLOC_PASID). */
  readonly pasid?: boolean;
}

/** One stage-1 invalidation entry (struct iommu_hwpt_vtd_s1_invalidate). */
export interface S1Invalidation {
  /** First address (4 KiB aligned). */
  readonly addr: Iova;
  /** Number of 4 KiB pages; S1_INVALIDATE_ALL (2^64 - 1) means the whole address space. */
  readonly npages: bigint;
  /** Only leaf entries changed (IOMMU_VTD_INV_FLAGS_LEAF): paging-structure caches may stay. */
  readonly leafOnly?: boolean;
}

/** npages value meaning "every address" (U64_MAX, as the uAPI). */
export const S1_INVALIDATE_ALL = (1n << 64n) - 1n;

/** A guest first stage over a parent paging HWPT. */
export class HwptNested extends HwptBase implements HostObject {
  readonly kind = 'hwpt-nested' as const;
  /** Guest first-stage table pointer (a guest physical address). */
  readonly fsptptr: bigint;
  /** First-stage paging levels. */
  readonly fsLevels: 4 | 5;
  private readonly sre: boolean;
  private readonly wpe: boolean;
  /** The vIOMMU the HWPT was allocated on, if any (a device attached here needs a vDEVICE in it). */
  readonly viommu: Viommu | undefined;

  /**
   * Validates the options (EINVAL naming the argument); takes references to parent, queue and vIOMMU.
   * @param parent The nesting-parent HWPT (host second stage).
   */
  constructor(readonly parent: HwptPaging, private readonly iommu: PhysicalIommu, did: Did, freeDid: DidRelease, opts: HwptNestedOptions) {
    super(did, opts.faultQueue, freeDid, opts.pasid ?? false);
    if (!parent.nestParent || parent.auto) fail('EINVAL', `parentId: HWPT ${parent.id} is ${parent.auto ? 'an automatic domain' : 'not a nesting parent'}; nested HWPTs need a nesting parent`);
    this.fsptptr = checkU64(opts.fsptptr, 'fsptptr');
    if (this.fsptptr % PAGE !== 0n || this.fsptptr >= 1n << 52n) fail('EINVAL', `fsptptr: 0x${this.fsptptr.toString(16)} is not a 4 KiB aligned address below 2^52`);
    this.fsLevels = opts.fsLevels ?? 4;
    if (this.fsLevels !== 4 && this.fsLevels !== 5) fail('EINVAL', `fsLevels: ${String(opts.fsLevels)} is not 4 or 5`);
    this.sre = flag(opts.sre, 'sre');
    this.wpe = flag(opts.wpe, 'wpe');
    this.viommu = opts.viommu;
    parent.users++;
    parent.children.add(this);
    if (this.viommu) this.viommu.users++;
    this.holdBase();
  }

  program(): NestedProgram {
    const p = this.parent.program();
    return { ...p, kind: 'nested', did: this.did, fsptptr: this.fsptptr, fsLevels: this.fsLevels, sre: this.sre, wpe: this.wpe };
  }

  /**
   * Passes the guest's first-stage invalidations through to every place
   * this HWPT is installed, entry by entry (intel_nested_cache_invalidate_user):
   * each entry is checked, then applied. At the first malformed entry
   * (EINVAL naming `entries[i]`) the call stops; the error's `count` says
   * how many entries were applied before it. Returns the number applied.
   */
  invalidate(entries: readonly S1Invalidation[]): number {
    if (!Array.isArray(entries)) fail('EINVAL', 'entries: not an array');
    let done = 0;
    for (const e of entries) {
      const entry = checkEntry(e, done);
      const npages = entry.npages === S1_INVALIDATE_ALL ? 0n : entry.npages;
      for (const a of this.attachments.values()) this.iommu.flushFirstStage(this.did, a.pasid, entry.addr, npages, entry.leafOnly ?? false);
      done++;
    }
    return done;
  }

  release(): void {
    this.parent.users--;
    this.parent.children.delete(this);
    if (this.viommu) this.viommu.users--;
    this.releaseBase();
  }
}

/** Either HWPT kind. */
export type Hwpt = HwptPaging | HwptNested | HwptNestedArm;

/** A boolean option (EINVAL naming it otherwise); undefined is false. */
export function flag(v: unknown, what: string): boolean {
  if (v !== undefined && typeof v !== 'boolean') fail('EINVAL', `${what}: ${String(v)} is not a boolean`);
  return v === true;
}

/** Checks invalidation entry `i`; a malformed one is EINVAL with `count` = `i` (the entries applied before it). */
function checkEntry(e: unknown, i: number): S1Invalidation {
  const bad = (field: string, why: string): never => fail('EINVAL', `entries[${i}]${field}: ${why}`, i);
  if (typeof e !== 'object' || e === null) bad('', `${String(e)} is not an invalidation entry`);
  const entry = e as S1Invalidation;
  const { addr, npages, leafOnly } = entry;
  if (!isU64(addr)) return bad('.addr', `${String(addr)} is not a 64-bit value`);
  if (!isU64(npages)) return bad('.npages', `${String(npages)} is not a 64-bit value`);
  if (leafOnly !== undefined && typeof leafOnly !== 'boolean') bad('.leafOnly', `${String(leafOnly)} is not a boolean`);
  if (addr % PAGE !== 0n) bad('.addr', `0x${addr.toString(16)} is not 4 KiB aligned`);
  if (npages === 0n) bad('.npages', '0 pages');
  if (npages === S1_INVALIDATE_ALL && addr !== 0n) bad('.addr', `"all pages" needs address 0, not 0x${addr.toString(16)}`);
  return entry;
}
