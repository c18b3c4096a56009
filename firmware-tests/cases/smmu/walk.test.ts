// SMMUv3 guest-driver tests of what a driver meets beyond the 4 KiB TTB0
// basics: TTB1 with TBI and the gap between the halves, 16 KiB and 64 KiB
// granules at both stages, privileged / unprivileged / instruction accesses
// (AP, UXN / PXN, hierarchical APTable / XNTable, HAD, PAN, WXN) with the
// event's PnU / InD, Address size faults from table and output addresses,
// and the level-2 stream table's Span as the spec and QEMU read it.
import { describe, expect, it } from 'vitest';
import { smmuBed, RAM_BASE, type SmmuBed } from '../../lib/smmu/testbed.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { C, CONFIG, encodeCd, encodeSte, EV } from '../../../host/src/guest/smmu/structures.js';

const SID = 0x18;
const DATA = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);

type CdFields = Parameters<typeof encodeCd>[0];

/** A Linux-like stage-1 CD (4 KiB TTB0, 48 bits, TTB1 off, ASID 7) with `o` on top. */
const cdFields = (ttb0: bigint, o: CdFields = {}): CdFields => ({
  T0SZ: 16, TG0: 0, EPD1: true, V: true, IPS: 5, AA64: true, R: true, A: true, ASET: true, ASID: 7, TTB0: ttb0, IR0: 1, OR0: 1, SH0: 3, MAIR: 0x44ff04, ...o,
});

/** Writes the CD at `table` (index 0), points SID's STE at it and invalidates CD and TLB. */
function setCd(b: SmmuBed, table: bigint, f: CdFields): void {
  encodeCd(f).forEach((w, i) => b.mem.writeU64(table + BigInt(8 * i), w));
  b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: table }));
  b.drv.submit([C.cfgiCd(SID, 0), C.tlbiNsnhAll()]);
}

const types = (b: SmmuBed): number[] => b.drv.events().map((e) => e.type);

describe('SMMUv3 stage 1: TTB1, TBI and the gap between the halves', () => {
  it('TTB0 below, TTB1 above, the gap faults; TBI lets a tag through and bit 55 picks the half; EPD1 closes the upper half', async () => {
    const b = await smmuBed();
    b.drv.init();
    const lo = new LpaeTables(b.mem, b.alloc, 1, 39);
    const hi = new LpaeTables(b.mem, b.alloc, 1, 39);
    const UP = 0xffff_ff80_0000_1000n; // the first page of the upper 2^39 bytes
    lo.map(0x1000n, RAM_BASE + 0x40_0000n, 12);
    hi.map(UP, RAM_BASE + 0x41_0000n, 12);
    const cd = b.alloc.alloc();
    const halves: CdFields = { T0SZ: 25, T1SZ: 25, TG1: 2, EPD1: false, TTB1: hi.root };
    setCd(b, cd, cdFields(lo.root, halves));
    expect(b.dma(SID, 0x1008n, { write: DATA }).ok).toBe(true);
    expect(b.dma(SID, UP + 8n, { write: DATA }).ok).toBe(true);
    expect([...b.mem.read(RAM_BASE + 0x41_0008n, 8)]).toEqual([...DATA]);
    b.dma(SID, 0x80_0000_0000n); // above TTB0's 2^39
    b.dma(SID, 0xffff_ff7f_ffff_f000n); // below TTB1's range
    b.dma(SID, 0x5a00_0000_0000_1000n); // a tag without TBI
    const gap = b.drv.events();
    expect(gap.map((e) => [e.type, e.addr])).toEqual([
      [EV.F_TRANSLATION, 0x80_0000_0000n], [EV.F_TRANSLATION, 0xffff_ff7f_ffff_f000n], [EV.F_TRANSLATION, 0x5a00_0000_0000_1000n],
    ]);
    setCd(b, cd, cdFields(lo.root, { ...halves, TBI: 3 }));
    expect(b.dma(SID, 0x5a00_0000_0000_1008n)).toMatchObject({ ok: true, data: DATA });
    expect(b.dma(SID, 0x00ff_ff80_0000_1008n)).toMatchObject({ ok: true, data: DATA }); // bit 55 set: TTB1
    setCd(b, cd, cdFields(lo.root, { ...halves, EPD1: true }));
    expect(b.dma(SID, UP).ok).toBe(false);
    expect(b.dma(SID, 0x1000n).ok).toBe(true);
    expect(types(b)).toEqual([EV.F_TRANSLATION]);
  });
});

