/**
 * VMM-backed fuzz machines (issue 19: host page tables vs IOAS): the input's
 * guest runs on a `VirtualMachine` (host/src/vmm) in shadow or nested mode
 * over a physical host with the iommufd-like host side (host/src/hostiommu),
 * so its invalidations become IOAS map/unmap (shadow) or nested HWPT binds
 * and pass-through invalidations (nested), checked after every step by
 * host-consistency-oracle.ts.
 *
 * VMs are reused per shape (`VmPool`): between executions a VM goes back,
 * by its system reset and restoring only what changed, to the state a new
 * one starts in.
 */
import type { Core } from '../host/src/core/core.js';
import { HOST_LAYOUT, PhysicalHost } from '../host/src/vmm/physical-host.js';
import { VirtualMachine, type VmMode } from '../host/src/vmm/virtual-machine.js';
import type { FuzzInput, RawMachine, VmmHost } from './input.js';
import { IommuGroups } from '../host/src/hostiommu/groups.js';
import { HOST_FEATURE_BASE, VMM_FEATURE_BASE } from './coverage.js';
import { clearTouchedBitmap, emptyCaches, PooledMachine, takeTouchedBits, touchedBitmap, type TouchExports } from './machine-pool.js';
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
 * fallback to it) no subdevices; vDPA devices among VFIO ones only on the
 * cdev path in shadow mode; bits beyond the devices go, and a shared group
 * needs two devices. Undefined when nothing is left.
 */
export function vmmHostFor(mode: VmMode, h: VmmHost | undefined, devices: number): VmmHost | undefined {
  if (!h) return undefined;
  const path = mode === 'shadow' ? h.path : undefined;
  const mask = (1 << devices) - 1;
  const subdevices = mode === 'shadow' && path !== 'group' && path !== 'fallback' ? (h.subdevices ?? 0) & mask : 0;
  const vdpaDevices = mode === 'shadow' && path === undefined ? (h.vdpaDevices ?? 0) & mask : 0;
  const sharedGroup = h.sharedGroup === true && devices >= 2 && (subdevices & 3) === 0;
  const out = { ...(path ? { path } : {}), ...(subdevices ? { subdevices } : {}), ...(sharedGroup ? { sharedGroup } : {}), ...(vdpaDevices ? { vdpaDevices } : {}) };
  return Object.keys(out).length ? out : undefined;
}

/**
 * A random host side for a VM in `mode` (the `vmm-host` operator, seeds):
 * shadow mode any path, subdevices, shared groups and (on the cdev path)
 * vDPA devices among the VFIO ones; nested mode cdev, with or without a
 * shared group. vmmHostFor trims it to the devices.
 */
export function randomVmmHost(rng: Rng, mode: VmMode): VmmHost | undefined {
  const sharedGroup = rng.chance(0.3);
  if (mode === 'nested') return sharedGroup ? { sharedGroup } : undefined;
  const path = rng.pick([undefined, ...VMM_HOST_PATHS]);
  const subdevices = rng.chance(0.4) ? 1 + rng.below(15) : 0;
  const vdpaDevices = path === undefined && rng.chance(0.4) ? 1 + rng.below(15) : 0;
  return { ...(path ? { path } : {}), ...(subdevices ? { subdevices } : {}), ...(sharedGroup ? { sharedGroup } : {}), ...(vdpaDevices ? { vdpaDevices } : {}) };
}

/**
 * The host side of a shadow VM with both subsystems (the `vmm-mixed`
 * operator): the cdev path, device `i` switched between VFIO cdev and
 * vhost-vdpa (subdevices and a shared group kept).
 */
