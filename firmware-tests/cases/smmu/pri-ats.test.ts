// I/O page faults on the SMMUv3, end to end as a guest serves them: the ATS
// device's Translation Request meets a missing page (Success, R = W = 0,
// IHI 0070 §3.9.1.2), its PRI engine sends a page request, the SMMU writes
// it to the guest's PRI queue (chapter 8), the guest reads the record from
// its RAM, maps the page and answers CMD_PRI_RESP + CMD_SYNC (§4.5.2), and
// the device retries: its translation and DMA now succeed. Other answers
// (InvalidRequest, ResponseFailure, Success without a mapping, hostile
// ones) leave the device failed or waiting as PCIe PRI says.
import { describe, expect, it } from 'vitest';
import { ATS, ATS_CMD, ATS_SID, atsBed, PAGE_A, PAGE_B, s1Stream, VA, type AtsBed } from '../../lib/smmu/ats-bed.js';
import { ATS_STATE } from '../../../host/src/devices/ats/regs.js';
import { MAX_PAGE_REQUESTS } from '../../../host/src/devices/common/retry-engine.js';
import { PRI } from '../../../host/src/pci/capabilities.js';
import { PRI_RESP } from '../../../host/src/smmu/spec/priq.js';
import type { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';

const MISSING = VA + 0x1000n;
const PV = 0x8000_0000;
const state = (status: number): number => status & 7;

/** The ATS device with ATS, PASID and PRI enabled, a stage-1 stream mapping VA only (CD table of 2^cdMax), the guest's PRI queue on. */
async function iopfBed(cdMax = 0): Promise<{ b: AtsBed; s1: LpaeTables }> {
  const b = await atsBed();
  const s1 = s1Stream(b, PAGE_A, 1, cdMax);
  b.pci.enableAts(ATS_SID);
  b.pci.enablePasid(ATS_SID, { priv: true });
  b.pci.enablePri(ATS_SID, 16);
  b.drv.enablePriq(4);
  return { b, s1 };
}

describe('SMMUv3 I/O page faults: ATS + PRI served by the guest', () => {
  it('a read of a missing page waits on a page request; the guest maps it and answers Success; the retried translation and DMA succeed', async () => {
    const { b, s1 } = await iopfBed();
    b.m.ram.write(PAGE_B, new Uint8Array([0xc1, 0xc2, 0xc3, 0xc4]));
    expect(state(b.cmd(ATS_CMD.READ, MISSING, 4))).toBe(ATS_STATE.PAGE_WAIT);
    const { records } = b.drv.pageRequests();
    expect(records).toEqual([{ sid: ATS_SID, addr: MISSING, prgi: 0, last: true, read: true, write: false, exec: false, priv: false }]);
    expect(b.drv.events()).toEqual([]); // the missing page is not an event: ATS answered R = W = 0
    s1.map(MISSING, PAGE_B, 12);
    expect(b.drv.respond(records[0]!, PRI_RESP.SUCCESS)).toBe(0);
    expect(state(b.reg(ATS.STATUS))).toBe(ATS_STATE.DONE);
    expect(b.buffer(4)).toEqual([0xc1, 0xc2, 0xc3, 0xc4]);
    expect(b.reg(ATS.TR_COUNT)).toBe(2); // the first (nothing granted) and the retry
  });

  it('with a PASID (SubstreamID 1, privileged write): the record carries SSV/SSID/W/Priv and the SSV response completes it', async () => {
    const { b, s1 } = await iopfBed(1);
    b.fill([7, 8]);
    expect(state(b.cmd(ATS_CMD.WRITE, MISSING, 2, PV | 0x4000_0000 | 1))).toBe(ATS_STATE.PAGE_WAIT);
    const [r] = b.drv.pageRequests().records;
    expect(r).toEqual({ sid: ATS_SID, ssid: 1, addr: MISSING, prgi: 0, last: true, read: true, write: true, exec: false, priv: true });
    s1.map(MISSING, PAGE_B, 12);
    b.drv.respond(r!, PRI_RESP.SUCCESS);
    expect(state(b.reg(ATS.STATUS))).toBe(ATS_STATE.DONE);
    expect([...b.m.ram.read(PAGE_B, 2)]).toEqual([7, 8]);
  });

  it('InvalidRequest fails the command (no permission); ResponseFailure fails it and stops the device\'s PRI (Status.RF)', async () => {
    for (const [resp, rf] of [[PRI_RESP.INVALID_REQUEST, 0], [PRI_RESP.RESPONSE_FAILURE, PRI.STS_RF]] as const) {
      const { b } = await iopfBed();
      expect(state(b.cmd(ATS_CMD.READ, MISSING))).toBe(ATS_STATE.PAGE_WAIT);
      b.drv.respond(b.drv.pageRequests().records[0]!, resp);
      expect(state(b.reg(ATS.STATUS))).toBe(ATS_STATE.NO_PERMISSION);
      expect(b.pci.priStatus(ATS_SID) & PRI.STS_RF).toBe(rf);
    }
  });

  it('Success without a mapping: the device asks again (a new PRG index), and gives up after its page-request budget', async () => {
    const { b } = await iopfBed();
    b.cmd(ATS_CMD.READ, MISSING);
    for (let i = 0; i < MAX_PAGE_REQUESTS; i++) {
      const { records } = b.drv.pageRequests();
      expect(records.map((r) => [r.addr, r.prgi])).toEqual([[MISSING, i]]);
      b.drv.respond(records[0]!, PRI_RESP.SUCCESS);
    }
    expect(state(b.reg(ATS.STATUS))).toBe(ATS_STATE.NO_PERMISSION);
    expect(b.drv.pageRequests().records).toEqual([]);
  });

  it('hostile answers complete nothing (another StreamID, a PRG index not outstanding, another SSID): the device keeps waiting, then the right answer completes it', async () => {
    const { b, s1 } = await iopfBed(1);
    b.cmd(ATS_CMD.READ, MISSING, 4, PV | 1);
    const [r] = b.drv.pageRequests().records;
    s1.map(MISSING, PAGE_B, 12);
    for (const bad of [{ ...r!, sid: ATS_SID + 8 }, { ...r!, prgi: r!.prgi + 1 }, { ...r!, ssid: 0 }]) {
      expect(b.drv.respond(bad, PRI_RESP.SUCCESS)).toBe(0);
      expect(state(b.reg(ATS.STATUS))).toBe(ATS_STATE.PAGE_WAIT);
    }
    expect(b.pci.priStatus(ATS_SID) & PRI.STS_UPRGI).toBe(PRI.STS_UPRGI);
    b.drv.respond(r!, PRI_RESP.SUCCESS);
    expect(state(b.reg(ATS.STATUS))).toBe(ATS_STATE.DONE);
  });

  it('without the guest\'s PRI queue (PRIQEN = 0) the SMMU answers Response Failure at once: the command fails, no record anywhere', async () => {
    const b = await atsBed();
    s1Stream(b, PAGE_A, 1);
    b.pci.enableAts(ATS_SID);
    b.pci.enablePri(ATS_SID, 16);
    expect(state(b.cmd(ATS_CMD.READ, MISSING))).toBe(ATS_STATE.NO_PERMISSION);
    expect(b.pci.priStatus(ATS_SID) & PRI.STS_RF).toBe(PRI.STS_RF);
    expect(b.m.smmu.priq.stats).toMatchObject({ queued: 0, autoResponses: 1 });
  });

  it('a snapshot taken while the device waits keeps the PRI queue and the outstanding group: the restored machine completes it', async () => {
    const { b, s1 } = await iopfBed();
    b.cmd(ATS_CMD.READ, MISSING, 2);
    s1.map(MISSING, PAGE_B, 12);
    b.m.ram.write(PAGE_B, new Uint8Array([0x5a, 0xa5]));
    const bytes = b.m.snapshot();
    const c = await atsBed();
    c.m.restore(bytes);
    c.drv.attach();
    const { records } = c.drv.pageRequests();
    expect(records.map((r) => r.addr)).toEqual([MISSING]);
    expect(c.drv.respond(records[0]!, PRI_RESP.SUCCESS)).toBe(0);
    expect(state(c.reg(ATS.STATUS))).toBe(ATS_STATE.DONE);
    expect(c.buffer(2)).toEqual([0x5a, 0xa5]);
  });
});
