/**
 * One host IOMMU context (an open iommufd file): the object table and the
 * typed calls on it. Every call validates its arguments and either
 * completes or throws a `HostIommuError` leaving no trace (objects, pinned
 * pages, table pages, PASIDs, DIDs) — the property the fail-nth sweep checks.
 *
 * Where a call takes an object id of one kind, an id of another kind is
 * ENOENT (as iommufd's typed lookups); where it takes several kinds and
 * dispatches on the kind (a HWPT's parent, an attach target, an
 * invalidation target), another kind is EINVAL. An id naming nothing is
 * ENOENT. Attaching a device to an IOAS uses an *automatic domain*: the
 * first automatic paging HWPT of that IOAS the device is compatible with,
 * else a new one, destroyed again with its last attachment
 * (iommufd_device_auto_get_domain).
 *
 * `call(op, args)` (ops.ts) is the same API through one table-driven entry,
 * for fuzzers and the sweep.
 */
import { checkInt, checkU64, fail, isHostIommuError } from './errors.js';
import { ObjectTable, type HostObject, type ObjectKind } from './objects.js';
import { checkMapArgs, checkPerms, Ioas, type MapArgs, type PinAccount } from './ioas.js';
import { flag, HwptNested, HwptPaging, type Hwpt, type S1Invalidation } from './hwpt.js';
import { BoundDevice, type DeviceFile } from './device.js';
import { FaultQueue, type FaultRecord } from './fault-queue.js';
import { Vdevice, Viommu } from './viommu.js';
import { GuestPasidTable, type PasidSet } from './pasid.js';
import { U64_MAX, type IovaRange } from './iova-space.js';
import type { HostPlatform } from './platform.js';
import { rangeEnd, type Iova, type Pasid, type Sid } from '../types.js';
import { callOp } from './ops.js';
import { Subdevice, type DeviceTarget } from './subdevice.js';
import { HwptNestedArm } from './arm-nested.js';
import { SmmuViommu, Veventq, type SmmuInvalidation, type VeventRecord } from './arm-viommu.js';
import { PhysicalSmmu } from './smmu-backend.js';

/** A PASID allocation set as an object (destroying it frees its PASIDs; EBUSY while one is attached). */
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

/** Options of hwptAllocPaging (IOMMU_HWPT_ALLOC flags on an IOAS). */
export interface PagingAllocOptions {
  /** Allow nested HWPTs and vIOMMUs over it (IOMMU_HWPT_ALLOC_NEST_PARENT). */
  readonly nestParent?: boolean;
  /** May be attached at PASIDs (IOMMU_HWPT_ALLOC_PASID). */
  readonly pasid?: boolean;
  /** Fault queue object id for I/O page faults (not with nestParent: EOPNOTSUPP). */
  readonly faultId?: number;
}

/** Options of hwptAllocNested (IOMMU_HWPT_DATA_VTD_S1). */
export interface NestedAllocOptions {
  /** Guest first-stage root (guest-physical, 4 KiB aligned). */
  readonly fsptptr: bigint;
  /** First-stage levels (4 or 5, default 4). */
  readonly fsLevels?: 4 | 5;
  /** Supervisor requests enabled. */
  readonly sre?: boolean;
  /** Write protect enable. */
  readonly wpe?: boolean;
  /** May be attached at PASIDs (IOMMU_HWPT_ALLOC_PASID). */
  readonly pasid?: boolean;
  /** Fault queue object id. */
  readonly faultId?: number;
}

/** Options of hwptAllocNested on an SMMUv3 vIOMMU (IOMMU_HWPT_DATA_ARM_SMMUV3): the guest STE. */
export interface ArmNestedAllocOptions {
  /** The guest STE's doublewords 0 and 1 (Config, S1ContextPtr as a guest-physical address, S1Fmt, S1CDMax, S1DSS, ...). */
  readonly ste: readonly [bigint, bigint];
}

