// ATS on the SMMUv3 (IHI 0070 §3.9.1), driven by a guest through MMIO and
// guest memory: the guest enables ATS in the device's config space and
// STE.EATS; the ATS device (devices/ats) translates with ATS Translation
// Requests, caches the completions in its ATC and moves data with
// Translated requests; CMD_ATC_INV (§4.5.1) reaches its ATC and CMD_SYNC
// waits for it.
import { describe, expect, it } from 'vitest';
import { ATS, ATS_CMD, ATS_SID, atsBed, PAGE_A, PAGE_B, s1Stream, VA, ASID } from '../../lib/smmu/ats-bed.js';
import { ATS_STATE } from '../../../host/src/devices/ats/regs.js';
import { SR } from '../../../host/src/guest/smmu/driver.js';
import { C } from '../../../host/src/guest/smmu/structures.js';

describe('ATS on the SMMUv3 default profile (§3.9.1)', () => {
  it('SMMU_IDR0 offers ATS without split-stage (ATS = 1, NS1ATS = 1); CR0.ATSCHK is writable and acknowledged', async () => {
    const b = await atsBed();
    const idr0 = b.drv.read32(SR.IDR0);
    expect([(idr0 >> 10) & 1, (idr0 >> 11) & 1]).toEqual([1, 1]);
    b.drv.setCr0(b.drv.read32(SR.CR0) | 0x10);
    expect(b.drv.read32(SR.CR0ACK) & 0x10).toBe(0x10);
  });

  it('the device translates once, caches the completion in its ATC and moves data with translated requests', async () => {
    const b = await atsBed();
    s1Stream(b, PAGE_A, 1);
    b.pci.enableAts(ATS_SID);
    b.fill([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(b.cmd(ATS_CMD.WRITE, VA) & 7).toBe(ATS_STATE.DONE);
    expect([...b.m.ram.read(PAGE_A, 8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([b.reg(ATS.TR_COUNT), b.reg(ATS.DTLB_SIZE), b.reg(ATS.HITS)]).toEqual([1, 1, 0]);
    b.m.ram.write(PAGE_A + 8n, new Uint8Array([9, 9]));
    expect(b.cmd(ATS_CMD.READ, VA + 8n, 2) & 7).toBe(ATS_STATE.DONE);
    expect(b.buffer(2)).toEqual([9, 9]);
    expect([b.reg(ATS.TR_COUNT), b.reg(ATS.HITS)]).toEqual([1, 1]); // the ATC answered
  });

  it('the guest moves the page: TLBI_NH_VA + CMD_SYNC, then ATC_INV + CMD_SYNC; the device misses and re-translates to the new page', async () => {
    const b = await atsBed();
    const s1 = s1Stream(b, PAGE_A, 1);
    b.pci.enableAts(ATS_SID);
    b.m.ram.write(PAGE_A, new Uint8Array([0xa, 0xa]));
    b.m.ram.write(PAGE_B, new Uint8Array([0xb, 0xb]));
    expect(b.cmd(ATS_CMD.READ, VA, 2) & 7).toBe(ATS_STATE.DONE);
    expect(b.buffer(2)).toEqual([0xa, 0xa]);
    s1.map(VA, PAGE_B, 12);
    expect(b.drv.submit([C.tlbiNhVa(0, ASID, VA)])).toBe(0);
    expect(b.cmd(ATS_CMD.READ, VA, 2) & 7).toBe(ATS_STATE.DONE);
    expect(b.buffer(2)).toEqual([0xa, 0xa]); // the ATC still holds the old page: ATC_INV is the guest's duty
    expect(b.drv.submit([C.atcInv(ATS_SID, undefined, VA, 0)])).toBe(0);
    expect([b.reg(ATS.INV_COUNT), b.reg(ATS.DTLB_SIZE)]).toEqual([1, 0]);
    expect(b.cmd(ATS_CMD.READ, VA, 2) & 7).toBe(ATS_STATE.DONE);
    expect(b.buffer(2)).toEqual([0xb, 0xb]);
    expect(b.reg(ATS.TR_COUNT)).toBe(2);
  });
});
