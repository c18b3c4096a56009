/**
 * The physical machine under a VMM: one wasm core that is the *physical*
 * IOMMU (its root table is the host object model's TableIommu, scalable
 * mode) and whose RAM is host-physical memory, the host object model
 * (`HostPlatform`), and the host memory map:
 *
 * | HPA              | what                                                   |
 * |------------------|--------------------------------------------------------|
 * | 0x1_0000_0000    | the VM's RAM (guest-physical 0 is here)                |
 * | 0x2_0000_0000    | a peer device's BAR window (peer-to-peer DMA target)   |
 * | 0x3_0000_0000    | host IOMMU structures and second-stage tables (4 MiB)  |
 * | 0x4_0000_0000    | the host's own memory: host processes' pages (8 MiB)   |
 *
 * Devices DMA only through this core (host-port.ts); the guest's VT-d unit
 * is a separate, emulated one (virtual-machine.ts).
 */
import type { Core } from '../core/core.js';
import { GuestMemory } from '../core/guest-memory.js';
import { configureCore } from '../vtd/core-config.js';
import { createProfile } from '../vtd/profiles.js';
import { TTM } from '../vtd/spec/registers.js';
import { FailInjector } from '../hostiommu/fail-nth.js';
import { HostPages, hostRam } from '../hostiommu/host-pages.js';
import { TableIommu } from '../hostiommu/table-iommu.js';
import { HostPlatform } from '../hostiommu/platform.js';
import type { PageResponder } from '../hostiommu/fault-queue.js';
import { HostBase, startHost } from './host-base.js';
import type { Gpa, Hpa } from '../types.js';

/** Host-physical layout (see the table above). */
export const HOST_LAYOUT = {
  guestRam: 0x1_0000_0000n,
  peerBar: 0x2_0000_0000n,
  peerBarSize: 0x1_0000,
  tables: 0x3_0000_0000n,
  tablesSize: 0x40_0000,
  hostRam: 0x4_0000_0000n,
  hostRamSize: 0x80_0000,
} as const;

/** Guest RAM as a window of host memory: guest-physical `gpa` is host-physical `base + gpa`. */
export class GuestRamView extends GuestMemory {
  /** `size` bytes of guest RAM at host-physical `base` of `host`. */
  constructor(host: Core, readonly base: bigint, readonly size: bigint) {
    super(host, { base: Number(base), size: Number(size) });
  }
}

/** What the VMM that drives a physical device provides the host. */
export interface DeviceOwner {
  /** The owning VM (identity only). */
  readonly vm: object;
  /** A page-group response for the device (the platform's PageResponder). */
  readonly pageResponse: PageResponder;
}

/** Options of a physical host. */
export interface PhysicalHostOptions {
  /** RAM given to the VM, in MiB (default 64). */
  readonly guestRamMib?: number;
  /** Fail-nth injector shared by the platform and the table pages. */
  readonly injector?: FailInjector;
  /** Use an already loaded core. */
  readonly core?: Core;
}

/** The physical host: core, host memory, platform, the VM's RAM (host-base.ts), and the physical IOMMU. */
export class PhysicalHost extends HostBase<GuestRamView> {
  /** The VMM owning each physical device (by pRID): where its page responses and quiesce calls go. */
  readonly owners = new Map<number, DeviceOwner>();

  private constructor(
    core: Core, mem: GuestMemory, platform: HostPlatform, guestRam: GuestRamView,
    /** The physical IOMMU: real scalable-mode tables in `mem`. */
    readonly iommu: TableIommu,
  ) {
    super(core, mem, platform, guestRam);
  }

  /** Builds the host: core (translation on, root table = the TableIommu's), memory regions, platform. */
  static async create(o: PhysicalHostOptions = {}): Promise<PhysicalHost> {
    const L = HOST_LAYOUT;
    const { core, mem, mib } = await startHost(o, (guest) => [[L.guestRam, guest], [L.peerBar, L.peerBarSize], [L.tables, L.tablesSize], [L.hostRam, L.hostRamSize]]);
    configureCore(core, createProfile('default'));
    const injector = o.injector ?? new FailInjector();
    const tablesEnd = HOST_LAYOUT.tables + BigInt(HOST_LAYOUT.tablesSize);
    const iommu = new TableIommu(new HostPages(hostRam(mem), HOST_LAYOUT.tables, tablesEnd, injector), core, { pasidBits: 15 });
    core.setRootTable(iommu.rootTable, TTM.SCALABLE);
    core.setTranslationEnabled(true);
    const guestRamEnd = HOST_LAYOUT.guestRam + BigInt(mib << 20);
    const peerEnd = HOST_LAYOUT.peerBar + BigInt(HOST_LAYOUT.peerBarSize);
    const hostRamEnd = HOST_LAYOUT.hostRam + BigInt(HOST_LAYOUT.hostRamSize);
    let host: PhysicalHost | undefined;
    const platform = new HostPlatform({
      iommu, injector, onPageResponse: (sid, ...r) => host?.owners.get(sid)?.pageResponse(sid, ...r),
      hostMemory: (hpa, len) => (hpa >= HOST_LAYOUT.guestRam && hpa + len <= guestRamEnd) || (hpa >= HOST_LAYOUT.peerBar && hpa + len <= peerEnd)
        || (hpa >= HOST_LAYOUT.hostRam && hpa + len <= hostRamEnd),
    });
    host = new PhysicalHost(core, mem, platform, new GuestRamView(core, HOST_LAYOUT.guestRam, BigInt(mib << 20)), iommu);
    return host;
  }

  /** Host-physical address of guest-physical `gpa`. */
  hpaOf(gpa: Gpa): Hpa {
    return HOST_LAYOUT.guestRam + gpa;
  }
}
