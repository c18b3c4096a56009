// The AArch64 format of the one walker (asm/assembly/pt/arm-walk.ts), its
// descriptor decode checked through what a guest sees: tables in guest RAM
// built by the guest driver, DMA through the SMMU unit, events in the
// guest's event queue. For each granule (4, 16, 64 KiB) and both stages:
// pages at level 3, blocks where the granule has them (Arm ARM D8.3) and a
// Translation fault where it has none, an invalid descriptor at every level,
// a level-3 descriptor with bit 1 clear (reserved), AF = 0 (F_ACCESS, none
// with CD.AFFD / STE.S2AFFD), permissions (stage 1 AP[2], stage 2 S2AP),
// the index widths of the start table (narrower at stage 1, concatenated
// tables at stage 2), and a nested stage-1 table fetch faulting in stage 2.
import { describe, expect, it } from 'vitest';
import { smmuBed, RAM_BASE, type SmmuBed } from '../../lib/smmu/testbed.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { C, CONFIG, encodeCd, encodeSte, EV } from '../../../host/src/guest/smmu/structures.js';

const SID = 0x18;
const DATA = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
/** Where outputs land: RAM_BASE + 4 MiB + 64 KiB * n (aligned for every page size). */
const out = (n: number): bigint => RAM_BASE + 0x40_0000n + BigInt(n) * 0x1_0000n;

type CdFields = Parameters<typeof encodeCd>[0];
type SteFields = Parameters<typeof encodeSte>[0];

/** The granules: log2, CD.TG0 and STE.S2TG encodings (4K 0, 64K 1, 16K 2). */
const GRANULES = [
  { gran: 12, tg: 0 },
  { gran: 14, tg: 2 },
  { gran: 16, tg: 1 },
] as const;

/** A stage-1 CD (48-bit TTB0 of granule `tg`, TTB1 off) with `o` on top. */
const cd = (ttb0: bigint, tg: number, o: CdFields = {}): CdFields => ({
  T0SZ: 16, TG0: tg, EPD1: true, V: true, IPS: 5, AA64: true, R: true, A: true, ASET: true, ASID: 7, TTB0: ttb0, IR0: 1, OR0: 1, SH0: 3, MAIR: 0x44ff04, ...o,
});

/** Points SID at a stage-1 CD built from `f` and drops cached configuration and translations. */
function useCd(b: SmmuBed, f: CdFields): void {
  const at = b.alloc.alloc();
  encodeCd(f).forEach((w, i) => b.mem.writeU64(at + BigInt(8 * i), w));
  b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: at }));
  b.drv.submit([C.cfgiCd(SID, 0), C.tlbiNsnhAll()]);
}

/** STE.S2SL0 of Arm start level `start` (4 KiB: 0 = level 2; 16/64 KiB: 0 = level 3). */
const sl0 = (gran: number, start: number): number => (gran === 12 ? 2 - start : 3 - start);

/** Points SID at stage 2 only (40-bit IPA) over `s2`, with `o` on top. */
function useS2(b: SmmuBed, s2: LpaeTables, tg: number, o: SteFields = {}): void {
  b.drv.setSte(SID, encodeSte({
    V: true, Config: CONFIG.S2, S2VMID: 2, S2T0SZ: 24, S2SL0: sl0(s2.granLg2, s2.startLevel), S2TG: tg, S2PS: 5, S2AA64: true, S2R: true, S2TTB: s2.root, ...o,
  }));
  b.drv.submit([C.cfgiSte(SID), C.tlbiNsnhAll()]);
}

/** One DMA of 8 bytes; the events it raised as [type, address, stage 2]. */
function faultOf(b: SmmuBed, iova: bigint, write = false): [number, bigint, boolean][] {
  b.dma(SID, iova, write ? { write: DATA } : {});
  return b.drv.events().map((e) => [e.type, e.s2 ? e.ipa : e.addr, e.s2]);
}

/** The descriptor mapping `va` at Arm level `level` of `t`. */
const desc = (b: SmmuBed, t: LpaeTables, va: bigint, level: number): bigint => b.mem.readU64(t.descriptorAddr(va, level));

/** Stage 2 of 40 bits starts where the granule needs concatenated tables: 4 KiB level 1 (2 tables), 16 KiB level 2 (16), 64 KiB level 2 (1). */
const s2Start = (gran: number): number => (gran === 12 ? 1 : 2);

/** Writes through `iova` and checks the bytes arrived at `pa`. */
function writesTo(b: SmmuBed, iova: bigint, pa: bigint): void {
  expect(b.dma(SID, iova, { write: DATA }).ok, `DMA at ${iova.toString(16)}`).toBe(true);
  expect([...b.mem.read(pa, 8)]).toEqual([...DATA]);
  expect(b.drv.events()).toEqual([]);
}

