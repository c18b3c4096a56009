/**
 * vIOMMU and vDEVICE objects (iommufd IOMMU_VIOMMU_ALLOC / IOMMU_VDEVICE_ALLOC,
 * viommu.c). A vIOMMU stands for the IOMMU instance the guest sees, over a
 * nesting parent HWPT (the VM's second stage); it belongs to the physical
 * IOMMU of the device it was allocated with but holds no reference to that
 * device (unbinding it still works). A vDEVICE gives a bound device its
 * virtual RID (vRID) in that vIOMMU, so host events naming a physical RID
 * (page requests, faults) can be presented to the guest with the RID it
 * knows (pRID -> vRID), and guest commands naming a vRID reach the device.
 * A device has at most one vDEVICE; unbinding the device turns it into a
 * tombstone (objects.ts). A device attached to a nested HWPT allocated on a
 * vIOMMU needs a vDEVICE there first.
 */
import { checkInt, fail } from './errors.js';
import type { HostObject } from './objects.js';
import type { HwptPaging } from './hwpt.js';
import type { BoundDevice } from './device.js';
import type { PhysicalIommu } from './backend.js';
import type { Sid } from '../types.js';

/** A guest-visible IOMMU instance over a nesting-parent second stage. */
export class Viommu implements HostObject {
  readonly kind = 'viommu' as const;
  id = 0;
  users = 0;
  /** vRID -> vDEVICE. */
  readonly byVrid = new Map<number, Vdevice>();
  /** Physical RID -> vDEVICE. */
  readonly bySid = new Map<number, Vdevice>();

  /**
   * EINVAL unless `parent` is a nesting parent. Holds `parent`.
   * @param parent The nesting-parent HWPT (host second stage).
   * @param iommu The physical IOMMU of the device it was allocated for.
   */
  constructor(readonly parent: HwptPaging, readonly iommu: PhysicalIommu) {
    if (!parent.nestParent) fail('EINVAL', `hwptId: HWPT ${parent.id} was not allocated as a nesting parent`);
    parent.users++;
  }

  /** The guest's RID for physical RID `sid`, or undefined. */
  vridOf(sid: Sid): number | undefined {
    return this.bySid.get(sid)?.vrid;
  }

  /** The bound device with virtual RID `vrid`, or undefined. */
  deviceOf(vrid: Sid): BoundDevice | undefined {
    return this.byVrid.get(vrid)?.device;
  }

  /**
   * IOMMU_HWPT_INVALIDATE aimed at the vIOMMU (cache invalidation by
   * virtual ids). A VT-d vIOMMU passes invalidations through its nested
   * HWPTs instead, so this is EOPNOTSUPP; vIOMMU kinds that take commands
   * override it.
   */
  invalidate(entries: readonly unknown[]): number {
    void entries;
    return fail('EOPNOTSUPP', `hwptId: vIOMMU ${this.id} takes no cache invalidation (invalidate its nested HWPTs)`);
  }

  release(): void {
    this.parent.users--;
  }
}

/** A device's presence (virtual RID) in a vIOMMU. */
export class Vdevice implements HostObject {
  readonly kind = 'vdevice' as const;
  id = 0;
  users = 0;

  /**
   * Checks `vrid` (EINVAL), the device's IOMMU (EINVAL) and uniqueness
   * (EEXIST: the device has a vDEVICE, or the vRID is taken), then
   * registers the vRID and takes a reference on the vIOMMU.
   * @param viommu The vIOMMU.
   * @param device The bound device.
   * @param vrid The device's virtual requester id in the guest.
   */
  constructor(readonly viommu: Viommu, readonly device: BoundDevice, readonly vrid: Sid) {
    checkInt(vrid, 0, 0xffff, 'vrid');
    if (device.iommu !== viommu.iommu) fail('EINVAL', `devId: ${device.phys.name} is behind another IOMMU than vIOMMU ${viommu.id}`);
    const mine = device.vdevice;
    if (mine) fail('EEXIST', `devId: ${device.phys.name} already has vRID ${mine.vrid} in vIOMMU ${mine.viommu.id}`);
    const taken = viommu.byVrid.get(vrid);
    if (taken) fail('EEXIST', `vrid: ${vrid} is already device ${taken.device.phys.name} in vIOMMU ${viommu.id}`);
    this.viommu.byVrid.set(this.vrid, this);
    this.viommu.bySid.set(this.device.phys.sid, this);
    this.viommu.users++;
    device.vdevice = this;
  }

  release(): void {
    this.viommu.byVrid.delete(this.vrid);
    this.viommu.bySid.delete(this.device.phys.sid);
    this.viommu.users--;
    this.device.vdevice = undefined;
  }
}
