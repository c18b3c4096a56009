/**
 * A PCI Express root port: a PCI-to-PCI bridge (type-1 header, PCI-to-PCI
 * Bridge spec §3.2) leading to one secondary bus, plus the host bridge at
 * 00:00.0 so enumeration finds a normal root complex. The bridge has no BARs
 * of its own; it forwards configuration requests for its bus range and
 * memory requests inside its memory window (bus.ts does the routing).
 */
import type { Sid } from '../types.js';
import { addPcieCap, PCIE_PORT_TYPE } from './capabilities.js';
import { CFG, ConfigSpace } from './config-space.js';
import type { PciBridgeLike, PciFunction } from './bus.js';

/** Identity of the model's root ports (vendor 0x5654 "VT"; class 06.04 PCI-to-PCI bridge). */
export const ROOT_PORT_ID = { vendorId: 0x5654, deviceId: 0x0b01, classCode: 0x06_04_00, revision: 1 } as const;

/** A root port with its secondary bus. */
export class PciBridge implements PciBridgeLike {
  readonly config = new ConfigSpace({ ...ROOT_PORT_ID, headerType: 1 });
  readonly segment = new Map<number, PciFunction>();

  /** A root port at `sid` (bus 0) whose secondary and subordinate bus is `secondaryBus`. */
  constructor(readonly sid: Sid, secondaryBus: number) {
    if (!Number.isInteger(secondaryBus) || secondaryBus < 1 || secondaryBus > 255) {
      throw new Error(`secondaryBus: ${secondaryBus} is not in 1..255`);
    }
    const c = this.config;
    c.setWritable(CFG.PRIMARY_BUS, 3, 0xff_ffff);
    c.setWritable(CFG.MEMORY_BASE, 4, 0xfff0_fff0);
    c.setWritable(CFG.BRIDGE_CONTROL, 2, 0x0043);
    c.poke(CFG.SECONDARY_BUS, 1, secondaryBus);
    c.poke(CFG.SUBORDINATE_BUS, 1, secondaryBus);
    c.poke(CFG.MEMORY_BASE, 4, 0x0000_fff0); // window closed (limit < base)
    addPcieCap(c, PCIE_PORT_TYPE.ROOT_PORT);
  }

  /** Secondary bus number as currently programmed. */
  get secondaryBus(): number {
    return this.config.read(CFG.SECONDARY_BUS, 1);
  }

  /** Sets the memory window [base, base + size) as firmware does (1 MiB granular). */
  setWindow(base: bigint, size: bigint): void {
    const limit = base + size - 1n;
    this.config.poke(CFG.MEMORY_BASE, 2, Number((base >> 16n) & 0xfff0n));
    this.config.poke(CFG.MEMORY_LIMIT, 2, Number((limit >> 16n) & 0xfff0n));
  }

  /** A bridge has no BAR registers: reads 0. */
  barRead(): bigint {
    return 0n;
  }

  /** Ignored. */
  barWrite(): void {}
}

/** The host bridge at 00:00.0 (class 06.00; the q35 MCH's ids 8086:29C0). */
export class HostBridge implements PciFunction {
  readonly sid = 0 as Sid;
  readonly config = new ConfigSpace({ vendorId: 0x8086, deviceId: 0x29c0, classCode: 0x06_00_00, revision: 0 });

  /** No BARs: reads 0. */
  barRead(): bigint {
    return 0n;
  }

  /** Ignored. */
  barWrite(): void {}
}
