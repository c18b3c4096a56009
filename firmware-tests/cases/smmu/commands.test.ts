// SMMUv3 command and event queues through MMIO and guest memory: TLB and
// configuration invalidation scopes (a stale translation stays until the
// right command), CMD_SYNC completion by MSI write and SEV, command errors
// (CMDQ_CONS.ERR, GERROR.CMDQ_ERR, recovery), event-queue overflow and
// GERROR interrupts.
import { describe, expect, it } from 'vitest';
import { smmuBed, RAM_BASE, type SmmuBed } from '../../lib/smmu/testbed.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { C, CONFIG, encodeSte, EV, s1Cd } from '../../../host/src/guest/smmu/structures.js';
import { SR } from '../../../host/src/guest/smmu/driver.js';

const SID = 0x20;
const VA = 0x5555_0000n;
const PA1 = RAM_BASE + 0x40_0000n;
const PA2 = RAM_BASE + 0x41_0000n;

/** Stage 1 with ASID 4 (VMID 0) mapping VA -> PA1; a DMA fills the IOTLB. */
async function warm(): Promise<{ b: SmmuBed; s1: LpaeTables; cd: bigint }> {
  const b = await smmuBed();
  b.drv.init();
  const s1 = new LpaeTables(b.mem, b.alloc, 1, 48);
  const cd = b.alloc.alloc();
  s1Cd(s1.root, 4).forEach((w, i) => b.mem.writeU64(cd + BigInt(8 * i), w));
  b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cd }));
  s1.map(VA, PA1, 12);
  b.mem.fill(PA1, 8, 0x11);
  b.mem.fill(PA2, 8, 0x22);
  expect(b.dma(SID, VA).data?.[0]).toBe(0x11);
  s1.map(VA, PA2, 12); // remap without invalidating
  return { b, s1, cd };
}
const byte = (b: SmmuBed): number | undefined => b.dma(SID, VA).data?.[0];

describe('SMMUv3 TLB invalidation scopes', () => {
  it('TLBI_NH_VA (page and range) and TLBI_NH_ASID of another ASID keep it; the right one drops it', async () => {
    const { b } = await warm();
    expect(byte(b)).toBe(0x11);
    b.drv.submit([C.tlbiNhAsid(0, 5), C.tlbiNhVa(0, 4, VA + 0x1000n)]);
    expect(byte(b)).toBe(0x11);
    b.drv.submit([C.tlbiNhVa(0, 4, VA - 0x2000n, true, { num: 3, scale: 0 })]); // 4 pages from VA - 8 KiB
    expect(byte(b)).toBe(0x22);
  });
  it('TLBI_NH_ASID, TLBI_NH_ALL, TLBI_NH_VAA, TLBI_S12_VMALL, TLBI_NSNH_ALL each drop it', async () => {
    for (const cmd of [C.tlbiNhAsid(0, 4), C.tlbiNhAll(0), C.tlbiNhVaa(0, VA), C.tlbiS12Vmall(0), C.tlbiNsnhAll()]) {
      const { b } = await warm();
      expect(byte(b)).toBe(0x11);
      expect(b.drv.submit([cmd])).toBe(0);
      expect(byte(b)).toBe(0x22);
    }
  });
  it('CFGI_CD makes a changed CD (new ASID, new tables) take effect; TLBs of the old ASID stay tagged', async () => {
    const { b, cd } = await warm();
    const s1b = new LpaeTables(b.mem, b.alloc, 1, 48);
    s1b.map(VA, PA2, 12);
    s1Cd(s1b.root, 6).forEach((w, i) => b.mem.writeU64(cd + BigInt(8 * i), w));
    expect(byte(b)).toBe(0x11); // CD cached
    b.drv.submit([C.cfgiCd(SID, 0)]);
    expect(byte(b)).toBe(0x22); // ASID 6: nothing cached for it
    b.drv.submit([C.cfgiCdAll(SID)]);
    expect(byte(b)).toBe(0x22);
  });
});

