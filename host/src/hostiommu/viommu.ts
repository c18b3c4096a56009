/**
 * vIOMMU and vDEVICE objects (iommufd IOMMU_VIOMMU_ALLOC / IOMMU_VDEVICE_ALLOC).
 * A vIOMMU stands for the IOMMU instance the guest sees, over a nesting
 * parent HWPT (the VM's second stage). A vDEVICE gives a bound device its
 * virtual RID (vRID) in that vIOMMU, so host events naming a physical RID
 * (page requests, faults) can be presented to the guest with the RID it
 * knows (pRID -> vRID), and guest commands naming a vRID reach the device.
 */
import { checkInt, fail } from './errors.js';
import type { HostObject } from './objects.js';
import type { HwptPaging } from './hwpt.js';
import type { BoundDevice } from './device.js';

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
   * EINVAL unless `parent` is a nesting parent. Holds `parent` and `device`.
   * @param parent The nesting-parent HWPT (host second stage).
   * @param device The bound device the vIOMMU is for.
   */
  constructor(readonly parent: HwptPaging, readonly device: BoundDevice) {
    if (!parent.nestParent) fail('EINVAL', `hwptId: HWPT ${parent.id} was not allocated as a nesting parent`);
    parent.users++;
    device.users++;
  }

  /** The guest's RID for physical RID `sid`, or undefined. */
  vridOf(sid: number): number | undefined {
    return this.bySid.get(sid)?.vrid;
  }

  /** The bound device with virtual RID `vrid`, or undefined. */
  deviceOf(vrid: number): BoundDevice | undefined {
    return this.byVrid.get(vrid)?.device;
  }

  release(): void {
    this.parent.users--;
    this.device.users--;
  }
}

/** A device's presence (virtual RID) in a vIOMMU. */
export class Vdevice implements HostObject {
  readonly kind = 'vdevice' as const;
  id = 0;
  users = 0;

  /**
   * Checks `vrid` (EINVAL) and uniqueness (EEXIST), then registers the vRID and takes references.
   * @param viommu The vIOMMU.
   * @param device The bound device.
   * @param vrid The device's virtual requester id in the guest.
   */
  constructor(readonly viommu: Viommu, readonly device: BoundDevice, readonly vrid: number) {
    checkInt(vrid, 0, 0xffff, 'vrid');
    const taken = viommu.byVrid.get(vrid);
    if (taken) fail('EEXIST', `vrid: ${vrid} is already device ${taken.device.phys.name} in vIOMMU ${viommu.id}`);
    const mine = viommu.bySid.get(device.phys.sid);
    if (mine) fail('EEXIST', `devId: ${device.phys.name} already has vRID ${mine.vrid} in vIOMMU ${viommu.id}`);
    this.viommu.byVrid.set(this.vrid, this);
    this.viommu.bySid.set(this.device.phys.sid, this);
    this.viommu.users++;
    this.device.users++;
  }

  release(): void {
    this.viommu.byVrid.delete(this.vrid);
    this.viommu.bySid.delete(this.device.phys.sid);
    this.viommu.users--;
    this.device.users--;
  }
}