describe('SMMUv3 16 KiB and 64 KiB granules', () => {
  for (const [gran, tg0, s2tg, block] of [[14, 2, 2, 25], [16, 1, 1, 29]] as const) {
    const kib = 1 << (gran - 10);
    it(`stage 1, ${kib} KiB: pages, a DMA across two pages, a ${1 << (block - 20)} MiB block, a level-1 block is invalid`, async () => {
      const b = await smmuBed();
      b.drv.init();
      const s1 = new LpaeTables(b.mem, b.alloc, 1, 48, undefined, gran);
      const page = 1n << BigInt(gran);
      s1.map(page, RAM_BASE + 0x40_0000n, gran);
      s1.map(2n * page, RAM_BASE + 0x50_0000n, gran);
      const blockVa = 1n << BigInt(block + 1);
      s1.map(blockVa, RAM_BASE, block); // RAM_BASE is 1 GiB: aligned for both blocks
      setCd(b, b.alloc.alloc(), cdFields(s1.root, { TG0: tg0 }));
      expect(b.dma(SID, 2n * page - 4n, { write: DATA }).ok).toBe(true);
      expect([...b.mem.read(RAM_BASE + 0x40_0000n + page - 4n, 4)]).toEqual([...DATA.slice(0, 4)]);
      expect([...b.mem.read(RAM_BASE + 0x50_0000n, 4)]).toEqual([...DATA.slice(4)]);
      expect(b.dma(SID, blockVa + 0x30_0008n, { write: DATA }).ok).toBe(true);
      expect([...b.mem.read(RAM_BASE + 0x30_0008n, 8)]).toEqual([...DATA]);
      // A block descriptor at level 1 (16 KiB: 64 GiB; 64 KiB: 4 TiB) needs 52-bit addresses: a Translation fault.
      const l1Va = 1n << 46n;
      s1.map(l1Va, 0n, gran + 2 * (gran - 3));
      b.dma(SID, l1Va);
      expect(b.drv.events().map((e) => [e.type, e.addr])).toEqual([[EV.F_TRANSLATION, l1Va]]);
    });
    it(`stage 2, ${kib} KiB (40-bit IPA): a page and a block; an unmapped IPA faults with S2 = 1`, async () => {
      const b = await smmuBed();
      b.drv.init();
      const start = gran === 14 ? 1 : 2;
      const s2 = new LpaeTables(b.mem, b.alloc, 2, 40, start, gran);
      s2.map(0x10_0000n, RAM_BASE + 0x210_0000n, gran);
      const blockIpa = 1n << BigInt(block + 1);
      s2.map(blockIpa, RAM_BASE, block);
      b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S2, S2VMID: 2, S2T0SZ: 24, S2SL0: 3 - start, S2TG: s2tg, S2PS: 5, S2AA64: true, S2R: true, S2TTB: s2.root }));
      expect(b.dma(SID, 0x10_0008n, { write: DATA }).ok).toBe(true);
      expect([...b.mem.read(RAM_BASE + 0x210_0008n, 8)]).toEqual([...DATA]);
      expect(b.dma(SID, blockIpa + 0x31_0000n, { write: DATA }).ok).toBe(true);
      expect([...b.mem.read(RAM_BASE + 0x31_0000n, 8)]).toEqual([...DATA]);
      b.dma(SID, 0x40_0000_0000n);
      expect(b.drv.events()).toMatchObject([{ type: EV.F_TRANSLATION, s2: true, ipa: 0x40_0000_0000n, cls: 2 }]);
    });
  }
});

