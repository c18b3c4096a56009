// The Arm machine (createArmMachine) driven as a guest OS drives it: the
// SMMU through its MMIO frame, PCI through ECAM, the dma-test device through
// its BAR; the device DMAs with its requester id as StreamID and its PASID
// as SubstreamID.
import { describe, expect, it } from 'vitest';
import { ARM_ECAM_BASE, ARM_RAM_BASE, createArmMachine, SMMU_BASE, SMMU_SPI, type ArmMachine } from '../../../host/src/arm-machine.js';
import type { SmmuInterrupt } from '../../../host/src/smmu/smmu-unit.js';
import { DMA_ABORT, DMA_OK, REQ } from '../../../host/src/pci/dma-port.js';
import { PciDriver } from '../../../host/src/guest/pci-driver.js';
import { PageAllocator } from '../../../host/src/tables/page-allocator.js';
import { SmmuDriver } from '../../../host/src/guest/smmu/driver.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { CONFIG, encodeSte, EV, s1Cd } from '../../../host/src/guest/smmu/structures.js';

const BDF = 0x18; // 00:03.0
const DMAT = { IOVA: 0x08, LEN: 0x10, CMD: 0x14, STATUS: 0x18, PASID: 0x24 } as const;

async function boot(profile = 'default'): Promise<{ m: ArmMachine; drv: SmmuDriver; pci: PciDriver; alloc: PageAllocator; bar: bigint; irqs: SmmuInterrupt[] }> {
  const irqs: SmmuInterrupt[] = [];
  const m = await createArmMachine({ profile, ramMib: 64, devices: [{ bdf: '00:03.0', kind: 'dma-test' }], onInterrupt: (i) => irqs.push(i) });
  const alloc = new PageAllocator(m.ram, ARM_RAM_BASE + 0x100_0000n, ARM_RAM_BASE + 0x400_0000n);
  const drv = new SmmuDriver(m, m.ram, alloc, SMMU_BASE);
  const pci = new PciDriver(m, ARM_ECAM_BASE);
  const bar = BigInt(pci.read(BDF, 0x10, 4) & ~0xf);
  return { m, drv, pci, alloc, bar, irqs };
}

/** One device command through its BAR; returns STATUS (state 1 = done, 2 = fault with the event number in 15:8). */
function run(m: ArmMachine, bar: bigint, cmd: 1 | 2, iova: bigint, len: number, pasid?: number): number {
  m.mmioWrite(bar + BigInt(DMAT.IOVA), 8, iova);
  m.mmioWrite(bar + BigInt(DMAT.LEN), 4, BigInt(len));
  m.mmioWrite(bar + BigInt(DMAT.PASID), 4, pasid === undefined ? 0n : BigInt((0x8000_0000 | pasid) >>> 0));
  m.mmioWrite(bar + BigInt(DMAT.CMD), 4, BigInt(cmd));
  return Number(m.mmioRead(bar + BigInt(DMAT.STATUS), 4));
}

