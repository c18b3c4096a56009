// CMD_ATC_INV (IHI 0070 §4.5.1) reaching the ATS device's ATC through the
// Arm machine, driven through the command queue: SubstreamID (PASID
// prefix), Global (only with SSV = 1), the span (4 KiB * 2^Size from the
// address aligned down to it; Size 52 is everything, above 52 CERROR_ILL),
// a StreamID with no device (UR: completes, §3.9.1.5), SMMUEN = 0 (the
// command is IGNORED), and a device that does not answer: the CMD_SYNC
// after it stops the queue with CERROR_ATC_INV_SYNC (§3.9.1.4) and
// CMDQ_CONS at the CMD_SYNC; once acknowledged, the CMD_SYNC runs again
// and completes.
import { describe, expect, it } from 'vitest';
import { ATS, ATS_CMD, ATS_SID, atsBed, PAGE_A, s1Stream, VA, type AtsBed } from '../../lib/smmu/ats-bed.js';
import { ATS_CTL, ATS_STATE } from '../../../host/src/devices/ats/regs.js';
import { CR0_BITS, SR } from '../../../host/src/guest/smmu/driver.js';
import { C } from '../../../host/src/guest/smmu/structures.js';

const PASID_VALID = 0x8000_0000;

/** Three pages cached by the device (VA, VA + 4 KiB, VA + 8 KiB), without a PASID or with `pasid`. */
async function threePages(pasids: readonly (number | undefined)[] = [undefined]): Promise<AtsBed> {
  const b = await atsBed();
  const s1 = s1Stream(b, PAGE_A, 1, pasids.some((p) => p !== undefined) ? 2 : 0);
  for (let i = 1n; i < 3n; i++) s1.map(VA + 0x1000n * i, PAGE_A + 0x1000n * i, 12);
  if (pasids.some((p) => p !== undefined)) b.pci.enablePasid(ATS_SID);
  b.pci.enableAts(ATS_SID);
  for (const p of pasids) expect(b.cmd(ATS_CMD.TRANSLATE, VA, 0x3000, p === undefined ? 0 : PASID_VALID | p) & 7).toBe(ATS_STATE.DONE);
  expect(b.reg(ATS.DTLB_SIZE)).toBe(3 * pasids.length);
  return b;
}

describe('CMD_ATC_INV reaches the device\'s ATC (§4.5.1)', () => {
  it('the span: one page; 2^Size pages from the address aligned down to the span; Size 52 everything', async () => {
    const b = await threePages();
    expect(b.drv.submit([C.atcInv(ATS_SID, undefined, VA + 0x1000n, 0)])).toBe(0);
    expect([b.reg(ATS.INV_COUNT), b.reg(ATS.DTLB_SIZE)]).toEqual([1, 2]); // only the middle page went
    expect(b.drv.submit([C.atcInv(ATS_SID, undefined, VA + 0x2800n, 1)])).toBe(0); // 8 KiB from VA + 8 KiB
    expect(b.reg(ATS.DTLB_SIZE)).toBe(1);
    expect(b.drv.submit([C.atcInv(ATS_SID, undefined, 0xffff_f000_0000_0000n, 52)])).toBe(0);
    expect(b.reg(ATS.DTLB_SIZE)).toBe(0);
  });

  it('SubstreamID: only that PASID\'s translations; Global with SSV = 1 every PASID\'s; Global without SSV is IGNORED', async () => {
    const b = await threePages([0, 1]);
    expect(b.drv.submit([C.atcInv(ATS_SID, 1, VA, 1)])).toBe(0);
    expect(b.reg(ATS.DTLB_SIZE)).toBe(4); // PASID 1 lost two pages, PASID 0 kept three
    const g = C.atcInv(ATS_SID, undefined, VA, 52);
    g[0] = g[0]! | (1n << 9n); // Global, SSV = 0: a request without PASID, which matches none of them
    expect(b.drv.submit([g])).toBe(0);
    expect(b.reg(ATS.DTLB_SIZE)).toBe(4);
    const g1 = C.atcInv(ATS_SID, 7, VA, 52);
    g1[0] = g1[0]! | (1n << 9n);
    expect(b.drv.submit([g1])).toBe(0);
    expect(b.reg(ATS.DTLB_SIZE)).toBe(0);
  });

  it('hostile fields: Size > 52 is CERROR_ILL at the command; a StreamID with no device completes; SMMUEN = 0 ignores the command', async () => {
    const b = await threePages();
    for (const size of [53, 63]) {
      const cons = b.drv.read32(SR.CMDQ_CONS) & 0xfffff;
      expect(b.drv.submit([C.atcInv(ATS_SID, undefined, VA, size)])).toBe(1);
      expect(b.drv.read32(SR.CMDQ_CONS) & 0xfffff).toBe(cons);
      b.drv.recoverCommandError();
    }
    expect(b.drv.submit([C.atcInv(0x99, undefined, VA, 52), C.atcInv(0xffff_ffff, 3, VA, 52)])).toBe(0);
    b.drv.setCr0(CR0_BITS.CMDQEN | CR0_BITS.EVENTQEN);
    expect(b.drv.submit([C.atcInv(ATS_SID, undefined, VA, 52)])).toBe(0);
    expect([b.reg(ATS.INV_COUNT), b.reg(ATS.DTLB_SIZE)]).toEqual([0, 3]);
  });

  it('a device that does not answer: the CMD_SYNC after the ATC_INV stops with CERROR_ATC_INV_SYNC, CONS at the CMD_SYNC, no completion MSI', async () => {
    const b = await threePages();
    b.m.mmioWrite(b.bar + BigInt(ATS.CTL), 4, BigInt(ATS_CTL.NO_INV_RESPONSE));
    const seq = b.drv.syncValue();
    const cons = b.drv.read32(SR.CMDQ_CONS) & 0xfffff;
    expect(b.drv.submit([C.tlbiNsnhAll(), C.atcInv(ATS_SID, undefined, VA, 0)])).toBe(3);
    expect(b.drv.read32(SR.CMDQ_CONS) & 0xfffff).toBe(cons + 2); // the ATC_INV was consumed; the CMD_SYNC holds the error
    expect((b.drv.read32(SR.GERROR) ^ b.drv.read32(SR.GERRORN)) & 1).toBe(1);
    expect([b.drv.syncValue(), b.reg(ATS.INV_TIMEOUT), b.reg(ATS.DTLB_SIZE)]).toEqual([seq, 1, 3]);
    // Acknowledge (as Linux does for CERROR_ATC_INV_SYNC: the CMD_SYNC is retried): it now completes.
    b.drv.write32(SR.GERRORN, b.drv.read32(SR.GERROR));
    expect(b.drv.syncValue()).toBe(seq + 1);
    expect((b.drv.read32(SR.CMDQ_CONS) >>> 24) & 0x7f).toBe(0);
    // The device answers again: ATC_INV + CMD_SYNC complete, and the CMD_SYNC came after the invalidation.
    b.m.mmioWrite(b.bar + BigInt(ATS.CTL), 4, 0n);
    expect(b.drv.submit([C.atcInv(ATS_SID, undefined, VA, 0)])).toBe(0);
    expect([b.reg(ATS.INV_COUNT), b.reg(ATS.DTLB_SIZE), b.drv.syncValue()]).toEqual([1, 2, seq + 2]);
  });
});
