/**
 * Test bed of the interrupt-remapping suites: a machine with a DMA test
 * device at 00:03.0 (MSI, one vector) and one at 02:05.0 (behind a root
 * port), the guest's queue and interrupt-remapping driver, and a way to
 * make a device send its MSI (a DMA read with "interrupt on completion").
 * Everything the guest does goes through MMIO and guest RAM.
 */
import { createMachine, type Machine } from '../../../host/src/machine.js';
import { createProfile } from '../../../host/src/vtd/profiles.js';
import type { MsiMessage } from '../../../host/src/vtd/interrupts.js';
import type { DeliveredInterrupt } from '../../../host/src/vtd/ir/remapper.js';
import type { GuestEnv } from '../../../host/src/guest/guest-iommu.js';
import { GuestInterruptRemapping, type GuestIrOptions } from '../../../host/src/guest/interrupt-remapping.js';
import { GuestQueue } from '../../../host/src/guest/invalidation-queue.js';
import { guestEnvFor } from '../../../host/src/guest/machine-env.js';
import { CAP, PciDriver } from '../../../host/src/guest/pci-driver.js';
import { VtdDriver } from '../../../host/src/guest/vtd-driver.js';
import { parseProfileKey, switchOff } from '../profiles/switch-off.js';

/** Requester ids of the two devices. */
export const DEV_A = 0x18;
export const DEV_B = 0x228;

/** What a suite works with. */
export interface IrBed {
  readonly m: Machine;
  readonly env: GuestEnv;
  readonly pci: PciDriver;
  readonly drv: VtdDriver;
  readonly qi: GuestQueue;
  readonly ir: GuestInterruptRemapping;
  /** Interrupts the platform received from devices, in order. */
  readonly delivered: DeliveredInterrupt[];
  /** The unit's own event interrupts (fault, invalidation, page request). */
  readonly events: MsiMessage[];
  /** Programs the device's MSI address/data (MSI enabled, bus master on). */
  program(sid: number, msi: { address: bigint; data: number }): void;
  /** The device completes a DMA read and sends its MSI; returns what the platform received for it (or undefined). */
  fire(sid: number): DeliveredInterrupt | undefined;
}

/** Names of the host-side switches (HostQuirks keys). */
const HOST_QUIRKS = Object.keys(createProfile('default').host);

/**
 * Boots the bed on `key` (default 'default'; "qemu-10.0 -NAME" boots with
 * that switch at the spec's value where the test file mocks the profile
 * module, profiles/switch-off.ts); the queue is on, remapping not yet.
 */
export async function bootIr(key = 'default', o: GuestIrOptions & { iommu?: object } = {}): Promise<IrBed> {
  const { profile, off } = parseProfileKey(key, HOST_QUIRKS);
  Object.assign(switchOff, off);
  try {
    return await build(profile, o);
  } finally {
    Object.assign(switchOff, { core: '', host: '', qi: '' });
  }
}

async function build(profile: string, o: GuestIrOptions & { iommu?: object }): Promise<IrBed> {
  const delivered: DeliveredInterrupt[] = [];
  const events: MsiMessage[] = [];
  const m = await createMachine({
    profile, iommu: { scalableMode: false, awBits: 48, ...o.iommu }, ramMib: 64,
    devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '02:05.0', kind: 'dma-test' }],
    onDeviceInterrupt: (irq) => delivered.push(irq),
    onInterrupt: (msi) => events.push(msi),
  });
  const env = guestEnvFor(m);
  const pci = new PciDriver(m);
  const qi = new GuestQueue(env);
  qi.enable();
  const ir = new GuestInterruptRemapping(env, qi, o);
  for (const sid of [DEV_A, DEV_B]) pci.command(sid, 0x6, true);
  return {
    m, env, pci, drv: qi.drv, qi, ir, delivered, events,
    program: (sid, msi) => pci.enableMsi(sid, msi.address, msi.data),
    fire: (sid) => {
      const bar = pci.barBase(sid, 0);
      const before = delivered.length;
      m.mmioWrite(bar + 0x28n, 4, 1n); // IRQ on completion
      m.mmioWrite(bar + 0x10n, 4, 8n); // LEN
      m.mmioWrite(bar + 0x14n, 4, 1n); // READ at IOVA 0 (translation off)
      return delivered.length > before ? delivered[delivered.length - 1] : undefined;
    },
  };
}

/** A bed around a shared work-queue device (00:06.0), whose MSI-X entries carry 32-bit data. */
export interface SwqIrBed {
  readonly m: Machine;
  readonly drv: VtdDriver;
  readonly ir: GuestInterruptRemapping;
  readonly delivered: DeliveredInterrupt[];
  /** Programs MSI-X vector 1 (the error vector) with `msi` and makes the device raise it. */
  raise(msi: { address: bigint; data: number }): void;
}

/** Requester id of the work-queue device. */
export const SWQ_SID = 0x30;

/** Boots the work-queue bed on `key` (as bootIr); the queue and interrupt remapping are on. */
export async function bootSwqIr(key = 'default'): Promise<SwqIrBed> {
  const { profile, off } = parseProfileKey(key, HOST_QUIRKS);
  Object.assign(switchOff, off);
  const delivered: DeliveredInterrupt[] = [];
  let m: Machine;
  try {
    m = await createMachine({
      profile, iommu: { scalableMode: false, awBits: 48 }, ramMib: 64,
      devices: [{ bdf: '00:06.0', kind: 'swq' }], onDeviceInterrupt: (x) => delivered.push(x),
    });
  } finally {
    Object.assign(switchOff, { core: '', host: '', qi: '' });
  }
  const env = guestEnvFor(m);
  const qi = new GuestQueue(env);
  qi.enable();
  const ir = new GuestInterruptRemapping(env, qi);
  ir.enable();
  const pci = new PciDriver(m);
  pci.command(SWQ_SID, 0x6, true);
  pci.write(SWQ_SID, pci.findCap(SWQ_SID, CAP.MSIX) + 2, 2, 0x8000); // MSI-X enable
  const bar = pci.barBase(SWQ_SID, 0);
  return {
    m, drv: qi.drv, ir, delivered,
    raise: (msi) => {
      m.mmioWrite(bar + 0x2010n, 8, msi.address);
      m.mmioWrite(bar + 0x2018n, 4, BigInt(msi.data >>> 0));
      m.mmioWrite(bar + 0x201cn, 4, 0n); // unmasked
      m.mmioWrite(bar + 0x8n, 4, 1n); // queue enabled
      for (let i = 0; i < 8; i++) m.mmioWrite(bar + 0x1000n + BigInt(8 * i), 8, 0n); // no PASID enabled: rejected
      m.mmioWrite(bar + 0x10n, 4, 1n); // clear SWERR
    },
  };
}