describe.each(GRANULES)('AArch64 descriptors, $gran-bit granule', ({ gran, tg }) => {
  const stride = gran - 3;
  const g = 1n << BigInt(gran);
  /** Size log2 of a leaf at Arm level `level`. */
  const leafLg2 = (level: number): number => gran + stride * (3 - level);

  it('stage 1: a page, a level-2 block, level-1 and level-0 blocks as the granule allows', async () => {
    const b = await smmuBed();
    b.drv.init();
    const s1 = new LpaeTables(b.mem, b.alloc, 1, 48, undefined, gran);
    s1.map(5n * g, out(1), gran);
    const blockVa = 3n << BigInt(leafLg2(2));
    s1.map(blockVa, RAM_BASE, leafLg2(2)); // RAM_BASE (1 GiB) is aligned for every level-2 block
    useCd(b, cd(s1.root, tg));
    writesTo(b, 5n * g + 0x10n, out(1) + 0x10n);
    writesTo(b, blockVa + 0x12_3450n, RAM_BASE + 0x12_3450n);
    // Level 1: a 1 GiB block with 4 KiB; with 16/64 KiB a block there needs 52-bit addresses (D8.3): invalid.
    const l1Va = 1n << 46n;
    if (gran === 12) {
      s1.map(l1Va, RAM_BASE, 30);
      writesTo(b, l1Va + 0x20_0008n, RAM_BASE + 0x20_0008n);
    } else {
      s1.map(l1Va + g, out(2), gran); // make the level-1 table, then turn its entry into a block
      s1.setDescriptor(l1Va, 1, RAM_BASE | 0x701n);
      expect(faultOf(b, l1Va)).toEqual([[EV.F_TRANSLATION, l1Va, false]]);
    }
    // Level 0 (4 and 16 KiB walks of 48 bits start there): never a block.
    if (s1.startLevel === 0) {
      const l0Va = 1n << 47n;
      s1.map(l0Va + g, out(3), gran);
      s1.setDescriptor(l0Va, 0, 0x701n);
      expect(faultOf(b, l0Va)).toEqual([[EV.F_TRANSLATION, l0Va, false]]);
    }
  });

  it('stage 1: an invalid descriptor at every level and a level-3 descriptor with bit 1 clear are Translation faults', async () => {
    const b = await smmuBed();
    b.drv.init();
    const s1 = new LpaeTables(b.mem, b.alloc, 1, 48, undefined, gran);
    const va = 0x7654_3210_0000n & ~(g - 1n);
    s1.map(va, out(0), gran);
    useCd(b, cd(s1.root, tg));
    writesTo(b, va, out(0));
    b.drv.submit([C.tlbiNsnhAll()]);
    for (let level = s1.startLevel; level <= 3; level++) {
      s1.setDescriptor(va, level, desc(b, s1, va, level) & ~1n);
      expect(faultOf(b, va + 8n), `level ${level}`).toEqual([[EV.F_TRANSLATION, va + 8n, false]]);
      s1.setDescriptor(va, level, desc(b, s1, va, level) | 1n);
    }
    s1.setDescriptor(va, 3, desc(b, s1, va, 3) & ~2n);
    expect(faultOf(b, va)).toEqual([[EV.F_TRANSLATION, va, false]]);
  });

  it('stage 1: AF = 0 is F_ACCESS unless CD.AFFD; AP[2] allows reads only', async () => {
    const b = await smmuBed();
    b.drv.init();
    const s1 = new LpaeTables(b.mem, b.alloc, 1, 48, undefined, gran);
    s1.map(g, out(0), gran, { af: false });
    s1.map(2n * g, out(1), gran, { write: false });
    useCd(b, cd(s1.root, tg));
    expect(faultOf(b, g + 8n)).toEqual([[EV.F_ACCESS, g + 8n, false]]);
    expect(b.dma(SID, 2n * g).ok).toBe(true);
    expect(faultOf(b, 2n * g + 8n, true)).toEqual([[EV.F_PERMISSION, 2n * g + 8n, false]]);
    useCd(b, cd(s1.root, tg, { AFFD: true }));
    writesTo(b, g + 8n, out(0) + 8n);
  });

  it('stage 1: a T0SZ that leaves 2 index bits for the start table', async () => {
    const b = await smmuBed();
    b.drv.init();
    // 2 + whole levels of index bits: the start table has a 2-bit index.
    const bits = gran + 2 * stride + 2;
    const s1 = new LpaeTables(b.mem, b.alloc, 1, bits, undefined, gran);
    const top = 3n << BigInt(bits - 2); // the last start-table entry
    s1.map(g, out(0), gran);
    s1.map(top + g, out(1), gran);
    useCd(b, cd(s1.root, tg, { T0SZ: 64 - bits }));
    writesTo(b, g, out(0));
    writesTo(b, top + g, out(1));
    expect(faultOf(b, 1n << BigInt(bits))).toEqual([[EV.F_TRANSLATION, 1n << BigInt(bits), false]]);
  });

  it('stage 2: a page and a block; concatenated start tables; invalid descriptors at every level; bit 1 clear at level 3', async () => {
    const b = await smmuBed();
    b.drv.init();
    const start = s2Start(gran);
    const s2 = new LpaeTables(b.mem, b.alloc, 2, 40, start, gran);
    const high = 0xff_0000_0000n & ~(g - 1n); // in the last concatenated table
    s2.map(g, out(0), gran);
    s2.map(high, out(1), gran);
    const blockIpa = 1n << BigInt(leafLg2(2) + 1);
    s2.map(blockIpa, RAM_BASE, leafLg2(2));
    useS2(b, s2, tg);
    writesTo(b, g + 8n, out(0) + 8n);
    writesTo(b, high + 8n, out(1) + 8n);
    writesTo(b, blockIpa + 0x10_0000n, RAM_BASE + 0x10_0000n);
    b.drv.submit([C.tlbiNsnhAll()]);
    s2.setDescriptor(high, 3, desc(b, s2, high, 3) & ~2n);
    expect(faultOf(b, high)).toEqual([[EV.F_TRANSLATION, high, true]]);
    for (let level = start; level <= 3; level++) {
      s2.setDescriptor(g, level, desc(b, s2, g, level) & ~1n);
      expect(faultOf(b, g), `level ${level}`).toEqual([[EV.F_TRANSLATION, g, true]]);
      s2.setDescriptor(g, level, desc(b, s2, g, level) | 1n);
    }
  });

  it('stage 2: AF = 0 is F_ACCESS unless STE.S2AFFD; S2AP read and write permissions', async () => {
    const b = await smmuBed();
    b.drv.init();
    const s2 = new LpaeTables(b.mem, b.alloc, 2, 40, s2Start(gran), gran);
    s2.map(g, out(0), gran, { af: false });
    s2.map(2n * g, out(1), gran, { write: false });
    s2.map(3n * g, out(2), gran, { read: false });
    useS2(b, s2, tg);
    expect(faultOf(b, g)).toEqual([[EV.F_ACCESS, g, true]]);
    expect(b.dma(SID, 2n * g).ok).toBe(true);
    expect(faultOf(b, 2n * g, true)).toEqual([[EV.F_PERMISSION, 2n * g, true]]);
    expect(faultOf(b, 3n * g)).toEqual([[EV.F_PERMISSION, 3n * g, true]]);
    writesTo(b, 3n * g, out(2));
    useS2(b, s2, tg, { S2AFFD: true });
    writesTo(b, g, out(0));
  });
});

