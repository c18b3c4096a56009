/**
 * A machine: guest RAM, one VT-d unit at 0xFED90000 (q35's DMAR base), the
 * PCI hierarchy (host bridge, root ports for secondary buses, the configured
 * devices) with ECAM at 0xB0000000 and ports 0xCF8/0xCFC. Built from a plain
 * config object; every guest-visible access goes through `mmioRead` /
 * `mmioWrite` (physical addresses), `ioRead` / `ioWrite` or the RAM port.
 */
import type { Core } from './core/core.js';
import { loadDefaultCore } from './core/default-core.js';
import { CFG_HAW } from './core/constants.js';
import { GuestMemory } from './core/guest-memory.js';
import { buildDmar, type RmrrConfig } from './acpi/dmar.js';
import { DmaTestDevice } from './devices/dma-test/device.js';
import { DEVICE_KINDS, type DeviceKind, type DeviceOptions, type ModelDevice } from './devices/registry.js';
import { checkMachineConfig, ROOT_PORT_SLOT, type MachinePlan } from './machine-check.js';
import { HostBridge, PciBridge } from './pci/bridge.js';
import { PciBus } from './pci/bus.js';
import { ConfigAccess, ECAM_SIZE } from './pci/config-access.js';
import { enumerate } from './pci/firmware.js';
import type { DmaPort } from './pci/dma-port.js';
import { restoreMachine, snapshotMachine } from './snapshot/machine-snapshot.js';
import { parseBdf, formatBdf, sidOf, type Sid, type Gpa } from './types.js';
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

/** A running machine. */
export class Machine {
  /** Configuration mechanisms (ECAM, ports 0xCF8/0xCFC). */
  readonly configAccess: ConfigAccess;
  /** High dword of the last `mmioRead64`. */
  readHigh = 0;

  private constructor(
    /** The WASM core (its linear memory holds guest RAM). */
    readonly core: Core,
    /** Guest-physical memory, untranslated. */
    readonly ram: GuestMemory,
    /** The VT-d unit at `VTD_BASE`. */
    readonly vtd: VtdUnit,
    /** The PCI hierarchy the devices sit on. */
    readonly bus: PciBus,
    private readonly devices: Map<number, ModelDevice>,
    /** The config the machine was built from. */
    readonly config: MachineConfig,
  ) {
    this.configAccess = new ConfigAccess(bus);
  }

  /** @internal use `createMachine`. */
  static async build(config: MachineConfig): Promise<Machine> {
    // Everything that can be refused is refused here, before the core is touched.
    const plan = checkMachineConfig(config);
    const profile = profileOf(config);
    const core = config.core ?? (await loadDefaultCore());
    // A core whose RAM is already there (an embedder mapped its own with core.mapRam) keeps it.
    if (!config.backing && core.ramRegions().length === 0) addRam(core, plan.ramMib);
    const ram = config.backing?.ram ?? new GuestMemory(core);
    const log = config.log ?? (() => {});
    const vtd = VtdUnit.create({ core, mem: ram, profile, onInterrupt: config.onInterrupt, log, onInternalError: config.onInternalError });
    const bus = new PciBus();
    const devices = attachDevices(bus, vtd, config, plan, log);
    vtd.deviceTlbTarget = (sid) => bus.deviceBySid(sid);
    vtd.setPageResponseRouter((sid) => {
      const fn = bus.deviceBySid(sid);
      return fn?.pageGroupResponse ? { pageGroupResponse: (r) => fn.pageGroupResponse!(r) } : undefined;
    });
    enumerate(bus, BAR_BASE, BAR_LIMIT);
    return new Machine(core, ram, vtd, bus, devices, config);
  }

  /** The DMA test device at `bdf` ("00:03.0"); throws naming `bdf` if there is none. */
  dmaTest(bdf: string | Sid): DmaTestDevice {
    const dev = this.device(bdf);
    if (!(dev instanceof DmaTestDevice)) throw new Error(`bdf: no DMA test device at ${formatBdf(dev.sid)}`);
    return dev;
  }

  /** The device at `bdf`; throws naming `bdf` if there is none. */
  device(bdf: string | Sid): ModelDevice {
    const sid = typeof bdf === 'number' ? bdf : parseBdf(bdf);
    const dev = this.devices.get(sid);
    if (!dev) throw new Error(`bdf: no device at ${formatBdf(sid)}`);
    return dev;
  }

  /** Every configured device, in requester-id order. */
  deviceList(): ModelDevice[] {
    return [...this.devices.values()].sort((a, b) => a.sid - b.sid);
  }

  // --- MMIO: the number API (hot path; docs/EMBEDDING.md "The MMIO window") --

  /**
   * Physical 4-byte MMIO read at `addr` (a number below 2^53): the dword as a
   * u32. VT-d window, ECAM and device BARs; unclaimed addresses read 0 (logged).
   */
  mmioRead32(addr: Gpa<number>): number {
    const off = addr - VTD_BASE_NUM;
    if (off >= 0 && off < VTD_WINDOW_NUM) return this.vtd.read32(off);
    return this.otherRead(addr, 4);
  }

