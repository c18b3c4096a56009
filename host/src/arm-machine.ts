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
import { buildIort } from './acpi/iort.js';
import type { DeviceConfig, MachineBacking } from './machine.js';
import { checkArmMachineConfig } from './machine-check.js';
import { PciBus, type DeviceTlbInvalidation } from './pci/bus.js';
import { enumerate } from './pci/firmware.js';
import { attachDevices } from './pci/hierarchy.js';
import type { DeviceMsiSink } from './pci/msi.js';
import { checkAddr, checkDword, PciMachine, startMachine } from './pci-machine.js';
import { restoreArmMachine, snapshotArmMachine } from './snapshot/arm-snapshot.js';
import type { MsiDoorbell } from './smmu/msi.js';
import type { SmmuOptions } from './smmu/profiles.js';
import type { PageResponseTarget } from './vtd/prq/page-request.js';
import { SmmuUnit, type SmmuInterrupt } from './smmu/smmu-unit.js';
import { SMMU_FRAME } from './smmu/spec/registers.js';
import type { Sid, Gpa } from './types.js';

/** Physical base of the SMMUv3 register frame (virt's VIRT_SMMU). */
export const SMMU_BASE = 0x0905_0000n;
/** Size of the SMMUv3 register frame (IHI 0070 §6.2: pages 0 and 1). */
export const SMMU_WINDOW = BigInt(SMMU_FRAME);
const SMMU_BASE_NUM = Number(SMMU_BASE);
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
/**
 * The interrupt controller's MSI doorbells on `virt` (IHI 0070 §3.18.2: an
 * SMMU MSI targets GITS_TRANSLATER or GICD_SETSPI_NSR in a GICv3 system):
 * the GIC distributor's frame (VIRT_GIC_DIST, GICD_SETSPI_NSR at +0x40),
 * the GICv2m frame (VIRT_GIC_V2M, MSI_SETSPI_NS at +0x40) and the GICv3
 * ITS (VIRT_GIC_ITS, GITS_TRANSLATER at +0x1_0040). An SMMU MSI there
 * reaches `onInterrupt`; one into RAM is a memory write; anywhere else it
 * aborts (GERROR.MSI_*_ABT_ERR; smmu/msi.ts).
 */
export const ARM_MSI_DOORBELLS: readonly MsiDoorbell[] = [
  { base: 0x0800_0000, size: 0x1_0000 },
  { base: 0x0802_0000, size: 0x1000 },
  { base: 0x0808_0000, size: 0x2_0000 },
];
/** GIC INTID of SPI n. */
const GSIV_OF_SPI = 32;

/** What `createArmMachine` builds. */
export interface ArmMachineConfig {
  /** SMMUv3 capability profile: 'default' (this model), 'qemu-7.2', 'qemu-10.0'. Default 'default'. */
  readonly profile?: string;
  /** Narrows the profile (stage 1 / stage 2 / SubstreamID bits). */
  readonly smmu?: SmmuOptions;
  /** Guest RAM in MiB, 2..MAX_RAM_MIB (4032; default 256). */
  readonly ramMib?: number;
  /** PCI devices behind the SMMU (default none). */
  readonly devices?: readonly DeviceConfig[];
  /**
   * Every interrupt the SMMU signals: an MSI the guest aimed at a doorbell
   * (SMMU_IDR0.MSI and a non-zero *_IRQ_CFG0 or CMD_SYNC.MSIAddress inside
   * `msiDoorbells`), else the wired line (`SMMU_SPI[irq.source]`) when the
   * guest programmed no MSI. MSIs into RAM are memory writes, MSIs anywhere
   * else abort (GERROR.MSI_*_ABT_ERR): neither reaches this callback.
   */
  readonly onInterrupt?: (irq: SmmuInterrupt) => void;
  /** Physical windows whose MSI writes are interrupts (default `ARM_MSI_DOORBELLS`, virt's GIC frames). */
  readonly msiDoorbells?: readonly MsiDoorbell[];
  /** Every MSI a PCI device sends. */
  readonly onDeviceInterrupt?: DeviceMsiSink;
  /** Guest programming errors and ignored accesses, one line each. */
  readonly log?: (msg: string) => void;
  /** Use an already loaded core; default: load the release build. */
  readonly core?: Core;
  /** A VMM backs guest RAM and device DMA (as `MachineConfig.backing`). */
  readonly backing?: MachineBacking;
}

/**
 * An ATS Invalidate Request (CMD_ATC_INV, IHI 0070 §4.5.1) to the function
 * at requester id `sid`, through the root complex: false when it does not
 * answer (the CMD_SYNC after it then fails, §3.9.1.4). A StreamID with no
 * function, or one without an ATC, answers UR: the command completes
 * without error (§3.9.1.5).
 */
function invalidateAtc(bus: PciBus, sid: Sid, req: DeviceTlbInvalidation): boolean {
  return bus.deviceBySid(sid)?.deviceTlbInvalidate?.(req) !== 'timeout';
}

const ARM_WINDOWS = { unitBase: SMMU_BASE, unitSize: SMMU_WINDOW, ecamBase: ARM_ECAM_BASE } as const;

/** A running Arm machine (core, RAM, devices and their lookup: pci-machine.ts). */
export class ArmMachine extends PciMachine<ArmMachineConfig, SmmuUnit> {
  /** The SMMUv3 at `SMMU_BASE`. */
  get smmu(): SmmuUnit { return this.unit; }

