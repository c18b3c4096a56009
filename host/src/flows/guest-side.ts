/**
 * The guest OS side the flows share: a VM on a fresh physical host, the
 * guest's queued-invalidation submitter (host/src/guest/invalidation-queue.ts,
 * 256-bit descriptors) and PCI set-up of a device (bus master, PASID, PRI)
 * through ECAM. Everything reaches the model
 * through MMIO and guest RAM only.
 */
import { GuestIommu, type GuestEnv } from '../guest/guest-iommu.js';
import { guestEnvForVm } from '../guest/machine-env.js';
import { GuestQueue } from '../guest/invalidation-queue.js';
import { GuestPrq } from '../guest/page-request-queue.js';
import { PciDriver } from '../guest/pci-driver.js';
import { DMAT } from '../devices/dma-test/regs.js';
import { PASID_REG } from '../devices/common/function.js';
import { parseBdf } from '../types.js';
import { PhysicalHost } from '../vmm/physical-host.js';
import { VirtualMachine, type VmConfig } from '../vmm/virtual-machine.js';

const B = BigInt;

/** A guest on a VM: its environment, IOMMU driver, queue, PCI driver and (nested) page-request queue. */
export interface Guest {
  readonly host: PhysicalHost;
  readonly vm: VirtualMachine;
  readonly env: GuestEnv;
  readonly iommu: GuestIommu;
  readonly qi: GuestQueue;
  readonly pci: PciDriver;
  readonly prq: GuestPrq;
}

/** Physical devices every flow's host has: pRID -> PASID width / PRI. */
export const HOST_DEVICES = [
  { prid: 0x0318, pasidBits: 8, pri: true },
  { prid: 0x0320, pasidBits: 8, pri: true },
  { prid: 0x0328, pasidBits: 8, pri: true },
] as const;

/** A fresh physical host with HOST_DEVICES. */
export async function bootHost(): Promise<PhysicalHost> {
  const host = await PhysicalHost.create({ guestRamMib: 64 });
  for (const d of HOST_DEVICES) host.platform.addDevice(d.prid, { pasidBits: d.pasidBits, pri: d.pri });
  return host;
}

/**
 * Boots a VM on `host` (a fresh one by default) and the guest's drivers:
 * its IOMMU driver in legacy mode for shadow, scalable for nested (or for
 * shadow with `scalable`), the invalidation queue, and each device with bus
 * master; in scalable mode also PASID and (unless `pri` is false) PRI, and
 * `startIommu` enables a page-request queue.
 */
export async function bootGuest(config: VmConfig, host?: PhysicalHost, o: { scalable?: boolean; pri?: boolean } = {}): Promise<Guest> {
  const h = host ?? (await bootHost());
  const vm = await VirtualMachine.create(h, config);
  const env = guestEnvForVm(vm);
  const scalable = config.mode === 'nested' || o.scalable === true;
  const iommu = new GuestIommu(env, scalable ? 'scalable' : 'legacy');
  const qi = new GuestQueue(env, { wide: true });
  const pci = new PciDriver(env.platform);
  for (const d of config.devices) {
    const vrid = parseBdf(d.bdf);
    pci.command(vrid, 0x6, true); // memory space + bus master
    if (scalable) pci.enablePasid(vrid);
    if (scalable && o.pri !== false) pci.enablePri(vrid, 16);
  }
  const prq = new GuestPrq(env, (descs) => qi.submitSync(descs));
  return { host: h, vm, env, iommu, qi, pci, prq };
}

/** Turns translation on (register-based global invalidations), then the invalidation queue and (scalable mode) the PRQ. */
export function startIommu(g: Guest): void {
  g.iommu.start();
  g.qi.enable();
  if (g.iommu.mode === 'scalable') g.prq.enable();
}

/** Programs the dma-test device's PASID register through its BAR (PV | pasid), or clears it. */
export function setDevicePasid(g: Guest, bdf: string, pasid: number | undefined): void {
  const bar = g.pci.barBase(parseBdf(bdf), 0);
  g.env.platform.mmioWrite(bar + B(DMAT.PASID), 4, pasid === undefined ? 0n : B(PASID_REG.PV | pasid));
}
