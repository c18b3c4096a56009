/**
 * A machine: guest RAM, one VT-d unit at 0xFED90000 (q35's DMAR base), the
 * PCI hierarchy (host bridge, root ports for secondary buses, the configured
 * devices) with ECAM at 0xB0000000 and ports 0xCF8/0xCFC. Built from a plain
 * config object; every guest-visible access goes through `mmioRead` /
 * `mmioWrite` (physical addresses), `ioRead` / `ioWrite` or the RAM port.
 */
import type { Core } from './core/core.js';
import { CFG_HAW } from './core/constants.js';
import { GuestMemory } from './core/guest-memory.js';
import { buildDmar, type RmrrConfig } from './acpi/dmar.js';
import type { DeviceKind, DeviceOptions } from './devices/registry.js';
import { checkMachineConfig } from './machine-check.js';
import { checkAddr, checkDword, PciMachine, startMachine } from './pci-machine.js';
import { attachDevices } from './pci/hierarchy.js';
import { PciBridge } from './pci/bridge.js';
import { PciBus } from './pci/bus.js';
import { ECAM_SIZE } from './pci/config-access.js';
import { enumerate } from './pci/firmware.js';
import type { DmaPort } from './pci/dma-port.js';
import { restoreMachine, snapshotMachine } from './snapshot/machine-snapshot.js';
import { parseBdf, type Sid, type Gpa } from './types.js';
import type { InterruptSink } from './vtd/interrupts.js';
import { routeDeviceInterrupts, type DeliveredInterruptSink } from './vtd/ir/device-interrupts.js';
import { createProfile, createProfileFromDevice, type IommuOptions, type Profile } from './vtd/profiles.js';
import { VtdUnit, type InternalErrorSink } from './vtd/vtd-unit.js';

/** Physical base of the VT-d register block. */
export const VTD_BASE = 0xfed9_0000n;
/** Size of the VT-d MMIO window (one 4 KiB page; the profile's block may be smaller). */
export const VTD_WINDOW = 0x1000n;
/** `VTD_BASE` as a number (the number MMIO API). */
const VTD_BASE_NUM = Number(VTD_BASE);
const VTD_WINDOW_NUM = Number(VTD_WINDOW);
const ECAM_BASE_NUM = 0xb000_0000;
/** Physical base of the MMIO window firmware places device BARs in. */
export const BAR_BASE = 0xfe00_0000n;
/** The legacy VGA/BIOS hole that is not RAM (q35): 0xA0000-0xFFFFF. */
export const LOW_HOLE = { start: 0xa_0000, end: 0x10_0000 } as const;
/** RAM above this goes above 4 GiB (the PCI/MMIO hole). */
export const LOW_RAM_LIMIT = 0x8000_0000;

/** Physical base of the ECAM window (q35's MCFG base; 256 buses). */
export const ECAM_BASE = 0xb000_0000n;
/** End (exclusive) of the 32-bit MMIO window BARs are placed in. */
export const BAR_LIMIT = 0xfec0_0000n;

/** A device of the machine config. */
export interface DeviceConfig extends DeviceOptions {
  /** "BB:DD.F" or "DD.F" (bus 0); a bus above 0 gets a root port on bus 0 leading to it. */
  readonly bdf: string;
  /** Which device model to build (host/src/devices/registry.ts). */
  readonly kind: DeviceKind;
}

/** What `createMachine` builds. */
export interface MachineConfig {
  /** Capability profile: 'default' (this model), 'qemu-7.2', 'qemu-10.0'. Default 'default'. */
  readonly profile?: string;
  /** VT-d options (scenario `machine.iommu`); missing ones take the profile's defaults. */
  readonly iommu?: Partial<IommuOptions>;
  /**
   * The VT-d unit as QEMU's `-device intel-iommu,...` property string, instead of `iommu`, for the
   * `qemu-7.2` / `qemu-10.0` profiles: QEMU's property names, values and defaults, e.g.
   * `'intel-iommu,caching-mode=on,aw-bits=48,x-scalable-mode=on'` (host/src/vtd/qemu-device.ts).
   */
  readonly device?: string;
  /** Guest RAM in MiB, 2..MAX_RAM_MIB (4032; default 256). */
  readonly ramMib?: number;
  /** PCI devices to attach (default none). */
  readonly devices?: readonly DeviceConfig[];
  /** Every MSI the VT-d unit sends. */
  readonly onInterrupt?: InterruptSink;
  /**
   * Every interrupt a PCI device's MSI raises, as the platform's interrupt
   * controller receives it: as the guest programmed it, or remapped by the
   * unit's interrupt remapping (`remapped` set); blocked ones never arrive.
   * MSIs written outside 0xFEEx_xxxx are DMA writes, not interrupts.
   */
  readonly onDeviceInterrupt?: DeliveredInterruptSink;
  /** Reserved memory regions for the DMAR table (RMRR). */
  readonly rmrr?: readonly RmrrConfig[];
  /** Guest programming errors and ignored accesses, one line each. */
  readonly log?: (msg: string) => void;
  /** Internal errors: exceptions the model caught while serving the guest (bugs; vtd-unit.ts `onInternalError`). */
  readonly onInternalError?: InternalErrorSink;
  /** Use an already loaded core (e.g. the debug build); default: load the release build. */
  readonly core?: Core;
  /**
   * A VMM runs the machine over a host (vmm/): guest RAM is the VMM's view
   * of host memory and devices DMA through the host's physical IOMMU, not
   * through this machine's unit. Default: RAM in `core`, ports on the unit.
   */
  readonly backing?: MachineBacking;
}

