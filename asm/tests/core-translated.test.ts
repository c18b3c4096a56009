/**
 * The core's check of translated requests (checkTranslated, VT-d §4.2.5,
 * §7.1.3 Table 30 "Translated Req-without-PASID"): context and RID_PASID
 * entries decide, the address may not be above HAW nor in the interrupt
 * range, translation off is an Unsupported Request, FPD suppresses the
 * qualified faults.
 */
import { describe, expect, it } from 'vitest';
import { Fixture, K } from './core-fixture.js';

const SID = 0x18;
const hi = (a: bigint) => Number(a >> 32n);
const lo = (a: bigint) => Number(a & 0xffff_ffffn);
const check = (f: Fixture, addr: bigint, len = 8, sid = SID) => f.core.checkTranslated(sid, hi(addr), lo(addr), len, K.ACC_WRITE);

describe('checkTranslated', () => {
  it('legacy: only TT=01 lets translated requests through; the address is the output', async () => {
    const f = await Fixture.create();
    f.legacy();
    const ss = f.page();
    f.context(SID, { ssptr: ss, tt: 1 });
    expect(check(f, 0x30_0000n)).toBe(0);
    expect(f.core.out[K.OUT_ADDR_LO]).toBe(0x30_0000);
    f.context(SID, { ssptr: ss, tt: 0 });
    f.core.invContextGlobal();
    expect(check(f, 0x30_0000n)).toBe(K.FR_TT_BLOCKED);
    expect(f.core.out[K.OUT_FAULT_ADDR_LO]).toBe(0x30_0000);
    expect(check(f, 0x30_0000n, 8, 0x20)).toBe(K.FR_CTX_NP); // bus 0 root present, devfn 0x20 not
  });

  it('legacy: above HAW is 0x4 (LGN.1.2), the interrupt range 0xE (LGN.4), FPD suppresses them', async () => {
    const f = await Fixture.create();
    f.legacy();
    f.context(SID, { ssptr: f.page(), tt: 1 });
    const haw = f.core.getConfig(K.CFG_HAW);
    expect(check(f, 1n << BigInt(haw))).toBe(K.FR_ADDR_WIDTH);
    expect(check(f, 0xfedf_fff8n, 16)).toBe(K.FR_INTR_ADDR); // its last bytes reach 0xFEE00000
    expect(check(f, 0xffff_ffff_ffff_fff8n, 16)).toBe(K.FR_ADDR_WIDTH); // wraps past 2^64
    f.context(SID, { ssptr: f.page(), tt: 1, fpd: true });
    f.core.invContextGlobal();
    expect(check(f, 0xfee0_0000n)).toBe(K.FR_INTR_ADDR);
    expect(f.core.out[K.OUT_FAULT_FLAGS]! & K.FF_SUPPRESSED).toBe(K.FF_SUPPRESSED);
  });

  it('scalable: DTE=0 is 0x44 (SCT.5); a not-present RID_PASID entry 0x59 (SPT.2); TTM=10 0x30', async () => {
    const f = await Fixture.create();
    f.scalable();
    const dir = f.page();
    f.pasidEntry(dir, 0, { pgtt: 2, ssptr: f.page() });
    f.smContext(SID, { pasidDir: dir, dte: true });
    expect(check(f, 0x30_0000n)).toBe(0);
    f.smContext(SID, { pasidDir: dir, dte: false });
    f.core.invalidateAll();
    expect(check(f, 0x30_0000n)).toBe(K.FR_SM_DTE);
    f.smContext(SID, { pasidDir: dir, dte: true });
    f.pasidEntry(dir, 0, { pgtt: 2, ssptr: f.page(), p: false });
    f.core.invalidateAll();
    expect(check(f, 0x30_0000n)).toBe(K.FR_PASID_NP);
    f.core.setRootTable(f.rootTable, 2);
    expect(check(f, 0x30_0000n)).toBe(K.FR_SM_RTADDR_INV);
  });

  it('translation off: TRANSLATED_UR (no fault); len 0 is an Error', async () => {
    const f = await Fixture.create();
    expect(check(f, 0x1000n)).toBe(K.TRANSLATED_UR);
    expect(() => check(f, 0x1000n, 0)).toThrow(/^len: /);
  });
});
