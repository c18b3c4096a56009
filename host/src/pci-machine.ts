/**
 * What the VT-d machine (machine.ts) and the Arm machine (arm-machine.ts)
 * share, in one home: the core, guest RAM, the PCI hierarchy and its
 * devices, the config a machine was built from, finding a device by BDF,
 * the BigInt MMIO API (the IOMMU's register window, then ECAM and BARs)
 * and the checks of its arguments (an Error naming the bad one). Each
 * machine adds its IOMMU, its address map, the number MMIO API's fast
 * paths and its ACPI table.
 */
import type { Core } from './core/core.js';
import { loadDefaultCore } from './core/default-core.js';
import { GuestMemory } from './core/guest-memory.js';
import type { DmaTestDevice } from './devices/dma-test/device.js';
import type { ModelDevice } from './devices/registry.js';
import type { PciBus } from './pci/bus.js';
import { ConfigAccess } from './pci/config-access.js';
import { deviceAt, dmaTestAt, pciRead, pciWrite, type PciWindows } from './pci/hierarchy.js';
import type { Gpa, Sid } from './types.js';

/** An IOMMU unit as the BigInt MMIO API reaches it (a VtdUnit or an SmmuUnit): reads and writes by offset in its window, and its log (unclaimed accesses go there too). */
export interface MmioUnit {
  /** Guest read of `size` bytes at `offset` in the window. */
  mmioRead(offset: number, size: number): bigint;
  /** Guest write of `size` bytes at `offset` in the window. */
  mmioWrite(offset: number, size: number, value: bigint): void;
  /** Logs one line (guest mistakes, unclaimed accesses). */
  log(msg: string): void;
}

/** Where a machine's IOMMU window and ECAM sit (physical addresses). */
export interface MachineWindows {
  /** Base of the IOMMU's register window. */
  readonly unitBase: bigint;
  /** Size of the IOMMU's register window in bytes. */
  readonly unitSize: bigint;
  /** Base of the ECAM window (256 buses). */
  readonly ecamBase: bigint;
}

/** A machine with a PCI hierarchy behind one IOMMU unit of type `U`, built from a config of type `C`. */
export abstract class PciMachine<C, U extends MmioUnit> {
  /** Configuration mechanisms (ECAM; on the VT-d machine also ports 0xCF8/0xCFC). */
  readonly configAccess: ConfigAccess;
  /** High dword of the last `mmioRead64`. */
  readHigh = 0;
  /** ECAM and the BARs, for physical accesses outside the IOMMU's window. */
  protected readonly pciWindows: PciWindows;

  protected constructor(
    /** The WASM core (standalone: its linear memory holds guest RAM). */
    readonly core: Core,
    /** Guest-physical memory, untranslated. */
    readonly ram: GuestMemory,
    /** The IOMMU unit (the subclass names it: `vtd`, `smmu`). */
    protected readonly unit: U,
    /** The PCI hierarchy the devices sit on. */
    readonly bus: PciBus,
    /** The configured devices by requester id. */
    protected readonly devices: ReadonlyMap<number, ModelDevice>,
    /** The config the machine was built from. */
    readonly config: C,
    private readonly windows: MachineWindows,
  ) {
    this.configAccess = new ConfigAccess(bus);
    this.pciWindows = { bus, configAccess: this.configAccess, ecamBase: windows.ecamBase };
  }

  /**
   * Physical MMIO read (4 or 8 bytes; ECAM also 1 and 2; the IOMMU's window
   * logs and ignores 1- and 2-byte accesses); unclaimed addresses read 0
   * (logged). An `addr` that is not a 64-bit address or a `size` not 1, 2,
   * 4 or 8 is an Error naming it.
   */
  mmioRead(addr: Gpa, size: number): bigint {
    checkAccess(addr, size);
    const w = this.windows;
    if (addr >= w.unitBase && addr < w.unitBase + w.unitSize) return this.unit.mmioRead(Number(addr - w.unitBase), size);
    const v = pciRead(this.pciWindows, addr, size);
    if (v !== undefined) return v;
    this.unit.log(`unclaimed ${size}-byte MMIO read at 0x${addr.toString(16)}`);
    return 0n;
  }

  /** Physical MMIO write (sizes as `mmioRead`; `value` unsigned or the same bits signed); unclaimed addresses are ignored (logged). */
  mmioWrite(addr: Gpa, size: number, value: bigint): void {
    checkAccess(addr, size);
    value = checkValue(value, size);
    const w = this.windows;
    if (addr >= w.unitBase && addr < w.unitBase + w.unitSize) this.unit.mmioWrite(Number(addr - w.unitBase), size, value);
    else if (!pciWrite(this.pciWindows, addr, size, value)) this.unit.log(`unclaimed ${size}-byte MMIO write at 0x${addr.toString(16)}`);
  }

  /** The DMA test device at `bdf` ("00:03.0" or a requester id); throws naming `bdf` if there is none. */
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
}

/** What a machine's build starts from, once its config passed (machine-check.ts). */
export interface MachineStart {
  /** The core (the config's or the release build). */
  readonly core: Core;
  /** Guest RAM: the core's, or the VMM's view (`backing.ram`). */
  readonly ram: GuestMemory;
  /** The config's log sink, or one that drops lines. */
  readonly log: (msg: string) => void;
}

/**
 * The core (the config's, or the release build loaded) with guest RAM:
 * `addRam` lays it out unless a VMM backs the machine (`backing`) or the
 * core's RAM is already there (an embedder mapped its own with
 * core.mapRam: it keeps it); and the log sink.
 */
export async function startMachine(
  config: { readonly core?: Core; readonly backing?: { readonly ram: GuestMemory }; readonly log?: (msg: string) => void },
  addRam: (core: Core) => void,
): Promise<MachineStart> {
  const core = config.core ?? (await loadDefaultCore());
  if (!config.backing && core.ramRegions().length === 0) addRam(core);
  return { core, ram: config.backing?.ram ?? new GuestMemory(core), log: config.log ?? (() => {}) };
}

/** A physical MMIO access of the BigInt API: a 64-bit address and 1, 2, 4 or 8 bytes; Error naming the argument otherwise. */
function checkAccess(addr: Gpa, size: number): void {
  if (typeof addr !== 'bigint' || addr < 0n || addr >> 64n !== 0n) throw new Error(`addr: ${String(addr)} is not a 64-bit physical address`);
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new Error(`size: ${String(size)} is not 1, 2, 4 or 8`);
}

/** A `size`-byte value of an MMIO write (unsigned, or the same bits signed) as unsigned; Error naming `value` otherwise. */
function checkValue(value: bigint, size: number): bigint {
  const bits = BigInt(8 * size);
  if (typeof value !== 'bigint' || value < -(1n << (bits - 1n)) || value >= 1n << bits) throw new Error(`value: ${String(value)} is not a ${size}-byte value`);
  return value < 0n ? value + (1n << bits) : value;
}

/** `addr` as a physical address of the number API; Error naming `addr` otherwise. */
export function checkAddr(addr: Gpa<number>): number {
  if (!Number.isSafeInteger(addr) || addr < 0) throw new Error(`addr: ${String(addr)} is not a physical address below 2^53`);
  return addr;
}

/** A u32 (or i32) as a u32; Error naming the argument otherwise. */
export function checkDword(v: number, what: string): number {
  if (v !== (v | 0) && v !== (v >>> 0)) throw new Error(`${what}: ${String(v)} is not a 32-bit integer`);
  return v >>> 0;
}
