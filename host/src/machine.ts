/**
 * A machine: guest RAM, one VT-d unit at 0xFED90000 (q35's DMAR base), PCI
 * bus 0 and its devices (for now the DMA test device). Built from a plain
 * config object; every guest-visible access goes through `mmioRead` /
 * `mmioWrite` (physical addresses) or the RAM port.
 */
import { loadCore, type Core } from './core/core.js';
import { GuestMemory } from './core/guest-memory.js';
import { DmaTestDevice } from './devices/dma-test/device.js';
import { PciBus } from './pci/bus.js';
import { parseBdf, formatBdf, type Sid } from './types.js';
import type { InterruptSink } from './vtd/interrupts.js';
import { createProfile, type IommuOptions } from './vtd/profiles.js';
import { VtdUnit } from './vtd/vtd-unit.js';

/** Physical base of the VT-d register block. */
export const VTD_BASE = 0xfed9_0000n;
/** Size of the VT-d MMIO window (one 4 KiB page; the profile's block may be smaller). */
export const VTD_WINDOW = 0x1000n;
/** Physical base of the first device BAR; each device gets the next 64 KiB. */
export const BAR_BASE = 0xfe00_0000n;
/** The legacy VGA/BIOS hole that is not RAM (q35): 0xA0000-0xFFFFF. */
export const LOW_HOLE = { start: 0xa_0000, end: 0x10_0000 } as const;
/** RAM above this goes above 4 GiB (the PCI/MMIO hole). */
export const LOW_RAM_LIMIT = 0x8000_0000;

/** A device of the machine config. */
export interface DeviceConfig {
  /** "DD.F" or "00:DD.F" on bus 0. */
  readonly bdf: string;
  readonly kind: 'dma-test';
  /** Width of the device's DMA addresses (default 64); higher address bits are dropped. */
  readonly dmaMaskBits?: number;
}

/** What `createMachine` builds. */
export interface MachineConfig {
  /** Capability profile: 'default' (this model), 'qemu-7.2', 'qemu-10.0'. Default 'default'. */
  readonly profile?: string;
  /** VT-d options (scenario `machine.iommu`). */
  readonly iommu?: Partial<IommuOptions>;
  /** Guest RAM in MiB (default 256). */
  readonly ramMib?: number;
  readonly devices?: readonly DeviceConfig[];
  /** Every MSI the VT-d unit sends. */
  readonly onInterrupt?: InterruptSink;
  /** Guest programming errors and ignored accesses, one line each. */
  readonly log?: (msg: string) => void;
  /** Use an already loaded core (e.g. the debug build); default: load the release build. */
  readonly core?: Core;
}

/** A running machine. */
export class Machine {
  private constructor(
    readonly core: Core,
    readonly ram: GuestMemory,
    readonly vtd: VtdUnit,
    readonly bus: PciBus,
    private readonly dmaDevices: Map<number, DmaTestDevice>,
  ) {}

  /** @internal use `createMachine`. */
  static async build(config: MachineConfig): Promise<Machine> {
    const profile = createProfile(config.profile ?? 'default', config.iommu);
    const ramMib = config.ramMib ?? 256;
    if (!Number.isInteger(ramMib) || ramMib < 2 || ramMib > 16384) {
      throw new Error(`ramMib: ${String(ramMib)} is not an integer in 2..16384`);
    }
    const core = config.core ?? (await loadCore());
    addRam(core, ramMib);
    const ram = new GuestMemory(core);
    const vtd = VtdUnit.create({ core, mem: ram, profile, onInterrupt: config.onInterrupt, log: config.log });
    const bus = new PciBus();
    const devices = new Map<number, DmaTestDevice>();
    (config.devices ?? []).forEach((d, i) => {
      if (d.kind !== 'dma-test') throw new Error(`devices[${i}].kind: unknown device kind "${String(d.kind)}"`);
      const sid = parseBdf(d.bdf, `devices[${i}].bdf`);
      const dev = new DmaTestDevice(sid, vtd.portFor(sid), { dmaMaskBits: d.dmaMaskBits });
      bus.attach(dev);
      dev.config.assignBar0(Number(BAR_BASE) + i * 0x1_0000);
      dev.config.write(0x04, 2, 0x6); // firmware enables memory decoding and bus mastering
      devices.set(sid, dev);
    });
    return new Machine(core, ram, vtd, bus, devices);
  }

  /** The DMA test device at `bdf` ("00:03.0"); throws naming `bdf` if there is none. */
  dmaTest(bdf: string | Sid): DmaTestDevice {
    const sid = typeof bdf === 'number' ? bdf : parseBdf(bdf);
    const dev = this.dmaDevices.get(sid);
    if (!dev) throw new Error(`bdf: no DMA test device at ${formatBdf(sid)}`);
    return dev;
  }

  /** Physical MMIO read (4 or 8 bytes); unclaimed addresses read 0. */
  mmioRead(addr: bigint, size: number): bigint {
    if (addr >= VTD_BASE && addr < VTD_BASE + VTD_WINDOW) return this.vtd.mmioRead(Number(addr - VTD_BASE), size);
    const hit = this.bus.decode(addr);
    if (hit && (size === 4 || size === 8) && hit.offset % 4 === 0) return hit.fn.barRead(hit.offset, size);
    this.vtd.log(`unclaimed ${size}-byte MMIO read at 0x${addr.toString(16)}`);
    return 0n;
  }

  /** Physical MMIO write (4 or 8 bytes); unclaimed addresses are ignored. */
  mmioWrite(addr: bigint, size: number, value: bigint): void {
    if (addr >= VTD_BASE && addr < VTD_BASE + VTD_WINDOW) {
      this.vtd.mmioWrite(Number(addr - VTD_BASE), size, value);
      return;
    }
    const hit = this.bus.decode(addr);
    if (hit && (size === 4 || size === 8) && hit.offset % 4 === 0) {
      hit.fn.barWrite(hit.offset, size, value);
      return;
    }
    this.vtd.log(`unclaimed ${size}-byte MMIO write at 0x${addr.toString(16)}`);
  }

  /** System reset: VT-d unit and devices back to power-on state (RAM is kept). */
  reset(): void {
    this.vtd.reset();
    for (const d of this.dmaDevices.values()) d.reset();
  }
}

/** RAM below 4 GiB around the legacy hole, the rest above 4 GiB (q35 layout). */
function addRam(core: Core, ramMib: number): void {
  const total = ramMib * 0x10_0000;
  const low = Math.min(total, LOW_RAM_LIMIT);
  core.addRam(0, LOW_HOLE.start);
  core.addRam(LOW_HOLE.end, low - LOW_HOLE.end);
  if (total > low) core.addRam(0x1_0000_0000, total - low);
}

/**
 * Builds a machine from a config: RAM, the VT-d unit (profile and options),
 * PCI bus 0 with the listed devices. Throws an `Error` naming the bad field.
 */
export function createMachine(config: MachineConfig = {}): Promise<Machine> {
  return Machine.build(config);
}
