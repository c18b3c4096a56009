// Every MSI the SMMUv3 generates follows one rule (host/src/smmu/msi.ts, IHI
// 0070 §3.18.2), driven here as a guest drives it on the Arm machine: the
// guest programs the source's MSI (*_IRQ_CFG0/1 through MMIO, or
// CMD_SYNC.MSIAddress/MSIData in the command queue), makes the source fire
// (a CMD_SYNC, a device DMA that faults, an illegal command), and reads back
// RAM and GERROR. An address in RAM is a memory write, one at virt's GIC
// doorbells reaches the embedder, any other address aborts with the
// source's GERROR.MSI_*_ABT_ERR (§6.3.18); address 0 is the wired line.
import { describe, expect, it } from 'vitest';
import { ARM_ECAM_BASE, ARM_RAM_BASE, createArmMachine, SMMU_BASE, type ArmMachine } from '../../../host/src/arm-machine.js';
import type { SmmuInterrupt } from '../../../host/src/smmu/smmu-unit.js';
import { PciDriver } from '../../../host/src/guest/pci-driver.js';
import { PageAllocator } from '../../../host/src/tables/page-allocator.js';
import { SmmuDriver, SR } from '../../../host/src/guest/smmu/driver.js';
import { C, encodeSte } from '../../../host/src/guest/smmu/structures.js';

const BDF = 0x18; // 00:03.0
/** GERROR bits (§6.3.18). */
const G = { CMDQ_ERR: 1, MSI_CMDQ_ABT_ERR: 1 << 4, MSI_EVENTQ_ABT_ERR: 1 << 5, MSI_GERROR_ABT_ERR: 1 << 7 } as const;
/** IRQ_CTRL bits (§6.3.16). */
const IRQEN = { gerror: 1, eventq: 4 } as const;
/** virt's GITS_TRANSLATER (VIRT_GIC_ITS + 0x1_0040): an interrupt doorbell. */
const ITS_DOORBELL = 0x0809_0040n;
/** No RAM and no doorbell: an MSI there aborts. */
const NOWHERE = 0x0c00_0000n;
const MSI_RAM = ARM_RAM_BASE + 0x3f0_0000n;

interface Bed { m: ArmMachine; drv: SmmuDriver; bar: bigint; irqs: SmmuInterrupt[] }

async function boot(profile = 'default', msiDoorbells?: { base: number; size: number }[]): Promise<Bed> {
  const irqs: SmmuInterrupt[] = [];
  const m = await createArmMachine({ profile, ramMib: 64, devices: [{ bdf: '00:03.0', kind: 'dma-test' }], onInterrupt: (i) => irqs.push(i), msiDoorbells });
  const alloc = new PageAllocator(m.ram, ARM_RAM_BASE + 0x100_0000n, ARM_RAM_BASE + 0x3e0_0000n);
  const drv = new SmmuDriver(m, m.ram, alloc, SMMU_BASE);
  const bar = BigInt(new PciDriver(m, ARM_ECAM_BASE).read(BDF, 0x10, 4) & ~0xf);
  drv.init();
  return { m, drv, bar, irqs };
}

const active = (b: Bed): number => b.drv.read32(SR.GERROR) ^ b.drv.read32(SR.GERRORN);

/** Programs a source's MSI (IRQ_CFG0 address, IRQ_CFG1 data, §6.3) and enables its interrupt in IRQ_CTRL. */
function programMsi(b: Bed, cfg0: number, cfg1: number, irqen: number, addr: bigint, data: number): void {
  b.drv.write64(cfg0, addr);
  b.drv.write32(cfg1, data);
  b.drv.write32(SR.IRQ_CTRL, irqen);
}

/** Each source: program its MSI to `addr` with `data`, then make it fire as a guest would. */
const SOURCES = {
  'cmd-sync': { abort: G.MSI_CMDQ_ABT_ERR, fire: (b: Bed, addr: bigint, data: number) => b.drv.submit([C.sync(1, addr, data)], false) },
  eventq: {
    abort: G.MSI_EVENTQ_ABT_ERR,
    fire: (b: Bed, addr: bigint, data: number) => {
      programMsi(b, SR.EVENTQ_IRQ_CFG0, SR.EVENTQ_IRQ_CFG1, IRQEN.eventq, addr, data);
      b.drv.setSte(BDF, encodeSte({ V: false }));
      // The device reads through an invalid STE: C_BAD_STE reaches the event queue.
      b.m.mmioWrite(b.bar + 0x08n, 8, ARM_RAM_BASE);
      b.m.mmioWrite(b.bar + 0x10n, 4, 4n);
      b.m.mmioWrite(b.bar + 0x14n, 4, 1n);
    },
  },
  gerror: {
    abort: G.MSI_GERROR_ABT_ERR,
    fire: (b: Bed, addr: bigint, data: number) => {
      programMsi(b, SR.GERROR_IRQ_CFG0, SR.GERROR_IRQ_CFG1, IRQEN.gerror, addr, data);
      b.drv.submit([[0x7fn, 0n]], false); // an illegal opcode: GERROR.CMDQ_ERR
    },
  },
} as const;

