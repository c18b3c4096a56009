/**
 * Subdevices (mediated devices, Intel Scalable IOV assignable device
 * interfaces): a slice of a bound PASID-capable parent device whose DMA is
 * the parent's requester id tagged with the subdevice's *default PASID*.
 * A subdevice is an object of the context (kind 'subdevice') and every
 * device operation takes it where it takes a device: attach / replace /
 * detach without a PASID act on (parent RID, default PASID); with a PASID
 * (the subdevice's own address spaces, e.g. a process it serves) on
 * (parent RID, that PASID), which then belongs to this subdevice; reset
 * answers only this subdevice's pending page groups.
 *
 * The default PASID comes from the parent's PASID namespace (EEXIST when
 * taken, EINVAL without PASID support); explicit PASIDs follow the parent's
 * ownership rule (its own or a global PASID of the context's owner). While
 * subdevices exist the parent cannot be unbound (EBUSY, host-iommu.ts). A
 * subdevice cannot touch a PASID the parent or a sibling attached (ENOENT).
 *
 * Page requests (VT-d §7.4.1.1 in 3.x: RID, PASID, PRG index) of the parent RID with
 * one of a subdevice's PASIDs are the subdevice's: its fault queue records
 * carry the subdevice's id, the group's cookie answers only that group, and
 * the response goes back with the PASID (§6.5.2.9 page group response,
 * PASID present) so the parent hands it to this slice. Two subdevices
 * faulting at once with the same PRG index are two groups.
 */
import { checkInt, fail } from './errors.js';
import type { BoundDevice } from './device.js';
import type { Hwpt } from './hwpt.js';
import type { HostObject } from './objects.js';
import { PageResponseCode } from '../vtd/spec/page-request.js';
import type { Pasid } from '../types.js';

/** What attach / replace / detach / reset need of a device or a subdevice. */
export interface DeviceTarget {
  /** Attaches (the target, `pasid`) to `hwpt`. */
  attach(hwpt: Hwpt, pasid?: Pasid): void;
  /** Moves (the target, `pasid`) to `hwpt` atomically; returns the HWPT it left (undefined if it stayed). */
  replace(hwpt: Hwpt, pasid?: Pasid): Hwpt | undefined;
  /** Detaches (the target, `pasid`); nothing attached is not an error. Returns the HWPT it left. */
  detach(pasid?: Pasid): Hwpt | undefined;
  /** Answers the target's pending page groups; returns how many. */
  reset(): number;
}

/** One subdevice of a parent device. */
export class Subdevice implements HostObject, DeviceTarget {
  readonly kind = 'subdevice' as const;
  id = 0;
  users = 0;
  /** The PASID that tags the subdevice's own DMA. */
  readonly defaultPasid: Pasid;
  /** PASIDs attached through this subdevice (the default one included while attached). */
  private readonly owned = new Set<number>();

  /**
   * A subdevice with default PASID `pasid` (allocated in the parent's namespace; any free one if omitted).
   * @param parent The bound device it is a slice of.
   */
  constructor(readonly parent: BoundDevice, pasid?: Pasid) {
    if (!parent.pasids) fail('EINVAL', `devId: ${parent.phys.name} has no PASID capability for subdevices`);
    this.defaultPasid = parent.pasids.alloc(pasid);
  }

  /** Requester id its DMA carries (the parent's). */
  get sid(): number {
    return this.parent.phys.sid;
  }

  /** Attaches (parent RID, default PASID or `pasid`) to `hwpt`; the PASID becomes this subdevice's. */
  attach(hwpt: Hwpt, pasid?: Pasid): void {
    const p = this.pick(pasid);
    if (this.parent.attachments.has(p)) fail('EBUSY', `pasid: ${p} of ${this.parent.phys.name} is already attached`);
    this.parent.attach(hwpt, p);
    this.owned.add(p);
    this.parent.slices.set(p, this.id);
  }

  /** Replaces the HWPT of one of this subdevice's PASIDs. */
  replace(hwpt: Hwpt, pasid?: Pasid): Hwpt | undefined {
    return this.parent.replace(hwpt, this.mine(pasid));
  }

  /** Detaches one of this subdevice's PASIDs; nothing attached is not an error, a PASID someone else attached is ENOENT. */
  detach(pasid?: Pasid): Hwpt | undefined {
    const p = this.pick(pasid);
    if (!this.owned.has(p) && !this.parent.attachments.has(p)) return undefined;
    this.mine(pasid);
    const left = this.parent.detach(p); // drains this subdevice's groups at p (the slice is still recorded)
    this.owned.delete(p);
    this.parent.slices.delete(p);
    return left;
  }

  /** Answers this subdevice's pending page groups (FAILURE); attachments stay. Returns the groups answered. */
  reset(): number {
    let groups = 0;
    for (const p of this.owned) groups += this.parent.attachments.get(p)?.faultQueue?.drain(this.id, p, PageResponseCode.ResponseFailure) ?? 0;
    return groups;
  }

  /** PASIDs this subdevice has attached. */
  pasids(): number[] {
    return [...this.owned];
  }

  /** Detaches every PASID of this subdevice; returns the HWPTs left. */
  detachAll(): Hwpt[] {
    return [...this.owned].map((p) => this.detach(p)).filter((h): h is Hwpt => h !== undefined);
  }

  /** Detaches what is left and returns the default PASID to the parent's namespace. */
  release(): void {
    this.detachAll();
    if (this.parent.pasids?.has(this.defaultPasid)) this.parent.pasids.free(this.defaultPasid);
  }

  private pick(pasid: number | undefined): number {
    return pasid === undefined ? this.defaultPasid : checkInt(pasid, 1, 0xf_ffff, 'pasid');
  }

  /** A PASID this subdevice attached; ENOENT for the parent's or a sibling's. */
  private mine(pasid: number | undefined): number {
    const p = this.pick(pasid);
    if (!this.owned.has(p)) fail('ENOENT', `pasid: ${p} of ${this.parent.phys.name} is not attached through subdevice ${this.id}`);
    return p;
  }
}