/** Where guest RAM and device DMA live when a VMM backs the machine. */
export interface MachineBacking {
  /** Guest-physical memory (the unit's tables, queues and the guest's data live here). */
  readonly ram: GuestMemory;
  /** The DMA port of the device the guest sees at `sid`. */
  readonly portFor: (sid: Sid) => DmaPort;
  /** ECAP bits the unit does not present: translation types the VMM cannot serve (vmm/virtual-machine.ts). */
  readonly ecapWithheld?: bigint;
}

const VTD_WINDOWS = { unitBase: VTD_BASE, unitSize: VTD_WINDOW, ecamBase: ECAM_BASE } as const;

/** A running machine (core, RAM, devices and their lookup: pci-machine.ts). */
export class Machine extends PciMachine<MachineConfig, VtdUnit> {
  /** The VT-d unit at `VTD_BASE`. */
  get vtd(): VtdUnit { return this.unit; }

  /** @internal use `createMachine`. */
  static async build(config: MachineConfig): Promise<Machine> {
    // Everything that can be refused is refused here, before the core is touched.
    const plan = checkMachineConfig(config);
    const profile = profileOf(config);
    const { core, ram, log } = await startMachine(config, (c) => addRam(c, plan.ramMib));
    const vtd = VtdUnit.create({ core, mem: ram, profile, onInterrupt: config.onInterrupt, log, onInternalError: config.onInternalError });
    const bus = new PciBus();
    const devices = attachDevices(bus, plan, (sid) => config.backing?.portFor(sid) ?? vtd.portFor(sid),
      (sid, port) => routeDeviceInterrupts(vtd, sid, port, () => config.onDeviceInterrupt), log);
    vtd.deviceTlbTarget = (sid) => bus.deviceBySid(sid);
    vtd.setPageResponseRouter((sid) => {
      const fn = bus.deviceBySid(sid);
      return fn?.pageGroupResponse ? { pageGroupResponse: (r) => fn.pageGroupResponse!(r) } : undefined;
    });
    enumerate(bus, BAR_BASE, BAR_LIMIT);
    return new Machine(core, ram, vtd, bus, devices, config, VTD_WINDOWS);
  }

  // --- MMIO: the number API (hot path; docs/EMBEDDING.md "The MMIO window") --

  /**
   * Physical 4-byte MMIO read at `addr` (a number below 2^53): the dword as a
   * u32. VT-d window, ECAM and device BARs; unclaimed addresses read 0 (logged).
   */
  mmioRead32(addr: Gpa<number>): number {
    const off = addr - VTD_BASE_NUM;
    if (off >= 0 && off < VTD_WINDOW_NUM) return this.unit.read32(off);
    return this.otherRead(addr, 4);
  }

  /** Physical 8-byte MMIO read at `addr`: returns the low dword; the high dword is then in `readHigh`. */
  mmioRead64(addr: Gpa<number>): number {
    const off = addr - VTD_BASE_NUM;
    if (off >= 0 && off < VTD_WINDOW_NUM) {
      const lo = this.unit.read64(off);
      this.readHigh = this.unit.readHigh;
      return lo;
    }
    return this.otherRead(addr, 8);
  }

  /**
   * Physical 4-byte MMIO write of `value` (u32, or the same bits as an i32)
   * at `addr`; unclaimed addresses are ignored (logged).
   */
  mmioWrite32(addr: Gpa<number>, value: number): void {
    const off = addr - VTD_BASE_NUM;
    if (off >= 0 && off < VTD_WINDOW_NUM) this.unit.write32(off, value);
    else this.mmioWrite(BigInt(checkAddr(addr)), 4, BigInt(checkDword(value, 'value')));
  }

