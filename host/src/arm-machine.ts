/**
 * An Arm machine with an SMMUv3 (the second front end, ARCHITECTURE.md
 * "Front ends share the core"), laid out as QEMU's `-machine
 * virt,iommu=smmuv3`: guest RAM from 0x4000_0000, the SMMU's 128 KiB
 * register frame at 0x0905_0000 with four wired interrupts (SPIs 74-77),
 * a PCIe root complex with ECAM at 0x40_1000_0000 and BARs in the 32-bit
 * window 0x1000_0000-0x3EFE_FFFF. Every PCI device sits behind the SMMU and
 * DMAs through it with its requester id as StreamID (the IORT's identity
 * ID mapping, `iortTable()`), a PASID-tagged request with the PASID as
 * SubstreamID. Built from a plain config object, like `createMachine`; the
 * guest reaches everything through `mmioRead` / `mmioWrite` and guest RAM.
 */
import type { Core } from './core/core.js';
import { loadDefaultCore } from './core/default-core.js';
import { GuestMemory } from './core/guest-memory.js';
import { buildIort } from './acpi/iort.js';
import type { DmaTestDevice } from './devices/dma-test/device.js';
import type { ModelDevice } from './devices/registry.js';
import { checkAddr, checkDword, type DeviceConfig, type MachineBacking } from './machine.js';
import { PciBus } from './pci/bus.js';
import { ConfigAccess } from './pci/config-access.js';
import { enumerate } from './pci/firmware.js';
import { attachDevices, deviceAt, dmaTestAt, pciRead, pciWrite, type PciWindows } from './pci/hierarchy.js';
import type { DeviceMsiSink } from './pci/msi.js';
import { createSmmuProfile, type SmmuOptions } from './smmu/profiles.js';
import { SmmuUnit, type SmmuInterrupt } from './smmu/smmu-unit.js';
import { SMMU_FRAME } from './smmu/spec/registers.js';
import type { Sid, Gpa } from './types.js';

/** Physical base of the SMMUv3 register frame (virt's VIRT_SMMU). */
export const SMMU_BASE = 0x0905_0000n;
/** Size of the SMMUv3 register frame (IHI 0070 §6.2: pages 0 and 1). */
export const SMMU_WINDOW = BigInt(SMMU_FRAME);
/** Guest-physical base of RAM (virt's VIRT_MEM). */
export const ARM_RAM_BASE = 0x4000_0000n;
/** Physical base of the ECAM window (virt's VIRT_HIGH_PCIE_ECAM; 256 buses). */
export const ARM_ECAM_BASE = 0x40_1000_0000n;
/** The 32-bit window firmware places BARs in (virt's VIRT_PCIE_MMIO). */
export const ARM_BAR_WINDOW = { base: 0x1000_0000n, limit: 0x3eff_0000n } as const;
/**
 * The SMMU's wired interrupts: SPI numbers by source (virt: SPIs 74-77;
 * the GIC INTID is SPI + 32, which is what the IORT's GSIVs hold).
 */
export const SMMU_SPI = { eventq: 74, priq: 75, 'cmd-sync': 76, gerror: 77 } as const;
/** GIC INTID of SPI n. */
const GSIV_OF_SPI = 32;

/** What `createArmMachine` builds. */
export interface ArmMachineConfig {
  /** SMMUv3 capability profile: 'default' (this model), 'qemu-7.2', 'qemu-10.0'. Default 'default'. */
  readonly profile?: string;
  /** Narrows the profile (stage 1 / stage 2 / SubstreamID bits). */
  readonly smmu?: SmmuOptions;
  /** Guest RAM in MiB (default 256). */
  readonly ramMib?: number;
  /** PCI devices behind the SMMU (default none). */
  readonly devices?: readonly DeviceConfig[];
  /**
   * Every interrupt the SMMU signals: an MSI when the guest programmed one
   * (SMMU_IDR0.MSI and a non-zero *_IRQ_CFG0), else the wired line
   * (`SMMU_SPI[irq.source]`).
   */
  readonly onInterrupt?: (irq: SmmuInterrupt) => void;
  /** Every MSI a PCI device sends. */
  readonly onDeviceInterrupt?: DeviceMsiSink;
  /** Guest programming errors and ignored accesses, one line each. */
  readonly log?: (msg: string) => void;
  /** Use an already loaded core; default: load the release build. */
  readonly core?: Core;
  /** A VMM backs guest RAM and device DMA (as `MachineConfig.backing`). */
  readonly backing?: MachineBacking;
}

/** A running Arm machine. */
export class ArmMachine {
  /** Configuration space through ECAM. */
  readonly configAccess: ConfigAccess;

  private constructor(
    /** The WASM core (standalone: its linear memory holds guest RAM). */
    readonly core: Core,
    /** Guest-physical memory, untranslated. */
    readonly ram: GuestMemory,
    /** The SMMUv3 at `SMMU_BASE`. */
    readonly smmu: SmmuUnit,
    /** The PCI hierarchy behind the SMMU. */
    readonly bus: PciBus,
    private readonly devices: Map<number, ModelDevice>,
    /** The config the machine was built from. */
    readonly config: ArmMachineConfig,
  ) {
    this.configAccess = new ConfigAccess(bus);
    this.pciWindows = { bus, configAccess: this.configAccess, ecamBase: ARM_ECAM_BASE };
  }

  /** ECAM and the BARs, for physical accesses outside the SMMU's frame. */
  private readonly pciWindows: PciWindows;