describe('Arm machine: SMMUv3 behind MMIO, devices behind the SMMU', () => {
  it('finds the device through ECAM; the SMMU answers at its frame', async () => {
    const { m, pci, bar } = await boot();
    expect(pci.scan().map((f) => f.sid)).toEqual([0, BDF]);
    expect(bar >= 0x1000_0000n && bar < 0x3eff_0000n).toBe(true);
    expect(Number(m.mmioRead(SMMU_BASE, 4)) & 3).toBe(3); // S1P | S2P
    expect(m.mmioRead(0x1234_0000_0000n, 4)).toBe(0n); // unclaimed
  });

  it('the number MMIO API answers as the BigInt one (registers, ECAM, BAR) and names bad arguments', async () => {
    const { m, bar } = await boot();
    const S = Number(SMMU_BASE);
    expect(m.mmioRead32(S)).toBe(Number(m.mmioRead(SMMU_BASE, 4)));
    m.mmioWrite64(S + 0x80, 0x4010_0000, 0); // STRTAB_BASE
    expect(m.mmioRead64(S + 0x80)).toBe(0x4010_0000);
    expect(m.readHigh).toBe(0);
    expect(m.mmioRead(SMMU_BASE + 0x80n, 8)).toBe(0x4010_0000n);
    m.mmioWrite32(S + 0x88, 8); // STRTAB_BASE_CFG
    expect(m.mmioRead32(S + 0x88)).toBe(8);
    expect(m.mmioRead32(Number(ARM_ECAM_BASE) + (BDF << 12))).toBe(Number(m.mmioRead(ARM_ECAM_BASE + BigInt(BDF << 12), 4)));
    m.mmioWrite64(Number(bar) + DMAT.IOVA, -1, 0x1234); // an i32 half is the same bits
    expect(m.mmioRead64(Number(bar) + DMAT.IOVA)).toBe(0xffff_ffff);
    expect(m.readHigh).toBe(0x1234);
    expect(() => m.mmioRead32(-4)).toThrow(/^addr: -4 /);
    expect(() => m.mmioWrite32(S, 2 ** 32)).toThrow(/^value: /);
    expect(() => m.mmioWrite64(S + 0x80, 0, 1.5)).toThrow(/^hi: /);
  });

  it('a device DMAs with its requester id as StreamID and its PASID as SubstreamID', async () => {
    const { m, drv, pci, alloc, bar } = await boot();
    drv.init();
    pci.enablePasid(BDF);
    const a = new LpaeTables(m.ram, alloc, 1, 48);
    const b = new LpaeTables(m.ram, alloc, 1, 48);
    a.map(0x7000_0000n, ARM_RAM_BASE + 0x20_0000n, 12);
    b.map(0x7000_0000n, ARM_RAM_BASE + 0x30_0000n, 12);
    const cds = alloc.allocContiguous(1);
    s1Cd(a.root, 1).forEach((w, i) => m.ram.writeU64(cds + 64n + BigInt(8 * i), w)); // SSID 1
    s1Cd(b.root, 2).forEach((w, i) => m.ram.writeU64(cds + 128n + BigInt(8 * i), w)); // SSID 2
    drv.setSte(BDF, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cds, S1CDMax: 2, S1DSS: 0 }));
    m.ram.write(ARM_RAM_BASE + 0x20_0000n, new Uint8Array([1, 1, 1, 1]));
    m.ram.write(ARM_RAM_BASE + 0x30_0000n, new Uint8Array([2, 2, 2, 2]));
    expect(run(m, bar, 1, 0x7000_0000n, 4, 1) & 7).toBe(1);
    expect([...m.mmioRead(bar + 0x1000n, 4).toString(16)].join('')).toBe('1010101');
    expect(run(m, bar, 1, 0x7000_0000n, 4, 2) & 7).toBe(1);
    expect(m.mmioRead(bar + 0x1000n, 4)).toBe(0x0202_0202n);
    const st = run(m, bar, 1, 0x7000_1000n, 4, 2);
    expect(st).toBe(2 | (EV.F_TRANSLATION << 8));
    expect(run(m, bar, 1, 0x7000_0000n, 4) & 0xff07).toBe(2 | (EV.F_STREAM_DISABLED << 8)); // no SSID, S1DSS terminate
    expect(drv.events().map((e) => [e.type, e.sid, e.ssv, e.ssid])).toEqual([[EV.F_TRANSLATION, BDF, true, 2], [EV.F_STREAM_DISABLED, BDF, false, 0]]);
  });

  it('a PASID-tagged request needs the PASID capability enabled (the device refuses it)', async () => {
    const { m, drv, bar } = await boot();
    drv.init();
    drv.setSte(BDF, encodeSte({ V: true, Config: CONFIG.BYPASS }));
    expect(run(m, bar, 1, ARM_RAM_BASE, 4, 1) & 7).toBe(3); // bad command
    expect(run(m, bar, 1, ARM_RAM_BASE, 4) & 7).toBe(1);
  });

  it('without MSIs the event queue raises its wired line', async () => {
    const { m, drv, bar, irqs } = await boot('qemu-7.2');
    drv.init();
    m.mmioWrite(SMMU_BASE + 0x50n, 4, 4n); // IRQ_CTRL.EVENTQ_IRQEN
    drv.setSte(BDF, encodeSte({ V: false }));
    run(m, bar, 1, ARM_RAM_BASE, 4);
    expect(irqs.some((i) => i.source === 'eventq' && i.msi === undefined)).toBe(true);
    expect(SMMU_SPI.eventq).toBe(74);
    expect(drv.events().map((e) => e.type)).toEqual([EV.C_BAD_STE]);
  });

  it('the device\'s DMA port (number API): status = event number, translate-only runs, ATS refused by STE.Config 0b000', async () => {
    const { m, drv, alloc } = await boot();
    drv.init();
    const s1 = new LpaeTables(m.ram, alloc, 1, 48);
    s1.map(0x7000_0000n, ARM_RAM_BASE + 0x20_0000n, 12);
    s1.map(0x7000_1000n, ARM_RAM_BASE + 0x50_0000n, 12, { write: false });
    const cds = alloc.allocContiguous(1);
    s1Cd(s1.root, 1).forEach((w, i) => m.ram.writeU64(cds + BigInt(8 * i), w));
    drv.setSte(BDF, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cds }));
    const port = m.smmu.portFor(BDF);
    const buf = port.allocBuffer(64);
    port.buffer(buf, 4).set([9, 8, 7, 6]);
    expect(port.dma(0x7000_0ff0, 4, buf, REQ.WRITE)).toBe(DMA_OK);
    expect([...m.ram.read(ARM_RAM_BASE + 0x20_0ff0n, 4)]).toEqual([9, 8, 7, 6]);
    // A device moves data only through its own buffers, never another device's.
    const other = m.smmu.portFor(0x20).allocBuffer(64);
    expect(() => port.dma(0x7000_0ff0, 4, other, REQ.WRITE)).toThrow(/^bufOff: /);
    expect(() => port.buffer(other, 4)).toThrow(/^bufOff: /);
    expect(() => port.dma(0x7000_0ff0, 128, buf)).toThrow(/^bufOff: /);
    // Translate-only: two pages as two guest-physical runs; a write to the read-only page faults there.
    expect(port.translate(0x7000_0800, 0x1000)).toBe(DMA_OK);
    expect([port.runs.count, port.runs.gpa[0], port.runs.len[0], port.runs.gpa[1], port.runs.len[1]])
      .toEqual([2, Number(ARM_RAM_BASE) + 0x20_0800, 0x800, Number(ARM_RAM_BASE) + 0x50_0000, 0x800]);
    expect(port.translate(0x7000_0800, 0x1000, REQ.WRITE)).toBe(EV.F_PERMISSION);
    expect([port.runs.bytes, port.last.recorded, port.last.faultAddress]).toEqual([0x800, true, 0x7000_1000]);
    expect(port.dma(0x7000_2000, 4, buf)).toBe(EV.F_TRANSLATION);
    expect(port.dmaBig(0x7000_2000n, 4, false, buf)).toMatchObject({ ok: false, reason: EV.F_TRANSLATION, recorded: true });
    expect(drv.events().map((e) => e.type)).toEqual([EV.F_PERMISSION, EV.F_TRANSLATION, EV.F_TRANSLATION]);
    // STE.Config 0b000 aborts without an event: a DMA, an ATS Translation Request (UR, §3.9.1.2) and,
    // with SMMU_CR0.ATSCHK = 1, a Translated request (§3.9.1.3).
    drv.setSte(BDF, encodeSte({ V: true, Config: CONFIG.ABORT }));
    expect(port.dma(0x7000_0000, 4, buf)).toBe(DMA_ABORT);
    expect(port.translationRequest(0x7000_0000)).toBe(DMA_ABORT);
    drv.setCr0(drv.read32(0x20) | 0x10); // CR0.ATSCHK
    expect(port.translated(Number(ARM_RAM_BASE), 4, buf)).toBe(DMA_ABORT);
    expect([...port.buffer(buf, 4)]).toEqual([0xff, 0xff, 0xff, 0xff]);
    // SMMU_IDR0.PRI = 1 (default profile): page requests reach the PRI queue (pri.test.ts).
    expect([port.acceptsPageRequests, drv.events()]).toEqual([true, []]);
    expect(() => port.dma(-1, 4, buf)).toThrow(/iova/);
    expect(() => m.smmu.portFor(0x1_0000)).toThrow(/sid/);
  });

  it('rejects a bad config naming the field', async () => {
    await expect(createArmMachine({ profile: 'qemu-1' })).rejects.toThrow(/profile/);
    await expect(createArmMachine({ ramMib: 1 })).rejects.toThrow(/ramMib/);
    await expect(createArmMachine({ profile: 'qemu-7.2', smmu: { stage2: true } })).rejects.toThrow(/stage2/);
    await expect(createArmMachine({ devices: [{ bdf: 'zz', kind: 'dma-test' }] })).rejects.toThrow(/devices\[0\]\.bdf/);
  });
});
