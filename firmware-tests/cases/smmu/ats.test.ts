// ATS on the SMMUv3 (IHI 0070 §3.9.1), driven by a guest through MMIO and
// guest memory: the guest enables ATS in the device's config space and
// STE.EATS; the ATS device (devices/ats) translates with ATS Translation
// Requests, caches the completions in its ATC and moves data with
// Translated requests; CMD_ATC_INV (§4.5.1) reaches its ATC and CMD_SYNC
// waits for it.
import { describe, expect, it } from 'vitest';
import { ATS, ATS_CMD, ATS_SID, atsBed, PAGE_A, PAGE_B, s1Stream, VA, ASID, type AtsBed } from '../../lib/smmu/ats-bed.js';
import { ARM_RAM_BASE } from '../../../host/src/arm-machine.js';
import { ATS_STATE } from '../../../host/src/devices/ats/regs.js';
import { SR } from '../../../host/src/guest/smmu/driver.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { C, CONFIG, encodeSte, EV, s1Cd } from '../../../host/src/guest/smmu/structures.js';
import { DMA_ABORT, DMA_OK, REQ } from '../../../host/src/pci/dma-port.js';

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

describe('answers to ATS Translation Requests (§3.9.1.2) through the device\'s port', () => {
  /** The port of the ATS device's StreamID; a request for VA's page; status, completion, recorded. */
  async function ask(ste: (b: Awaited<ReturnType<typeof atsBed>>) => void, flags = 0, pasid = 0, iova = VA) {
    const b = await atsBed();
    ste(b);
    const port = b.m.smmu.portFor(ATS_SID);
    const status = port.translationRequest(Number(iova), flags, pasid);
    const c = port.completion;
    return { b, status, recorded: port.last.recorded, c: { iova: c.iova, addr: c.addr, lg2: c.sizeLg2, perms: c.perms } };
  }

  it('full ATS: the page, its size and the granted subset of R/W; a read-only page grants R to a write request', async () => {
    const r = await ask((b) => s1Stream(b, PAGE_A, 1), REQ.WRITE);
    expect([r.status, r.c]).toEqual([DMA_OK, { iova: VA, addr: PAGE_A, lg2: 12, perms: 3 }]);
    const ro = await ask((b) => s1Stream(b, PAGE_A, 1).map(VA, PAGE_A, 12, { write: false }), REQ.WRITE);
    expect([ro.status, ro.c.perms]).toEqual([DMA_OK, 1]);
    const block = await ask((b) => s1Stream(b, PAGE_A, 1).map(VA, ARM_RAM_BASE + 0x40_0000n, 21), 0, 0, VA + 0x12_3456n);
    expect(block.c).toEqual({ iova: VA, addr: ARM_RAM_BASE + 0x40_0000n, lg2: 21, perms: 1 });
  });

  it('a translation fault is Success with R = W = 0 over one STU (4 KiB), nothing recorded', async () => {
    const r = await ask((b) => s1Stream(b, PAGE_A, 1), 0, 0, VA + 0x5000n);
    expect([r.status, r.c]).toEqual([DMA_OK, { iova: VA + 0x5000n, addr: 0n, lg2: 12, perms: 0 }]);
    expect(r.b.drv.events()).toEqual([]);
  });

  it('EATS = 0b00, and 0b11 (no DPT: acts as 0b00), and STE bypass: UR with F_BAD_ATS_TREQ (StreamID, page, RnW)', async () => {
    for (const ste of [(b: AtsBed) => s1Stream(b, PAGE_A, 0), (b: AtsBed) => s1Stream(b, PAGE_A, 3),
      (b: AtsBed) => b.drv.setSte(ATS_SID, encodeSte({ V: true, Config: CONFIG.BYPASS, EATS: 1 }))]) {
      const r = await ask(ste, 0, 0, VA + 0x10n);
      expect([r.status, r.recorded]).toEqual([EV.F_BAD_ATS_TREQ, true]);
      expect(r.b.drv.events().map((e) => [e.type, e.sid, e.addr, e.rnw])).toEqual([[EV.F_BAD_ATS_TREQ, ATS_SID, VA, true]]);
    }
  });

  it('STE.Config 0b000: UR, no event; STE.V = 0 and configuration errors: CA, no event (the event is named, unrecorded)', async () => {
    const abort = await ask((b) => b.drv.setSte(ATS_SID, encodeSte({ V: true, Config: CONFIG.ABORT, EATS: 1 })));
    expect([abort.status, abort.recorded]).toEqual([DMA_ABORT, false]);
    const invalid = await ask((b) => b.drv.setSte(ATS_SID, encodeSte({ V: false })));
    expect([invalid.status, invalid.recorded]).toEqual([EV.C_BAD_STE, false]);
    const noSubstreams = await ask((b) => s1Stream(b, PAGE_A, 1), REQ.PASID, 1);
    expect([noSubstreams.status, noSubstreams.recorded]).toEqual([EV.C_BAD_SUBSTREAMID, false]);
    for (const r of [abort, invalid, noSubstreams]) expect(r.b.drv.events()).toEqual([]);
  });

  it('STE.EATS = 0b10 (split-stage) is ILLEGAL here (SMMU_IDR0.NS1ATS = 1): C_BAD_STE for ordinary DMA, CA for a Translation Request', async () => {
    const r = await ask((b) => s1Stream(b, PAGE_A, 2));
    expect([r.status, r.recorded]).toEqual([EV.C_BAD_STE, false]);
    const port = r.b.m.smmu.portFor(ATS_SID);
    expect(port.dma(Number(VA), 4, port.allocBuffer(4))).toBe(EV.C_BAD_STE);
    expect(r.b.drv.events().map((e) => e.type)).toEqual([EV.C_BAD_STE]);
  });

  it('with substreams: a PASID-tagged request translates through its CD; privileged and execute come from the prefix', async () => {
    const r = await ask((b) => {
      s1Stream(b, PAGE_A, 1, 1);
    }, REQ.PASID | REQ.EXEC, 1);
    expect([r.status, r.c]).toEqual([DMA_OK, { iova: VA, addr: PAGE_A, lg2: 12, perms: 5 }]);
  });
});