  /** @internal use `createArmMachine`. */
  static async build(config: ArmMachineConfig): Promise<ArmMachine> {
    if (typeof config !== 'object' || config === null) throw new Error(`config: ${String(config)} is not an object`);
    const profile = createSmmuProfile(config.profile ?? 'default', config.smmu);
    const ramMib = config.ramMib ?? 256;
    if (!Number.isInteger(ramMib) || ramMib < 2 || ramMib > 16384) throw new Error(`ramMib: ${String(ramMib)} is not an integer in 2..16384`);
    const core = config.core ?? (await loadDefaultCore());
    if (!config.backing) core.addRam(ARM_RAM_BASE, ramMib << 20);
    const ram = config.backing?.ram ?? new GuestMemory(core);
    const log = config.log ?? (() => {});
    const smmu = new SmmuUnit({ core, mem: ram, profile, onInterrupt: config.onInterrupt, log });
    const bus = new PciBus();
    const portFor = (sid: Sid) => config.backing?.portFor(sid) ?? smmu.portFor(sid);
    const devices = attachDevices(bus, config.devices ?? [], portFor, () => config.onDeviceInterrupt, log);
    enumerate(bus, ARM_BAR_WINDOW.base, ARM_BAR_WINDOW.limit);
    return new ArmMachine(core, ram, smmu, bus, devices, config);
  }

  /** The DMA test device at `bdf`; throws naming `bdf` if there is none. */
  dmaTest(bdf: string | Sid): DmaTestDevice {
    return dmaTestAt(this.devices, bdf);
  }

  /** The device at `bdf`; throws naming `bdf` if there is none. */
  device(bdf: string | Sid): ModelDevice {
    return deviceAt(this.devices, bdf);
  }

  /** Every configured device, in requester-id order. */
  deviceList(): ModelDevice[] {
    return [...this.devices.values()].sort((a, b) => a.sid - b.sid);
  }

  /** High dword of the last `mmioRead64`. */
  readHigh = 0;

  /**
   * The number API of `Machine` (docs/EMBEDDING.md "The MMIO window"):
   * physical 4-byte MMIO read at `addr` (a number below 2^53) as a u32.
   * Here it goes through the BigInt path (the SMMU's register file is
   * BigInt-based): same answers, no speed-up.
   */
  mmioRead32(addr: Gpa<number>): number {
    return Number(this.mmioRead(BigInt(checkAddr(addr)), 4));
  }

  /** Physical 8-byte MMIO read at `addr`: the low dword; the high dword is then in `readHigh`. */
  mmioRead64(addr: Gpa<number>): number {
    const v = this.mmioRead(BigInt(checkAddr(addr)), 8);
    this.readHigh = Number(v >> 32n);
    return Number(v & 0xffff_ffffn);
  }

  /** Physical 4-byte MMIO write of `value` (u32, or the same bits as an i32) at `addr`. */
  mmioWrite32(addr: Gpa<number>, value: number): void {
    this.mmioWrite(BigInt(checkAddr(addr)), 4, BigInt(checkDword(value, 'value')));
  }

  /** Physical 8-byte MMIO write of `hi:lo` at `addr` (halves u32 or i32). */
  mmioWrite64(addr: Gpa<number>, lo: number, hi: number): void {
    this.mmioWrite(BigInt(checkAddr(addr)), 8, BigInt(checkDword(lo, 'lo')) | (BigInt(checkDword(hi, 'hi')) << 32n));
  }

  /** Physical MMIO read (4 or 8 bytes; ECAM also 1 and 2); unclaimed addresses read 0 (logged). */
  mmioRead(addr: Gpa, size: number): bigint {
    if (addr >= SMMU_BASE && addr < SMMU_BASE + SMMU_WINDOW) return this.smmu.mmioRead(Number(addr - SMMU_BASE), size);
    const v = pciRead(this.pciWindows, addr, size);
    if (v !== undefined) return v;
    this.smmu.log(`unclaimed ${size}-byte MMIO read at 0x${addr.toString(16)}`);
    return 0n;
  }

  /** Physical MMIO write (4 or 8 bytes; ECAM also 1 and 2); unclaimed addresses are ignored (logged). */
  mmioWrite(addr: Gpa, size: number, value: bigint): void {
    if (addr >= SMMU_BASE && addr < SMMU_BASE + SMMU_WINDOW) {
      this.smmu.mmioWrite(Number(addr - SMMU_BASE), size, value);
      return;
    }
    if (pciWrite(this.pciWindows, addr, size, value)) return;
    this.smmu.log(`unclaimed ${size}-byte MMIO write at 0x${addr.toString(16)}`);
  }

  /** The ACPI IORT describing this machine's SMMU and root complex (acpi/iort.ts). */
  iortTable(): Uint8Array {
    const caps = this.smmu.caps;
    const gsiv = (spi: number): number => spi + GSIV_OF_SPI;
    return buildIort({
      smmuBase: SMMU_BASE, coherent: caps.coherent, pasidBits: caps.ssidBits, addressBits: 64,
      gsiv: { event: gsiv(SMMU_SPI.eventq), pri: gsiv(SMMU_SPI.priq), sync: gsiv(SMMU_SPI['cmd-sync']), gerror: gsiv(SMMU_SPI.gerror) },
    });
  }

  /** System reset: the SMMU and the devices back to power-on state, firmware enumerates again (RAM is kept). */
  reset(): void {
    this.smmu.reset();
    for (const d of this.devices.values()) d.reset();
    enumerate(this.bus, ARM_BAR_WINDOW.base, ARM_BAR_WINDOW.limit);
  }
}

/**
 * Builds an Arm machine from a config: RAM, the SMMUv3 (profile and
 * options), PCI devices behind it. Throws an `Error` naming the bad field.
 */
export function createArmMachine(config: ArmMachineConfig = {}): Promise<ArmMachine> {
  return ArmMachine.build(config);
}
