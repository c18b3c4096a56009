/**
 * Devices in the host object model (VFIO cdev + iommufd):
 *
 * 1. `PhysDevice`: a physical PCI function the platform knows (its RID,
 *    PASID width, PRI support, MSI window, a hook that quiesces its work).
 * 2. `DeviceFile`: an open of the device. It starts *parked*: DMA blocked
 *    (no context entry) until bound and attached.
 * 3. `BoundDevice` (object kind 'device'): a file bound to one context.
 *    Binding is exclusive: while bound, a second bind (from any context)
 *    gets EBUSY. Attach per device (RID_PASID) and per (device, PASID) to a
 *    HWPT; replace atomically; detach; reset drains outstanding work and
 *    page requests before it returns.
 *
 * The kernel's attach rules (device.c), each with its errno:
 * - a (device, PASID) already attached: attach is EBUSY (use replace);
 *   replace of one with nothing attached is EINVAL; detach of one with
 *   nothing attached does nothing.
 * - a PASID on a device without PASID support, or beyond its width: EINVAL.
 * - a HWPT not allocated PASID-compatible cannot go on a PASID, nor on the
 *   RID while PASIDs are attached; a PASID cannot be attached while the RID
 *   is on a non-compatible HWPT (EINVAL).
 * - only the RID's attachment to a paging domain (or a nested one, through
 *   its parent) reserves the device's MSI window in the IOAS (EADDRINUSE
 *   when mapped).
 * - a nested HWPT of a vIOMMU needs the device's vDEVICE in it (ENOENT).
 * - a HWPT with a fault queue needs a device with PRI (EOPNOTSUPP).
 * And this model's ownership rule: a PASID must be the device's own (its
 * namespace) or a global PASID of the context's owner (`PasidPolicy`).
 */
import { checkInt, fail } from './errors.js';
import type { HostObject } from './objects.js';
import { RID_PASID, type PhysicalIommu } from './backend.js';
import type { Hwpt } from './hwpt.js';
import type { FaultQueue, PageRequest } from './fault-queue.js';
import { PageResponseCode } from '../vtd/spec/page-request.js';
import { DevicePasidSpace } from './pasid.js';
import type { FailInjector } from './fail-nth.js';
import type { Ioas } from './ioas.js';
import type { Vdevice } from './viommu.js';
import { formatBdf, type Pasid, type Sid } from '../types.js';

/** The MSI address window x86 reserves in every IOVA space (0xFEEx_xxxx, §3.x interrupt range). */
export const MSI_WINDOW = { start: 0xfee0_0000n, last: 0xfeef_ffffn } as const;

/** What the platform knows about a physical device. */
export interface DeviceInfo {
  /** PASID width of its PCIe PASID capability; 0 (default) = no PASID support. */
  readonly pasidBits?: number;
  /** PRI (page requests) supported: needed to attach to a HWPT with a fault queue. */
  readonly pri?: boolean;
  /** IOVA window reserved while attached to a paging domain (default MSI_WINDOW; null = none). */
  readonly reserved?: { readonly start: bigint; readonly last: bigint } | null;
  /** Waits for the device's outstanding work (called by reset before anything else). */
  readonly quiesce?: () => void;
  /**
   * Its driver offers a VFIO device cdev, the iommufd way in (default
   * true); false: only the legacy group interface (vfio-container.ts), and
   * `openDevice` of the cdev is EOPNOTSUPP.
   */
  readonly cdev?: boolean;
}

/** A physical device of the platform. */
export class PhysDevice {
  /** The context object currently bound, if any. */
  boundTo: BoundDevice | undefined;