describe('full ATS through every stage configuration (§3.9.1.2, §5.2 EATS = 0b01)', () => {
  /** Stage 2 maps guest RAM 1:1 in 2 MiB blocks except IPA_BLOCK -> PA_BLOCK; 40-bit IPA, start level 1. */
  const IPA_BLOCK = ARM_RAM_BASE + 0x60_0000n;
  const PA_BLOCK = ARM_RAM_BASE + 0xa0_0000n;
  function stage2(b: AtsBed): LpaeTables {
    const s2 = new LpaeTables(b.m.ram, b.alloc, 2, 40, 1);
    for (let i = 0n; i < 32n; i++) s2.map(ARM_RAM_BASE + (i << 21n), ARM_RAM_BASE + (i << 21n), 21);
    s2.map(IPA_BLOCK, PA_BLOCK, 21);
    return s2;
  }
  const s2Fields = (root: bigint) => ({ S2VMID: 3, S2T0SZ: 24, S2SL0: 1, S2TG: 0, S2PS: 5, S2AA64: true, S2R: true, S2TTB: root });

  it('nested S1+S2: the completion holds the PA (not the IPA) with both stages\' permissions; a stage-2 fault is R = W = 0, nothing recorded', async () => {
    const b = await atsBed();
    const s2 = stage2(b);
    const s1 = new LpaeTables(b.m.ram, b.alloc, 1, 48);
    s1.map(VA, IPA_BLOCK + 0x3000n, 12);
    s1.map(VA + 0x1000n, ARM_RAM_BASE + 0x3000_0000n, 12); // an IPA stage 2 does not map
    const cd = b.alloc.alloc();
    s1Cd(s1.root, ASID).forEach((w, i) => b.m.ram.writeU64(cd + BigInt(8 * i), w));
    b.drv.setSte(ATS_SID, encodeSte({ V: true, Config: CONFIG.NESTED, S1ContextPtr: cd, EATS: 1, ...s2Fields(s2.root) }));
    const port = b.m.smmu.portFor(ATS_SID);
    expect(port.translationRequest(Number(VA), REQ.WRITE)).toBe(DMA_OK);
    expect([port.completion.addr, port.completion.sizeLg2, port.completion.perms]).toEqual([PA_BLOCK + 0x3000n, 12, 3]);
    expect(port.translationRequest(Number(VA) + 0x1000)).toBe(DMA_OK);
    expect(port.completion.perms).toBe(0);
    expect(b.drv.events()).toEqual([]);
    // The device itself: translate, cache, write the PA.
    b.pci.enableAts(ATS_SID);
    b.fill([7, 7]);
    expect(b.cmd(ATS_CMD.WRITE, VA, 2) & 7).toBe(ATS_STATE.DONE);
    expect([...b.m.ram.read(PA_BLOCK + 0x3000n, 2)]).toEqual([7, 7]);
  });

  it('stage 2 only: the IPA (the device\'s address) translates to the PA over a 2 MiB block', async () => {
    const b = await atsBed();
    const s2 = stage2(b);
    b.drv.setSte(ATS_SID, encodeSte({ V: true, Config: CONFIG.S2, EATS: 1, ...s2Fields(s2.root) }));
    const port = b.m.smmu.portFor(ATS_SID);
    expect(port.translationRequest(Number(IPA_BLOCK) + 0x12_3456, REQ.WRITE)).toBe(DMA_OK);
    expect([port.completion.iova, port.completion.addr, port.completion.sizeLg2, port.completion.perms]).toEqual([IPA_BLOCK, PA_BLOCK, 21, 3]);
  });

  it('stage 1 skipped by STE.S1DSS = 0b01 for a request without PASID: an identity translation, R = W = 1', async () => {
    const b = await atsBed();
    const s1 = new LpaeTables(b.m.ram, b.alloc, 1, 48);
    const cds = b.alloc.alloc();
    s1Cd(s1.root, ASID).forEach((w, i) => b.m.ram.writeU64(cds + 64n + BigInt(8 * i), w));
    b.drv.setSte(ATS_SID, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cds, S1CDMax: 1, S1DSS: 1, EATS: 1 }));
    const port = b.m.smmu.portFor(ATS_SID);
    expect(port.translationRequest(Number(PAGE_A), REQ.WRITE)).toBe(DMA_OK);
    expect([port.completion.addr, port.completion.perms & 3]).toEqual([PAGE_A, 3]);
  });

  it('ATS disabled in the device\'s config space: it drops its ATC and goes back to untranslated requests', async () => {
    const b = await atsBed();
    s1Stream(b, PAGE_A, 1);
    b.pci.enableAts(ATS_SID);
    expect(b.cmd(ATS_CMD.READ, VA) & 7).toBe(ATS_STATE.DONE);
    expect(b.reg(ATS.DTLB_SIZE)).toBe(1);
    b.pci.enableAts(ATS_SID, 0, false);
    expect(b.reg(ATS.DTLB_SIZE)).toBe(0);
    b.m.ram.write(PAGE_A, new Uint8Array([3, 4]));
    expect(b.cmd(ATS_CMD.READ, VA, 2) & 7).toBe(ATS_STATE.DONE);
    expect([b.buffer(2), b.reg(ATS.TR_COUNT)]).toEqual([[3, 4], 1]);
  });
});
