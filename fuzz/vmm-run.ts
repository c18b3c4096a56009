/**
 * VMM-backed fuzz machines (issue 19: host page tables vs IOAS): the input's
 * guest runs on a `VirtualMachine` (host/src/vmm) in shadow or nested mode
 * over a physical host with the iommufd-like host side (host/src/hostiommu),
 * so its invalidations become IOAS map/unmap (shadow) or nested HWPT binds
 * and pass-through invalidations (nested), checked after every step by
 * host-consistency-oracle.ts.
 *
 * The physical host is built once per RAM size and reused: between
 * executions the VM is closed (every host object, pinned page and binding
 * goes, which `HostPlatform.usage()` confirms), guest RAM is zeroed and the
 * physical IOMMU's caches are emptied. The guest machine is new each time
 * (a VM owns its machine), on a fresh instance of the fuzzer's core build.
 */
import type { Core } from '../host/src/core/core.js';
import { PhysicalHost } from '../host/src/vmm/physical-host.js';
import { VirtualMachine, type VmMode } from '../host/src/vmm/virtual-machine.js';
import type { FuzzInput, RawMachine, VmmHost } from './input.js';
import { IommuGroups } from '../host/src/hostiommu/groups.js';
import { HOST_FEATURE_BASE, VMM_FEATURE_BASE } from './coverage.js';
import { PooledMachine } from './machine-pool.js';
import type { Rng } from './rng.js';
import { ShadowMode } from '../host/src/vmm/shadow.js';
import type { InvalidationEvent } from '../host/src/vtd/cache-invalidation.js';
import { LazyCaches, reserveDumpBuffer } from './cache-scope-oracle.js';
import { shadowScopeViolation, trackHostContexts } from './host-consistency-oracle.js';
import { physicalCacheViolation } from './nested-iotlb-oracle.js';

/** The VMM modes fuzz inputs may ask for (`FuzzInput.vmm`). */
export const VMM_MODES: readonly VmMode[] = ['shadow', 'nested'];

/** Physical requester ids the host gives the VM's devices, in the input's device order (each a device, hence an IOMMU group, of its own). */
const HOST_SIDS = [0x0318, 0x0320, 0x0328, 0x0330];
/** The same for drivers without a VFIO cdev (VmmHost.path 'fallback'). */
const NO_CDEV_SIDS = [0x0418, 0x0420, 0x0428, 0x0430];
/** Function 1 of the first device: with VmmHost.sharedGroup the second VM device, in the first one's IOMMU group. */
const SHARED_FN = 1;
/** The parent of every subdevice (VmmHost.subdevices): PASID-capable, bound once. */
const SUBDEVICE_PARENT = 0x0338;

/** Most devices a VMM-backed input may have (one physical device each). */
export const VMM_MAX_DEVICES = HOST_SIDS.length;

/** VmmHost.path values; undefined is cdev (the index in features is this list's plus one). */
export const VMM_HOST_PATHS = ['group', 'vdpa', 'fallback'] as const;

/**
 * `h` kept to what `mode` and `devices` dma-test devices allow (VmConfig):
 * nested mode takes cdev only and no subdevices; the group path (and the
 * fallback to it) no subdevices; subdevice bits beyond the devices go, and
 * a shared group needs two devices. Undefined when nothing is left.
 */
export function vmmHostFor(mode: VmMode, h: VmmHost | undefined, devices: number): VmmHost | undefined {
  if (!h) return undefined;
  const path = mode === 'shadow' ? h.path : undefined;
  const subdevices = mode === 'shadow' && path !== 'group' && path !== 'fallback' ? (h.subdevices ?? 0) & ((1 << devices) - 1) : 0;
  const sharedGroup = h.sharedGroup === true && devices >= 2 && (subdevices & 3) === 0;
  const out = { ...(path ? { path } : {}), ...(subdevices ? { subdevices } : {}), ...(sharedGroup ? { sharedGroup } : {}) };
  return Object.keys(out).length ? out : undefined;
}

