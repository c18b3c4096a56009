// The SMMUv3 command queue and register file on numbers (no BigInt on the
// way): TLBI ranges split into aligned blocks that cover exactly the
// range of §4.4.1 (checked against the set of pages, not against the
// splitting), TLBI of an upper-half (TTB1) address above 2^53 through the
// guest's queue, 64-bit registers written as halves and whole, CMD_SYNC's
// MSI at an address above 4 GiB.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { smmuBed, RAM_BASE } from '../../lib/smmu/testbed.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { C, CONFIG, encodeCd, encodeSte } from '../../../host/src/guest/smmu/structures.js';
import { SR } from '../../../host/src/guest/smmu/driver.js';
import { tlbiBlocks } from '../../../host/src/smmu/commands.js';
import { capsOf, createSmmuProfile } from '../../../host/src/smmu/profiles.js';
import { put } from '../../../host/src/smmu/spec/bits.js';
import { CMD, OP } from '../../../host/src/smmu/spec/commands.js';

const SID = 0x18;

/** A TLBI_NH_VA with the range fields, as two doublewords. */
function rangeCmd(addr: bigint, tg: number, num: number, scale: number): bigint[] {
  const w = [0n, 0n];
  put(w, CMD.opcode, OP.TLBI_NH_VA);
  put(w, CMD.NUM, num);
  put(w, CMD.SCALE, scale);
  put(w, CMD.TG, tg);
  w[1] |= addr & ~0xfffn;
  return w;
}

/** The blocks of `w` as [first byte, end) BigInt ranges. */
function blocksOf(w: bigint[], ril: boolean): [bigint, bigint][] {
  const caps = { ...capsOf(createSmmuProfile('default')), ril };
  const out: [bigint, bigint][] = [];
  const halves = new Uint32Array(w.flatMap((d) => [Number(d & 0xffff_ffffn), Number(d >> 32n)]));
  tlbiBlocks(halves, caps, (hi, lo, am) => {
    expect(hi >>> 0).toBe(hi);
    expect(lo >>> 0).toBe(lo);
    const start = (BigInt(hi) << 32n) | BigInt(lo);
    const size = 1n << BigInt(am + 12);
    expect(start % size).toBe(0n); // each block aligned to its size
    out.push([start, start + size]);
  });
  return out;
}

describe('TLBI address ranges on numbers (§4.4.1)', () => {
  it('the blocks are disjoint, aligned and cover exactly (NUM+1) * 2^SCALE granules from the aligned address, for any 64-bit address', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 31 }),
      (addr, tg, num, scale) => {
        const gran = 1n << BigInt([0, 12, 14, 16][tg]!);
        const start = addr & ~(gran - 1n);
        const end = start + BigInt(num + 1) * (1n << BigInt(scale)) * gran;
        const blocks = blocksOf(rangeCmd(addr, tg, num, scale), true).sort((a, b) => (a[0] < b[0] ? -1 : 1));
        if (blocks.length === 1 && blocks[0]![0] === 0n && blocks[0]![1] === 1n << 64n) return; // over-invalidation of everything (allowed)
        expect(blocks.length).toBeLessThanOrEqual(64);
        expect(blocks[0]![0]).toBe(start);
        for (let i = 1; i < blocks.length; i++) expect(blocks[i]![0]).toBe(blocks[i - 1]![1]);
        // A range running past 2^64 ends there (no wrap to address 0).
        expect(blocks.at(-1)![1]).toBe(end < 1n << 64n ? end : 1n << 64n);
      }), { numRuns: 400 });
  });
  it('without TG, or without SMMU_IDR3.RIL, one 4 KiB page at the address', () => {
    expect(blocksOf(rangeCmd(0xffff_ff80_0000_3fffn, 0, 5, 3), true)).toEqual([[0xffff_ff80_0000_3000n, 0xffff_ff80_0000_4000n]]);
    expect(blocksOf(rangeCmd(0x1234_5678_9000n, 1, 5, 3), false)).toEqual([[0x1234_5678_9000n, 0x1234_5678_a000n]]);
  });
});