/** vIOMMU types (IOMMU_VIOMMU_TYPE_DEFAULT / _ARM_SMMUV3). */
export type ViommuType = 'default' | 'arm-smmuv3';

/** What IOMMU_IOAS_IOVA_RANGES reports. */
export interface IovaRanges {
  /** The usable IOVA ranges (not reserved), in order. */
  readonly ranges: readonly IovaRange[];
  /** The alignment every map must keep (out_iova_alignment): 1 without domains, 4 KiB with. */
  readonly alignment: bigint;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** `v` is an options object with only `known` keys (an unknown one is EOPNOTSUPP, as an unknown IOMMU_HWPT_ALLOC flag). */
function checkOptions<T>(v: T, what: string, known: readonly string[]): T {
  if (typeof v !== 'object' || v === null) fail('EINVAL', `${what}: ${String(v)} is not an object`);
  const unknown = Object.keys(v).find((k) => !known.includes(k));
  if (unknown !== undefined) fail('EOPNOTSUPP', `${what}.${unknown}: not an option (${known.join(', ')})`);
  return v;
}
const PAGING_OPTIONS: readonly (keyof PagingAllocOptions)[] = ['nestParent', 'pasid', 'faultId'];
const NESTED_OPTIONS: readonly (keyof NestedAllocOptions)[] = ['fsptptr', 'fsLevels', 'sre', 'wpe', 'pasid', 'faultId'];
const ARM_NESTED_OPTIONS: readonly string[] = ['ste', 'pasid', 'faultId'];

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

  /** Live objects of `kind`, oldest first (inspection only, e.g. the fuzzer's host-tables-vs-IOAS check). */
  objectsOf<T extends HostObject>(kind: ObjectKind): T[] {
    const out: T[] = [];
    for (const id of this.table.ids()) {
      const o = this.table.peek(id);
      if (o?.kind === kind) out.push(o as T);
    }
    return out;
  }