describe('SMMUv3 stage-1 permissions: privileged, unprivileged, instruction fetch', () => {
  // Pages at 0x1000 * n, each to its own PA.
  const EL1_RW = 0x1000n; // AP[1] = 0
  const EL0_RO_UXN = 0x2000n; // EL0 read-only, UXN
  const EL0_RW_PXN = 0x3000n;
  const EL0_RW = 0x4000n; // writable at EL0: implicitly PXN
  const EL0_RO = 0x5000n;
  const NO_EL0_TABLE = 0x80_0000_0000n; // under APTable[0] = 1
  const RO_TABLE = 0x100_0000_0000n; // under APTable[1] = 1
  const UXN_TABLE = 0x180_0000_0000n; // under UXNTable

  async function bed(profile = 'default'): Promise<{ b: SmmuBed; s1: LpaeTables; cd: bigint }> {
    const b = await smmuBed(profile);
    b.drv.init();
    const s1 = new LpaeTables(b.mem, b.alloc, 1, 48);
    const pa = (va: bigint) => RAM_BASE + 0x40_0000n + ((va >> 12n) & 0xffn) * 0x1000n + (va >> 39n) * 0x10_0000n;
    s1.map(EL1_RW, pa(EL1_RW), 12, { user: false });
    s1.map(EL0_RO_UXN, pa(EL0_RO_UXN), 12, { write: false, uxn: true });
    s1.map(EL0_RW_PXN, pa(EL0_RW_PXN), 12, { pxn: true });
    s1.map(EL0_RW, pa(EL0_RW), 12);
    s1.map(EL0_RO, pa(EL0_RO), 12, { write: false });
    s1.map(NO_EL0_TABLE, pa(NO_EL0_TABLE), 12, {}, { noEl0: true });
    s1.map(RO_TABLE, pa(RO_TABLE), 12, {}, { readOnly: true });
    s1.map(UXN_TABLE, pa(UXN_TABLE), 12, { write: false }, { xn: true });
    const cd = b.alloc.alloc();
    setCd(b, cd, cdFields(s1.root));
    return { b, s1, cd };
  }
  const ok = (b: SmmuBed, va: bigint, o: { priv?: boolean; exec?: boolean; write?: boolean } = {}): boolean =>
    b.dma(SID, va, { priv: o.priv, exec: o.exec, ...(o.write ? { write: DATA } : {}) }).ok;

  it('AP[1], execute-only, UXN, PXN and the implicit PXN of EL0-writable pages; the event has PnU and InD', async () => {
    const { b } = await bed();
    expect([ok(b, EL1_RW), ok(b, EL1_RW, { priv: true }), ok(b, EL1_RW, { priv: true, write: true })]).toEqual([false, true, true]);
    expect(ok(b, EL1_RW, { exec: true })).toBe(true); // execute-only at EL0 (AP[1] = 0, UXN = 0)
    expect([ok(b, EL0_RO_UXN), ok(b, EL0_RO_UXN, { exec: true }), ok(b, EL0_RO_UXN, { priv: true, exec: true })]).toEqual([true, false, true]);
    expect([ok(b, EL0_RW_PXN, { exec: true }), ok(b, EL0_RW_PXN, { priv: true, exec: true })]).toEqual([true, false]);
    expect([ok(b, EL0_RW, { exec: true }), ok(b, EL0_RW, { priv: true, exec: true }), ok(b, EL0_RO, { priv: true, exec: true })]).toEqual([true, false, true]);
    const ev = b.drv.events();
    expect(ev.map((e) => [e.type, e.addr, e.pnu, e.ind, e.rnw])).toEqual([
      [EV.F_PERMISSION, EL1_RW, false, false, true],
      [EV.F_PERMISSION, EL0_RO_UXN, false, true, true],
      [EV.F_PERMISSION, EL0_RW_PXN, true, true, true],
      [EV.F_PERMISSION, EL0_RW, true, true, true],
    ]);
  });
  it('hierarchical APTable / UXNTable apply below their table until CD.HAD0 disables them', async () => {
    const { b, s1, cd } = await bed();
    expect([ok(b, NO_EL0_TABLE), ok(b, NO_EL0_TABLE, { priv: true })]).toEqual([false, true]);
    expect([ok(b, RO_TABLE), ok(b, RO_TABLE, { write: true }), ok(b, RO_TABLE, { priv: true, write: true })]).toEqual([true, false, false]);
    expect([ok(b, UXN_TABLE), ok(b, UXN_TABLE, { exec: true }), ok(b, UXN_TABLE, { priv: true, exec: true })]).toEqual([true, false, true]);
    expect(types(b)).toEqual([EV.F_PERMISSION, EV.F_PERMISSION, EV.F_PERMISSION, EV.F_PERMISSION]);
    setCd(b, cd, cdFields(s1.root, { HAD0: true }));
    expect([ok(b, NO_EL0_TABLE), ok(b, RO_TABLE, { write: true }), ok(b, UXN_TABLE, { exec: true })]).toEqual([true, true, true]);
  });
  it('CD.PAN takes privileged data access away from EL0 pages; CD.WXN takes execute away from writable pages', async () => {
    const { b, s1, cd } = await bed();
    setCd(b, cd, cdFields(s1.root, { PAN: true }));
    expect([ok(b, EL0_RW, { priv: true }), ok(b, EL0_RW), ok(b, EL1_RW, { priv: true }), ok(b, EL0_RO, { priv: true, exec: true })]).toEqual([false, true, true, true]);
    setCd(b, cd, cdFields(s1.root, { WXN: true }));
    expect([ok(b, EL0_RW, { priv: true }), ok(b, EL0_RW_PXN, { exec: true }), ok(b, EL0_RO, { exec: true })]).toEqual([true, false, true]);
    expect(b.drv.events().map((e) => [e.type, e.pnu, e.ind])).toEqual([[EV.F_PERMISSION, true, false], [EV.F_PERMISSION, false, true]]);
  });
  it('qemu-10.0 checks write permission only (AP[2], APTable[1]): no AP[1], XN, PAN or WXN faults', async () => {
    const { b, s1, cd } = await bed('qemu-10.0');
    expect([ok(b, EL1_RW), ok(b, EL0_RO_UXN, { exec: true }), ok(b, NO_EL0_TABLE), ok(b, UXN_TABLE, { exec: true })]).toEqual([true, true, true, true]);
    expect([ok(b, EL0_RO, { write: true }), ok(b, RO_TABLE, { write: true })]).toEqual([false, false]);
    setCd(b, cd, cdFields(s1.root, { PAN: true, WXN: true }));
    expect([ok(b, EL0_RW, { priv: true }), ok(b, EL0_RW, { exec: true })]).toEqual([true, true]);
  });
});