  /** @internal use `createArmMachine`. */
  static async build(config: ArmMachineConfig): Promise<ArmMachine> {
    // Everything that can be refused is refused here, before the core is touched.
    const plan = checkArmMachineConfig(config);
    const { core, ram, log } = await startMachine(config, (c) => c.addRam(ARM_RAM_BASE, plan.ramMib * 0x10_0000));
    const bus = new PciBus();
    const smmu = new SmmuUnit({
      core, mem: ram, profile: plan.profile, onInterrupt: config.onInterrupt, msiDoorbells: plan.msiDoorbells ?? ARM_MSI_DOORBELLS, log,
      atcInvalidate: (sid, ssid, addr, sizeLg2, global) => invalidateAtc(bus, sid, { pasid: ssid, addr, sizeLg2, global }),
    });
    const portFor = (sid: Sid) => config.backing?.portFor(sid) ?? smmu.portFor(sid);
    const devices = attachDevices(bus, plan, portFor, () => config.onDeviceInterrupt, log);
    // CMD_PRI_RESP goes back to the requester: StreamID = requester id (IORT identity mapping, IHI 0070 chapter 8).
    smmu.setPageResponseRouter((sid) => {
      const fn = bus.deviceBySid(sid);
      return fn?.pageGroupResponse ? (fn as PageResponseTarget) : undefined;
    });
    enumerate(bus, ARM_BAR_WINDOW.base, ARM_BAR_WINDOW.limit);
    return new ArmMachine(core, ram, smmu, bus, devices, config, ARM_WINDOWS);
  }

  /**
   * The number API of `Machine` (docs/EMBEDDING.md "The MMIO window"):
   * physical 4-byte MMIO read at `addr` (a number below 2^53) as a u32.
   * The SMMU's frame is answered on numbers (no BigInt); ECAM and BARs as
   * `mmioRead`.
   */
  mmioRead32(addr: Gpa<number>): number {
    const off = addr - SMMU_BASE_NUM;
    if ((off >>> 0) === off && off < SMMU_FRAME) return this.unit.read32(off);
    return Number(this.mmioRead(BigInt(checkAddr(addr)), 4));
  }

  /** Physical 8-byte MMIO read at `addr`: the low dword; the high dword is then in `readHigh`. */
  mmioRead64(addr: Gpa<number>): number {
    const off = addr - SMMU_BASE_NUM;
    if ((off >>> 0) === off && off < SMMU_FRAME) {
      const lo = this.unit.read64(off);
      this.readHigh = this.unit.readHigh;
      return lo;
    }
    const v = this.mmioRead(BigInt(checkAddr(addr)), 8);
    this.readHigh = Number(v >> 32n);
    return Number(v & 0xffff_ffffn);
  }

  /** Physical 4-byte MMIO write of `value` (u32, or the same bits as an i32) at `addr`. */
  mmioWrite32(addr: Gpa<number>, value: number): void {
    const off = addr - SMMU_BASE_NUM;
    if ((off >>> 0) === off && off < SMMU_FRAME) this.unit.write32(off, value); // the unit checks value
    else this.mmioWrite(BigInt(checkAddr(addr)), 4, BigInt(checkDword(value, 'value')));
  }

  /** Physical 8-byte MMIO write of `hi:lo` at `addr` (halves u32 or i32). */
  mmioWrite64(addr: Gpa<number>, lo: number, hi: number): void {
    const off = addr - SMMU_BASE_NUM;
    if ((off >>> 0) === off && off < SMMU_FRAME) this.unit.write64(off, lo, hi); // the unit checks lo and hi
    else this.mmioWrite(BigInt(checkAddr(addr)), 8, BigInt(checkDword(lo, 'lo')) | (BigInt(checkDword(hi, 'hi')) << 32n));
  }

  /** The ACPI IORT describing this machine's SMMU and root complex (acpi/iort.ts). */
  iortTable(): Uint8Array {
    const caps = this.unit.caps;
    const gsiv = (spi: number): number => spi + GSIV_OF_SPI;
    return buildIort({
      smmuBase: SMMU_BASE, coherent: caps.coherent, pasidBits: caps.ssidBits, addressBits: 64, ats: caps.ats,
      gsiv: { event: gsiv(SMMU_SPI.eventq), pri: gsiv(SMMU_SPI.priq), sync: gsiv(SMMU_SPI['cmd-sync']), gerror: gsiv(SMMU_SPI.gerror) },
    });
  }

  /**
   * The whole machine state (RAM, the SMMUv3's registers, ECAM latch,
   * devices) in the versioned, checksummed snapshot format of `Machine`
   * (snapshot/arm-snapshot.ts). Throws for a VMM-backed machine
   * (`config.backing`): its RAM and DMA are the host's.
   */
  snapshot(): Uint8Array {
    return snapshotArmMachine(this);
  }

  /**
   * Restores a snapshot taken from an Arm machine with an equal config, all
   * or nothing: throws an Error naming what does not fit (damaged bytes,
   * another config, a register value the profile could not have) and then
   * has changed nothing. The SMMU's caches start empty.
   */
  restore(bytes: Uint8Array): void {
    restoreArmMachine(this, bytes);
  }

  /** System reset: the SMMU and the devices back to power-on state, firmware enumerates again (RAM is kept). */
  reset(): void {
    this.unit.reset();
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