  /**
   * A physical device.
   * @param sid Its physical requester id.
   * @param info What the device supports (PASID width, ATS, PRI).
   */
  constructor(readonly sid: Sid, readonly info: DeviceInfo) {
    checkInt(sid, 0, 0xffff, 'sid');
    if (typeof info !== 'object' || info === null) fail('EINVAL', `info: ${String(info)} is not an object`);
    checkInt(info.pasidBits ?? 0, 0, 20, 'info.pasidBits');
    if (info.pri !== undefined && typeof info.pri !== 'boolean') fail('EINVAL', `info.pri: ${String(info.pri)} is not a boolean`);
    if (info.quiesce !== undefined && typeof info.quiesce !== 'function') fail('EINVAL', 'info.quiesce: not a function');
    if (info.cdev !== undefined && typeof info.cdev !== 'boolean') fail('EINVAL', `info.cdev: ${String(info.cdev)} is not a boolean`);
    const r = info.reserved;
    if (r !== undefined && r !== null) {
      const ok = typeof r === 'object' && typeof r.start === 'bigint' && typeof r.last === 'bigint' && r.start >= 0n && r.start <= r.last && r.last < 1n << 64n;
      if (!ok) fail('EINVAL', 'info.reserved: not an inclusive { start, last } range of 64-bit IOVAs');
    }
  }

  /** "BB:DD.F" for messages. */
  get name(): string {
    return formatBdf(this.sid);
  }
}

/** An open of a physical device; parked (DMA blocked) until bound. */
export class DeviceFile {
  /** 'parked' after open and unbind, 'bound' while a context holds it, 'closed' after close. */
  state: 'parked' | 'bound' | 'closed' = 'parked';

  /**
   * An open device file, parked until bound.
   * @param device The physical device the file opens.
   */
  constructor(readonly device: PhysDevice) {}

  /** Closes the file; EBUSY while bound. */
  close(): void {
    if (this.state === 'bound') fail('EBUSY', `file: ${this.device.name} is still bound`);
    this.state = 'closed';
  }
}

/** Decides whether a context may use a PASID on a device (the ownership rule); throws if not. */
export type PasidPolicy = (dev: BoundDevice, pasid: Pasid) => void;

/** A device bound to a context: its attachments and per-device PASID namespace. */
export class BoundDevice implements HostObject {
  readonly kind = 'device' as const;
  id = 0;
  /** Always 0: nothing holds a device (unbinding detaches it and tombstones its vDEVICE). */
  users = 0;
  /** PASID (RID_PASID for the device itself) -> attached HWPT. */
  readonly attachments = new Map<number, Hwpt>();
  /** The per-device PASID namespace (undefined without PASID support). */
  readonly pasids: DevicePasidSpace | undefined;
  /** The device's vDEVICE, if it has one (set by Vdevice). */
  vdevice: Vdevice | undefined;
  /**
   * PASID -> object id of the subdevice that attached it (subdevice.ts):
   * the parent RID's requests with that PASID are the subdevice's, so its
   * page requests are queued, drained and answered under the subdevice's id.
   */
  readonly slices = new Map<number, number>();

  /**
   * Binds `file` (EBUSY if its device is bound anywhere; EINVAL if the file is closed); `release` unbinds.
   * @param file The device file bound.
   * @param iommu The physical IOMMU the device sits behind.
   * @param pasidPolicy Checks a PASID before it is attached (ownership).
   */
  constructor(readonly file: DeviceFile, readonly iommu: PhysicalIommu, injector: FailInjector, private readonly pasidPolicy: PasidPolicy) {
    const phys = file.device;
    if (file.state === 'closed') fail('EINVAL', `file: ${phys.name} is closed`);
    if (phys.boundTo !== undefined) fail('EBUSY', `file: ${phys.name} is already bound (device object ${phys.boundTo.id})`);
    const bits = phys.info.pasidBits ?? 0;
    this.pasids = bits > 0 ? new DevicePasidSpace(injector, bits, `the PASID space of ${phys.name}`, (p) => this.attachments.has(p)) : undefined;
    phys.boundTo = this;
    this.file.state = 'bound';
  }

  /** The physical device. */
  get phys(): PhysDevice {
    return this.file.device;
  }

