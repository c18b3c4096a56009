/**
 * VFIO's legacy model (the flow the design started from) on top of the
 * iommufd-like objects, as the kernel's iommufd compat layer
 * (vfio_compat.c) does it, not as a second engine:
 *
 * - a *container* (/dev/vfio/vfio) is one host context whose IOAS is the
 *   container's address space (the compat IOAS);
 * - a *group* joins a container with VFIO_GROUP_SET_CONTAINER: every member
 *   is bound into the container's context at once, so the group is viable
 *   only if no member is bound elsewhere (EBUSY);
 * - VFIO_SET_IOMMU (type1) needs a group and is done once: it allocates
 *   the paging HWPT over the IOAS and attaches every member (groups joining
 *   later are attached when they join);
 * - VFIO_IOMMU_MAP_DMA / UNMAP_DMA are IOAS map / unmap (EINVAL before
 *   SET_IOMMU); VFIO_GROUP_GET_DEVICE_FD names a member of a group in the
 *   container (EINVAL otherwise);
 * - the last group leaving drops the IOMMU model (the HWPT), as VFIO does.
 *
 * Every call completes or throws a HostIommuError leaving nothing behind.
 */
import { fail } from './errors.js';
import type { IommuGroup, IommuGroups } from './groups.js';
import type { HostIommu } from './host-iommu.js';
import type { MapArgs } from './ioas.js';
import type { Iova, Sid } from '../types.js';

/** A group in a container: its members' device object ids in the container's context. */
interface Joined {
  readonly group: IommuGroup;
  readonly devIds: Map<number, number>;
}

/** A VFIO container over one host context. */
export class VfioContainer {
  /** The container's address space (IOAS id in `ctx`). */
  readonly ioas: number;
  private hwpt: number | undefined;
  private readonly joined = new Map<number, Joined>();
  /** Device objects attached to the HWPT. */
  private readonly attached = new Set<number>();
  private closed = false;

  /**
   * An empty container.
   * @param ctx The host context that is the container (one per container).
   * @param groups The platform's group topology.
   */
  constructor(readonly ctx: HostIommu, readonly groups: IommuGroups) {
    this.ioas = ctx.ioasAlloc();
  }

  /** The IOMMU model set by `setIommu`, if any. */
  get iommuType(): 'type1' | undefined {
    return this.hwpt === undefined ? undefined : 'type1';
  }

  /** Ids of the groups in the container. */
  groupIds(): number[] {
    return [...this.joined.keys()];
  }

  /** VFIO_GROUP_SET_CONTAINER: binds every member (EBUSY if one is bound elsewhere; EINVAL if the group is here). */
  addGroup(groupId: number): void {
    this.live();
    const group = this.groups.group(groupId);
    if (this.joined.has(group.id)) fail('EINVAL', `groupId: group ${group.id} is already in this container`);
    const busy = this.groups.boundMembers(group);
    if (busy.length) fail('EBUSY', `groupId: group ${group.id} is not viable: ${busy.map((s) => s.toString(16)).join(', ')} bound elsewhere`);
    const devIds = new Map<number, number>();
    try {
      for (const sid of group.members) devIds.set(sid, this.ctx.bindDevice(this.ctx.platform.openDevice(sid, 'group')));
      if (this.hwpt !== undefined) for (const id of devIds.values()) this.attach(id, this.hwpt);
    } catch (e) {
      this.release(devIds);
      throw e;
    }
    this.joined.set(group.id, { group, devIds });
  }

  /** VFIO_GROUP_UNSET_CONTAINER: detaches and unbinds the members; the last group drops the IOMMU model. */
  removeGroup(groupId: number): void {
    this.live();
    const j = this.joined.get(groupId);
    if (j === undefined) fail('EINVAL', `groupId: group ${String(groupId)} is not in this container`);
    this.release(j.devIds);
    this.joined.delete(groupId);
    if (this.joined.size === 0 && this.hwpt !== undefined) {
      this.ctx.destroy(this.hwpt);
      this.hwpt = undefined;
    }
  }

  /** VFIO_SET_IOMMU (type1): EINVAL without a group, EBUSY when already set; attaches every member. */
  setIommu(type: 'type1'): void {
    this.live();
    if (type !== 'type1') fail('EINVAL', `type: ${String(type)} is not an IOMMU model of this container (type1)`);
    if (this.joined.size === 0) fail('EINVAL', 'type: a container needs a group before VFIO_SET_IOMMU');
    if (this.hwpt !== undefined) fail('EBUSY', 'type: the container\'s IOMMU model is already set');
    const hwpt = this.ctx.hwptAllocPaging(this.ioas);
    try {
      for (const j of this.joined.values()) for (const id of j.devIds.values()) this.attach(id, hwpt);
    } catch (e) {
      for (const id of [...this.attached]) this.detach(id);
      this.ctx.destroy(hwpt);
      throw e;
    }
    this.hwpt = hwpt;
  }

  /** VFIO_IOMMU_MAP_DMA: maps host memory into the container's address space; returns the IOVA. */
  map(args: MapArgs): Iova {
    this.needIommu('map');
    return this.ctx.ioasMap(this.ioas, args);
  }

  /** VFIO_IOMMU_UNMAP_DMA: returns the bytes unmapped. */
  unmap(iova: Iova, len: bigint): bigint {
    this.needIommu('unmap');
    return this.ctx.ioasUnmap(this.ioas, iova, len);
  }

  /** VFIO_GROUP_GET_DEVICE_FD: the device object of member `sid` of a group in the container. */
  device(groupId: number, sid: Sid): number {
    this.needIommu('device');
    const id = this.joined.get(groupId)?.devIds.get(sid);
    if (id === undefined) fail('EINVAL', `sid: ${String(sid)} is not a member of group ${String(groupId)} in this container`);
    return id;
  }

  /** Every group leaves, then the context closes. */
  close(): void {
    if (this.closed) return;
    for (const id of [...this.joined.keys()]) this.removeGroup(id);
    this.ctx.close();
    this.closed = true;
  }

  private attach(devId: number, hwpt: number): void {
    this.ctx.attach(devId, hwpt);
    this.attached.add(devId);
  }

  private detach(devId: number): void {
    if (this.attached.delete(devId)) this.ctx.detach(devId);
  }

  /** Detaches and unbinds devices (what a failed join bound, or a leaving group). */
  private release(devIds: Map<number, number>): void {
    for (const id of devIds.values()) {
      this.detach(id);
      this.ctx.destroy(id);
    }
  }

  private needIommu(what: string): void {
    this.live();
    if (this.hwpt === undefined) fail('EINVAL', `${what}: the container has no IOMMU model yet (VFIO_SET_IOMMU)`);
  }

  private live(): void {
    if (this.closed) fail('EINVAL', 'container: closed');
  }
}