  /** The table-driven entry: runs operation `op` with `args` (see ops.ts); ENOTTY for an unknown op. */
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
    checkMapArgs(args);
    return this.ioas(ioasId).map(args);
  }

  /** IOMMU_IOAS_UNMAP: unmaps the mappings inside the range; returns the bytes unmapped. */
  ioasUnmap(ioasId: number, iova: Iova, len: bigint): bigint {
    return this.ioas(ioasId).unmap(iova, len);
  }

  /**
   * IOMMU_IOAS_COPY: maps the pages behind src's range into dst; returns
   * the dst IOVA. `perms` undefined keeps the source's permissions.
   */
  ioasCopy(dstId: number, srcId: number, srcIova: Iova, len: bigint, dstIova?: Iova, perms?: number): Iova {
    if (perms !== undefined) checkPerms(perms);
    const at = [checkU64(srcIova, 'srcIova'), checkU64(len, 'len'), dstIova === undefined ? 0n : checkU64(dstIova, 'dstIova')];
    if (at.some((v) => v >= U64_MAX)) fail('EOVERFLOW', `srcIova/len/dstIova: ${at.map(hex).join('/')} do not fit below 2^64 - 1`);
    const src = this.ioas(srcId, 'srcId');
    return this.ioas(dstId, 'dstId').copy(src, srcIova, len, dstIova, perms);
  }

  /**
   * IOMMU_IOAS_ALLOW_IOVAS: automatic IOVAs only inside `ranges` (inclusive
   * start/last; empty: anywhere), and no reservation may take them.
   */
  ioasAllowIovas(ioasId: number, ranges: readonly IovaRange[]): void {
    this.ioas(ioasId).allowIovas(ranges);
  }

  /**
   * IOMMU_IOAS_IOVA_RANGES: the usable IOVA ranges and the IOVA alignment.
   * With `max`, more ranges than `max` is EMSGSIZE whose `count` is how many there are.
   */
  ioasIovaRanges(ioasId: number, max?: number): IovaRanges {
    const ioas = this.ioas(ioasId);
    const ranges = ioas.space.usableRanges();
    if (max !== undefined && ranges.length > checkInt(max, 0, 0xffff_ffff, 'max')) {
      fail('EMSGSIZE', `max: ${ranges.length} IOVA ranges do not fit in ${max}`, ranges.length);
    }
    return { ranges, alignment: ioas.iovaAlignment };
  }

  /**
   * Reserves `[start, start + length)` in an IOAS for the VMM (firmware
   * ranges; the role of iommufd's IOMMU_TEST_OP_ADD_RESERVED): no mapping
   * may use it until the IOAS is destroyed. EADDRINUSE over a mapping or an allowed range.
   */
  ioasAddReserved(ioasId: number, start: bigint, length: bigint): void {
    const ioas = this.ioas(ioasId);
    checkU64(start, 'start');
    checkU64(length, 'length');
    if (length === 0n) fail('EINVAL', 'length: 0 bytes');
    if (rangeEnd(start, length) === undefined) fail('EOVERFLOW', `start: [${hex(start)}, +${hex(length)}) wraps past 2^64`);
    ioas.reserve(ioas, 'the VMM', start, start + length - 1n);
  }

  // -- HWPT ----------------------------------------------------------------

  /** IOMMU_HWPT_ALLOC on an IOAS: a host second-stage domain built from it (EINVAL if `ioasId` is another kind). */
  hwptAllocPaging(ioasId: number, opts: PagingAllocOptions = {}): number {
    const pt = this.table.getAny(ioasId, 'ioasId');
    if (pt.kind !== 'ioas') fail('EINVAL', `ioasId: object ${pt.id} is a ${pt.kind}; a paging HWPT is built from an IOAS`);
    checkOptions(opts, 'opts', PAGING_OPTIONS);
    const nestParent = flag(opts.nestParent, 'nestParent');
    const pasid = flag(opts.pasid, 'pasid');
    if (opts.faultId !== undefined && nestParent) fail('EOPNOTSUPP', 'faultId: a nesting-parent HWPT takes no fault queue');
    return this.allocPaging(pt as Ioas, { nestParent, pasid, faultQueue: this.faultQueueOpt(opts.faultId) }).id;
  }

  /**
   * IOMMU_HWPT_ALLOC on a nesting-parent HWPT or a vIOMMU: a guest first
   * stage over it. EINVAL if `parentId` is another kind (a device, a nested
   * HWPT, an IOAS...), not a nesting parent, or an automatic domain.
   */
  hwptAllocNested(parentId: number, opts: NestedAllocOptions | ArmNestedAllocOptions): number {
    const pt = this.table.getAny(parentId, 'parentId');
    if (pt.kind !== 'hwpt-paging' && pt.kind !== 'viommu') fail('EINVAL', `parentId: object ${pt.id} is a ${pt.kind}; a nested HWPT goes on a nesting-parent HWPT or a vIOMMU`);
    if (typeof opts !== 'object' || opts === null) fail('EINVAL', `opts: ${String(opts)} is not an object`);
    if (pt instanceof SmmuViommu || 'ste' in opts) return this.allocArmNested(pt, opts as ArmNestedAllocOptions & { faultId?: number; pasid?: boolean });
    const viommu = pt instanceof Viommu ? pt : undefined;
    const parent = viommu ? viommu.parent : (pt as HwptPaging);
    checkOptions(opts, 'opts', NESTED_OPTIONS);
    const faultQueue = this.faultQueueOpt(opts.faultId);
    const pasid = flag(opts.pasid, 'pasid');
    const did = this.platform.allocDid();
    let h: HwptNested;
    try {
      h = new HwptNested(parent, this.platform.iommu, did, (d) => this.platform.freeDid(d), { ...opts, faultQueue, viommu, pasid });
    } catch (e) {
      this.platform.freeDid(did);
      throw e;
    }
    return this.register(h);
  }

  /**
   * IOMMU_HWPT_INVALIDATE: applies `entries` in order to a nested HWPT (or a
   * vIOMMU that takes commands); returns how many were applied. On a
   * malformed entry the error's `count` says how many were applied before
   * it. EINVAL if `hwptId` is a paging HWPT or another kind.
   */
  hwptInvalidate(hwptId: number, entries: readonly S1Invalidation[] | readonly SmmuInvalidation[]): number {
    if (!Array.isArray(entries)) fail('EINVAL', `entries: ${String(entries)} is not an array`, 0);
    const t = this.table.getAny(hwptId, 'hwptId');
    if (t instanceof HwptNested || t instanceof Viommu || t instanceof HwptNestedArm) return t.invalidate(entries);
    return fail('EINVAL', `hwptId: object ${t.id} is a ${t.kind}; invalidations go to a nested HWPT or a vIOMMU`, 0);
  }

  // -- devices -------------------------------------------------------------

  /** Binds an open device file (exclusive: EBUSY if bound anywhere); returns the device id. */
  bindDevice(file: DeviceFile): number {
    if (!(file instanceof Object) || !('device' in file)) fail('EINVAL', 'file: not a device file');
    return this.register(new BoundDevice(file, this.platform.iommu, this.platform.injector, (d, p) => this.checkPasidUse(d, p)));
  }

  /** Subdevice (mediated / SIOV) of bound device `devId` with default PASID `pasid` (any free one if omitted); returns its id. */
  subdeviceAlloc(devId: number, pasid?: Pasid): number {
    if (pasid !== undefined) checkInt(pasid, 1, 0xf_ffff, 'pasid');
    return this.register(new Subdevice(this.device(devId), pasid));
  }

  /** The default PASID of subdevice `subId` (the PASID its DMA carries). */
  subdevicePasid(subId: number): number {
    return this.table.get<Subdevice>(subId, ['subdevice'], 'subId').defaultPasid;
  }

  /**
   * Attaches the device or subdevice (or its `pasid`) to a HWPT, or to an
   * IOAS through an automatic domain; returns the id of the HWPT attached to.
   */
  attach(devId: number, hwptId: number, pasid?: Pasid): number {
    const dev = this.target(devId);
    return this.changePt(hwptId, (h) => {
      dev.attach(h, pasid);
      return undefined;
    });
  }

  /**
   * Replaces the HWPT the device or subdevice (or its `pasid`) is attached
   * to (EINVAL if nothing is); returns the id of the HWPT attached to. An
   * automatic domain left unused is destroyed.
   */
  replace(devId: number, hwptId: number, pasid?: Pasid): number {
    const dev = this.target(devId);
    return this.changePt(hwptId, (h) => dev.replace(h, pasid));
  }

  /** Detaches the device or subdevice (or its `pasid`); nothing attached is not an error. */
  detach(devId: number, pasid?: Pasid): void {
    this.putHwpt(this.target(devId).detach(pasid));
  }

  /** The id of the HWPT the device (or its `pasid`) is attached to, or undefined (IOMMU_TEST_OP_PASID_CHECK_HWPT's question). */
  attachedTo(devId: number, pasid?: Pasid): number | undefined {
    const dev = this.device(devId);
    if (pasid !== undefined) checkInt(pasid, 1, 0xfffff, 'pasid');
    return dev.attachments.get(pasid ?? 0)?.id;
  }

  /** Resets the device or subdevice: drains its work and page requests; returns the fault groups answered. */
  reset(devId: number): number {
    return this.target(devId).reset();
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

  /** IOMMU_VIOMMU_ALLOC: a vIOMMU over a nesting-parent HWPT, for a bound device's IOMMU (the device is not held). */
  viommuAlloc(devId: number, hwptId: number, type: ViommuType = 'default'): number {
    const dev = this.device(devId);
    const parent = this.table.get<HwptPaging>(hwptId, ['hwpt-paging'], 'hwptId');
    // One constructor per IOMMU_VIOMMU_TYPE_* (dispatch by table).
    const kinds: Readonly<Record<ViommuType, () => Viommu | SmmuViommu>> = {
      default: () => new Viommu(parent, dev.iommu),
      'arm-smmuv3': () => {
        if (!(dev.iommu instanceof PhysicalSmmu)) fail('EOPNOTSUPP', `type: ${dev.phys.name} is not behind an SMMUv3`);
        return new SmmuViommu(parent, dev.iommu);
      },
    };
    if (typeof type !== 'string' || !Object.hasOwn(kinds, type)) fail('EOPNOTSUPP', `type: "${String(type)}" is not a vIOMMU type (${Object.keys(kinds).join(', ')})`);
    return this.register(kinds[type]());
  }

  /** IOMMU_VDEVICE_ALLOC: gives a device the virtual RID `vrid` in a vIOMMU (EEXIST if it has a vDEVICE). */
  vdeviceAlloc(viommuId: number, devId: number, vrid: Sid): number {
    return this.register(new Vdevice(this.viommu(viommuId), this.device(devId), vrid));
  }

  /**
   * IOMMU_VEVENTQ_ALLOC: an event queue of `depth` records on an SMMUv3
   * vIOMMU (EEXIST if it has one); `notify` hears each delivered record.
   */
  veventqAlloc(viommuId: number, depth: number, notify?: () => void): number {
    const v = this.viommu(viommuId);
    if (!(v instanceof SmmuViommu)) fail('EOPNOTSUPP', `viommuId: vIOMMU ${viommuId} reports no events (not an SMMUv3 vIOMMU)`);
    if (notify !== undefined && typeof notify !== 'function') fail('EINVAL', 'notify: not a function');
    return this.register(new Veventq(v, depth, notify));
  }

  /** Reads up to `max` records of a vEVENTQ (default all), oldest first. */
  veventqRead(veventqId: number, max?: number): VeventRecord[] {
    const q = this.table.get<Veventq>(veventqId, ['veventq'], 'veventqId');
    return q.read(max === undefined ? q.pending : checkInt(max, 0, 2 ** 31, 'max'));
  }

  /** The guest's RID for physical RID `sid` in a vIOMMU; ENOENT if it has none. */
  vridOf(viommuId: number, sid: Sid): number {
    const v = this.viommu(viommuId).vridOf(sid);
    if (v === undefined) fail('ENOENT', `sid: ${String(sid)} has no vDEVICE in vIOMMU ${viommuId}`);
    return v;
  }

  /** The device id with virtual RID `vrid` in a vIOMMU (a guest command naming a vRID); ENOENT if none. */
  deviceOfVrid(viommuId: number, vrid: Sid): number {
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

  /** Frees a global PASID of a set (EBUSY while a device is attached at it). */
  pasidFree(setId: number, pasid: Pasid): void {
    const set = this.pasidSet(setId);
    this.checkGlobalIdle(set, [pasid]);
    set.free(pasid);
    this.dropGuestMappings(set, pasid);
  }

  /** Allocates a PASID in a device's own namespace (EOPNOTSUPP without PASID support); never one the device is attached at. */
  devicePasidAlloc(devId: number, want?: number): Pasid {
    const d = this.device(devId);
    if (!d.pasids) fail('EOPNOTSUPP', `devId: ${d.phys.name} has no PASID capability`);
    return d.pasids.alloc(want);
  }

  /** Frees a PASID of a device's namespace (EBUSY while attached). */
  devicePasidFree(devId: number, pasid: Pasid): void {
    const d = this.device(devId);
    if (!d.pasids) fail('EOPNOTSUPP', `devId: ${d.phys.name} has no PASID capability`);
    if (d.pasids.has(pasid) && d.attachments.has(pasid)) fail('EBUSY', `pasid: ${pasid} of ${d.phys.name} is attached to HWPT ${d.attachments.get(pasid)!.id}`);
    d.pasids.free(pasid);
  }

  /** Maps guest PASID `g` to host PASID `h`, a global PASID of this owner (ENOENT never allocated, EBUSY another VM's, EEXIST mapped). */
  guestPasidMap(g: number, h: number): void {
    checkInt(h, 0, 0xfffff, 'hpasid');
    const set = this.platform.pasids.ownerOf(h);
    if (set === undefined) fail('ENOENT', `hpasid: ${h} is not an allocated global PASID`);
    if (set.owner !== this.owner) fail('EBUSY', `hpasid: ${h} is allocated to ${set.owner}`);
    this.guestPasids.map(g, h);
  }

  /** Removes guest PASID `g`'s mapping; returns the host PASID. */
  guestPasidUnmap(g: number): number {
    return this.guestPasids.unmap(g);
  }

  // -- lifetime ------------------------------------------------------------

  /**
   * IOMMU_DESTROY: destroys object `id` (EBUSY while in use; ENOENT for
   * nothing or a tombstone). A device id unbinds the device as closing its
   * VFIO file does: it is detached everywhere, and its vDEVICE is left as a
   * tombstone.
   */
  destroy(id: number): void {
    const obj = this.table.getAny(id, 'id');
    if (obj instanceof BoundDevice) {
      const sub = this.table.ids().find((i) => (this.table.peek(i) as Subdevice | undefined)?.parent === obj);
      if (sub !== undefined) fail('EBUSY', `id: device ${obj.id} has subdevice ${sub}; destroy it first`);
      return this.unbind(obj);
    }
    if (obj instanceof Subdevice) {
      for (const h of obj.detachAll()) this.putHwpt(h);
      return this.table.destroy(id);
    }
    if (obj instanceof PasidSetObject) this.checkGlobalIdle(obj.set, [...obj.set.pasids]);
    this.table.destroy(id);
  }

  /** Closes the context: unbinds every device and destroys every object (dependents first). */
  close(): void {
    if (this.closed) return;
    for (const id of this.table.ids()) if (this.table.peek(id) instanceof Subdevice) this.destroy(id);
    for (const id of this.table.ids()) {
      const obj = this.table.peek(id);
      if (obj instanceof BoundDevice) this.unbind(obj);
    }
    for (let progress = true; this.table.size > 0 && progress;) {
      progress = false;
      for (const id of this.table.ids().reverse()) {
        if (this.table.peek(id)!.users > 0) continue;
        this.table.destroy(id);
        progress = true;
      }
    }
    if (this.table.size > 0) throw new Error(`close: ${this.table.size} objects still have users (a refcount bug)`);
    this.table.clearTombstones();
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

  /** A paging HWPT over `ioas`, registered. */
  private allocPaging(ioas: Ioas, opts: { nestParent?: boolean; pasid?: boolean; auto?: boolean; faultQueue?: FaultQueue }): HwptPaging {
    const did = this.platform.allocDid();
    let h: HwptPaging;
    try {
      h = HwptPaging.create(ioas, this.platform.iommu, did, (d) => this.platform.freeDid(d), opts);
    } catch (e) {
      this.platform.freeDid(did);
      throw e;
    }
    this.register(h);
    return h;
  }

  /**
   * iommufd_device_change_pt: `change` moves the device onto a HWPT and
   * returns the HWPT it left; an IOAS target goes through `autoDomain`.
   */
  private changePt(ptId: number, change: (h: Hwpt) => Hwpt | undefined): number {
    const pt = this.table.getAny(ptId, 'hwptId');
    if (pt instanceof HwptPaging || pt instanceof HwptNested || pt instanceof HwptNestedArm) {
      this.putHwpt(change(pt));
      return pt.id;
    }
    if (pt instanceof Ioas) return this.autoDomain(pt, change);
    return fail('EINVAL', `hwptId: object ${pt.id} is a ${pt.kind}; a device attaches to a HWPT or an IOAS`);
  }

  /** The first automatic domain of `ioas` that `change` accepts (EINVAL means incompatible), else a new one. */
  private autoDomain(ioas: Ioas, change: (h: Hwpt) => Hwpt | undefined): number {
    for (const d of ioas.domains) {
      if (!(d instanceof HwptPaging) || !d.auto) continue;
      try {
        this.putHwpt(change(d));
        return d.id;
      } catch (e) {
        if (!isHostIommuError(e, 'EINVAL')) throw e;
      }
    }
    const h = this.allocPaging(ioas, { auto: true });
    let left: Hwpt | undefined;
    try {
      left = change(h);
    } catch (e) {
      this.table.destroy(h.id);
      throw e;
    }
    this.putHwpt(left);
    return h.id;
  }

  /** A HWPT lost an attachment: an automatic domain with none left is destroyed. */
  private putHwpt(h: Hwpt | undefined): void {
    if (h instanceof HwptPaging && h.auto && h.users === 0) this.table.destroy(h.id);
  }

  /** Unbinds a device: detaches it everywhere, tombstones its vDEVICE, releases it. */
  private unbind(dev: BoundDevice): void {
    for (const h of dev.detachAll()) this.putHwpt(h);
    if (dev.vdevice) this.table.tombstone(dev.vdevice.id);
    this.table.destroy(dev.id);
  }

  /** The ownership rule: `pasid` is the device's own or a global PASID of this owner (ENOENT unallocated, EBUSY another VM's). */
  private checkPasidUse(dev: BoundDevice, pasid: number): void {
    if (dev.pasids?.has(pasid)) return;
    const set = this.platform.pasids.ownerOf(pasid);
    if (set === undefined) fail('ENOENT', `pasid: ${pasid} is not allocated: neither ${dev.phys.name}'s own PASID nor a global PASID of ${this.owner}`);
    if (set.owner !== this.owner) fail('EBUSY', `pasid: ${pasid} is a global PASID of ${set.owner}`);
  }

  /** EBUSY if a device is attached at one of `pasids` (global PASIDs of `set`). */
  private checkGlobalIdle(set: PasidSet, pasids: readonly number[]): void {
    for (const p of pasids) {
      if (!set.pasids.has(p)) continue;
      const user = this.platform.globalPasidUser(p);
      if (user) fail('EBUSY', `pasid: ${p} is attached on ${user.name}; detach it first`);
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

  /** A device or a subdevice (what device operations act on). */
  private target(id: number): DeviceTarget {
    return this.table.get<BoundDevice | Subdevice>(id, ['device', 'subdevice'], 'devId');
  }

  private faultQueue(id: number): FaultQueue {
    return this.table.get<FaultQueue>(id, ['fault-queue'], 'faultId');
  }

  private faultQueueOpt(id: number | undefined): FaultQueue | undefined {
    return id === undefined ? undefined : this.faultQueue(id);
  }

  /** IOMMU_HWPT_ALLOC with IOMMU_HWPT_DATA_ARM_SMMUV3: a guest STE over an SMMUv3 vIOMMU's parent. */
  private allocArmNested(pt: HostObject, opts: ArmNestedAllocOptions & { faultId?: number; pasid?: boolean }): number {
    if (!(pt instanceof SmmuViommu)) fail('EINVAL', `parentId: object ${pt.id} is a ${pt.kind}; a guest STE goes on an SMMUv3 vIOMMU`);
    if (!('ste' in opts)) fail('EINVAL', 'opts.ste: an SMMUv3 vIOMMU takes a guest STE');
    checkOptions(opts, 'opts', ARM_NESTED_OPTIONS);
    const faultQueue = this.faultQueueOpt(opts.faultId);
    const pasid = flag(opts.pasid, 'pasid');
    const did = this.platform.allocDid();
    let h: HwptNestedArm;
    try {
      h = new HwptNestedArm(pt, this.platform.iommu, did, (d) => this.platform.freeDid(d), { ste: opts.ste, faultQueue, pasid });
    } catch (e) {
      this.platform.freeDid(did);
      throw e;
    }
    return this.register(h);
  }

  private viommu(id: number): Viommu {
    return this.table.get<Viommu>(id, ['viommu'], 'viommuId');
  }

  private pasidSet(id: number): PasidSet {
    return this.table.get<PasidSetObject>(id, ['pasid-set'], 'setId').set;
  }
}
