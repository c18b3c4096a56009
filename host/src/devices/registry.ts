/**
 * The device kinds a machine config can name, as a table: one row per kind
 * with everything the rest of the model needs from it: how to build one
 * (`create`), the config options that shape it (`options`, part of a
 * snapshot's config key) and its snapshot codec (`save`, `load`), which
 * lives with the device. Machine building and snapshots dispatch through
 * this table and know no device by name.
 */
import type { PciFunction } from '../pci/bus.js';
import type { DmaPort } from '../pci/dma-port.js';
import type { ByteReader } from '../snapshot/format.js';
import type { Sid } from '../types.js';
import type { DeviceFunction } from './common/function.js';
import { AtsDevice } from './ats/device.js';
import { loadAts, saveAts } from './ats/snapshot.js';
import { DmaTestDevice } from './dma-test/device.js';
import { loadDmaTest, saveDmaTest } from './dma-test/snapshot.js';
import { SwqDevice } from './swq/device.js';
import { loadSwq, saveSwq } from './swq/snapshot.js';

/** Options a config entry may carry for any kind. */
export interface DeviceOptions {
  /** Width of the device's DMA addresses (default 64); higher address bits are dropped (dma-test). */
  readonly dmaMaskBits?: number;
}

/** A device kind name: a row of DEVICE_KINDS. */
export type DeviceKind = 'dma-test' | 'ats' | 'swq';

/** A device the registry builds; `kind` names its row of DEVICE_KINDS. */
export type ModelDevice = PciFunction & { readonly kind: DeviceKind; readonly fn: DeviceFunction; reset(): void };

/** Builds a device of one kind. */
export type DeviceFactory<D extends ModelDevice = ModelDevice> = (sid: Sid, port: DmaPort, opts: DeviceOptions, log: (m: string) => void) => D;

/** One device kind: how to build it and how its state goes into a snapshot and comes back. */
export interface DeviceKindRow<D extends ModelDevice = ModelDevice> {
  /** Builds a device at requester id `sid` doing DMA through `port`, with the options of its config entry. */
  readonly create: DeviceFactory<D>;
  /** The options of a config entry that shape this kind, defaults filled in (a snapshot's config key holds them). */
  readonly options: (opts: DeviceOptions) => DeviceOptions;
  /** The device's state as a snapshot payload. */
  readonly save: (d: D) => Uint8Array;
  /** Reads and checks a payload `save` wrote, changing nothing; returns how to apply it (which cannot fail). */
  readonly load: (d: D, r: ByteReader) => () => void;
}

/** Default DMA address width of a device (DeviceOptions.dmaMaskBits). */
const DEFAULT_DMA_MASK_BITS = 64;

/** Every device kind. */
export const DEVICE_KINDS = {
  'dma-test': {
    create: (sid, port, opts, log) => new DmaTestDevice(sid, port, { dmaMaskBits: opts.dmaMaskBits, log }),
    options: (opts) => ({ dmaMaskBits: opts.dmaMaskBits ?? DEFAULT_DMA_MASK_BITS }),
    save: saveDmaTest,
    load: loadDmaTest,
  } satisfies DeviceKindRow<DmaTestDevice>,
  ats: {
    create: (sid, port, _opts, log) => new AtsDevice(sid, port, { log }),
    options: () => ({}),
    save: saveAts,
    load: loadAts,
  } satisfies DeviceKindRow<AtsDevice>,
  swq: {
    create: (sid, port, _opts, log) => new SwqDevice(sid, port, { log }),
    options: () => ({}),
    save: saveSwq,
    load: loadSwq,
  } satisfies DeviceKindRow<SwqDevice>,
} as const satisfies { readonly [K in DeviceKind]: Omit<DeviceKindRow<never>, 'create'> & { readonly create: DeviceFactory<ModelDevice & { readonly kind: K }> } };

/** True when `kind` names a device kind. */
export function isDeviceKind(kind: unknown): kind is DeviceKind {
  return typeof kind === 'string' && Object.hasOwn(DEVICE_KINDS, kind);
}

/** The row of `d`'s kind, taking any device (a device's `kind` names the row whose `create` built it). */
export function kindRow(d: ModelDevice): DeviceKindRow {
  return DEVICE_KINDS[d.kind] as unknown as DeviceKindRow;
}
