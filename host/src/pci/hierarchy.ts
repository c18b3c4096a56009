/**
 * Builds a machine's PCI hierarchy from its device list: the host bridge at
 * 00:00.0, one root port on bus 0 (slot 1C, functions 0-7) per secondary
 * bus the devices name, and the devices, each with the DMA port its IOMMU
 * gives its requester id. Shared by the VT-d machine (machine.ts) and the
 * SMMUv3 machine (arm-machine.ts), after machine-check.ts planned it.
 * And what both machines do with it afterwards: find a device by BDF, and
 * answer physical accesses that fall on ECAM or a BAR.
 */
import type { DeviceConfig } from '../machine.js';
import { DmaTestDevice } from '../devices/dma-test/device.js';
import { DEVICE_KINDS, type ModelDevice } from '../devices/registry.js';
import { formatBdf, parseBdf, sidOf, type Sid, type Gpa } from '../types.js';
import { HostBridge, PciBridge } from './bridge.js';
import type { PciBus } from './bus.js';
import { ECAM_SIZE, type ConfigAccess } from './config-access.js';
import type { DmaPort } from './dma-port.js';
import type { DeviceMsiSink } from './msi.js';

/** Slot of the first root port on bus 0 (q35 puts its root ports at 1C.x; the Arm machine does the same). */
export const ROOT_PORT_SLOT = 0x1c;

/** One device as the build places it. */
export interface PlannedDevice {
  /** The config entry. */
  readonly d: DeviceConfig;
  /** Its requester id. */
  readonly sid: Sid;
}

/** Where each device goes: what machine-check.ts plans once the config passed. */
export interface DevicePlan {
  /** Each device's config entry and requester id. */
  readonly devices: readonly PlannedDevice[];
  /** Secondary bus numbers, ascending; bus k gets the root port 00:1C.k. */
  readonly buses: readonly number[];
}

/**
 * Attaches host bridge, a root port per secondary bus and the planned
 * devices to `bus`, each device with its DMA port (`portFor`) and where its
 * MSIs go (`msiSinkFor`, given the port: an MSI that is not an interrupt
 * is a DMA write); returns the devices by requester id.
 */
export function attachDevices(
  bus: PciBus, plan: DevicePlan, portFor: (sid: Sid) => DmaPort,
  msiSinkFor: (sid: Sid, port: DmaPort) => DeviceMsiSink | undefined, log: (m: string) => void,
): Map<number, ModelDevice> {
  bus.attach(new HostBridge(), true);
  plan.buses.forEach((b, k) => bus.attach(new PciBridge(sidOf(0, ROOT_PORT_SLOT, k), b), true));
  const out = new Map<number, ModelDevice>();
  for (const { d, sid } of plan.devices) {
    const port = portFor(sid);
    const dev: ModelDevice = DEVICE_KINDS[d.kind].create(sid, port, d, log);
    dev.fn.msiSink = msiSinkFor(sid, port);
    bus.attach(dev);
    out.set(sid, dev);
  }
  return out;
}

/** The device at `bdf` among `devices`; throws naming `bdf` if there is none. */
export function deviceAt(devices: ReadonlyMap<number, ModelDevice>, bdf: string | Sid): ModelDevice {
  const sid = typeof bdf === 'number' ? bdf : parseBdf(bdf);
  const dev = devices.get(sid);
  if (!dev) throw new Error(`bdf: no device at ${formatBdf(sid)}`);
  return dev;
}

/** The DMA test device at `bdf`; throws naming `bdf` if there is none. */
export function dmaTestAt(devices: ReadonlyMap<number, ModelDevice>, bdf: string | Sid): DmaTestDevice {
  const dev = deviceAt(devices, bdf);
  if (!(dev instanceof DmaTestDevice)) throw new Error(`bdf: no DMA test device at ${formatBdf(dev.sid)}`);
  return dev;
}

/** Where a machine's ECAM window is, and the bus behind it and its BARs. */
export interface PciWindows {
  readonly bus: PciBus;
  readonly configAccess: ConfigAccess;
  readonly ecamBase: bigint;
}

/** A physical read that ECAM (1, 2, 4, 8 bytes) or a BAR (4, 8 bytes, aligned) claims; undefined when none does. */
export function pciRead(w: PciWindows, addr: Gpa, size: number): bigint | undefined {
  if (addr >= w.ecamBase && addr < w.ecamBase + ECAM_SIZE && ecamSize(size)) return w.configAccess.ecamRead(Number(addr - w.ecamBase), size);
  const hit = w.bus.decode(addr);
  if (hit && (size === 4 || size === 8) && hit.offset % 4 === 0) return hit.fn.barRead(hit.offset, size, hit.bar);
  return undefined;
}

/** A physical write that ECAM or a BAR claims; false when none does. */
export function pciWrite(w: PciWindows, addr: Gpa, size: number, value: bigint): boolean {
  if (addr >= w.ecamBase && addr < w.ecamBase + ECAM_SIZE && ecamSize(size)) {
    w.configAccess.ecamWrite(Number(addr - w.ecamBase), size, value);
    return true;
  }
  const hit = w.bus.decode(addr);
  if (!hit || (size !== 4 && size !== 8) || hit.offset % 4 !== 0) return false;
  hit.fn.barWrite(hit.offset, size, value, hit.bar);
  return true;
}

/** ECAM takes 1-, 2-, 4- and 8-byte accesses. */
function ecamSize(size: number): boolean {
  return size === 1 || size === 2 || size === 4 || size === 8;
}
