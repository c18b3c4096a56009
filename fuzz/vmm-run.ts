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
import type { FuzzInput, RawMachine } from './input.js';
import { HOST_FEATURE_BASE, VMM_FEATURE_BASE } from './coverage.js';
import { PooledMachine } from './machine-pool.js';
import { ShadowMode } from '../host/src/vmm/shadow.js';
import type { InvalidationEvent } from '../host/src/vtd/cache-invalidation.js';
import { LazyCaches, reserveDumpBuffer } from './cache-scope-oracle.js';
import { shadowScopeViolation } from './host-consistency-oracle.js';
import { physicalCacheViolation } from './nested-iotlb-oracle.js';

/** The VMM modes fuzz inputs may ask for (`FuzzInput.vmm`). */
export const VMM_MODES: readonly VmMode[] = ['shadow', 'nested'];

/** Physical requester ids the host gives the VM's devices, in the input's device order. */
const HOST_SIDS = [0x0318, 0x0320, 0x0328, 0x0330];

/** Most devices a VMM-backed input may have (one physical device each). */
export const VMM_MAX_DEVICES = HOST_SIDS.length;

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
  private readonly hosts = new Map<number, PhysicalHost>();

  /** The VM of `input` (input.vmm set) with its guest machine on `guestCore`. */
  async create(input: FuzzInput, guestCore: Core): Promise<FuzzVm> {
    const mode = input.vmm;
    if (mode === undefined) throw new Error('input.vmm: not a VMM-backed input');
    const host = await this.host(input.machine.ram_mib);
    const devices = input.machine.devices.filter((d) => d.kind === 'dma-test').slice(0, VMM_MAX_DEVICES)
      .map((d, i) => ({ bdf: d.bdf, hostSid: HOST_SIDS[i]!, kind: 'dma-test' as const }));
    let pm: PooledMachine | undefined;
    const vm = await VirtualMachine.create(host, {
      name: 'fuzz', mode, devices,
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
        const left = host.platform.usage();
        if (left.objects || left.boundDevices || left.pinnedPages) throw new Error(`VM teardown left host state behind: ${JSON.stringify(left)}`);
        host.guestRam.fill(0n, Number(host.guestRam.size), 0);
        host.core.invalidateAll();
      },
    };
  }

  private async host(mib: number): Promise<PhysicalHost> {
    let h = this.hosts.get(mib);
    if (!h) {
      h = await PhysicalHost.create({ guestRamMib: mib });
      for (const sid of HOST_SIDS) h.platform.addDevice(sid, { pasidBits: 8, pri: true });
      hostDumpBufs.set(h.core, reserveDumpBuffer(h.core));
      this.hosts.set(mib, h);
    }
    return h;
  }
}