/**
 * A random host side for a VM in `mode` (the `vmm-host` operator, seeds):
 * shadow mode any path, subdevices and shared groups; nested mode cdev,
 * with or without a shared group. vmmHostFor trims it to the devices.
 */
export function randomVmmHost(rng: Rng, mode: VmMode): VmmHost | undefined {
  const sharedGroup = rng.chance(0.3);
  if (mode === 'nested') return sharedGroup ? { sharedGroup } : undefined;
  const path = rng.pick([undefined, ...VMM_HOST_PATHS]);
  const subdevices = rng.chance(0.4) ? 1 + rng.below(15) : 0;
  return { ...(path ? { path } : {}), ...(subdevices ? { subdevices } : {}), ...(sharedGroup ? { sharedGroup } : {}) };
}

/** The physical requester id of the input's `i`-th VM device under `h`. */
function hostSidOf(i: number, h: VmmHost | undefined): number {
  if (((h?.subdevices ?? 0) >> i) & 1) return SUBDEVICE_PARENT;
  const sids = h?.path === 'fallback' ? NO_CDEV_SIDS : HOST_SIDS;
  return i === 1 && h?.sharedGroup ? sids[0]! | SHARED_FN : sids[i]!;
}

/**
 * The machine description of a VM's guest (VirtualMachine.create): default
 * profile, scalable-mode capable, caching mode, 48-bit, one processor, up to
 * VMM_MAX_DEVICES dma-test devices (one added when none), the input's RAM.
 */
export function vmMachine(m: RawMachine): RawMachine {
  const devices = m.devices.filter((d) => d.kind === 'dma-test').slice(0, VMM_MAX_DEVICES);
  return {
    profile: 'default', ram_mib: m.ram_mib,
    iommu: { scalable_mode: true, caching_mode: true, aw_bits: 48 },
    devices: devices.length ? devices : [{ bdf: '00:03.0', kind: 'dma-test' }],
  };
}

/** Log2 buckets (0..7) of a count, for features. */
const bucket = (n: number): number => (n === 0 ? 0 : Math.min(7, 1 + Math.floor(Math.log2(n))));

/**
 * The features of a VM execution: each core feature (`core`, ids below
 * HOST_FEATURE_BASE) again in the VM mode's part of the feature space, plus
 * the shadow's work (host maps, unmaps, blocked domains, domains, bucketed)
 * at the top of that part, where no core probe reaches.
 */
export function vmmFeatures(vm: VirtualMachine, core: readonly number[], out: number[]): void {
  const base = VMM_FEATURE_BASE + VMM_MODES.indexOf(vm.config.mode) * HOST_FEATURE_BASE;
  for (const f of core) if (f < HOST_FEATURE_BASE) out.push(base + f);
  const shape = base + HOST_FEATURE_BASE - 40; // the host shape: path, subdevices
  const path = vm.config.hostPath === undefined && vm.hostPath === 'group' ? 'fallback' : vm.hostPath;
  out.push(shape + 1 + (VMM_HOST_PATHS as readonly string[]).indexOf(path)); // cdev: shape + 0
  if ([...vm.devices.values()].some((d) => d.defaultPasid !== undefined)) out.push(shape + 4);
  const h = vm.modeHandler;
  if (!(h instanceof ShadowMode)) return;
  const top = base + HOST_FEATURE_BASE - 32;
  out.push(top + bucket(h.stats.maps), top + 8 + bucket(h.stats.unmaps), top + 16 + bucket(h.stats.blocks), top + 24 + bucket(h.domains.size));
}

/** A VM built for one execution, watched as pooled machines are. */
export interface FuzzVm {
  readonly vm: VirtualMachine;
  readonly pm: PooledMachine;
  /** Closes the VM and returns the host to its start state. */
  close(): void;
}

/** The cache-dump buffer reserved in each physical host's core (at host creation). */
const hostDumpBufs = new WeakMap<Core, number>();

