/**
 * Where a shadow domain (shadow-domains.ts) lives on the host, by the VM's
 * host path (`VmConfig.hostPath`):
 *
 * - `cdev` (iommufd, the default): an IOAS and a paging HWPT in the VM's
 *   context; the mirror attaches each requester to the HWPT
 *   (guest-mirror.ts).
 * - `group` (VFIO's legacy interface, hostiommu/vfio-container.ts): a VFIO
 *   container per guest domain. A device joins by its IOMMU group (the
 *   whole group, once); SET_IOMMU type1 is done at the first join and the
 *   domain's mappings are MAP_DMA / UNMAP_DMA. VFIO refuses MAP_DMA before
 *   SET_IOMMU, so mappings made before the first join wait and are made at
 *   it (as QEMU replays an address space when its container connects), and
 *   the last group leaving takes them out again. A group whose devices the
 *   guest puts in two domains cannot follow (a group is in one container):
 *   the second join is refused (EBUSY, logged) and the moved device keeps
 *   DMAing in the first container with its group until the last of the
 *   group leaves it: functions of one group cannot be isolated, which is
 *   why VFIO hands devices out by group.
 *   Pass-through (TT=10) devices share one more container holding all of
 *   guest RAM at IOVA = GPA, as QEMU's VFIO memory listener maps guest
 *   memory once the vIOMMU switches a device to pass-through. Only
 *   requests without PASID exist on this path (type1 has no PASID); a
 *   PASID requester or a nested translation is refused (EOPNOTSUPP).
 * - `vdpa` (vhost-vdpa devices): an IOAS and a paging HWPT as on `cdev`,
 *   changed only through the vDPA device interface's IOTLB messages
 *   (hostiommu/vdpa.ts): each shadow mapping is a VHOST_IOTLB_UPDATE, each
 *   unmap a VHOST_IOTLB_INVALIDATE, the way QEMU's vhost-vdpa follows a
 *   vIOMMU's notifier (vhost_vdpa_iommu_map_notify).
 *
 * On `cdev` and `vdpa` a VM may mix the two (`VmDeviceConfig.hostPath`):
 * then one guest domain — one guest table, one guest PASID — is followed
 * by each subsystem its devices come by, a VFIO device's IOAS and a vDPA
 * device's IOTLB side by side (`SubsystemSpaces`), as QEMU registers a
 * VFIO listener and a vhost-vdpa notifier on one vIOMMU address space:
 * every map and every invalidation of the domain reaches both.
 */
import { fail } from '../hostiommu/errors.js';
import type { IommuGroups } from '../hostiommu/groups.js';
import type { HostIommu } from '../hostiommu/host-iommu.js';
import type { MapArgs } from '../hostiommu/ioas.js';
import { U64_MAX } from '../hostiommu/iova-space.js';
import { PERM } from '../hostiommu/ss-table.js';
import { VdpaDevice, VHOST_ACCESS, VHOST_IOTLB } from '../hostiommu/vdpa.js';
import { VfioContainer } from '../hostiommu/vfio-container.js';
import type { HostPath, VirtualMachine, VmDevice } from './virtual-machine.js';
import type { Did, Iova, Pasid } from '../types.js';

/** One shadow domain's host address space. */
export interface DomainSpace {
  /**
   * The HWPT a requester coming by `path` attaches to in the VM's context;
   * undefined on the group path, where devices join. Throws a
   * HostIommuError when the space for `path` cannot be made.
   */
  hwptFor(path: HostPath): number | undefined;
  /** Every HWPT of the space in the VM's context (none on the group path). */
  hwpts(): number[];
  /** Maps guest memory (throws a HostIommuError when refused; nothing changes then). */
  map(args: MapArgs): void;
  /** Unmaps a range mapped before. */
  unmap(iova: Iova, len: bigint): void;
  /** Frees the space (no requester uses it). */
  drop(): void;
}

/** A new IOAS and a paging HWPT (PASID-capable, reporting page faults to `faultId` if given) over it in `ctx` (nothing left behind when refused). */
function ioasWithHwpt(ctx: HostIommu, faultId: number | undefined): { ioas: number; hwpt: number; drop(): void } {
  const ioas = ctx.ioasAlloc();
  try {
    const hwpt = ctx.hwptAllocPaging(ioas, { pasid: true, faultId });
    return { ioas, hwpt, drop: () => { ctx.destroy(hwpt); ctx.destroy(ioas); } };
  } catch (e) {
    ctx.destroy(ioas);
    throw e;
  }
}

/** An IOAS and a paging HWPT (PASID-capable; page faults to `faultId`) in `ctx`, mapped with IOMMU_IOAS_MAP / UNMAP. */
export function iommufdSpace(ctx: HostIommu, faultId?: number): DomainSpace {
  const { ioas, hwpt, drop } = ioasWithHwpt(ctx, faultId);
  return {
    hwptFor: () => hwpt,
    hwpts: () => [hwpt],
    map: (args) => void ctx.ioasMap(ioas, args),
    unmap: (iova, len) => void ctx.ioasUnmap(ioas, iova, len),
    drop,
  };
}

