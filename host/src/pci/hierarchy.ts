/**
 * Builds a machine's PCI hierarchy from its device list: the host bridge at
 * 00:00.0, one root port on bus 0 (slot 1C, functions 0-7) per secondary
 * bus the devices name, and the devices, each with the DMA port its IOMMU
 * gives its requester id. Shared by the VT-d machine (machine.ts) and the
 * SMMUv3 machine (arm-machine.ts); throws an Error naming the bad entry.
 */
import { DEVICE_KINDS, isDeviceKind, type DeviceKind, type DeviceOptions, type ModelDevice } from '../devices/registry.js';
import { parseBdf, sidOf, type Sid } from '../types.js';
import { HostBridge, PciBridge } from './bridge.js';
import type { PciBus } from './bus.js';
import type { DmaPort } from './dma-port.js';
import type { DeviceMsiSink } from './msi.js';

/** A device of a machine config. */
export interface DeviceConfig extends DeviceOptions {
  /** "BB:DD.F" or "DD.F" (bus 0); a bus above 0 gets a root port on bus 0 leading to it. */
  readonly bdf: string;
  /** Which device model to build (host/src/devices/registry.ts). */
  readonly kind: DeviceKind;
}

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
    const dev = DEVICE_KINDS[d.kind](sid, port, d, log);
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