/**
 * The oracles that run right after the VMM handled guest invalidation `e`:
 * the host mappings of shadowed domains in its scope against the guest's
 * tables (host-consistency-oracle.ts), then the physical unit's IOTLB and
 * paging-structure caches in its scope against them (nested-iotlb-oracle.ts).
 * Returns the first violation.
 */
export function vmInvalidationViolation(vm: VirtualMachine, e: InvalidationEvent): string | undefined {
  const shadow = shadowScopeViolation(vm, e);
  if (shadow) return shadow;
  const buf = hostDumpBufs.get(vm.host.core);
  return buf === undefined ? undefined : physicalCacheViolation(vm, e, new LazyCaches(vm.host.core, buf));
}

/** Physical hosts by guest RAM size, reused across executions. */
export class VmHosts {
  private readonly hosts = new Map<number, { host: PhysicalHost; groups: IommuGroups }>();

  /** The VM of `input` (input.vmm set) with its guest machine on `guestCore`. */
  async create(input: FuzzInput, guestCore: Core): Promise<FuzzVm> {
    const mode = input.vmm;
    if (mode === undefined) throw new Error('input.vmm: not a VMM-backed input');
    const { host: ph, groups } = await this.host(input.machine.ram_mib);
    const dma = input.machine.devices.filter((d) => d.kind === 'dma-test').slice(0, VMM_MAX_DEVICES);
    const shape = vmmHostFor(mode, input.vmmHost, dma.length);
    const devices = dma.map((d, i) => ({ bdf: d.bdf, hostSid: hostSidOf(i, shape), kind: 'dma-test' as const, ...(((shape?.subdevices ?? 0) >> i) & 1 ? { subdevice: true } : {}) }));
    const path = shape?.path;
    let pm: PooledMachine | undefined;
    const vm = await VirtualMachine.create(ph, {
      name: 'fuzz', mode, devices,
      ...(path === 'group' || path === 'vdpa' ? { hostPath: path } : {}),
      ...(path === 'group' || path === 'fallback' ? { groups } : {}),
      guest: {
        core: guestCore,
        onInternalError: (where, err) => pm?.events.internalError?.(where, err),
        onInterrupt: (msi) => pm?.apics.deliver(msi.address, msi.data),
        onDeviceInterrupt: (irq) => pm?.apics.deliver(irq.address, irq.data),
      },
    });
    pm = PooledMachine.watch(vm.machine, guestCore, input.machine);
    return {
      vm, pm,
      close: () => {
        vm.close();
        const left = ph.platform.usage();
        if (left.objects || left.boundDevices || left.pinnedPages) throw new Error(`VM teardown left host state behind: ${JSON.stringify(left)}`);
        ph.guestRam.fill(0n, Number(ph.guestRam.size), 0);
        ph.core.invalidateAll();
      },
    };
  }

  /**
   * The physical host for `mib` MiB of guest RAM: the devices of every
   * shape (cdev devices, function 1 of the first, devices without a cdev,
   * the subdevice parent), their IOMMU groups, a dump buffer for the
   * physical-cache oracle, and its host contexts tracked for the
   * host-tables oracle (the group path's containers are contexts of their own).
   */
  private async host(mib: number): Promise<{ host: PhysicalHost; groups: IommuGroups }> {
    let h = this.hosts.get(mib);
    if (!h) {
      const host = await PhysicalHost.create({ guestRamMib: mib });
      const withCdev = [...HOST_SIDS, HOST_SIDS[0]! | SHARED_FN, SUBDEVICE_PARENT];
      const noCdev = [...NO_CDEV_SIDS, NO_CDEV_SIDS[0]! | SHARED_FN];
      for (const sid of withCdev) host.platform.addDevice(sid, { pasidBits: 8, pri: true });
      for (const sid of noCdev) host.platform.addDevice(sid, { cdev: false });
      trackHostContexts(host);
      hostDumpBufs.set(host.core, reserveDumpBuffer(host.core));
      h = { host, groups: new IommuGroups(host.platform, [...withCdev, ...noCdev]) };
      this.hosts.set(mib, h);
    }
    return h;
  }
}