/** vhost perm of PERM bits (shadow mappings are readable, writable or both). */
const VHOST_PERM: Readonly<Record<number, number>> = {
  [PERM.READ]: VHOST_ACCESS.RO, [PERM.WRITE]: VHOST_ACCESS.WO, [PERM.READ | PERM.WRITE]: VHOST_ACCESS.RW,
};

/** An IOAS and a paging HWPT (page faults to `faultId`) in `ctx` that only a vDPA device's IOTLB messages change (hostPath 'vdpa'). */
export function vdpaSpace(ctx: HostIommu, faultId?: number): DomainSpace {
  const { ioas, hwpt, drop } = ioasWithHwpt(ctx, faultId);
  const iotlb = new VdpaDevice(ctx, ioas);
  return {
    hwptFor: () => hwpt,
    hwpts: () => [hwpt],
    map: ({ iova, hpa, len, perms = PERM.READ | PERM.WRITE }) => {
      if (iova === undefined) fail('EINVAL', 'iova: a shadow mapping has a fixed IOVA');
      iotlb.message({ type: VHOST_IOTLB.UPDATE, iova, size: len, uaddr: hpa, perm: VHOST_PERM[perms] ?? 0 });
    },
    unmap: (iova, len) => iotlb.message({ type: VHOST_IOTLB.INVALIDATE, iova, size: len }),
    drop,
  };
}

/** The mappings a space was given, by IOVA, to give again to a space that joins later (shadow unmaps are of whole mappings or everything). */
class MappingLog {
  private readonly maps = new Map<bigint, MapArgs>();

  add(args: MapArgs & { iova: bigint }): void {
    this.maps.set(args.iova, args);
  }

  /** Forgets every mapping overlapping [iova, iova + len). */
  remove(iova: bigint, len: bigint): void {
    for (const [at, a] of this.maps) if (at < iova + len && at + a.len > iova) this.maps.delete(at);
  }

  values(): IterableIterator<MapArgs> {
    return this.maps.values();
  }
}

/**
 * One guest domain followed by every subsystem its devices come by (cdev:
 * IOMMU_IOAS_MAP / UNMAP; vdpa: vhost IOTLB messages), each with its own
 * host space. The VM's own path's space is made at once; another is made
 * when the first device coming by it joins, and is given the domain's
 * mappings then (as QEMU replays an IOMMU region to a notifier it
 * registers). Every later map and unmap reaches each space; a map one
 * refuses is taken back from those that took it, so all stay equal.
 */
export class SubsystemSpaces implements DomainSpace {
  private readonly spaces = new Map<HostPath, DomainSpace>();
  private readonly log = new MappingLog();

  /** Spaces made by `make`; the one of `first` (the VM's path) at once. */
  constructor(private readonly make: (path: HostPath) => DomainSpace, first: HostPath) {
    this.spaces.set(first, make(first));
  }

  /** Subsystems following the domain. */
  get paths(): HostPath[] {
    return [...this.spaces.keys()];
  }

  hwptFor(path: HostPath): number | undefined {
    const have = this.spaces.get(path);
    if (have) return have.hwptFor(path);
    const space = this.make(path);
    try {
      for (const a of this.log.values()) space.map(a);
    } catch (e) {
      space.drop();
      throw e;
    }
    this.spaces.set(path, space);
    return space.hwptFor(path);
  }

  hwpts(): number[] {
    return [...this.spaces.values()].flatMap((s) => s.hwpts());
  }

  map(args: MapArgs): void {
    if (args.iova === undefined) fail('EINVAL', 'iova: a shadow mapping has a fixed IOVA');
    const done: DomainSpace[] = [];
    try {
      for (const s of this.spaces.values()) {
        s.map(args);
        done.push(s);
      }
    } catch (e) {
      for (const s of done) s.unmap(args.iova, args.len);
      throw e;
    }
    this.log.add({ ...args, iova: args.iova });
  }

  unmap(iova: Iova, len: bigint): void {
    for (const s of this.spaces.values()) s.unmap(iova, len);
    this.log.remove(iova, len);
  }

  drop(): void {
    for (const s of this.spaces.values()) s.drop();
    this.spaces.clear();
  }
}

/** A domain as a VFIO container of its own (one host context); devices join by group. */
export class ContainerSpace implements DomainSpace {
  private readonly container: VfioContainer;
  /** The domain's mappings (made in the container while it has its IOMMU model). */
  private readonly maps = new MappingLog();
  /** VM devices joined, per group id. */
  private readonly users = new Map<number, number>();

