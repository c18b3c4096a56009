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
 */
import { checkInt, fail } from './errors.js';
import type { HostObject } from './objects.js';
import { RID_PASID, type PhysicalIommu } from './backend.js';
import type { Hwpt } from './hwpt.js';
import { PRG_RESPONSE, type FaultQueue, type PageRequest } from './fault-queue.js';
import { DevicePasidSpace } from './pasid.js';
import type { FailInjector } from './fail-nth.js';
import type { Ioas } from './ioas.js';
import { formatBdf } from '../types.js';

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
  constructor(readonly sid: number, readonly info: DeviceInfo) {
    checkInt(sid, 0, 0xffff, 'sid');
    checkInt(info.pasidBits ?? 0, 0, 20, 'info.pasidBits');
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

/** A device bound to a context: its attachments and per-device PASID namespace. */
export class BoundDevice implements HostObject {
  readonly kind = 'device' as const;
  id = 0;
  users = 0;
  /** PASID (RID_PASID for the device itself) -> attached HWPT. */
  readonly attachments = new Map<number, Hwpt>();
  /** The per-device PASID namespace (undefined without PASID support). */
  readonly pasids: DevicePasidSpace | undefined;

  /**
   * Binds `file` (EBUSY if its device is bound anywhere; EINVAL if the file is closed); `release` unbinds.
   * @param file The device file bound.
   */
  constructor(readonly file: DeviceFile, private readonly iommu: PhysicalIommu, injector: FailInjector) {
    const phys = file.device;
    if (file.state === 'closed') fail('EINVAL', `file: ${phys.name} is closed`);
    if (phys.boundTo !== undefined) fail('EBUSY', `file: ${phys.name} is already bound (device object ${phys.boundTo.id})`);
    const bits = phys.info.pasidBits ?? 0;
    this.pasids = bits > 0 ? new DevicePasidSpace(injector, bits, `the PASID space of ${phys.name}`) : undefined;
    phys.boundTo = this;
    this.file.state = 'bound';
  }

  /** The physical device. */
  get phys(): PhysDevice {
    return this.file.device;
  }

  /** Attaches (device, pasid) to `hwpt`; EBUSY if already attached (use replace). */
  attach(hwpt: Hwpt, pasid?: number): void {
    const p = this.slot(pasid);
    if (this.attachments.has(p)) fail('EBUSY', `pasid: ${this.label(p)} is already attached to HWPT ${this.attachments.get(p)!.id}`);
    this.checkFaultCapable(hwpt);
    const ioas = ioasOf(hwpt);
    const owner = this.owner(p);
    const r = this.phys.info.reserved === undefined ? MSI_WINDOW : this.phys.info.reserved;
    if (r) ioas.reserve(owner, r.start, r.last);
    try {
      this.iommu.install(this.phys.sid, p, hwpt.program());
    } catch (e) {
      ioas.unreserve(owner);
      throw e;
    }
    this.link(p, hwpt);
  }

  /** Moves (device, pasid) to `hwpt` atomically; ENOENT if nothing is attached there. */
  replace(hwpt: Hwpt, pasid?: number): void {
    const p = this.slot(pasid);
    const old = this.attachments.get(p);
    if (old === undefined) fail('ENOENT', `pasid: ${this.label(p)} is not attached`);
    if (old === hwpt) return;
    this.checkFaultCapable(hwpt);
    const owner = this.owner(p);
    const oldIoas = ioasOf(old);
    const newIoas = ioasOf(hwpt);
    const r = this.phys.info.reserved === undefined ? MSI_WINDOW : this.phys.info.reserved;
    if (newIoas !== oldIoas && r) newIoas.reserve(owner, r.start, r.last);
    try {
      this.iommu.install(this.phys.sid, p, hwpt.program());
    } catch (e) {
      if (newIoas !== oldIoas) newIoas.unreserve(owner);
      throw e;
    }
    if (newIoas !== oldIoas) oldIoas.unreserve(owner);
    this.drainFaults(old, p);
    this.unlink(p, old);
    this.link(p, hwpt);
  }

  /** Detaches (device, pasid); ENOENT if nothing is attached there. Pending faults are answered INVALID. */
  detach(pasid?: number): void {
    const p = this.slot(pasid);
    const hwpt = this.attachments.get(p);
    if (hwpt === undefined) fail('ENOENT', `pasid: ${this.label(p)} is not attached`);
    this.iommu.remove(this.phys.sid, p);
    ioasOf(hwpt).unreserve(this.owner(p));
    this.drainFaults(hwpt, p);
    this.unlink(p, hwpt);
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
    for (const q of this.faultQueues()) groups += q.drain(this.id, 'all', PRG_RESPONSE.FAILURE);
    return groups;
  }

  /** Routes a page request of this device to the fault queue of the HWPT at its PASID; false if none takes it. */
  routePageRequest(req: Omit<PageRequest, 'devId' | 'sid'>): boolean {
    const q = this.attachments.get(req.pasid ?? RID_PASID)?.faultQueue;
    if (q === undefined) return false;
    q.deliver({ ...req, devId: this.id, sid: this.phys.sid });
    return true;
  }

  /** Detaches every (device, PASID). */
  detachAll(): void {
    for (const p of [...this.attachments.keys()]) this.detach(p === RID_PASID ? undefined : p);
  }

  release(): void {
    this.detachAll();
    this.pasids?.clear();
    this.phys.boundTo = undefined;
    this.file.state = 'parked';
  }

  /** The slot of `pasid` (RID_PASID when undefined); EOPNOTSUPP / EINVAL on a bad PASID. */
  private slot(pasid: number | undefined): number {
    if (pasid === undefined) return RID_PASID;
    const bits = this.phys.info.pasidBits ?? 0;
    if (bits === 0) fail('EOPNOTSUPP', `pasid: ${this.phys.name} has no PASID capability`);
    return checkInt(pasid, 1, 2 ** bits - 1, 'pasid');
  }

  private checkFaultCapable(hwpt: Hwpt): void {
    if (hwpt.faultQueue && !this.phys.info.pri) fail('EOPNOTSUPP', `hwpt: ${hwpt.id} reports page faults but ${this.phys.name} has no PRI`);
  }

  private faultQueues(): Set<FaultQueue> {
    const qs = new Set<FaultQueue>();
    for (const h of this.attachments.values()) if (h.faultQueue) qs.add(h.faultQueue);
    return qs;
  }

  private drainFaults(hwpt: Hwpt, p: number): void {
    hwpt.faultQueue?.drain(this.id, p === RID_PASID ? undefined : p, PRG_RESPONSE.INVALID);
  }

  private link(p: number, hwpt: Hwpt): void {
    this.attachments.set(p, hwpt);
    hwpt.addAttachment({ sid: this.phys.sid, pasid: p });
    hwpt.users++;
    this.users++;
  }

  private unlink(p: number, hwpt: Hwpt): void {
    this.attachments.delete(p);
    hwpt.dropAttachment({ sid: this.phys.sid, pasid: p });
    hwpt.users--;
    this.users--;
  }

  private owner(p: number): string {
    return `device ${this.phys.name} pasid ${p}`;
  }

  private label(p: number): string {
    return p === RID_PASID ? `${this.phys.name} (no PASID)` : `${this.phys.name} PASID ${p}`;
  }
}

/** The IOAS whose mappings a HWPT's second stage mirrors. */
export function ioasOf(hwpt: Hwpt): Ioas {
  return hwpt.kind === 'hwpt-paging' ? hwpt.ioas : hwpt.parent.ioas;
}