describe('SMMUv3 MSIs: one rule for CMD_SYNC, event queue and GERROR (§3.18.2)', () => {
  for (const [source, s] of Object.entries(SOURCES)) {
    it(`${source}: an MSI into RAM is a 32-bit memory write, no interrupt, no abort`, async () => {
      const b = await boot();
      b.m.ram.writeU64(MSI_RAM, 0xffff_ffff_ffff_ffffn);
      s.fire(b, MSI_RAM, 0x1234_5678);
      expect(b.m.ram.readU64(MSI_RAM)).toBe(0xffff_ffff_1234_5678n); // exactly 4 bytes
      expect(b.irqs.filter((i) => i.source === source)).toEqual([]);
      expect(active(b) & s.abort).toBe(0);
    });
    it(`${source}: an MSI at the GIC ITS doorbell reaches the embedder, RAM untouched`, async () => {
      const b = await boot();
      s.fire(b, ITS_DOORBELL, 0x2a);
      expect(b.irqs.filter((i) => i.source === source)).toEqual([{ source, msi: { address: ITS_DOORBELL, data: 0x2a } }]);
      expect(active(b) & s.abort).toBe(0);
    });
    it(`${source}: an MSI to an address with neither aborts: GERROR bit 0x${s.abort.toString(16)}`, async () => {
      const b = await boot();
      s.fire(b, NOWHERE, 0x2a);
      expect(active(b) & s.abort).toBe(s.abort);
      expect(b.irqs.filter((i) => i.source === source)).toEqual([]);
      expect(b.m.smmu.logLines.some((l) => l.includes(`${source} MSI to 0xc000000 aborted`))).toBe(true);
    });
    it(`${source}: MSI address 0 is the wired line`, async () => {
      const b = await boot();
      s.fire(b, 0n, 0x2a);
      expect(b.irqs.filter((i) => i.source === source)).toEqual([{ source }]);
      expect(active(b) & s.abort).toBe(0);
    });
  }

  it('an aborted event MSI is reported by a GERROR MSI, which reaches its doorbell', async () => {
    const b = await boot();
    b.drv.write64(SR.GERROR_IRQ_CFG0, ITS_DOORBELL);
    b.drv.write32(SR.GERROR_IRQ_CFG1, 7);
    b.drv.write32(SR.IRQ_CTRL, IRQEN.gerror);
    SOURCES.eventq.fire(b, NOWHERE, 1); // sets IRQ_CTRL to EVENTQ_IRQEN alone
    expect(active(b)).toBe(G.MSI_EVENTQ_ABT_ERR);
    expect(b.irqs).toEqual([]);
    b.drv.write32(SR.GERRORN, b.drv.read32(SR.GERROR)); // acknowledged
    b.drv.write32(SR.IRQ_CTRL, IRQEN.eventq | IRQEN.gerror);
    b.m.mmioWrite(b.bar + 0x14n, 4, 1n); // the same faulting read again, GERROR_IRQEN on
    expect(active(b)).toBe(G.MSI_EVENTQ_ABT_ERR);
    expect(b.irqs).toEqual([{ source: 'gerror', msi: { address: ITS_DOORBELL, data: 7 } }]);
  });

  it('an aborted GERROR MSI activates MSI_GERROR_ABT_ERR once and sends nothing more (no loop)', async () => {
    const b = await boot();
    SOURCES.gerror.fire(b, SMMU_BASE + 0x60n, 1); // the SMMU's own GERROR register is no MSI target
    expect(active(b)).toBe(G.CMDQ_ERR | G.MSI_GERROR_ABT_ERR);
    expect(b.irqs).toEqual([]);
    expect(b.m.smmu.logLines.filter((l) => l.includes('gerror MSI')).length).toBe(1);
  });

  it('a CMD_SYNC MSI that aborts still completes the CMD_SYNC (CONS moves past it)', async () => {
    const b = await boot();
    expect(SOURCES['cmd-sync'].fire(b, NOWHERE, 1)).toBe(0);
    expect(b.drv.read32(SR.CMDQ_CONS)).toBe(b.drv.read32(SR.CMDQ_PROD));
    expect(b.drv.submit([C.tlbiNsnhAll()])).toBe(0); // the queue goes on
  });

  it('the embedder picks the doorbells (msiDoorbells); an empty list makes the ITS address abort', async () => {
    const b = await boot('default', []);
    SOURCES['cmd-sync'].fire(b, ITS_DOORBELL, 1);
    expect(active(b) & G.MSI_CMDQ_ABT_ERR).toBe(G.MSI_CMDQ_ABT_ERR);
    const own = await boot('default', [{ base: 0x2000_0000, size: 0x1000 }]);
    SOURCES['cmd-sync'].fire(own, 0x2000_0ffcn, 9);
    expect(own.irqs).toEqual([{ source: 'cmd-sync', msi: { address: 0x2000_0ffcn, data: 9 } }]);
  });

  it('a bad msiDoorbells is an Error naming it', async () => {
    const bad: unknown[] = [5, [null], [{ base: -1, size: 4 }], [{ base: 0, size: 2 }], [{ base: 2 ** 52 - 2, size: 4 }]];
    for (const d of bad) await expect(createArmMachine({ msiDoorbells: d as never })).rejects.toThrow(/^msiDoorbells/);
  });

  it('without SMMU_IDR0.MSI (qemu-10.0) every source uses its wired line, whatever the guest writes', async () => {
    const b = await boot('qemu-10.0');
    b.irqs.length = 0; // init's own CMD_SYNCs raised the wired line too
    SOURCES['cmd-sync'].fire(b, NOWHERE, 1);
    SOURCES.gerror.fire(b, NOWHERE, 1);
    expect(b.irqs).toEqual([{ source: 'cmd-sync' }, { source: 'gerror' }]);
    expect(active(b)).toBe(G.CMDQ_ERR);
  });
});
