/**
 * The host platform under every host IOMMU context (one per VMM / VM):
 * the physical IOMMU, the physical devices, the global PASID namespace,
 * per-owner pinned-page accounts, the domain-id space and the fail-nth
 * injector. Contexts (`HostIommu`, host-iommu.ts) are created from it;
 * what must be exclusive across contexts (device binding, host PASID
 * ownership, DIDs) lives here.
 */
import { checkInt, checkU64, fail } from './errors.js';
import { FailInjector } from './fail-nth.js';
import type { PhysicalIommu } from './backend.js';
import { GlobalPasidSpace, type HostPasidOwners, type PasidRange } from './pasid.js';
import { PinAccount } from './ioas.js';
import { DeviceFile, PhysDevice, type DeviceInfo } from './device.js';
import type { PageResponder } from './fault-queue.js';
import { PageResponseCode } from '../vtd/spec/page-request.js';
import { HostIommu } from './host-iommu.js';
import type { Did, Hpa, Pasid, Sid, Iova } from '../types.js';

/** Options of HostPlatform. */
export interface PlatformOptions {
  /** The physical IOMMU (its HostPages should share `injector`). */
  readonly iommu: PhysicalIommu;
  /** The fail-nth injector every allocation point consults (default: a fresh one). */
  readonly injector?: FailInjector;
  /** Whether host memory `[hpa, hpa + len)` may be mapped (default: any). */
  readonly hostMemory?: (hpa: Hpa, len: bigint) => boolean;
  /** Global PASID range (default 1..2^20-1). */
  readonly pasidRange?: PasidRange;
  /** Largest domain id handed out (default 0xffff; DIDs start at 1). */
  readonly maxDid?: Did;
  /** Default pinned-page limit of a new owner (default 2^20 pages = 4 GiB). */
  readonly defaultPinLimit?: number;
  /** Receives page group responses for physical devices (to the device / page-request path). */
  readonly onPageResponse?: PageResponder;
}

/** A page request from a physical device, as the physical IOMMU reports it. */
export interface PhysPageRequest {
  /** Host PASID of the request, undefined without one. */
  readonly pasid: Pasid | undefined;
  /** Page request group index. */
  readonly groupId: number;
  /** Requested access: FAULT_PERM bits. */
  readonly perms: number;
  /** Faulting page address. */
  readonly addr: Iova;
  /** Last page of its group. */
  readonly last: boolean;
}

/** Checks a page request's fields (EINVAL naming the bad one). */
function checkPageRequest(req: PhysPageRequest): void {
  if (typeof req !== 'object' || req === null) fail('EINVAL', `req: ${String(req)} is not a page request`);
  if (req.pasid !== undefined) checkInt(req.pasid, 0, 0xfffff, 'req.pasid');
  checkInt(req.groupId, 0, 0x1ff, 'req.groupId');
  checkInt(req.perms, 0, 0xf, 'req.perms');
  checkU64(req.addr, 'req.addr');
  if (typeof req.last !== 'boolean') fail('EINVAL', `req.last: ${String(req.last)} is not a boolean`);
}

/** Counters a leak check compares against a baseline. */
export interface PlatformUsage {
  /** Live objects in every context. */
  readonly objects: number;
  /** Pages charged to every account. */
  readonly pinnedPages: number;
  /** PASIDs allocated in the global space and every bound device's space. */
  readonly pasids: number;
  /** Host table pages (second-stage and IOMMU structures). */
  readonly tablePages: number;
  /** Domain ids in use. */
  readonly dids: number;
  /** Devices bound to a context. */
  readonly boundDevices: number;
}

/** The platform: physical IOMMU, devices, global namespaces. */
export class HostPlatform {
  /** Fail-nth injection shared by every object of the platform. */
  readonly injector: FailInjector;
  /** The physical IOMMU HWPTs are programmed into. */
  readonly iommu: PhysicalIommu;
  /** The global PASID namespace (ENQCMD). */
  readonly pasids: GlobalPasidSpace;
  /** Host PASID -> owning VM, shared by every context's gPASID table. */
  readonly hostPasidOwners: HostPasidOwners = new Map();
  /** True when `len` bytes at `hpa` are host memory that may be mapped. */
  readonly hostMemory: (hpa: Hpa, len: bigint) => boolean;
  private readonly devices = new Map<number, PhysDevice>();
  private readonly accounts = new Map<string, PinAccount>();
  private readonly contexts = new Set<HostIommu>();
  private readonly dids = new Set<number>();
  private readonly maxDid: number;

  /** A platform; throws an Error naming the bad option. */
  constructor(private readonly opts: PlatformOptions) {
    this.injector = opts.injector ?? new FailInjector();
    this.iommu = opts.iommu;
    this.pasids = new GlobalPasidSpace(this.injector, opts.pasidRange, (p) => this.heldByDevice(p));
    this.hostMemory = opts.hostMemory ?? (() => true);
    this.maxDid = checkInt(opts.maxDid ?? 0xffff, 1, 0xffff, 'maxDid');
  }