  /** Physical 8-byte MMIO write of `hi:lo` at `addr` (halves u32 or i32). */
  mmioWrite64(addr: Gpa<number>, lo: number, hi: number): void {
    const off = addr - VTD_BASE_NUM;
    if (off >= 0 && off < VTD_WINDOW_NUM) this.unit.write64(off, lo, hi);
    else this.mmioWrite(BigInt(checkAddr(addr)), 8, BigInt(checkDword(lo, 'lo')) | (BigInt(checkDword(hi, 'hi')) << 32n));
  }

  /** ECAM and BAR reads of the number API (after the VT-d window). */
  private otherRead(addr: number, size: 4 | 8): number {
    const bar = addr >= ECAM_BASE_NUM + Number(ECAM_SIZE) || addr < ECAM_BASE_NUM ? this.bus.barAt(addr) : -1;
    let v: bigint;
    if (bar >= 0 && (addr & 3) === 0) {
      const b = this.bus.bars;
      v = b.fn(bar).barRead(b.offset(bar, addr), size, b.bar(bar));
    } else {
      v = this.mmioRead(BigInt(checkAddr(addr)), size);
    }
    this.readHigh = size === 8 ? Number(v >> 32n) : 0;
    return Number(v & 0xffff_ffffn);
  }

  /** Port read (1, 2 or 4 bytes): 0xCF8 / 0xCFC-0xCFF; other ports read all-ones. Bad `port` / `size`: an Error naming it. */
  ioRead(port: number, size: number): number {
    checkPort(port, size);
    const v = this.configAccess.ioRead(port, size);
    if (v !== undefined) return v;
    this.unit.log(`unclaimed ${size}-byte port read at 0x${port.toString(16)}`);
    return size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
  }

  /** Port write (1, 2 or 4 bytes; `value` unsigned or the same bits signed); other ports are ignored. */
  ioWrite(port: number, size: number, value: number): void {
    checkPort(port, size);
    const bits = 8 * size;
    if (!Number.isInteger(value) || value < -(2 ** (bits - 1)) || value >= 2 ** bits) throw new Error(`value: ${String(value)} is not a ${size}-byte value`);
    if (value < 0) value += 2 ** bits;
    if (!this.configAccess.ioWrite(port, size, value)) this.unit.log(`unclaimed ${size}-byte port write at 0x${port.toString(16)}`);
  }

  /** The ACPI DMAR table describing this machine's remapping unit, devices and RMRRs. */
  dmarTable(): Uint8Array {
    return buildDmar({
      haw: this.core.getConfig(CFG_HAW), registerBase: VTD_BASE,
      devices: this.bus.list().filter((f) => f.sid !== 0 && !(f instanceof PciBridge)).map((f) => f.sid),
      bridges: this.bus.list().filter((f): f is PciBridge => f instanceof PciBridge).map((b) => ({ sid: b.sid, secondary: b.secondaryBus })),
      rmrr: (this.config.rmrr ?? []).map((r, i) => ({ ...r, devices: r.devices.map((d, j) => parseBdf(d, `rmrr[${i}].devices[${j}]`)) })),
    });
  }

  /**
   * The whole machine state (RAM, VT-d unit, devices) in the versioned,
   * checksummed snapshot format (snapshot/format.ts). Throws for a
   * VMM-backed machine (`config.backing`): its RAM and DMA are the host's.
   */
  snapshot(): Uint8Array {
    return snapshotMachine(this);
  }

  /**
   * Restores a snapshot taken from a machine with an equal config, all or
   * nothing: throws an Error naming what does not fit (damaged bytes,
   * another config, a state the machine could not be in) and then has
   * changed nothing (snapshot/machine-snapshot.ts).
   */
  restore(bytes: Uint8Array): void {
    restoreMachine(this, bytes);
  }

  /** System reset: VT-d unit and devices back to power-on state, firmware enumerates again (RAM is kept). */
  reset(): void {
    this.unit.reset();
    for (const d of this.devices.values()) d.reset();
    enumerate(this.bus, BAR_BASE, BAR_LIMIT);
  }
}

/** The unit's profile: from `iommu` options, or from a QEMU property string (`device`); minus what a backing VMM withholds. */
function profileOf(config: MachineConfig): Profile {
  const name = config.profile ?? 'default';
  if (config.device !== undefined && config.iommu !== undefined) throw new Error('device: give the unit\'s options either as iommu or as a QEMU device string, not both');
  const p = config.device === undefined ? createProfile(name, config.iommu) : createProfileFromDevice(name, config.device);
  const withheld = config.backing?.ecapWithheld ?? 0n;
  return withheld ? { ...p, ecap: p.ecap & ~withheld } : p;
}

/** A port access: a 16-bit port and 1, 2 or 4 bytes; Error naming the argument otherwise. */
function checkPort(port: number, size: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new Error(`port: ${String(port)} is not a 16-bit port`);
  if (size !== 1 && size !== 2 && size !== 4) throw new Error(`size: ${String(size)} is not 1, 2 or 4`);
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
