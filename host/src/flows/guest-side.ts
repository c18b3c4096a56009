/**
 * The guest OS side the flows share: a VM on a fresh physical host, the
 * guest's queued-invalidation submitter (Linux qi_submit_sync order: the
 * descriptors, then a wait descriptor with a status write that is polled),
 * PCI set-up of a device (bus master, PASID, PRI) through ECAM, and the
 * §6.5.2 descriptor encodings the flows use. Everything reaches the model
 * through MMIO and guest RAM only.
 */
import { GuestIommu, type GuestEnv } from '../../../firmware-tests/lib/guest.js';
import { PciDriver } from '../../../firmware-tests/lib/pci-driver.js';
import { GuestPrq } from '../../../firmware-tests/lib/prq-handler.js';
import { DMAT } from '../devices/dma-test/regs.js';
import { PASID_REG } from '../devices/common/function.js';
import { parseBdf } from '../types.js';
import { PhysicalHost } from '../vmm/physical-host.js';
import { VirtualMachine, type VmConfig } from '../vmm/virtual-machine.js';
import { VTD_BASE } from '../machine.js';

const B = BigInt;
/** IQA / IQT / GCMD / FSTS offsets (§11.4.9, §11.4.4, §11.4.7). */
const REG = { IQT: 0x88, IQA: 0x90, GCMD: 0x18, GSTS: 0x1c, FSTS: 0x34 } as const;
const GCMD_QIE = 1 << 26;

/** §6.5.2 descriptors (256-bit form, IQA.DW = 1). */
export const DESC = {
  /** §6.5.2.2 PASID cache: g 0 domain, 1 PASID-selective, 3 global. */
  pasidCache: (g: number, did: number, pasid = 0): bigint[] => [0x7n | B(g) << 4n | B(did) << 16n | B(pasid) << 32n, 0n],
  /** §6.5.2.4 PASID-based IOTLB: g 2 whole (did, pasid), 3 page-selective (addr, am, ih). */
  pasidIotlb: (g: number, did: number, pasid: number, addr = 0n, am = 0, ih = false): bigint[] =>
    [0x6n | B(g) << 4n | B(did) << 16n | B(pasid) << 32n, addr | (ih ? 1n << 6n : 0n) | B(am)],
  /** §6.5.2.3 IOTLB: g 1 global, 2 domain, 3 page. */
  iotlb: (g: number, did = 0, addr = 0n, am = 0): bigint[] => [0x2n | B(g) << 4n | 3n << 6n | B(did) << 16n, addr | B(am)],
  /** §6.5.2.1 context cache: g 1 global, 3 device. */
  context: (g: number, did = 0, sid = 0): bigint[] => [0x1n | B(g) << 4n | B(did) << 16n | B(sid) << 32n, 0n],
};

/** The guest's invalidation queue (one page of 256-bit descriptors). */
export class GuestQueue {
  private readonly base: bigint;
  private readonly status: bigint;
  private tail = 0;
  private seq = 1;

  constructor(private readonly env: GuestEnv) {
    this.base = env.alloc.alloc();
    this.status = env.alloc.alloc();
  }

  /** IQT = 0, IQA = base | DW (256-bit), GCMD.QIE (§6.5.2). */
  enable(): void {
    this.write64(REG.IQT, 0n);
    this.write64(REG.IQA, this.base | 1n << 11n);
    const gsts = Number(this.env.platform.mmioRead(VTD_BASE + B(REG.GSTS), 4));
    this.env.platform.mmioWrite(VTD_BASE + B(REG.GCMD), 4, B((gsts & 0x96ff_ffff) | GCMD_QIE));
  }

  /** Submits `descs` and a wait descriptor with status write; true when the wait completed. */
  submitSync(descs: readonly bigint[][]): boolean {
    const seq = this.seq++;
    this.env.mem.writeU64(this.status, 0n);
    for (const d of [...descs, [0x5n | 1n << 5n | 1n << 6n | B(seq) << 32n, this.status]]) {
      const at = this.base + B(this.tail * 32);
      for (let w = 0; w < 4; w++) this.env.mem.writeU64(at + B(8 * w), d[w] ?? 0n);
      this.tail = (this.tail + 1) % 128;
    }
    this.write64(REG.IQT, B(this.tail * 32));
    return (this.env.mem.readU64(this.status) & 0xffff_ffffn) === B(seq);
  }

  private write64(off: number, v: bigint): void {
    this.env.platform.mmioWrite(VTD_BASE + B(off), 8, v);
  }
}

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
 * root table latched and translation on (legacy for shadow, scalable for
 * nested), the invalidation queue, and each device with bus master, PASID
 * and PRI enabled; nested guests also get a page-request queue.
 */
export async function bootGuest(config: VmConfig, host?: PhysicalHost): Promise<Guest> {
  const h = host ?? (await bootHost());
  const vm = await VirtualMachine.create(h, config);
  const env = vm.guestEnv();
  const iommu = new GuestIommu(env, config.mode === 'nested' ? 'scalable' : 'legacy');
  const qi = new GuestQueue(env);
  const pci = new PciDriver(env.platform);
  for (const d of config.devices) {
    const vrid = parseBdf(d.bdf);
    pci.command(vrid, 0x6, true); // memory space + bus master
    if (config.mode === 'nested') {
      pci.enablePasid(vrid);
      pci.enablePri(vrid, 16);
    }
  }
  const prq = new GuestPrq(env, (descs) => qi.submitSync(descs));
  return { host: h, vm, env, iommu, qi, pci, prq };
}

/** Turns translation on (register-based global invalidations), then the invalidation queue and (nested) the PRQ. */
export function startIommu(g: Guest): void {
  g.iommu.start();
  g.qi.enable();
  if (g.vm.config.mode === 'nested') g.prq.enable();
}

/** Programs the dma-test device's PASID register through its BAR (PV | pasid), or clears it. */
export function setDevicePasid(g: Guest, bdf: string, pasid: number | undefined): void {
  const bar = g.pci.barBase(parseBdf(bdf), 0);
  g.env.platform.mmioWrite(bar + B(DMAT.PASID), 4, pasid === undefined ? 0n : B(PASID_REG.PV | pasid));
}
