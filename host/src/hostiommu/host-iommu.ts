/**
 * One host IOMMU context (an open iommufd file): the object table and the
 * typed calls on it. Every call validates its arguments and either
 * completes or throws a `HostIommuError` leaving no trace (objects, pinned
 * pages, table pages, PASIDs, DIDs) — the property the fail-nth sweep checks.
 *
 * `call(op, args)` (ops.ts) is the same API through one table-driven entry,
 * for fuzzers and the sweep.
 */
import { checkInt, fail } from './errors.js';
import { ObjectTable, type HostObject, type ObjectKind } from './objects.js';
import { Ioas, type MapArgs, type PinAccount } from './ioas.js';
import { HwptNested, HwptPaging, type Hwpt, type S1Invalidation } from './hwpt.js';
import { BoundDevice, type DeviceFile } from './device.js';
import { FaultQueue, type FaultRecord } from './fault-queue.js';
import { Vdevice, Viommu } from './viommu.js';
import { GuestPasidTable, type PasidSet } from './pasid.js';
import type { HostPlatform } from './platform.js';
import type { Iova, Pasid } from '../types.js';
import { callOp } from './ops.js';

/** A PASID allocation set as an object (destroying it frees its PASIDs). */
class PasidSetObject implements HostObject {
  readonly kind = 'pasid-set' as const;
  id = 0;
  users = 0;
  constructor(readonly set: PasidSet, private readonly onRelease: (set: PasidSet) => void) {}
  release(): void {
    this.onRelease(this.set);
    this.set.destroy();
  }
}

/** Options of hwptAllocPaging. */
export interface PagingAllocOptions {
  /** Allow nested HWPTs and vIOMMUs over it. */
  readonly nestParent?: boolean;
  /** Fault queue object id for I/O page faults. */
  readonly faultId?: number;
}

/** Options of hwptAllocNested. */
export interface NestedAllocOptions {
  /** Guest first-stage root (guest-physical, 4 KiB aligned). */
  readonly fsptptr: bigint;
  /** First-stage levels (4 or 5, default 4). */
  readonly fsLevels?: 4 | 5;
  /** Supervisor requests enabled. */
  readonly sre?: boolean;
  /** Write protect enable. */
  readonly wpe?: boolean;
  /** Fault queue object id. */
  readonly faultId?: number;
}

const HWPT: ObjectKind[] = ['hwpt-paging', 'hwpt-nested'];

/** A host IOMMU context: objects by numeric id, iommufd-style calls. */
export class HostIommu {
  private readonly table: ObjectTable;
  /** This VM's gPASID -> hPASID table. */
  readonly guestPasids: GuestPasidTable;
  private closed = false;

  /**
   * A context (one open iommufd).
   * @param platform The platform its objects live on.
   * @param owner Name of the owner (a VM), for PASID sets and errors.
   * @param account The owner's pinned-page account.
   */
  constructor(readonly platform: HostPlatform, readonly owner: string, readonly account: PinAccount) {
    this.table = new ObjectTable(platform.injector);
    this.guestPasids = new GuestPasidTable(owner, platform.hostPasidOwners);
  }

  /** Number of live objects. */
  get objectCount(): number {
    return this.table.size;
  }

  /** Live objects by kind. */
  counts(): Partial<Record<ObjectKind, number>> {
    return this.table.countsByKind();
  }

  /** The kind of object `id`, or undefined. */
  kindOf(id: number): ObjectKind | undefined {
    return this.table.kindOf(id);
  }

  /** The table-driven entry: runs operation `op` with `args` (see ops.ts); EOPNOTSUPP for an unknown op. */
  call(op: string, args: Record<string, unknown> = {}): unknown {
    return callOp(this, op, args);
  }

  // -- IOAS ----------------------------------------------------------------

  /** IOMMU_IOAS_ALLOC: a new empty IOAS; returns its id. */
  ioasAlloc(): number {
    return this.register(new Ioas(this.account, this.platform.injector, this.platform.hostMemory));
  }

  /** IOMMU_IOAS_MAP: maps host memory; returns the IOVA (allocated unless `args.iova` is given). */
  ioasMap(ioasId: number, args: MapArgs): Iova {
    return this.ioas(ioasId).map(args ?? fail('EINVAL', 'args: missing'));
  }

  /** IOMMU_IOAS_UNMAP: unmaps the mappings inside the range; returns the bytes unmapped. */
  ioasUnmap(ioasId: number, iova: bigint, len: bigint): bigint {
    return this.ioas(ioasId).unmap(iova, len);
  }

  /** IOMMU_IOAS_COPY: maps the pages behind src's range into dst; returns the dst IOVA. */
  ioasCopy(dstId: number, srcId: number, srcIova: bigint, len: bigint, dstIova?: bigint, perms?: number): Iova {
    return this.ioas(dstId).copy(this.ioas(srcId, 'srcId'), srcIova, len, dstIova, perms);
  }

  // -- HWPT ----------------------------------------------------------------

