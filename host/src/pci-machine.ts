/**
 * What the VT-d machine (machine.ts) and the Arm machine (arm-machine.ts)
 * share, in one home: the core, guest RAM, the PCI hierarchy and its
 * devices, the config a machine was built from, finding a device by BDF,
 * and the checks of the MMIO API's arguments (an Error naming the bad one).
 * Each machine adds its IOMMU, its address map and its ACPI table.
 */
import type { Core } from './core/core.js';
import type { GuestMemory } from './core/guest-memory.js';
import type { DmaTestDevice } from './devices/dma-test/device.js';
import type { ModelDevice } from './devices/registry.js';
import type { PciBus } from './pci/bus.js';
import { ConfigAccess } from './pci/config-access.js';
import { deviceAt, dmaTestAt } from './pci/hierarchy.js';
import type { Sid } from './types.js';

/** A machine with a PCI hierarchy behind one IOMMU, built from a config of type `C`. */
export abstract class PciMachine<C> {
  /** Configuration mechanisms (ECAM; on the VT-d machine also ports 0xCF8/0xCFC). */
  readonly configAccess: ConfigAccess;
  /** High dword of the last `mmioRead64`. */
  readHigh = 0;

  protected constructor(
    /** The WASM core (standalone: its linear memory holds guest RAM). */
    readonly core: Core,
    /** Guest-physical memory, untranslated. */
    readonly ram: GuestMemory,
    /** The PCI hierarchy the devices sit on. */
    readonly bus: PciBus,
    /** The configured devices by requester id. */
    protected readonly devices: ReadonlyMap<number, ModelDevice>,
    /** The config the machine was built from. */
    readonly config: C,
  ) {
    this.configAccess = new ConfigAccess(bus);
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

/** A physical MMIO access of the BigInt API: a 64-bit address and 1, 2, 4 or 8 bytes; Error naming the argument otherwise. */
export function checkAccess(addr: bigint, size: number): void {
  if (typeof addr !== 'bigint' || addr < 0n || addr >> 64n !== 0n) throw new Error(`addr: ${String(addr)} is not a 64-bit physical address`);
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new Error(`size: ${String(size)} is not 1, 2, 4 or 8`);
}

/** A `size`-byte value of an MMIO write (unsigned, or the same bits signed) as unsigned; Error naming `value` otherwise. */
export function checkValue(value: bigint, size: number): bigint {
  const bits = BigInt(8 * size);
  if (typeof value !== 'bigint' || value < -(1n << (bits - 1n)) || value >= 1n << bits) throw new Error(`value: ${String(value)} is not a ${size}-byte value`);
  return value < 0n ? value + (1n << bits) : value;
}

/** `addr` as a physical address of the number API; Error naming `addr` otherwise. */
export function checkAddr(addr: number): number {
  if (!Number.isSafeInteger(addr) || addr < 0) throw new Error(`addr: ${String(addr)} is not a physical address below 2^53`);
  return addr;
}

/** A u32 (or i32) as a u32; Error naming the argument otherwise. */
export function checkDword(v: number, what: string): number {
  if (v !== (v | 0) && v !== (v >>> 0)) throw new Error(`${what}: ${String(v)} is not a 32-bit integer`);
  return v >>> 0;
}
