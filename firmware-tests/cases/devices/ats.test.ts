/**
 * Guest-driver tests of the ATS device: the guest enables ATS through
 * config space, attaches the device with a device-TLB context (TT=01),
 * drives DMA through BAR0 and invalidates the device-TLB with queued
 * invalidation descriptors (§6.5.2.5 / §6.5.2.6), as Linux does.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../../host/src/machine.js';
import { GuestIommu } from '../../../host/src/guest/guest-iommu.js';
import { GuestQueue } from '../../../host/src/guest/invalidation-queue.js';
import { guestEnvFor } from '../../../host/src/guest/machine-env.js';
import { attachPasids } from '../../../host/src/guest/pasid-attach.js';
import { PciDriver } from '../../../host/src/guest/pci-driver.js';
import { devTlbDesc, iotlbDesc, pasidDevTlbDesc } from '../../../host/src/vtd/spec/descriptors.js';
import { FSTS } from '../../../host/src/vtd/spec/registers.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';

const SID = 0x28; // 00:05.0
const RW = encodeSsPte({ R: true, W: true });
const RO = encodeSsPte({ R: true });
const A = 0x20_0000n;
const B = 0x30_0000n;
const B_ = BigInt;
const REG = { IOVA: 0x08n, LEN: 0x10n, CMD: 0x14n, STATUS: 0x18n, PASID: 0x24n, CTL: 0x28n, DTLB: 0x2cn, INV: 0x30n, TR: 0x34n, HITS: 0x38n, TIMEOUTS: 0x3cn, BUF: 0x1000n };

async function boot(mode: 'legacy' | 'scalable' = 'legacy') {
  const m = await createMachine({ ramMib: 64, devices: [{ bdf: '00:05.0', kind: 'ats' }] });
  const env = guestEnvFor(m);
  const pci = new PciDriver(m);
  const bar = pci.barBase(SID, 0);
  const g = new GuestIommu(env, mode);
  const reg = (r: bigint) => Number(m.mmioRead(bar + r, 4));
  const cmd = (c: number, iova: bigint, len: number): number => {
    m.mmioWrite(bar + REG.IOVA, 8, iova);
    m.mmioWrite(bar + REG.LEN, 4, B_(len));
    m.mmioWrite(bar + REG.CMD, 4, B_(c));
    return reg(REG.STATUS);
  };
  const fill = (gpa: bigint, seed: number) => env.mem.writeU64(gpa, 0x0101_0101_0101_0101n * B_(seed));
  const buf = () => m.mmioRead(bar + REG.BUF, 8);
  return { m, env, pci, bar, g, reg, cmd, fill, buf };
}

describe('ATS device: device-TLB through the IOMMU (legacy, TT=01)', () => {
  async function legacy() {
    const t = await boot();
    const ss = t.g.attachLegacy(SID, { did: 1, tt: 1 });
    ss.map(0x10000n, A, 12, RW);
    t.g.start();
    const q = new GuestQueue(t.env);
    q.enable();
    t.pci.enableAts(SID);
    t.fill(A, 0xa1);
    t.fill(B, 0xb2);
    return { ...t, ss, q };
  }

  it('a miss sends a translation request, later reads hit the device-TLB', async () => {
    const t = await legacy();
    expect(t.cmd(1, 0x10000n, 8)).toBe(1);
    expect(t.buf()).toBe(0xa1a1_a1a1_a1a1_a1a1n);
    expect([t.reg(REG.TR), t.reg(REG.DTLB), t.reg(REG.HITS)]).toEqual([1, 1, 0]);
    expect(t.cmd(1, 0x10008n, 8)).toBe(1);
    expect([t.reg(REG.TR), t.reg(REG.HITS)]).toEqual([1, 1]);
  });

  it('a stale translation is used until the guest invalidates the device-TLB', async () => {
    const t = await legacy();
    t.cmd(1, 0x10000n, 8);
    t.ss.map(0x10000n, B, 12, RW);
    expect(t.q.submitSync([iotlbDesc(3, 1, 0x10000n)])).toBe(true);
    t.cmd(1, 0x10000n, 8);
    expect(t.buf()).toBe(0xa1a1_a1a1_a1a1_a1a1n); // still the old page: only the IOTLB was invalidated
    expect(t.q.submitSync([devTlbDesc(SID, 0x10000n)])).toBe(true);
    expect(t.reg(REG.INV)).toBe(1);
    t.cmd(1, 0x10000n, 8);
    expect(t.buf()).toBe(0xb2b2_b2b2_b2b2_b2b2n);
    expect(t.reg(REG.TR)).toBe(2);
  });

  it('invalidation removes exactly the named ranges', async () => {
    const t = await legacy();
    for (const p of [0x11000n, 0x12000n, 0x13000n, 0x14000n]) t.ss.map(p, A, 12, RW);
    expect(t.cmd(3, 0x10000n, 0x5000)).toBe(1); // TRANSLATE 5 pages
    const pages = () => t.m.device('00:05.0') as unknown as { tlb: { entries(): readonly { iova: bigint }[] } };
    const cached = () => pages().tlb.entries().map((e) => e.iova).sort();
    expect(cached()).toEqual([0x10000n, 0x11000n, 0x12000n, 0x13000n, 0x14000n]);
    t.q.submitSync([devTlbDesc(SID, 0x12000n)]); // one page
    expect(cached()).toEqual([0x10000n, 0x11000n, 0x13000n, 0x14000n]);
    t.q.submitSync([devTlbDesc(SID, 0x10000n, 1)]); // S=1, bit 12 clear: 8 KiB at 0x10000
    expect(cached()).toEqual([0x13000n, 0x14000n]);
    t.q.submitSync([devTlbDesc(0x30, 0x13000n)]); // another SID: nothing here
    expect(cached()).toEqual([0x13000n, 0x14000n]);
    t.q.submitSync([devTlbDesc(SID, 0x7fff_f000n | 0xfff_ffff_f000n, 1)]); // all ones: everything
    expect(cached()).toEqual([]);
  });

  it('a device that stops answering makes the invalidation time out (ITE); the entry stays', async () => {
    const t = await legacy();
    t.cmd(1, 0x10000n, 8);
    t.m.mmioWrite(t.bar + REG.CTL, 4, 2n);
    expect(t.q.submitSync([devTlbDesc(SID, 0x10000n)])).toBe(false);
    expect(t.g.drv.read32(0x34) & FSTS.ITE).toBe(FSTS.ITE);
    expect([t.reg(REG.TIMEOUTS), t.reg(REG.DTLB)]).toEqual([1, 1]);
  });

  it('honours returned permissions: a read-only page refuses a write without recording a fault', async () => {
    const t = await legacy();
    t.ss.map(0x20000n, B, 12, RO);
    expect(t.cmd(2, 0x20000n, 8) & 7).toBe(6); // no permission (PRI off)
    expect(t.g.drv.readFaults()).toEqual([]);
    expect(t.cmd(1, 0x20000n, 8)).toBe(1);
    expect(t.buf()).toBe(0xb2b2_b2b2_b2b2_b2b2n);
  });

  it('disabling ATS empties the device-TLB and DMA becomes untranslated requests', async () => {
    const t = await legacy();
    t.cmd(1, 0x10000n, 8);
    t.pci.enableAts(SID, 0, false);
    expect(t.reg(REG.DTLB)).toBe(0);
    expect(t.cmd(1, 0x10000n, 8)).toBe(1);
    expect(t.reg(REG.TR)).toBe(1);
  });
});

describe('ATS device with PASIDs (scalable mode)', () => {
  it('keeps translations per PASID; a PASID-based invalidation leaves other PASIDs alone', async () => {
    const t = await boot('scalable');
    const pts = attachPasids(t.g, SID, [{ pasid: 0, did: 1 }, { pasid: 5, did: 2 }], { dte: true });
    pts.get(0)!.map(0x10000n, A, 12, RW);
    pts.get(5)!.map(0x10000n, B, 12, RW);
    t.g.start();
    const q = new GuestQueue(t.env, { wide: true });
    q.enable();
    t.pci.enableAts(SID);
    t.pci.enablePasid(SID);
    t.fill(A, 0xa1);
    t.fill(B, 0xb2);
    t.m.mmioWrite(t.bar + REG.PASID, 4, B_(0x8000_0000 | 5));
    expect(t.cmd(1, 0x10000n, 8)).toBe(1);
    expect(t.buf()).toBe(0xb2b2_b2b2_b2b2_b2b2n);
    expect(t.reg(REG.DTLB)).toBe(1);
    expect(q.submitSync([pasidDevTlbDesc(SID, 7, 0x10000n)])).toBe(true);
    expect(t.reg(REG.DTLB)).toBe(1);
    expect(q.submitSync([pasidDevTlbDesc(SID, 5, 0x10000n)])).toBe(true);
    expect(t.reg(REG.DTLB)).toBe(0);
  });
});
