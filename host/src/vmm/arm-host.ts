/**
 * The physical Arm machine under a VMM: one wasm core whose RAM is host
 * memory, a *physical* SMMUv3 (an SmmuUnit over that memory) driven by the
 * host object model's PhysicalSmmu (hostiommu/smmu-backend.ts), and the
 * host platform. Host memory map (as physical-host.ts for VT-d):
 *
 * | HPA           | what                                                   |
 * |---------------|--------------------------------------------------------|
 * | 0x1_0000_0000 | the VM's RAM (guest-physical 0x4000_0000 is here)      |
 * | 0x3_0000_0000 | the SMMU's stream table and queues, stage-2 tables (4 MiB) |
 *
 * Devices DMA only through the physical SMMU, with their physical
 * StreamIDs; the guest's SMMU (arm-vm.ts) is an emulated one whose
 * configuration the VMM mirrors into the physical one.
 */
import type { Core } from '../core/core.js';
import { GuestMemory } from '../core/guest-memory.js';
import { ARM_RAM_BASE } from '../arm-machine.js';
import { FailInjector } from '../hostiommu/fail-nth.js';
import { HostPages, hostRam } from '../hostiommu/host-pages.js';
import { HostPlatform } from '../hostiommu/platform.js';
import { PhysicalSmmu } from '../hostiommu/smmu-backend.js';
import { createSmmuProfile } from '../smmu/profiles.js';
import { SmmuUnit } from '../smmu/smmu-unit.js';
import { HostBase, startHost } from './host-base.js';
import type { Gpa, Sid, Hpa } from '../types.js';

/** Host-physical layout of the Arm host. */
export const ARM_HOST_LAYOUT = {
  guestRam: 0x1_0000_0000n,
  tables: 0x3_0000_0000n,
  tablesSize: 0x40_0000,
} as const;

/** Linux's MSI doorbell window on Arm (MSI_IOVA_BASE, MSI_IOVA_LENGTH). */
const ARM_MSI_WINDOW = { start: 0x800_0000n, last: 0x80f_ffffn } as const;

/** Guest RAM as a window of host memory: guest-physical `gpa` (from `gpaBase`) is host-physical `hpaBase + gpa - gpaBase`. */
export class ArmGuestRam extends GuestMemory {
  private readonly gpaStart: number;
  private readonly gpaEnd: number;
  private readonly shift: number;

  constructor(host: Core, readonly gpaBase: bigint, readonly hpaBase: bigint, readonly size: bigint) {
    super(host);
    this.gpaStart = Number(gpaBase);
    this.gpaEnd = Number(gpaBase + size);
    this.shift = Number(hpaBase - gpaBase);
  }

  /** The byte offset in host memory of guest-physical [gpa, gpa+len), or -1 outside guest RAM. */
  override offsetAt(gpa: Gpa<number>, len: number): number {
    if (!(gpa >= this.gpaStart && gpa + len <= this.gpaEnd)) return -1;
    return super.offsetAt(gpa + this.shift, len);
  }
}

/** Options of an Arm physical host. */
export interface ArmHostOptions {
  /** RAM given to the VM, in MiB (default 64). */
  readonly guestRamMib?: number;
  /** Fail-nth injector shared by the platform and the table pages. */
  readonly injector?: FailInjector;
  /** SMMU log lines (guest-visible mistakes the physical SMMU saw). */
  readonly log?: (msg: string) => void;
}

/** The physical Arm host: core, host memory, platform, the VM's RAM (guest-physical from 0x4000_0000; host-base.ts), and the physical SMMUv3. */
export class ArmPhysicalHost extends HostBase<ArmGuestRam> {
  private constructor(
    core: Core, mem: GuestMemory, platform: HostPlatform, guestRam: ArmGuestRam,
    /** The physical SMMUv3. */
    readonly smmu: SmmuUnit,
    /** Its host driver, the platform's physical IOMMU. */
    readonly backend: PhysicalSmmu,
  ) {
    super(core, mem, platform, guestRam);
  }

  /** Builds the host: core and memory regions, the physical SMMU and its driver, the platform. */
  static async create(o: ArmHostOptions = {}): Promise<ArmPhysicalHost> {
    const L = ARM_HOST_LAYOUT;
    const { core, mem, mib } = await startHost(o, (guest) => [[L.guestRam, guest], [L.tables, L.tablesSize]]);
    let backend: PhysicalSmmu | undefined;
    const smmu = new SmmuUnit({
      core, mem, profile: createSmmuProfile('default'), log: o.log,
      onInterrupt: (irq) => { if (irq.source === 'eventq') backend?.onEventInterrupt(); },
    });
    const injector = o.injector ?? new FailInjector();
    const pages = new HostPages(hostRam(mem), ARM_HOST_LAYOUT.tables, ARM_HOST_LAYOUT.tables + BigInt(ARM_HOST_LAYOUT.tablesSize), injector);
    backend = new PhysicalSmmu(pages, smmu);
    const ramEnd = ARM_HOST_LAYOUT.guestRam + BigInt(mib << 20);
    const platform = new HostPlatform({ iommu: backend, injector, hostMemory: (hpa, len) => hpa >= ARM_HOST_LAYOUT.guestRam && hpa + len <= ramEnd });
    return new ArmPhysicalHost(core, mem, platform, new ArmGuestRam(core, ARM_RAM_BASE, ARM_HOST_LAYOUT.guestRam, BigInt(mib << 20)), smmu, backend);
  }

  /**
   * Adds a physical device at StreamID `sid` (20-bit PASIDs; Linux's Arm MSI
   * doorbell window MSI_IOVA_BASE, 1 MiB at 0x800_0000, reserved in an IOAS
   * while it is attached); EEXIST if one is there.
   */
  addDevice(sid: Sid): void {
    this.platform.addDevice(sid, { pasidBits: 20, reserved: ARM_MSI_WINDOW });
  }

  /** Host-physical address of guest-physical `gpa`. */
  hpaOf(gpa: Gpa): Hpa {
    return gpa - ARM_RAM_BASE + ARM_HOST_LAYOUT.guestRam;
  }
}
