// ATS isolation on the SMMUv3 (the Arm analogue of VT-d's checked
// translated requests): a device holds a translation in its ATC; the guest
// withdraws ATS from it (STE.EATS = 0b00, an invalid STE, bypass, or the
// SMMU off) and invalidates the STE (CFGI_STE + CMD_SYNC) but not the ATC —
// a buggy or hostile device may ignore ATC invalidation anyway — and
// re-uses the page. With SMMU_CR0.ATSCHK = 1 the SMMU checks every
// Translated transaction against the STE (§3.9.1.3, §5.2 EATS): the write
// is aborted, with F_TRANSL_FORBIDDEN (§7.3.8) where the spec records one,
// and the re-used page keeps the guest's data. With ATSCHK = 0 (fast mode)
// Translated traffic bypasses the SMMU by design (§3.9.1), so withdrawing
// ATS takes the spec's procedure (§3.9.2): ATC_INV + CMD_SYNC before the
// STE changes, after which the device's Translation Requests are refused.
import { describe, expect, it } from 'vitest';
import { ATS, ATS_CMD, ATS_SID, atsBed, PAGE_A, s1Stream, setAtsCheck, VA, type AtsBed } from '../../lib/smmu/ats-bed.js';
import { ATS_STATE } from '../../../host/src/devices/ats/regs.js';
import { CR0_BITS } from '../../../host/src/guest/smmu/driver.js';
import { C, CONFIG, encodeSte, EV } from '../../../host/src/guest/smmu/structures.js';

const SECRET = 0x5ec2_e75e_c2e7_5ec2n;

/** ATS on, ATSCHK as asked, the device has cached VA -> PAGE_A with a translated write. */
async function cached(atsCheck: boolean): Promise<AtsBed> {
  const b = await atsBed();
  setAtsCheck(b, atsCheck);
  s1Stream(b, PAGE_A, 1);
  b.pci.enableAts(ATS_SID);
  b.fill([1, 1, 1, 1, 1, 1, 1, 1]);
  expect(b.cmd(ATS_CMD.WRITE, VA) & 7).toBe(ATS_STATE.DONE);
  expect([b.reg(ATS.DTLB_SIZE), b.drv.events()]).toEqual([1, []]);
  return b;
}

/** The guest re-uses PAGE_A; the device writes through its stale ATC entry. Returns STATUS; the page must keep SECRET. */
function staleWrite(b: AtsBed): number {
  b.m.ram.writeU64(PAGE_A, SECRET);
  const hits = b.reg(ATS.HITS);
  const status = b.cmd(ATS_CMD.WRITE, VA);
  expect(b.reg(ATS.HITS)).toBe(hits + 1); // it did use the cached translation: a Translated request
  return status;
}