describe('SMMUv3 commands and registers on numbers, through MMIO and guest memory', () => {
  it('a TLBI_NH_VA (page, then range) of an upper-half address above 2^53 drops that translation only', async () => {
    const b = await smmuBed();
    b.drv.init();
    const lo = new LpaeTables(b.mem, b.alloc, 1, 39);
    const hi = new LpaeTables(b.mem, b.alloc, 1, 39);
    const UP = 0xffff_ff80_0000_5000n;
    const [PA1, PA2] = [RAM_BASE + 0x40_0000n, RAM_BASE + 0x41_0000n];
    b.mem.fill(PA1, 8, 0x11);
    b.mem.fill(PA2, 8, 0x22);
    hi.map(UP, PA1, 12);
    const cd = b.alloc.alloc();
    encodeCd({ T0SZ: 25, TG0: 0, T1SZ: 25, TG1: 2, EPD1: false, V: true, IPS: 5, AA64: true, R: true, A: true, ASET: true, ASID: 7, TTB0: lo.root, TTB1: hi.root, MAIR: 0x44ff04 })
      .forEach((w, i) => b.mem.writeU64(cd + BigInt(8 * i), w));
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cd }));
    const byte = (): number | undefined => b.dma(SID, UP).data?.[0];
    expect(byte()).toBe(0x11);
    hi.map(UP, PA2, 12); // remapped without invalidation: the IOTLB keeps the old page
    expect(b.drv.submit([C.tlbiNhVa(0, 7, UP + 0x1000n), C.tlbiNhVa(0, 8, UP)])).toBe(0); // another page; another ASID
    expect(byte()).toBe(0x11);
    expect(b.drv.submit([C.tlbiNhVa(0, 7, UP)])).toBe(0);
    expect(byte()).toBe(0x22);
    hi.map(UP, PA1, 12);
    expect(b.drv.submit([C.tlbiNhVa(0, 7, UP - 0x4000n, true, { num: 1, scale: 1 })])).toBe(0); // 4 pages below UP: not it
    expect(byte()).toBe(0x22);
    expect(b.drv.submit([C.tlbiNhVa(0, 7, UP - 0x4000n, true, { num: 4, scale: 0 })])).toBe(0); // 5 pages: up to UP
    expect(byte()).toBe(0x11);
  });
  it('a TLBI range running past 2^64 completes (it ends there) instead of throwing out of the doorbell write', async () => {
    const b = await smmuBed();
    b.drv.init();
    expect(b.drv.submit([C.tlbiNhVa(0, 7, 0xffff_ffff_ffff_f000n, true, { num: 31, scale: 20 }), C.tlbiNhVaa(0, 0xffff_ffff_ffff_f000n)])).toBe(0);
    expect(b.unit.read32(SR.GERROR)).toBe(0);
  });
  it('CMDQ_BASE above 4 GiB written as two halves; CMD_SYNC writes its MSI above 4 GiB; CONS and ERR as the spec says', async () => {
    const b = await smmuBed('default', 64);
    b.unit.core.addRam(0x1_2000_0000, 1 << 20); // RAM above 4 GiB for the queue and the MSI
    b.drv.init();
    const q = 0x1_2000_0000;
    b.drv.setCr0(0); // queues off to move the command queue
    b.unit.write32(SR.CMDQ_BASE, (q >>> 0) | 3); // 8 entries
    b.unit.write32(SR.CMDQ_BASE + 4, 1);
    expect(b.unit.read64(SR.CMDQ_BASE)).toBe((q >>> 0) | 3);
    expect(b.unit.readHigh).toBe(1);
    b.unit.write32(SR.CMDQ_PROD, 0);
    b.unit.write32(SR.CMDQ_CONS, 0);
    b.drv.setCr0(0x8); // CMDQEN
    const msi = 0x1_2000_8000;
    const [w0, w1] = C.sync(1, BigInt(msi), 0xabcd_1234);
    b.mem.writeU64(BigInt(q), w0!);
    b.mem.writeU64(BigInt(q + 8), w1!);
    b.mem.writeU64(BigInt(q + 16), 0x7fn); // an illegal opcode
    b.mem.writeU64(BigInt(q + 24), 0n);
    b.unit.write32(SR.CMDQ_PROD, 2);
    expect(b.mem.getUint32(msi)).toBe(0xabcd_1234);
    expect(b.unit.read32(SR.CMDQ_CONS)).toBe((1 << 24) | 1); // stopped at the second command with CERROR_ILL
    expect(b.unit.read32(SR.GERROR) & 1).toBe(1);
    expect(b.irqs.some((i) => i.source === 'cmd-sync')).toBe(false); // an MSI into RAM is a memory write, not an interrupt
  });
  it('bad offsets and sizes read 0 and are logged, never throw: outside the pages, unaligned, 64-bit access to a 32-bit register', async () => {
    const b = await smmuBed();
    for (const off of [0x1000, 0x2_0000, -4, 2, 0.5, NaN, 0x1_1000]) expect(b.unit.read32(off)).toBe(0);
    b.unit.write64(SR.CR0, 1, 0);
    expect(b.unit.read32(SR.CR0)).toBe(0);
    expect(b.unit.read64(SR.CR0)).toBe(0);
    expect(b.unit.mmioRead(SR.IDR0, 2)).toBe(0n);
    expect(b.logs.filter((l) => l.startsWith('smmu: ignored')).length).toBe(10);
  });
});