  /** IOMMU_HWPT_ALLOC (paging): a host second-stage domain built from an IOAS. */
  hwptAllocPaging(ioasId: number, opts: PagingAllocOptions = {}): number {
    const ioas = this.ioas(ioasId);
    const faultQueue = this.faultQueueOpt(opts.faultId);
    const did = this.platform.allocDid();
    let h: HwptPaging;
    try {
      h = HwptPaging.create(ioas, this.platform.iommu, did, (d) => this.platform.freeDid(d), { nestParent: opts.nestParent === true, faultQueue });
    } catch (e) {
      this.platform.freeDid(did);
      throw e;
    }
    return this.register(h);
  }

  /** IOMMU_HWPT_ALLOC (nested): a guest first stage over a nesting-parent HWPT or a vIOMMU's parent. */
  hwptAllocNested(parentId: number, opts: NestedAllocOptions): number {
    const parentObj = this.table.get<HwptPaging | Viommu>(parentId, ['hwpt-paging', 'viommu'], 'parentId');
    const viommu = parentObj.kind === 'viommu' ? parentObj : undefined;
    const parent = viommu ? viommu.parent : (parentObj as HwptPaging);
    if (typeof opts !== 'object' || opts === null) fail('EINVAL', 'opts: missing');
    const faultQueue = this.faultQueueOpt(opts.faultId);
    const did = this.platform.allocDid();
    let h: HwptNested;
    try {
      h = new HwptNested(parent, this.platform.iommu, did, (d) => this.platform.freeDid(d), { ...opts, faultQueue, viommu });
    } catch (e) {
      this.platform.freeDid(did);
      throw e;
    }
    return this.register(h);
  }

  /** IOMMU_HWPT_INVALIDATE: passes stage-1 invalidations of a nested HWPT through; returns entries handled. */
  hwptInvalidate(hwptId: number, entries: readonly S1Invalidation[]): number {
    return this.table.get<HwptNested>(hwptId, ['hwpt-nested'], 'hwptId').invalidate(entries);
  }

  // -- devices -------------------------------------------------------------

  /** Binds an open device file (exclusive: EBUSY if bound anywhere); returns the device id. */
  bindDevice(file: DeviceFile): number {
    if (!(file instanceof Object) || !('device' in file)) fail('EINVAL', 'file: not a device file');
    return this.register(new BoundDevice(file, this.platform.iommu, this.platform.injector));
  }

  /** Attaches the device (or its `pasid`) to a HWPT. */
  attach(devId: number, hwptId: number, pasid?: number): void {
    this.device(devId).attach(this.table.get<Hwpt>(hwptId, HWPT, 'hwptId'), pasid);
  }

  /** Replaces the HWPT the device (or its `pasid`) is attached to. */
  replace(devId: number, hwptId: number, pasid?: number): void {
    this.device(devId).replace(this.table.get<Hwpt>(hwptId, HWPT, 'hwptId'), pasid);
  }

  /** Detaches the device (or its `pasid`). */
  detach(devId: number, pasid?: number): void {
    this.device(devId).detach(pasid);
  }

  /** Resets the device: drains its work and page requests; returns the fault groups answered. */
  reset(devId: number): number {
    return this.device(devId).reset();
  }

  // -- fault queue ---------------------------------------------------------

  /** IOMMU_FAULT_QUEUE_ALLOC: a new fault queue; returns its id. `notify` hears each complete group's cookie. */
  faultQueueAlloc(notify?: (cookie: number) => void): number {
    if (notify !== undefined && typeof notify !== 'function') fail('EINVAL', 'notify: not a function');
    return this.register(new FaultQueue((sid, pasid, grp, code) => this.platform.respondPage(sid, pasid, grp, code), notify));
  }

  /** Reads up to `max` fault records. */
  faultRead(faultId: number, max?: number): FaultRecord[] {
    return this.faultQueue(faultId).read(max === undefined ? Infinity : checkInt(max, 0, 2 ** 31, 'max'));
  }

  /** Answers the fault group named by `cookie` (EINVAL for an unknown cookie). */
  faultRespond(faultId: number, cookie: number, code: number): void {
    this.faultQueue(faultId).respond(cookie, code);
  }

  // -- vIOMMU --------------------------------------------------------------

  /** IOMMU_VIOMMU_ALLOC: a vIOMMU over a nesting-parent HWPT, for a bound device's IOMMU. */
  viommuAlloc(devId: number, hwptId: number): number {
    return this.register(new Viommu(this.table.get<HwptPaging>(hwptId, ['hwpt-paging'], 'hwptId'), this.device(devId)));
  }

  /** IOMMU_VDEVICE_ALLOC: gives a device the virtual RID `vrid` in a vIOMMU. */
  vdeviceAlloc(viommuId: number, devId: number, vrid: number): number {
    return this.register(new Vdevice(this.viommu(viommuId), this.device(devId), vrid));
  }

