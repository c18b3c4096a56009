/**
 * Builds a machine's PCI hierarchy from its device list: the host bridge at
 * 00:00.0, one root port on bus 0 (slot 1C, functions 0-7) per secondary
 * bus the devices name, and the devices, each with the DMA port its IOMMU
 * gives its requester id. Shared by the VT-d machine (machine.ts) and the
 * SMMUv3 machine (arm-machine.ts); throws an Error naming the bad entry.
 * And what both machines do with it afterwards: find a device by BDF, and
 * answer physical accesses that fall on ECAM or a BAR.
 */
import type { DeviceConfig } from '../machine.js';
import { DmaTestDevice } from '../devices/dma-test/device.js';
import { DEVICE_KINDS, isDeviceKind, type ModelDevice } from '../devices/registry.js';
import { formatBdf, parseBdf, sidOf, type Sid, type Gpa } from '../types.js';
import { HostBridge, PciBridge } from './bridge.js';
import type { PciBus } from './bus.js';
import { ECAM_SIZE, type ConfigAccess } from './config-access.js';
import type { DmaPort } from './dma-port.js';
import type { DeviceMsiSink } from './msi.js';

/** A device of a machine config. */
/** Slot of the first root port on bus 0 (q35 puts its root ports at 1C.x). */
const ROOT_PORT_SLOT = 0x1c;

/**
 * Attaches host bridge, root ports and `devices` to `bus`, each device with
 * its DMA port (`portFor`) and where its MSIs go (`msiSinkFor`, given the
 * port: an MSI that is not an interrupt is a DMA write); returns the devices
 * by requester id.
 */
export function attachDevices(
  bus: PciBus, devices: readonly DeviceConfig[], portFor: (sid: Sid) => DmaPort,
  msiSinkFor: (sid: Sid, port: DmaPort) => DeviceMsiSink | undefined, log: (m: string) => void,
): Map<number, ModelDevice> {
  bus.attach(new HostBridge(), true);
  const entries = devices.map((d, i) => {
    if (!isDeviceKind(d.kind)) throw new Error(`devices[${i}].kind: unknown device kind "${String(d.kind)}"`);
    return { d, sid: parseBdf(d.bdf, `devices[${i}].bdf`) };
  });
  const buses = [...new Set(entries.map((e) => e.sid >> 8).filter((b) => b > 0))].sort((a, b) => a - b);
  if (buses.length > 8) throw new Error(`devices: ${buses.length} secondary buses, at most 8 root ports`);
  buses.forEach((b, k) => bus.attach(new PciBridge(sidOf(0, ROOT_PORT_SLOT, k), b), true));
  const out = new Map<number, ModelDevice>();
  entries.forEach(({ d, sid }, i) => {
    const port = portFor(sid);
    const dev: ModelDevice = DEVICE_KINDS[d.kind].create(sid, port, d, log);
    dev.fn.msiSink = msiSinkFor(sid, port);
    try {
      bus.attach(dev);
    } catch (e) {
      throw new Error(`devices[${i}].bdf: ${(e as Error).message}`);
    }
    out.set(sid, dev);
  });
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