  /** Physical 8-byte MMIO read at `addr`: returns the low dword; the high dword is then in `readHigh`. */
  mmioRead64(addr: Gpa<number>): number {
    const off = addr - VTD_BASE_NUM;
    if (off >= 0 && off < VTD_WINDOW_NUM) {
      const lo = this.vtd.read64(off);
      this.readHigh = this.vtd.readHigh;
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
    if (off >= 0 && off < VTD_WINDOW_NUM) this.vtd.write32(off, value);
    else this.mmioWrite(BigInt(checkAddr(addr)), 4, BigInt(checkDword(value, 'value')));
  }

  /** Physical 8-byte MMIO write of `hi:lo` at `addr` (halves u32 or i32). */
  mmioWrite64(addr: Gpa<number>, lo: number, hi: number): void {
    const off = addr - VTD_BASE_NUM;
    if (off >= 0 && off < VTD_WINDOW_NUM) this.vtd.write64(off, lo, hi);
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

  /**
   * Physical MMIO read (4 or 8 bytes; ECAM also 1 and 2; other claimed
   * windows log and ignore 1- and 2-byte accesses); unclaimed addresses read
   * 0. An `addr` that is not a 64-bit address or a `size` not 1, 2, 4 or 8 is
   * an Error naming it.
   */
  mmioRead(addr: Gpa, size: number): bigint {
    checkAccess(addr, size);
    if (addr >= VTD_BASE && addr < VTD_BASE + VTD_WINDOW) return this.vtd.mmioRead(Number(addr - VTD_BASE), size);
    if (addr >= ECAM_BASE && addr < ECAM_BASE + ECAM_SIZE && ecamSize(size)) {
      return this.configAccess.ecamRead(Number(addr - ECAM_BASE), size);
    }
    const hit = this.bus.decode(addr);
    if (hit && (size === 4 || size === 8) && hit.offset % 4 === 0) return hit.fn.barRead(hit.offset, size, hit.bar);
    this.vtd.log(`unclaimed ${size}-byte MMIO read at 0x${addr.toString(16)}`);
    return 0n;
  }

  /** Physical MMIO write (sizes as `mmioRead`; `value` unsigned or the same bits signed); unclaimed addresses are ignored. */
  mmioWrite(addr: Gpa, size: number, value: bigint): void {
    checkAccess(addr, size);
    const bits = BigInt(8 * size);
    if (typeof value !== 'bigint' || value < -(1n << (bits - 1n)) || value >= 1n << bits) throw new Error(`value: ${String(value)} is not a ${size}-byte value`);
    if (value < 0n) value += 1n << bits;
    if (addr >= VTD_BASE && addr < VTD_BASE + VTD_WINDOW) {
      this.vtd.mmioWrite(Number(addr - VTD_BASE), size, value);
      return;
    }
    if (addr >= ECAM_BASE && addr < ECAM_BASE + ECAM_SIZE && ecamSize(size)) {
      this.configAccess.ecamWrite(Number(addr - ECAM_BASE), size, value);
      return;
    }
    const hit = this.bus.decode(addr);
    if (hit && (size === 4 || size === 8) && hit.offset % 4 === 0) {
      hit.fn.barWrite(hit.offset, size, value, hit.bar);
      return;
    }
    this.vtd.log(`unclaimed ${size}-byte MMIO write at 0x${addr.toString(16)}`);
  }

  /** Port read (1, 2 or 4 bytes): 0xCF8 / 0xCFC-0xCFF; other ports read all-ones. Bad `port` / `size`: an Error naming it. */
  ioRead(port: number, size: number): number {
    checkPort(port, size);
    const v = this.configAccess.ioRead(port, size);
    if (v !== undefined) return v;
    this.vtd.log(`unclaimed ${size}-byte port read at 0x${port.toString(16)}`);
    return size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
  }

  /** Port write (1, 2 or 4 bytes; `value` unsigned or the same bits signed); other ports are ignored. */
  ioWrite(port: number, size: number, value: number): void {
    checkPort(port, size);
    const bits = 8 * size;
    if (!Number.isInteger(value) || value < -(2 ** (bits - 1)) || value >= 2 ** bits) throw new Error(`value: ${String(value)} is not a ${size}-byte value`);
    if (value < 0) value += 2 ** bits;
    if (!this.configAccess.ioWrite(port, size, value)) this.vtd.log(`unclaimed ${size}-byte port write at 0x${port.toString(16)}`);
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
    this.vtd.reset();
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

/** Builds the bus the plan (machine-check.ts) laid out: host bridge, a root port per secondary bus, the devices. */
function attachDevices(bus: PciBus, vtd: VtdUnit, config: MachineConfig, plan: MachinePlan, log: (m: string) => void): Map<number, ModelDevice> {
  bus.attach(new HostBridge(), true);
  plan.buses.forEach((b, k) => bus.attach(new PciBridge(sidOf(0, ROOT_PORT_SLOT, k), b), true));
  const devices = new Map<number, ModelDevice>();
  for (const { d, sid } of plan.devices) {
    const port = config.backing?.portFor(sid) ?? vtd.portFor(sid);
    const dev: ModelDevice = DEVICE_KINDS[d.kind].create(sid, port, d, log);
    dev.fn.msiSink = routeDeviceInterrupts(vtd, sid, port, () => config.onDeviceInterrupt);
    bus.attach(dev);
    devices.set(sid, dev);
  }
  return devices;
}

/** A physical MMIO access: a 64-bit address and 1, 2, 4 or 8 bytes; Error naming the argument otherwise. */
function checkAccess(addr: bigint, size: number): void {
  if (typeof addr !== 'bigint' || addr < 0n || addr >> 64n !== 0n) throw new Error(`addr: ${String(addr)} is not a 64-bit physical address`);
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new Error(`size: ${String(size)} is not 1, 2, 4 or 8`);
}

/** A port access: a 16-bit port and 1, 2 or 4 bytes; Error naming the argument otherwise. */
function checkPort(port: number, size: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new Error(`port: ${String(port)} is not a 16-bit port`);
  if (size !== 1 && size !== 2 && size !== 4) throw new Error(`size: ${String(size)} is not 1, 2 or 4`);
}

/** ECAM takes 1-, 2-, 4- and 8-byte accesses. */
function ecamSize(size: number): boolean {
  return size === 1 || size === 2 || size === 4 || size === 8;
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