  /** Adds a physical device at `sid`; EEXIST if one is there. */
  addDevice(sid: Sid, info: DeviceInfo = {}): PhysDevice {
    if (this.devices.has(sid)) fail('EEXIST', `sid: a device is already at ${this.devices.get(sid)!.name}`);
    const d = new PhysDevice(sid, info);
    this.devices.set(sid, d);
    return d;
  }

  /**
   * Opens the device at `sid` (parked: DMA blocked until bound and attached)
   * through its VFIO cdev, or with `via` 'group' as the legacy group
   * interface hands it out (vfio-container.ts). ENOENT if none; EOPNOTSUPP
   * for the cdev of a device whose driver offers none (`DeviceInfo.cdev`).
   */
  openDevice(sid: Sid, via: 'cdev' | 'group' = 'cdev'): DeviceFile {
    const d = this.devices.get(sid);
    if (d === undefined) fail('ENOENT', `sid: no device at ${String(sid)}`);
    if (via === 'cdev' && d.info.cdev === false) fail('EOPNOTSUPP', `sid: ${d.name} has no VFIO cdev (its driver offers the group interface only)`);
    return new DeviceFile(d);
  }

  /** What the platform knows of the device at `sid` (undefined if there is none). */
  deviceInfo(sid: Sid): DeviceInfo | undefined {
    return this.devices.get(sid)?.info;
  }

  /** The pinned-page account of `owner` (created with `limitPages` or the default limit). */
  account(owner: string, limitPages?: number): PinAccount {
    let a = this.accounts.get(owner);
    if (a === undefined) {
      a = new PinAccount(owner, checkInt(limitPages ?? this.opts.defaultPinLimit ?? 1 << 20, 0, Number.MAX_SAFE_INTEGER, 'limitPages'));
      this.accounts.set(owner, a);
    }
    return a;
  }

  /** A new context (one iommufd file) for `owner`, charging pins to `owner`'s account. */
  createContext(owner: string, limitPages?: number): HostIommu {
    if (typeof owner !== 'string' || owner === '') fail('EINVAL', `owner: ${String(owner)} is not a name`);
    const ctx = new HostIommu(this, owner, this.account(owner, limitPages));
    this.contexts.add(ctx);
    return ctx;
  }

  /** Forgets a closed context (called by HostIommu.close). */
  dropContext(ctx: HostIommu): void {
    this.contexts.delete(ctx);
  }

  /** Allocates a domain id (fail-nth point; ENOSPC when all are in use). */
  allocDid(): number {
    if (this.dids.size >= this.maxDid) fail('ENOSPC', `did: all ${this.maxDid} domain ids are in use`);
    this.injector.point('domain id');
    let d = 1;
    while (this.dids.has(d)) d++;
    this.dids.add(d);
    return d;
  }

  /** Frees a domain id. */
  freeDid(did: Did): void {
    this.dids.delete(did);
  }

  /**
   * A page request from the physical device at `sid`: goes to the fault
   * queue of the HWPT its (device, PASID) is attached to; without one (not
   * bound, not attached, no queue) it is answered INVALID at once.
   * Returns true when queued.
   */
  pageRequest(sid: Sid, req: PhysPageRequest): boolean {
    checkPageRequest(req);
    const bound = this.devices.get(sid)?.boundTo;
    if (bound !== undefined && bound.routePageRequest(req)) return true;
    if (req.last) this.respondPage(sid, req.pasid, req.groupId, PageResponseCode.InvalidRequest);
    return false;
  }

  /** True when a bound device holds `pasid` in its own PASID namespace (e.g. a subdevice's default PASID). */
  private heldByDevice(pasid: number): boolean {
    for (const d of this.devices.values()) if (d.boundTo?.pasids?.has(pasid)) return true;
    return false;
  }

  /** A device attached at `pasid` as a global PASID (not its own namespace's), or undefined. */
  globalPasidUser(pasid: Pasid): PhysDevice | undefined {
    for (const d of this.devices.values()) {
      const b = d.boundTo;
      if (b !== undefined && b.attachments.has(pasid) && !b.pasids?.has(pasid)) return d;
    }
    return undefined;
  }

  /** Sends a page group response to the physical device (the platform's onPageResponse hook). */
  respondPage(sid: Sid, pasid: Pasid | undefined, groupId: number, code: number): void {
    this.opts.onPageResponse?.(sid, pasid, groupId, code);
  }

  /** Counters for leak checks. */
  usage(): PlatformUsage {
    let objects = 0;
    let devicePasids = 0;
    for (const c of this.contexts) objects += c.objectCount;
    for (const d of this.devices.values()) devicePasids += d.boundTo?.pasids?.allocated ?? 0;
    let pinnedPages = 0;
    for (const a of this.accounts.values()) pinnedPages += a.pinned;
    const boundDevices = [...this.devices.values()].filter((d) => d.boundTo !== undefined).length;
    return { objects, pinnedPages, pasids: this.pasids.allocated + devicePasids, tablePages: this.iommu.pages.allocated, dids: this.dids.size, boundDevices };
  }
}
