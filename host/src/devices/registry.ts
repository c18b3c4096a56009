/**
 * The device kinds a machine config can name, as a table: kind -> factory.
 * A factory gets the requester id, the device's DMA port and the config
 * entry, and returns the PCI function (with its `DeviceFunction` for MSI
 * routing).
 */
import type { PciFunction } from '../pci/bus.js';
import type { DmaPort } from '../pci/dma-port.js';
import type { Sid } from '../types.js';
import type { DeviceFunction } from './common/function.js';
import { AtsDevice } from './ats/device.js';
import { DmaTestDevice } from './dma-test/device.js';
import { SwqDevice } from './swq/device.js';

/** Options a config entry may carry for any kind. */
export interface DeviceOptions {
  /** Width of the device's DMA addresses (default 64); higher address bits are dropped (dma-test). */
  readonly dmaMaskBits?: number;
}

/** A device the registry builds. */
export type ModelDevice = PciFunction & { readonly fn: DeviceFunction; reset(): void };

/** Builds a device of one kind. */
export type DeviceFactory = (sid: Sid, port: DmaPort, opts: DeviceOptions, log: (m: string) => void) => ModelDevice;

/** Every device kind. */
export const DEVICE_KINDS = {
  'dma-test': (sid, port, opts, log) => new DmaTestDevice(sid, port, { dmaMaskBits: opts.dmaMaskBits, log }),
  ats: (sid, port, _opts, log) => new AtsDevice(sid, port, { log }),
  swq: (sid, port, _opts, log) => new SwqDevice(sid, port, { log }),
} as const satisfies Record<string, DeviceFactory>;

/** A device kind name. */
export type DeviceKind = keyof typeof DEVICE_KINDS;

/** True when `kind` names a device kind. */
export function isDeviceKind(kind: unknown): kind is DeviceKind {
  return typeof kind === 'string' && Object.hasOwn(DEVICE_KINDS, kind);
}