  /** Attaches (device, pasid) to `hwpt` (see the file comment for the errors). */
  attach(hwpt: Hwpt, pasid?: Pasid): void {
    const p = this.slot(pasid);
    if (this.attachments.has(p)) fail('EBUSY', `pasid: ${this.label(p)} is already attached to HWPT ${this.attachments.get(p)!.id}`);
    const resv = p === RID_PASID ? this.reserveIn(ioasOf(hwpt)) : undefined;
    try {
      this.checkTarget(hwpt, p);
      if (p !== RID_PASID) this.pasidPolicy(this, p);
      this.iommu.install(this.phys.sid, p, hwpt.program());
    } catch (e) {
      resv?.unreserve(this);
      throw e;
    }
    this.link(p, hwpt);
  }

  /**
   * Moves (device, pasid) to `hwpt` atomically; EINVAL if nothing is
   * attached there. Returns the HWPT it left (undefined if it stayed).
   */
  replace(hwpt: Hwpt, pasid?: Pasid): Hwpt | undefined {
    const p = this.slot(pasid);
    const old = this.attachments.get(p);
    if (old === undefined) fail('EINVAL', `pasid: ${this.label(p)} is not attached; attach it first`);
    if (old === hwpt) return undefined;
    const oldIoas = ioasOf(old);
    const newIoas = ioasOf(hwpt);
    const resv = p === RID_PASID && newIoas !== oldIoas ? this.reserveIn(newIoas) : undefined;
    try {
      this.checkTarget(hwpt, p);
      this.iommu.install(this.phys.sid, p, hwpt.program());
    } catch (e) {
      resv?.unreserve(this);
      throw e;
    }
    if (resv) oldIoas.unreserve(this);
    this.drainFaults(old, p);
    this.unlink(p, old);
    this.link(p, hwpt);
    return old;
  }

  /** Detaches (device, pasid); nothing attached there is not an error. Returns the HWPT it left. Pending faults are answered INVALID. */
  detach(pasid?: Pasid): Hwpt | undefined {
    const p = this.slot(pasid);
    const hwpt = this.attachments.get(p);
    if (hwpt === undefined) return undefined;
    this.iommu.remove(this.phys.sid, p);
    if (p === RID_PASID) ioasOf(hwpt).unreserve(this);
    this.drainFaults(hwpt, p);
    this.unlink(p, hwpt);
    return hwpt;
  }

  /**
   * Resets the device: waits for its outstanding work (the quiesce hook),
   * drains page requests in flight in the physical IOMMU, then answers every
   * pending fault group of the device (FAILURE) before returning. Attachments stay.
   */
  reset(): number {
    this.phys.info.quiesce?.();
    this.iommu.drainPageRequests(this.phys.sid);
    let groups = 0;
    const ids = new Set([this.id, ...this.slices.values()]); // a function-level reset ends its subdevices' groups too
    for (const q of this.faultQueues()) for (const id of ids) groups += q.drain(id, 'all', PageResponseCode.ResponseFailure);
    return groups;
  }

  /**
   * Routes a page request of this device to the fault queue of the HWPT at
   * its PASID, under the id of whoever attached that PASID (the device, or
   * the subdevice whose slice it is); false if no queue takes it.
   */
  routePageRequest(req: Omit<PageRequest, 'devId' | 'sid'>): boolean {
    const p = req.pasid ?? RID_PASID;
    const q = this.attachments.get(p)?.faultQueue;
    if (q === undefined) return false;
    q.deliver({ ...req, devId: this.requesterId(p), sid: this.phys.sid });
    return true;
  }

  /** Object id the requests of slot `p` belong to: the subdevice that attached it, else this device. */
  requesterId(p: number): number {
    return this.slices.get(p) ?? this.id;
  }

  /** Detaches every (device, PASID); returns the HWPTs left. */
  detachAll(): Hwpt[] {
    return [...this.attachments.keys()].map((p) => this.detach(p === RID_PASID ? undefined : p)!);
  }