describe('SMMUv3 Address size faults', () => {
  it('a TTB0 beyond CD.IPS is C_BAD_CD; a table or output address beyond it, or descriptor bits 51:48, F_ADDR_SIZE', async () => {
    const b = await smmuBed();
    b.drv.init();
    const cd = b.alloc.alloc();
    setCd(b, cd, cdFields(0x1_0000_0000n, { IPS: 0 })); // 32-bit output, TTB0 at 4 GiB
    b.dma(SID, 0x1000n);
    expect(types(b)).toEqual([EV.C_BAD_CD]);
    const s1 = new LpaeTables(b.mem, b.alloc, 1, 48);
    s1.map(0x1000n, RAM_BASE, 12);
    s1.map(0x8000_0000n, RAM_BASE, 12);
    s1.setDescriptor(0x8000_0000n, 1, 0x1_0000_0000n | 3n); // the level-2 table beyond 32 bits
    setCd(b, cd, cdFields(s1.root, { IPS: 0 }));
    expect(b.dma(SID, 0x1000n).ok).toBe(true);
    b.dma(SID, 0x8000_0000n);
    setCd(b, cd, cdFields(s1.root, { IPS: 5 }));
    s1.setDescriptor(0x1000n, 3, (1n << 48n) | (RAM_BASE | 0x743n)); // OA bit 48: beyond 48 bits, no LPA
    b.drv.submit([C.tlbiNsnhAll()]);
    b.dma(SID, 0x1000n);
    expect(b.drv.events().map((e) => [e.type, e.addr])).toEqual([[EV.F_ADDR_SIZE, 0x8000_0000n], [EV.F_ADDR_SIZE, 0x1000n]]);
  });
  it('stage 2: an S2TTB beyond S2PS is C_BAD_STE; an output beyond it F_ADDR_SIZE with S2 = 1', async () => {
    const b = await smmuBed();
    b.drv.init();
    const s2 = new LpaeTables(b.mem, b.alloc, 2, 32, 1);
    s2.map(0x1000n, RAM_BASE, 12);
    s2.map(0x2000n, 0x1_0000_0000n, 12);
    const ste = { V: true, Config: CONFIG.S2, S2VMID: 1, S2T0SZ: 32, S2SL0: 1, S2TG: 0, S2PS: 0, S2AA64: true, S2R: true, S2TTB: s2.root } as const;
    b.drv.setSte(SID, encodeSte({ ...ste, S2TTB: 0x1_0000_0000n }));
    b.dma(SID, 0x1000n);
    b.drv.setSte(SID, encodeSte(ste));
    expect(b.dma(SID, 0x1000n).ok).toBe(true);
    b.dma(SID, 0x2000n);
    expect(b.drv.events().map((e) => [e.type, e.s2])).toEqual([[EV.C_BAD_STE, false], [EV.F_ADDR_SIZE, true]]);
  });
});