describe('SMMUv3 command queue', () => {
  it('CMD_SYNC with CS=IRQ writes MSIData to MSIAddress (the driver polls it); CS=SEV signals an event', async () => {
    const b = await smmuBed();
    b.drv.init();
    b.drv.submit([]);
    const before = b.drv.syncValue();
    b.drv.submit([C.tlbiNsnhAll()]);
    expect(b.drv.syncValue()).toBe(before + 1);
    expect(b.irqs.some((i) => i.source === 'cmd-sync')).toBe(false); // into RAM: a memory write, no interrupt
    b.drv.submit([C.sync(2)], false);
    expect(b.irqs.at(-1)!.source).toBe('sev');
  });
  it('an illegal command stops the queue at it with CMDQ_CONS.ERR = CERROR_ILL and GERROR.CMDQ_ERR; recovery resumes', async () => {
    const b = await smmuBed();
    b.drv.init();
    b.drv.write64(SR.GERROR_IRQ_CFG0, RAM_BASE + 0x8000n);
    b.drv.write32(SR.GERROR_IRQ_CFG1, 0x77);
    b.drv.write32(SR.IRQ_CTRL, 1);
    const seq = b.drv.syncValue();
    expect(b.drv.submit([[0x7fn, 0n], C.tlbiNsnhAll()])).toBe(1);
    expect((b.drv.read32(SR.GERROR) ^ b.drv.read32(SR.GERRORN)) & 1).toBe(1);
    expect(b.mem.getUint32(Number(RAM_BASE) + 0x8000)).toBe(0x77); // the GERROR MSI, written into RAM
    expect(b.irqs.some((i) => i.source === 'gerror')).toBe(false);
    expect(b.drv.syncValue()).toBe(seq);
    b.drv.recoverCommandError();
    expect(b.drv.syncValue()).toBe(seq + 1); // the commands after the bad one ran
    expect((b.drv.read32(SR.CMDQ_CONS) >>> 24) & 0x7f).toBe(0);
  });
  it('commands the SMMU lacks are CERROR_ILL (ATC_INV without ATS, PRI_RESP without PRI); qemu-7.2 ignores them', async () => {
    const b = await smmuBed('default', 64, { ats: false });
    b.drv.init();
    expect(b.drv.submit([C.atcInv(SID, undefined, 0n, 0)])).toBe(1);
    const q = await smmuBed('qemu-7.2');
    q.drv.init();
    expect(q.drv.submit([C.priResp(SID, undefined, 1, 2), C.tlbiS2Ipa(0, 0x1000n)], false)).toBe(0);
  });
  it('TLBI_S2_IPA drops stage-2 entries of the IPA', async () => {
    const b = await smmuBed();
    b.drv.init();
    const s2 = new LpaeTables(b.mem, b.alloc, 2, 40, 1);
    s2.map(0x1000n, PA1, 12);
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S2, S2VMID: 2, S2T0SZ: 24, S2SL0: 1, S2PS: 5, S2AA64: true, S2R: true, S2TTB: s2.root }));
    b.mem.fill(PA1, 8, 0x11);
    b.mem.fill(PA2, 8, 0x22);
    expect(b.dma(SID, 0x1000n).data?.[0]).toBe(0x11);
    s2.map(0x1000n, PA2, 12);
    expect(b.dma(SID, 0x1000n).data?.[0]).toBe(0x11);
    b.drv.submit([C.tlbiS2Ipa(2, 0x1000n)]);
    expect(b.dma(SID, 0x1000n).data?.[0]).toBe(0x22);
  });
});

describe('SMMUv3 event queue', () => {
  it('an event MSI goes to EVENTQ_IRQ_CFG0/1; a full queue sets OVFLG and loses events until read', async () => {
    const b = await smmuBed();
    b.drv.init({ evtqLog2: 1 });
    b.drv.write64(0xb0, 0x0809_0040n); // virt's GITS_TRANSLATER: a doorbell
    b.drv.write32(0xb8, 0x55);
    b.drv.write32(SR.IRQ_CTRL, 4);
    for (let i = 0; i < 3; i++) b.dma(0x300 + i, 0n); // beyond the 256-entry stream table
    expect(b.irqs.filter((i) => i.source === 'eventq')).toEqual([1, 2].map(() => ({ source: 'eventq', msi: { address: 0x0809_0040n, data: 0x55 } })));
    expect(b.drv.read32(SR.EVENTQ_PROD) >>> 31).toBe(1);
    const ev = b.drv.events();
    expect(ev.map((e) => [e.type, e.sid])).toEqual([[EV.C_BAD_STREAMID, 0x300], [EV.C_BAD_STREAMID, 0x301]]);
    expect(b.unit.eventsLost).toBe(1);
  });
  it('events are dropped while EVENTQEN = 0', async () => {
    const b = await smmuBed();
    b.drv.init();
    b.drv.setCr0(CR0_ON & ~4);
    b.dma(0x300, 0n);
    b.drv.setCr0(CR0_ON);
    expect(b.drv.events()).toEqual([]);
  });
});
const CR0_ON = 0xd;