describe('ATSCHK = 1: Translated transactions checked against the STE the guest programmed (§3.9.1.3)', () => {
  it('STE.EATS = 0b00 + CFGI_STE + CMD_SYNC: F_TRANSL_FORBIDDEN recorded (PA, write), the re-used page untouched', async () => {
    const b = await cached(true);
    s1Stream(b, PAGE_A, 0);
    const status = staleWrite(b);
    expect([status & 7, (status >> 8) & 0xff]).toEqual([ATS_STATE.FAULT, EV.F_TRANSL_FORBIDDEN]);
    expect(b.m.ram.readU64(PAGE_A)).toBe(SECRET);
    expect(b.drv.events().map((e) => [e.type, e.sid, e.addr, e.rnw, e.ssv])).toEqual([[EV.F_TRANSL_FORBIDDEN, ATS_SID, PAGE_A, false, false]]);
  });

  it('STE.V = 0 + CFGI_STE: aborted without an event (§5.2 V), the page untouched', async () => {
    const b = await cached(true);
    b.drv.setSte(ATS_SID, encodeSte({ V: false }));
    expect(staleWrite(b) & 7).toBe(ATS_STATE.ABORTED);
    expect(b.m.ram.readU64(PAGE_A)).toBe(SECRET);
    expect(b.drv.events()).toEqual([]);
  });

  it('STE.Config = 0b000: aborted without an event; 0b100 (bypass, EATS acts as 0b00 whatever it holds): F_TRANSL_FORBIDDEN', async () => {
    const b = await cached(true);
    b.drv.setSte(ATS_SID, encodeSte({ V: true, Config: CONFIG.ABORT, EATS: 1 }));
    expect(staleWrite(b) & 7).toBe(ATS_STATE.ABORTED);
    b.drv.setSte(ATS_SID, encodeSte({ V: true, Config: CONFIG.BYPASS, EATS: 1 }));
    expect((staleWrite(b) >> 8) & 0xff).toBe(EV.F_TRANSL_FORBIDDEN);
    expect(b.m.ram.readU64(PAGE_A)).toBe(SECRET);
    expect(b.drv.events().map((e) => e.type)).toEqual([EV.F_TRANSL_FORBIDDEN]);
  });

  it('SMMUEN = 0 (whatever ATSCHK says): F_TRANSL_FORBIDDEN; a Translation Request gets UR and F_BAD_ATS_TREQ', async () => {
    const b = await cached(false);
    b.drv.setCr0(CR0_BITS.CMDQEN | CR0_BITS.EVENTQEN);
    expect((staleWrite(b) >> 8) & 0xff).toBe(EV.F_TRANSL_FORBIDDEN);
    expect(b.m.ram.readU64(PAGE_A)).toBe(SECRET);
    b.m.mmioWrite(b.bar + BigInt(ATS.CMD), 4, 4n); // FLUSH the ATC: the next access translates
    expect((b.cmd(ATS_CMD.READ, VA) >> 8) & 0xff).toBe(EV.F_BAD_ATS_TREQ);
    expect(b.drv.events().map((e) => [e.type, e.addr])).toEqual([[EV.F_TRANSL_FORBIDDEN, PAGE_A], [EV.F_BAD_ATS_TREQ, VA]]);
  });

  it('a Translated request beyond the OAS aborts without an event (§3.9.1.1), also with ATSCHK = 0', async () => {
    const b = await cached(false);
    const port = b.m.smmu.portFor(ATS_SID);
    const buf = port.allocBuffer(8);
    expect(port.translated64(0x10_0000, 0, 8, buf)).toBe(0x100); // DMA_ABORT: bit 52 set, OAS 48
    expect([...port.buffer(buf, 8)]).toEqual(new Array(8).fill(0xff));
    expect(b.drv.events()).toEqual([]);
  });
});

describe('ATSCHK = 0 (fast mode): Translated traffic bypasses; ATS is withdrawn by the §3.9.2 procedure', () => {
  it('EATS = 0b00 without ATC_INV leaves the device\'s cached translation usable (the spec\'s fast mode), no event', async () => {
    const b = await cached(false);
    s1Stream(b, PAGE_A, 0);
    expect(staleWrite(b) & 7).toBe(ATS_STATE.DONE);
    expect(b.m.ram.readU64(PAGE_A)).toBe(0x0101_0101_0101_0101n);
    expect(b.drv.events()).toEqual([]);
  });

  it('ATC_INV + CMD_SYNC, then EATS = 0b00 + CFGI_STE + CMD_SYNC: the device misses, its Translation Request gets UR and F_BAD_ATS_TREQ, the page is untouched', async () => {
    const b = await cached(false);
    expect(b.drv.submit([C.atcInv(ATS_SID, undefined, 0n, 52)])).toBe(0);
    expect(b.reg(ATS.DTLB_SIZE)).toBe(0);
    s1Stream(b, PAGE_A, 0);
    b.m.ram.writeU64(PAGE_A, SECRET);
    const status = b.cmd(ATS_CMD.WRITE, VA);
    expect([status & 7, (status >> 8) & 0xff]).toEqual([ATS_STATE.FAULT, EV.F_BAD_ATS_TREQ]);
    expect(b.m.ram.readU64(PAGE_A)).toBe(SECRET);
    expect(b.drv.events().map((e) => [e.type, e.sid, e.addr, e.rnw])).toEqual([[EV.F_BAD_ATS_TREQ, ATS_SID, VA, false]]);
  });
});