  release(): void {
    this.detachAll();
    this.pasids?.clear();
    this.phys.boundTo = undefined;
    this.file.state = 'parked';
  }

  /** The slot of `pasid` (RID_PASID when undefined); EINVAL without PASID support or out of range. */
  private slot(pasid: number | undefined): number {
    if (pasid === undefined) return RID_PASID;
    const bits = this.phys.info.pasidBits ?? 0;
    if (bits === 0) fail('EINVAL', `pasid: ${this.phys.name} has no PASID capability`);
    return checkInt(pasid, 1, 2 ** bits - 1, 'pasid');
  }

  /** Reserves the device's MSI window in `ioas` (the RID on a paging domain); returns the IOAS to undo it in. */
  private reserveIn(ioas: Ioas): Ioas | undefined {
    const r = this.phys.info.reserved === undefined ? MSI_WINDOW : this.phys.info.reserved;
    if (!r) return undefined;
    ioas.reserve(this, `device ${this.phys.name}`, r.start, r.last);
    return ioas;
  }

  /** Whether `hwpt` may go at slot `p`: PRI for a fault queue, PASID compatibility, the vDEVICE of a vIOMMU's HWPT. */
  private checkTarget(hwpt: Hwpt, p: number): void {
    if (hwpt.faultQueue && !this.phys.info.pri) fail('EOPNOTSUPP', `hwptId: HWPT ${hwpt.id} reports page faults but ${this.phys.name} has no PRI`);
    if (p !== RID_PASID) {
      if (!hwpt.pasidCompat) fail('EINVAL', `hwptId: HWPT ${hwpt.id} was not allocated PASID-compatible; it cannot go on ${this.label(p)}`);
      const rid = this.attachments.get(RID_PASID);
      if (rid && !rid.pasidCompat) fail('EINVAL', `pasid: the RID of ${this.phys.name} is on HWPT ${rid.id}, which is not PASID-compatible`);
    } else if (!hwpt.pasidCompat) {
      const other = [...this.attachments.keys()].find((q) => q !== RID_PASID);
      if (other !== undefined) fail('EINVAL', `hwptId: HWPT ${hwpt.id} is not PASID-compatible and ${this.label(other)} is attached`);
    }
    const vi = hwpt.kind === 'hwpt-nested' ? hwpt.viommu : undefined;
    if (vi && this.vdevice?.viommu !== vi) fail('ENOENT', `devId: ${this.phys.name} has no vDEVICE in vIOMMU ${vi.id}; allocate one before attaching to its HWPT ${hwpt.id}`);
  }

  private faultQueues(): Set<FaultQueue> {
    const qs = new Set<FaultQueue>();
    for (const h of this.attachments.values()) if (h.faultQueue) qs.add(h.faultQueue);
    return qs;
  }

  private drainFaults(hwpt: Hwpt, p: number): void {
    hwpt.faultQueue?.drain(this.requesterId(p), p === RID_PASID ? undefined : p, PageResponseCode.InvalidRequest);
  }

  private link(p: number, hwpt: Hwpt): void {
    this.attachments.set(p, hwpt);
    hwpt.addAttachment({ sid: this.phys.sid, pasid: p });
    hwpt.users++;
  }

  private unlink(p: number, hwpt: Hwpt): void {
    this.attachments.delete(p);
    hwpt.dropAttachment({ sid: this.phys.sid, pasid: p });
    hwpt.users--;
  }

  private label(p: number): string {
    return p === RID_PASID ? `${this.phys.name} (no PASID)` : `${this.phys.name} PASID ${p}`;
  }
}

/** The IOAS whose mappings a HWPT's second stage mirrors. */
export function ioasOf(hwpt: Hwpt): Ioas {
  return hwpt.kind === 'hwpt-paging' ? hwpt.ioas : hwpt.parent.ioas;
}