describe('SMMUv3 faulting DMA on QEMU: the transfer goes on in 4-byte accesses', () => {
  it('qemu-10.0: each failing access is an event and reads 0, later pages move; the result says it continued', async () => {
    const b = await smmuBed('qemu-10.0');
    b.drv.init();
    const s1 = new LpaeTables(b.mem, b.alloc, 1, 48);
    s1.map(0x2000n, RAM_BASE + 0x40_0000n, 12); // 0x1000 stays unmapped
    b.mem.write(RAM_BASE + 0x40_0000n, DATA);
    setCd(b, b.alloc.alloc(), cdFields(s1.root));
    const buf = b.unit.core.buffer(b.buf, 16);
    buf.fill(0xaa);
    const r = b.dma(SID, 0x1ff8n, { len: 16 });
    expect(r).toMatchObject({ ok: false, reason: EV.F_TRANSLATION, continued: true });
    expect([...b.unit.core.buffer(b.buf, 16)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, ...DATA]);
    expect(b.drv.events().map((e) => [e.type, e.addr])).toEqual([[EV.F_TRANSLATION, 0x1ff8n], [EV.F_TRANSLATION, 0x1ffcn]]);
    const spec = await smmuBed();
    spec.drv.init();
    const t = new LpaeTables(spec.mem, spec.alloc, 1, 48);
    t.map(0x2000n, RAM_BASE + 0x40_0000n, 12);
    setCd(spec, spec.alloc.alloc(), cdFields(t.root));
    expect(spec.dma(SID, 0x1ff8n, { len: 16 })).toEqual({ ok: false, reason: EV.F_TRANSLATION, recorded: true, addr: 0x1ff8n });
    expect(spec.drv.events()).toHaveLength(1);
  });
});

describe('SMMUv3 level-2 stream tables: Span', () => {
  // L1 descriptor 0x20 points at 16 valid bypass STEs with the given Span.
  async function bed(profile: string, span: number): Promise<SmmuBed> {
    const b = await smmuBed(profile);
    b.drv.init({ sidBits: 16, twoLevel: { split: 8 } });
    const l2 = b.alloc.allocContiguous(1);
    for (let i = 0; i < 16; i++) encodeSte({ V: true, Config: CONFIG.BYPASS }).forEach((w, j) => b.mem.writeU64(l2 + BigInt(64 * i + 8 * j), w));
    b.mem.writeU64(b.drv.strtab + 0x20n * 8n, l2 | BigInt(span));
    b.drv.submit([C.cfgiAll()]);
    return b;
  }
  it('default: 2^(Span-1) STEs, beyond is C_BAD_STREAMID; Span above 12 is invalid', async () => {
    let b = await bed('default', 3);
    expect([3, 5, 9].map((i) => b.dma(0x2000 + i, RAM_BASE).ok)).toEqual([true, false, false]);
    expect(types(b)).toEqual([EV.C_BAD_STREAMID, EV.C_BAD_STREAMID]);
    b = await bed('default', 13);
    expect(b.dma(0x2003, RAM_BASE).ok).toBe(false);
    expect(types(b)).toEqual([EV.C_BAD_STREAMID]);
  });
  for (const profile of ['qemu-7.2', 'qemu-10.0']) {
    it(`${profile}: 2^Span STEs, beyond is C_BAD_STE; Span 13 is accepted`, async () => {
      let b = await bed(profile, 3);
      expect([3, 5, 9].map((i) => b.dma(0x2000 + i, RAM_BASE, { len: 4 }).ok)).toEqual([true, true, false]);
      expect(types(b)).toEqual([EV.C_BAD_STE]);
      b = await bed(profile, 13);
      expect(b.dma(0x2003, RAM_BASE, { len: 4 }).ok).toBe(true);
    });
  }
});