  constructor(ctx: HostIommu, private readonly groups: IommuGroups) {
    try {
      this.container = new VfioContainer(ctx, groups);
    } catch (e) {
      ctx.close();
      throw e;
    }
  }

  private get live(): boolean {
    return this.container.iommuType !== undefined;
  }

  hwptFor(): undefined {
    return undefined;
  }

  hwpts(): number[] {
    return [];
  }

  map(args: MapArgs): void {
    if (args.iova === undefined) fail('EINVAL', 'iova: a shadow mapping has a fixed IOVA');
    if (this.live) this.container.map(args);
    this.maps.add({ ...args, iova: args.iova });
  }

  unmap(iova: Iova, len: bigint): void {
    if (this.live) this.container.unmap(iova, len);
    this.maps.remove(iova, len);
  }

  /** `dev` joins: its group's first device adds the group (EBUSY when it is in another container); the first group sets the IOMMU model. */
  join(dev: VmDevice): void {
    const g = this.groups.groupOf(dev.prid).id;
    const n = this.users.get(g) ?? 0;
    if (n === 0) {
      this.container.addGroup(g);
      if (!this.live) {
        try {
          this.container.setIommu('type1');
          for (const a of this.maps.values()) this.container.map(a);
        } catch (e) {
          if (this.live) this.container.unmap(0n, U64_MAX);
          this.container.removeGroup(g);
          throw e;
        }
      }
    }
    this.users.set(g, n + 1);
  }

  /** `dev` leaves: its group's last device removes the group; the last group takes the mappings out with the model. */
  leave(dev: VmDevice): void {
    const g = this.groups.groupOf(dev.prid).id;
    const n = (this.users.get(g) ?? 1) - 1;
    if (n > 0) {
      this.users.set(g, n);
      return;
    }
    this.users.delete(g);
    if (this.users.size === 0) this.container.unmap(0n, U64_MAX);
    this.container.removeGroup(g);
  }

  /** Resets the host device of `dev` (joined here); returns the page groups answered. */
  reset(dev: VmDevice): number {
    const g = this.groups.groupOf(dev.prid).id;
    return this.container.ctx.reset(this.container.device(g, dev.prid));
  }

  drop(): void {
    this.container.close();
  }
}

/** Translations the group path serves (requests without PASID only). */
const GROUP_PATH_KINDS: ReadonlySet<string> = new Set(['shadow', 'pass-through', 'refused', 'absent']);

/** The group path of one VM: a container per shadow domain, one for pass-through, and which one each device joined. */
export class GroupPath {
  private readonly joined = new Map<number, ContainerSpace>();
  /** The pass-through container (guest RAM at IOVA = GPA), made on first use. */
  private pt: ContainerSpace | undefined;

  constructor(private readonly vm: VirtualMachine, private readonly groups: IommuGroups) {}

  /** A new container for guest domain `did`. */
  space(did: Did): ContainerSpace {
    return new ContainerSpace(this.vm.host.platform.createContext(`${this.vm.config.name ?? 'vm'}/domain-${did}`), this.groups);
  }

  /** The container of pass-through devices: all of guest RAM mapped GPA -> HPA (mapped when its first group joins). */
  passThrough(): ContainerSpace {
    if (this.pt) return this.pt;
    const space = new ContainerSpace(this.vm.host.platform.createContext(`${this.vm.config.name ?? 'vm'}/pass-through`), this.groups);
    space.map({ iova: 0n, hpa: this.vm.host.hpaOf(0n), len: this.vm.host.guestRam.size });
    this.pt = space;
    return space;
  }

  /** Throws EOPNOTSUPP for a requester this path cannot serve (a PASID, or a nested translation). */
  check(kind: string, gpasid: Pasid | undefined): void {
    if (gpasid !== undefined || !GROUP_PATH_KINDS.has(kind)) {
      fail('EOPNOTSUPP', `${kind}${gpasid === undefined ? '' : ` at PASID ${gpasid}`}: the group path (legacy VFIO) has second-stage and pass-through domains without PASID only`);
    }
  }

  /** Moves `dev` to `space` (undefined: out of every container): it leaves its old container first, then joins. */
  place(dev: VmDevice, space: DomainSpace | undefined): void {
    const cur = this.joined.get(dev.vrid);
    if (cur === space) return;
    if (cur) {
      cur.leave(dev);
      this.joined.delete(dev.vrid);
    }
    if (space instanceof ContainerSpace) {
      space.join(dev);
      this.joined.set(dev.vrid, space);
    }
  }

  /** Resets the host side of `dev`: 0 when it joined no container. */
  reset(dev: VmDevice): number {
    return this.joined.get(dev.vrid)?.reset(dev) ?? 0;
  }

  /** Closes the pass-through container (VM teardown, every device has left). */
  teardown(): void {
    this.pt?.drop();
    this.pt = undefined;
  }
}