describe('AArch64 nesting through the one walker: stage-1 tables of one granule read through stage 2 of another', () => {
  it('64 KiB stage 1 over 4 KiB stage 2: translates, and each descriptor of a 64 KiB table through its own stage-2 page: one stage 2 does not map is a CLASS TT fault at that IPA', async () => {
    const b = await smmuBed();
    b.drv.init();
    // Stage 2: IPA = PA for every page the allocator hands out (4 KiB pages).
    const s2 = new LpaeTables(b.mem, b.alloc, 2, 40, 1, 12);
    const s1 = new LpaeTables(b.mem, b.alloc, 1, 48, undefined, 16);
    const va = 0x1234_0000n;
    s1.map(va, out(0), 16);
    const cdAt = b.alloc.alloc();
    // Stage 2 maps the allocator's first 2 MiB (every table above, the CD) page by page, and the output's 2 MiB.
    for (let p = RAM_BASE + 0x100_0000n; p < RAM_BASE + 0x120_0000n; p += 0x1000n) s2.map(p, p, 12);
    s2.map(RAM_BASE + 0x40_0000n, RAM_BASE + 0x40_0000n, 21);
    encodeCd(cd(s1.root, 1)).forEach((w, i) => b.mem.writeU64(cdAt + BigInt(8 * i), w));
    b.drv.setSte(SID, encodeSte({
      V: true, Config: CONFIG.NESTED, S1ContextPtr: cdAt, S2VMID: 4, S2T0SZ: 24, S2SL0: 1, S2TG: 0, S2PS: 5, S2AA64: true, S2R: true, S2TTB: s2.root,
    }));
    writesTo(b, va + 0x18n, out(0) + 0x18n);
    const leafDesc = s1.descriptorAddr(va, 3);
    s2.unmap(leafDesc & ~0xfffn, 3);
    b.drv.submit([C.tlbiS12Vmall(4)]);
    b.dma(SID, va);
    expect(b.drv.events().map((e) => [e.type, e.s2, e.cls, e.ipa])).toEqual([[EV.F_TRANSLATION, true, 1, leafDesc & ~0xfffn]]); // the record's IPA field holds bits 51:12 (IHI 0070 §7.3)
  });
});