  /** The guest's RID for physical RID `sid` in a vIOMMU; ENOENT if it has none. */
  vridOf(viommuId: number, sid: number): number {
    const v = this.viommu(viommuId).vridOf(sid);
    if (v === undefined) fail('ENOENT', `sid: ${String(sid)} has no vDEVICE in vIOMMU ${viommuId}`);
    return v;
  }

  /** The device id with virtual RID `vrid` in a vIOMMU (a guest command naming a vRID); ENOENT if none. */
  deviceOfVrid(viommuId: number, vrid: number): number {
    const d = this.viommu(viommuId).deviceOf(vrid);
    if (d === undefined) fail('ENOENT', `vrid: ${String(vrid)} names no vDEVICE in vIOMMU ${viommuId}`);
    return d.id;
  }

  // -- PASIDs --------------------------------------------------------------

  /** A PASID allocation set of the global namespace with `quota`; returns its object id. */
  pasidSetAlloc(quota: number): number {
    const set = this.platform.pasids.createSet(quota, this.owner);
    return this.register(new PasidSetObject(set, (s) => this.dropGuestMappings(s)));
  }

  /** Allocates a global PASID in a set (EDQUOT over quota, ENOSPC when the space is full). */
  pasidAlloc(setId: number, want?: number): Pasid {
    return this.pasidSet(setId).alloc(want);
  }

  /** Frees a global PASID of a set. */
  pasidFree(setId: number, pasid: number): void {
    const set = this.pasidSet(setId);
    set.free(pasid);
    this.dropGuestMappings(set, pasid);
  }

  /** Allocates a PASID in a device's own namespace (EOPNOTSUPP without PASID support). */
  devicePasidAlloc(devId: number, want?: number): Pasid {
    const d = this.device(devId);
    if (!d.pasids) fail('EOPNOTSUPP', `devId: ${d.phys.name} has no PASID capability`);
    return d.pasids.alloc(want);
  }

  /** Frees a PASID of a device's namespace. */
  devicePasidFree(devId: number, pasid: number): void {
    const d = this.device(devId);
    if (!d.pasids) fail('EOPNOTSUPP', `devId: ${d.phys.name} has no PASID capability`);
    d.pasids.free(pasid);
  }

  /** Maps guest PASID `g` to host PASID `h` (EEXIST for a second mapping, EBUSY if another VM owns `h`). */
  guestPasidMap(g: number, h: number): void {
    const set = this.platform.pasids.ownerOf(h);
    if (set !== undefined && set.owner !== this.owner) fail('EBUSY', `hpasid: ${h} is allocated to ${set.owner}`);
    this.guestPasids.map(g, h);
  }

  /** Removes guest PASID `g`'s mapping; returns the host PASID. */
  guestPasidUnmap(g: number): number {
    return this.guestPasids.unmap(g);
  }

  // -- lifetime ------------------------------------------------------------

  /** IOMMU_DESTROY: destroys object `id` (EBUSY while in use). */
  destroy(id: number): void {
    this.table.destroy(id);
  }

  /** Closes the context: detaches every device and destroys every object (dependents first). */
  close(): void {
    if (this.closed) return;
    for (const id of this.table.ids()) if (this.table.kindOf(id) === 'device') this.device(id).detachAll();
    for (let progress = true; this.table.size > 0 && progress;) {
      progress = false;
      for (const id of this.table.ids().reverse()) {
        if (this.table.peek(id)!.users > 0) continue;
        this.table.destroy(id);
        progress = true;
      }
    }
    if (this.table.size > 0) throw new Error(`close: ${this.table.size} objects still have users (a refcount bug)`);
    this.guestPasids.clear();
    this.closed = true;
    this.platform.dropContext(this);
  }

  // -- helpers -------------------------------------------------------------

  /** Adds `obj` to the table; on failure releases what its constructor took and rethrows. */
  private register(obj: HostObject): number {
    try {
      if (this.closed) fail('EINVAL', `context: ${this.owner}'s context is closed`);
      return this.table.add(obj).id;
    } catch (e) {
      obj.release();
      throw e;
    }
  }

  private dropGuestMappings(set: PasidSet, only?: number): void {
    for (const h of only === undefined ? set.pasids : [only]) {
      const g = this.guestPasids.guestOf(h);
      if (g !== undefined) this.guestPasids.unmap(g);
    }
  }

  private ioas(id: number, what = 'ioasId'): Ioas {
    return this.table.get<Ioas>(id, ['ioas'], what);
  }

  private device(id: number): BoundDevice {
    return this.table.get<BoundDevice>(id, ['device'], 'devId');
  }

  private faultQueue(id: number): FaultQueue {
    return this.table.get<FaultQueue>(id, ['fault-queue'], 'faultId');
  }

  private faultQueueOpt(id: number | undefined): FaultQueue | undefined {
    return id === undefined ? undefined : this.faultQueue(id);
  }

  private viommu(id: number): Viommu {
    return this.table.get<Viommu>(id, ['viommu'], 'viommuId');
  }

  private pasidSet(id: number): PasidSet {
    return this.table.get<PasidSetObject>(id, ['pasid-set'], 'setId').set;
  }
}