export function mixedVmmHost(h: VmmHost | undefined, i: number): VmmHost {
  const mask = (h?.vdpaDevices ?? 0) ^ (1 << i);
  return { ...(h?.subdevices ? { subdevices: h.subdevices } : {}), ...(h?.sharedGroup ? { sharedGroup: true } : {}), ...(mask ? { vdpaDevices: mask } : {}) };
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
  const shape = base + HOST_FEATURE_BASE - 40; // the host shape: path, subdevices, both subsystems
  const path = vm.config.hostPath === undefined && vm.hostPath === 'group' ? 'fallback' : vm.hostPath;
  out.push(shape + 1 + (VMM_HOST_PATHS as readonly string[]).indexOf(path)); // cdev: shape + 0
  if ([...vm.devices.values()].some((d) => d.defaultPasid !== undefined)) out.push(shape + 4);
  if ([...vm.devices.values()].some((d) => d.hostPath !== vm.hostPath)) out.push(shape + 5); // VFIO and vDPA devices in one VM
  const h = vm.modeHandler;
  if (!(h instanceof ShadowMode)) return;
  const top = base + HOST_FEATURE_BASE - 32;
  out.push(top + bucket(h.stats.maps), top + 8 + bucket(h.stats.unmaps), top + 16 + bucket(h.stats.blocks), top + 24 + bucket(h.domains.size));
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

/** A VM an execution runs on, watched as pooled machines are. */
export interface FuzzVm {
  readonly vm: VirtualMachine;
  readonly pm: PooledMachine;
  /**
   * Ends the execution on it: a pooled VM is reset for the next input with
   * that shape, a fresh one closed; throws when host state is left behind
   * (an `exception` finding of the input that ran).
   */
  release(): void;
}

/**
 * Physical hosts kept at most, each holding at most one VM (a VM owns its
 * host's devices, so two shapes cannot share one): a shape not held takes
 * an idle host of its RAM size, else a new host while there are fewer,
 * else the least recently used VM is closed and its host taken (a host of
 * 16 MiB guest RAM is a 32 MiB wasm memory, whose allocation sets off V8's
 * full collections: a new host per shape cost ~45 ms of CPU). Only pages an
 * input touched become resident.
 */
export const VM_POOL_SIZE = 16;

/** Host-physical page of guest page 0 (the physical core's touched-page window starts there). */
const GUEST_RAM_BASE = HOST_LAYOUT.guestRam;
const PAGE = 4096;

/** A physical host of the pool with its IOMMU groups. */
interface FuzzHost {
  readonly host: PhysicalHost;
  readonly groups: IommuGroups;
}

/** One pooled VM: its host, the VM, its guest machine as the pool watches it, and what the host held right after `create`. */
interface PooledVm extends FuzzHost {
  readonly vm: VirtualMachine;
  readonly pm: PooledMachine;
  readonly baseline: string;
}

/**
 * VMs by shape (mode, host side, devices, RAM), reused across executions:
 * between two inputs a VM goes back to the state `VirtualMachine.create`
 * left it in, restoring only what changed (the VM's system reset drops
 * every host object the mode made, fuzz/machine-pool.ts restores the guest
 * machine and the guest pages the host wrote, and the pages the physical
 * IOMMU's core touched in the VM's RAM, DMA and A/D updates, are zeroed
 * from its touched-page bitmap), where a new VM cost a guest core, the
 * host objects and a fill of all guest RAM. A reset that leaves the host
 * with other objects, pins, PASIDs, table pages, DIDs or bindings than
 * `create` did is a finding, and the VM is dropped.
 * fuzz/tests/vmm-reuse.test.ts shows reused and fresh VMs observe the same.
 */
export class VmPool {
  private readonly vms = new Map<string, PooledVm>();
  /** Hosts with no VM, by guest RAM (MiB). */
  private readonly idle = new Map<number, FuzzHost[]>();
  /** Hosts held (with a VM or idle). */
  private hosts = 0;
  /** VMs built (each a miss: a new shape, or one dropped before). */
  built = 0;

  /** `newCore`: a new instance of the fuzzer's core build; `fresh`: a new host and VM for every execution, closed after it (the reference the reuse test compares with). */
  constructor(private readonly newCore: () => Core, private readonly fresh = false, private readonly capacity = VM_POOL_SIZE) {}

  /** The VM of `input` (input.vmm set), ready for its steps (with APICs for the input's processors). */
  async get(input: FuzzInput): Promise<FuzzVm> {
    const mode = input.vmm;
    if (mode === undefined) throw new Error('input.vmm: not a VMM-backed input');
    const dma = input.machine.devices.filter((d) => d.kind === 'dma-test').slice(0, VMM_MAX_DEVICES);
    const shape = vmmHostFor(mode, input.vmmHost, dma.length);
    const key = JSON.stringify([mode, shape, dma.map((d) => d.bdf), input.machine.ram_mib]);
    const cpus = input.machine.cpus ?? 1;
    const have = this.fresh ? undefined : this.vms.get(key);
    if (have) {
      this.vms.delete(key); // most recently used last
      this.vms.set(key, have);
      have.pm.reset(cpus);
      return { vm: have.vm, pm: have.pm, release: () => this.reset(key, have) };
    }
    const h = this.fresh ? await newHost(input.machine.ram_mib, this.newCore()) : await this.hostFor(input.machine.ram_mib);
    let p: PooledVm;
    try {
      p = await buildVm(h, input, mode, shape, dma, this.newCore());
    } catch (err) {
      if (!this.fresh) this.idleHost(h); // a refused VM leaves nothing behind (VirtualMachine.create)
      throw err;
    }
    this.built++;
    if (cpus !== 1) p.pm.reset(cpus);
    if (this.fresh) return { vm: p.vm, pm: p.pm, release: () => closeFresh(p) };
    this.vms.set(key, p);
    return { vm: p.vm, pm: p.pm, release: () => this.reset(key, p) };
  }

  /** VMs held now. */
  get size(): number {
    return this.vms.size;
  }

  /** Hosts held now (with a VM or idle; at most the capacity). */
  get hostCount(): number {
    return this.hosts;
  }

  /** A host for `mib` MiB of guest RAM with no VM on it (see VM_POOL_SIZE). */
  private async hostFor(mib: number): Promise<FuzzHost> {
    for (;;) {
      const idle = this.idle.get(mib)?.pop();
      if (idle) return idle;
      if (this.hosts < this.capacity) {
        this.hosts++;
        return newHost(mib, this.newCore());
      }
      const [key, old] = this.vms.entries().next().value!; // the least recently used VM goes
      this.vms.delete(key);
      this.hosts--; // its host too, unless it closes cleanly and has the RAM size wanted
      old.pm.reset(1); // the guest pages the host wrote back to zero (the VM's reset zeroed the others at release)
      closeVm(old);
      if (Number(old.host.guestRam.size) !== mib << 20) continue;
      this.hosts++;
      return { host: old.host, groups: old.groups };
    }
  }

  /** `h`, a host of the pool with no VM, kept for the next shape of its RAM size. */
  private idleHost(h: FuzzHost): void {
    const mib = Number(h.host.guestRam.size) >> 20;
    this.idle.set(mib, [...(this.idle.get(mib) ?? []), h]);
  }

  /** The VM back to its state after `create` (resetVm); a VM that is not is dropped with its host. */
  private reset(key: string, p: PooledVm): void {
    try {
      resetVm(p);
    } catch (err) {
      this.vms.delete(key);
      this.hosts--;
      throw err;
    }
  }
}

/** The VM of a shape on `h` (which has none), its guest machine on `guestCore`, watched as pooled machines are. */
async function buildVm(h: FuzzHost, input: FuzzInput, mode: VmMode, shape: VmmHost | undefined, dma: RawMachine['devices'], guestCore: Core): Promise<PooledVm> {
  const bit = (mask: number | undefined, i: number): boolean => (((mask ?? 0) >> i) & 1) === 1;
  const devices = dma.map((d, i) => ({
    bdf: d.bdf, hostSid: hostSidOf(i, shape), kind: 'dma-test' as const,
    ...(bit(shape?.subdevices, i) ? { subdevice: true } : {}), ...(bit(shape?.vdpaDevices, i) ? { hostPath: 'vdpa' as const } : {}),
  }));
  const path = shape?.path;
  let pm: PooledMachine | undefined;
  const vm = await VirtualMachine.create(h.host, {
    name: 'fuzz', mode, devices,
    ...(path === 'group' || path === 'vdpa' ? { hostPath: path } : {}),
    ...(path === 'group' || path === 'fallback' ? { groups: h.groups } : {}),
    guest: {
      core: guestCore,
      onInternalError: (where, err) => pm?.events.internalError?.(where, err),
      onInterrupt: (msi) => pm?.apics.deliver(msi.address, msi.data),
      onDeviceInterrupt: (irq) => pm?.apics.deliver(irq.address, irq.data),
    },
  });
  pm = PooledMachine.watch(vm.machine, guestCore, input.machine, h.host.core);
  return { ...h, vm, pm, baseline: hostState(vm) };
}

/** What the host holds, as `resetVm` compares it: platform usage and the VM context's objects by kind. */
function hostState(vm: VirtualMachine): string {
  return JSON.stringify({ usage: vm.host.platform.usage(), objects: vm.ctx.counts() });
}

/**
 * The VM back to its state after `create` (see VmPool): its system reset,
 * the guest pages the physical core touched zeroed, the physical caches
 * emptied; throws naming what the host kept when it differs from then.
 */
function resetVm({ vm, host, baseline }: PooledVm): void {
  vm.reset();
  zeroTouchedGuestPages(host);
  emptyCaches(host.core);
  const now = hostState(vm);
  if (now !== baseline) throw new Error(`VM reset left host state behind: ${now} where the new VM had ${baseline}`);
}

/**
 * Ends a fresh VM as a pooled one ends (so a reset that leaves host state
 * behind is confirmed on a fresh VM too), then closes it: its host must be
 * left with no object, bound device or pinned page.
 */
function closeFresh(p: PooledVm): void {
  try {
    resetVm(p);
  } finally {
    closeVm(p);
  }
}

/** Closes a VM: its host must be left with no object, bound device or pinned page. */
function closeVm({ vm, host }: PooledVm): void {
  vm.close();
  const left = host.platform.usage();
  if (left.objects || left.boundDevices || left.pinnedPages) throw new Error(`VM teardown left host state behind: ${JSON.stringify(left)}`);
}

/**
 * Zeroes the guest pages the physical IOMMU's core computed an offset for
 * (device DMA, A/D updates of guest first-stage tables) from its
 * touched-page bitmap, whose window is the VM's RAM (newHost); without a
 * bitmap (a release core), all guest RAM. Written through host memory, not
 * the guest RAM view the pool watches: these are not host writes of the input.
 */
function zeroTouchedGuestPages(host: PhysicalHost): void {
  const t = touchedBitmap(host.core);
  const pages = Number(host.guestRam.size) / PAGE;
  if (!t || t.map.length * 8 < pages) {
    host.mem.fill(GUEST_RAM_BASE, pages * PAGE, 0);
    return;
  }
  const touched: number[] = [];
  takeTouchedBits(t.map, (p) => { if (p < pages) touched.push(p); }, t.summary); // past guest RAM: an address that faulted
  for (const p of touched) host.mem.fill(GUEST_RAM_BASE + BigInt(p * PAGE), PAGE, 0);
  clearTouchedBitmap(host.core); // after the fills, which the bitmap may record too
}


/**
 * A physical host for `mib` MiB of guest RAM on `core` (the fuzzer's build:
 * its touched-page bitmap is moved to the VM's RAM): the devices of every
 * shape (cdev devices, function 1 of the first, devices without a cdev, the
 * subdevice parent), their IOMMU groups, a dump buffer for the
 * physical-cache oracle, and its host contexts tracked for the host-tables
 * oracle (the group path's containers are contexts of their own).
 */
async function newHost(mib: number, core: Core): Promise<{ host: PhysicalHost; groups: IommuGroups }> {
  const host = await PhysicalHost.create({ guestRamMib: mib, core });
  const x = core.unsafeExports as unknown as TouchExports;
  x.ramTouchSetBase?.(Number(GUEST_RAM_BASE >> 32n), Number(GUEST_RAM_BASE & 0xffff_ffffn));
  clearTouchedBitmap(core);
  const withCdev = [...HOST_SIDS, HOST_SIDS[0]! | SHARED_FN, SUBDEVICE_PARENT];
  const noCdev = [...NO_CDEV_SIDS, NO_CDEV_SIDS[0]! | SHARED_FN];
  for (const sid of withCdev) host.platform.addDevice(sid, { pasidBits: 8, pri: true });
  for (const sid of noCdev) host.platform.addDevice(sid, { cdev: false });
  trackHostContexts(host);
  hostDumpBufs.set(host.core, reserveDumpBuffer(host.core));
  return { host, groups: new IommuGroups(host.platform, [...withCdev, ...noCdev]) };
}
