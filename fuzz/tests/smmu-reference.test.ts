// The DMA oracle's reference (fuzz/smmu/reference.ts) reads structures as
// u32 dwords. It must answer exactly as the plain BigInt reading below (the
// reference as it was written first: 64-bit doublewords, bit by bit) on
// random stream tables, STEs, CDs and descriptor chains: the same kind,
// reason, output address and write permission, and the same structure reads.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GuestMemory } from '../../host/src/core/guest-memory.js';
import { referenceTranslate, type RefAnswer } from '../smmu/reference.js';

interface PlainMem { contains(gpa: bigint, len: number): boolean; readU64(gpa: bigint): bigint }
interface PlainRegs { readonly cr0ack: number; readonly gbpa: number; readonly strtabBase: bigint; readonly strtabCfg: number; readonly idr1: number }
const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;
const field = (v: bigint, hi: number, lo: number): number => Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
const unknown = (why: string): RefAnswer => ({ kind: 'unknown', why });
const fault = (why: string): RefAnswer => ({ kind: 'fault', why });
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
const ADDR_47_12 = 0x0000_ffff_ffff_f000n;
const HIGH_51_48 = 0x000f_0000_0000_0000n;
const HIGH_49_48 = 0x0003_0000_0000_0000n;

interface Src { readonly mem: PlainMem; readonly reads?: bigint[] }

function read(src: Src, gpa: bigint, n: number): bigint[] | undefined {
  src.reads?.push(gpa);
  const mem = src.mem;
  if (!mem.contains(gpa, 8 * n)) return undefined;
  return Array.from({ length: n }, (_, i) => mem.readU64(gpa + BigInt(8 * i)));
}

function plainTranslate(mem: PlainMem, r: PlainRegs, sid: number, ssid: number | undefined, iova: bigint, reads?: bigint[]): RefAnswer {
  const src: Src = { mem, reads };
  if ((r.cr0ack & 1) === 0) {
    // §6.3.14: SMMUEN = 0, GBPA.ABORT = 0 bypasses every transaction (ABORT = 1 aborts them; QEMU 7.2 has no GBPA abort: not judged).
    return (r.gbpa & (1 << 20)) === 0 ? { kind: 'map', pa: iova, write: true } : unknown('GBPA.ABORT');
  }
  if (field(BigInt(r.strtabCfg), 17, 16) !== 0) return unknown('2-level stream table');
  const log2 = field(BigInt(r.strtabCfg), 5, 0);
  if (log2 > (r.idr1 & 0x3f)) return unknown('LOG2SIZE above SIDSIZE');
  if (sid >= 2 ** log2) return fault(`StreamID ${hex(sid)} beyond the linear table (2^${log2} entries; C_BAD_STREAMID)`);
  const steAt = (r.strtabBase & 0x000f_ffff_ffff_ffc0n) + BigInt(sid) * 64n;
  const ste = read(src, steAt, 4);
  if (!ste) return fault(`STE at ${hex(steAt)} is not in RAM (F_STE_FETCH)`);
  if (!bit(ste[0]!, 0)) return fault(`STE at ${hex(steAt)} has V = 0 (C_BAD_STE)`);
  const config = field(ste[0]!, 3, 1);
  if (config === 0b000) return fault('STE.Config = abort');
  if (config === 0b100) return { kind: 'map', pa: iova, write: true };
  if (config < 0b100) return fault(`STE.Config = ${config} (reserved: C_BAD_STE)`);
  if (config !== 0b101) return unknown('stage 2');
  return stage1(src, ste[0]!, ste[1]!, ssid, iova);
}

function stage1(src: Src, ste0: bigint, ste1: bigint, ssid: number | undefined, iova: bigint): RefAnswer {
  const cdMax = field(ste0, 63, 59);
  const s1dss = field(ste1, 1, 0);
  let index = 0;
  if (ssid === undefined) {
    if (cdMax !== 0 && s1dss === 0) return fault('a request without SubstreamID, S1DSS = terminate');
    if (cdMax !== 0 && s1dss === 1) return { kind: 'map', pa: iova, write: true };
    if (cdMax !== 0 && s1dss !== 2) return unknown('S1DSS reserved');
  } else {
    if (cdMax === 0) return fault(`SubstreamID ${ssid} with S1CDMax = 0 (C_BAD_SUBSTREAMID)`);
    if (ssid >= 2 ** cdMax) return fault(`SubstreamID ${ssid} beyond S1CDMax ${cdMax} (C_BAD_SUBSTREAMID)`);
    if (ssid === 0 && s1dss === 2) return unknown('SubstreamID 0 with S1DSS = 0b10');
    index = ssid;
  }
  if (cdMax !== 0 && field(ste0, 5, 4) !== 0) return unknown('2-level CD table');
  const ptr = ste0 & 0x000f_ffff_ffff_ffc0n;
  if ((ptr & HIGH_51_48) !== 0n) return unknown('S1ContextPtr above 48 bits');
  const cdAt = ptr + BigInt(index) * 64n;
  const cd = read(src, cdAt, 2);
  if (!cd) return fault(`CD at ${hex(cdAt)} is not in RAM (F_CD_FETCH)`);
  return walk(src, cd[0]!, cd[1]!, iova);
}

function walk(src: Src, cd0: bigint, cd1: bigint, iova: bigint): RefAnswer {
  if (!bit(cd0, 31)) return fault('CD.V = 0 (C_BAD_CD)');
  if (!bit(cd0, 41)) return unknown('AArch32 CD');
  if (field(cd0, 7, 6) !== 0) return unknown('TG0 is not 4 KiB');
  const t0sz = field(cd0, 5, 0);
  if (t0sz < 16 || t0sz > 39) return unknown(`T0SZ ${t0sz}`);
  const inBits = 64 - t0sz;
  if (iova >> BigInt(inBits) !== 0n) return unknown('not a TTB0 address (TTB1, TBI or a translation fault)');
  if (bit(cd0, 14)) return fault('CD.EPD0 = 1: TTB0 walks disabled (F_TRANSLATION)');
  const affd = bit(cd0, 35);
  const ha = bit(cd0, 43);
  const hd = bit(cd0, 42);
  const levels = Math.ceil((inBits - 12) / 9);
  const first = 4 - levels;
  const firstEntries = 2 ** (inBits - (12 + 9 * (3 - first)));
  let table = cd1 & 0x000f_ffff_ffff_fff0n;
  if ((table & HIGH_51_48) !== 0n) return unknown('TTB0 above 48 bits');
  if ((table & BigInt(firstEntries * 8 - 1)) !== 0n) return unknown('TTB0 not aligned to its table');
  let readOnly = false;
  for (let level = first; level <= 3; level++) {
    const shift = 12 + 9 * (3 - level);
    const entries = level === first ? firstEntries : 512;
    const at = table + BigInt(Number((iova >> BigInt(shift)) & BigInt(entries - 1)) * 8);
    const d = read(src, at, 1)?.[0];
    if (d === undefined) return fault(`descriptor at ${hex(at)} (level ${level}) is not in RAM (F_WALK_EABT)`);
    if (!bit(d, 0)) return fault(`descriptor at ${hex(at)} (level ${level}) is invalid (F_TRANSLATION)`);
    const tableDesc = level < 3 && bit(d, 1);
    // Bits 51:48 of a table descriptor, 49:48 of a leaf (51 is DBM, 50 GP), are address bits beyond 48.
    if ((d & (tableDesc ? HIGH_51_48 : HIGH_49_48)) !== 0n) return unknown('an address above 48 bits');
    if (tableDesc) {
      readOnly ||= bit(d, 62); // APTable[1]
      table = d & ADDR_47_12;
      continue;
    }
    if (level === 3 && !bit(d, 1)) return fault(`level 3 descriptor at ${hex(at)} is reserved (F_TRANSLATION)`);
    if (level === 0) return fault(`level 0 block at ${hex(at)} (F_TRANSLATION)`);
    if (!bit(d, 10) && !affd && !ha) return fault(`descriptor at ${hex(at)} has AF = 0 (F_ACCESS)`);
    const size = 1n << BigInt(shift);
    const pa = (d & ADDR_47_12 & ~(size - 1n)) + (iova & (size - 1n));
    const writable = !readOnly && (!bit(d, 7) || (hd && bit(d, 51)));
    return { kind: 'map', pa, write: writable };
  }
  return unknown('walk ran past level 3');
}

const BASE = 0x4000_0000;
const SIZE = 0x8000;

/** 32 KiB of RAM at BASE holding `words` (u64 each), as both memory faces. */
function memory(words: readonly bigint[]): GuestMemory & PlainMem {
  const dv = new DataView(new ArrayBuffer(SIZE));
  words.forEach((w, i) => dv.setBigUint64(8 * i, w, true));
  const off = (gpa: number, len: number): number => (gpa >= BASE && gpa + len <= BASE + SIZE ? gpa - BASE : -1);
  return {
    offsetAt: (gpa: number, len: number) => off(gpa, len),
    getUint32: (gpa: number) => dv.getUint32(off(gpa, 4), true),
    contains: (gpa: bigint, len: number) => gpa < 2n ** 53n && off(Number(gpa), len) >= 0,
    readU64: (gpa: bigint) => dv.getBigUint64(off(Number(gpa), 8), true),
  } as unknown as GuestMemory & PlainMem;
}

const u64 = fc.bigInt(0n, (1n << 64n) - 1n);
const pageAt = (p: number): bigint => BigInt(BASE + p * 4096);

/** A request and the stage-1 chain `build` lays out for it. */
interface Chain {
  readonly sid: number; readonly ssid?: number; readonly iova: bigint; readonly t0sz: number; readonly cdMax: number; readonly s1dss: number;
  readonly config: number; readonly cdAttrs: bigint; readonly leafAttrs: bigint; readonly tableAttrs: bigint; readonly high: bigint;
  readonly out: number; readonly noise: readonly [number, bigint][];
}

const chain: fc.Arbitrary<Chain> = fc.record({
  sid: fc.integer({ min: 0, max: 63 }), ssid: fc.option(fc.integer({ min: 0, max: 7 }), { nil: undefined, freq: 2 }),
  iova: fc.oneof(fc.bigInt(0n, (1n << 39n) - 1n), fc.bigInt(0n, (1n << 48n) - 1n), u64),
  t0sz: fc.oneof({ arbitrary: fc.constantFrom(16, 25, 33, 39), weight: 6 }, { arbitrary: fc.integer({ min: 0, max: 63 }), weight: 1 }),
  cdMax: fc.constantFrom(0, 0, 0, 3), s1dss: fc.integer({ min: 0, max: 3 }), config: fc.constantFrom(0b101, 0b101, 0b101, 0b101, 0b101, 0b101, 0b100, 0b110, 0b000, 0b011),
  cdAttrs: fc.bigInt(0n, (1n << 12n) - 1n), leafAttrs: fc.bigInt(0n, (1n << 14n) - 1n), tableAttrs: fc.bigInt(0n, 3n), high: fc.constantFrom(0n, 0n, 0n, 1n, 4n, 8n),
  out: fc.integer({ min: 0, max: SIZE / 4096 - 1 }), noise: fc.array(fc.tuple(fc.integer({ min: 0, max: SIZE / 8 - 1 }), u64), { maxLength: 3 }),
}, { requiredKeys: ['sid', 'iova', 't0sz', 'cdMax', 's1dss', 'config', 'cdAttrs', 'leafAttrs', 'tableAttrs', 'high', 'out', 'noise'] });

/**
 * RAM with a stage-1 chain for the request of `c`: the stream table on page
 * 0, the CD table on page 1, the descriptor tables on pages 2-5 (output
 * pages anywhere), with random attribute bits, T0SZ and high address bits;
 * then a few words overwritten by anything.
 */
function build(c: Chain): bigint[] {
  const w: bigint[] = new Array<bigint>(SIZE / 8).fill(0n);
  const ste = c.sid * 8;
  w[ste] = 1n | (BigInt(c.config) << 1n) | pageAt(1) | (BigInt(c.cdMax) << 59n);
  w[ste + 1] = BigInt(c.s1dss);
  const cd = 512 + (c.ssid ?? 0) * 8;
  // CD: T0SZ, V, AA64, and AFFD / HD / HA, rarely EPD0 or another TG0, from cdAttrs.
  const a = c.cdAttrs;
  w[cd] = BigInt(c.t0sz & 0x3f) | (1n << 31n) | (1n << 41n) | ((a & 1n) << 35n) | (((a >> 1n) & 1n) << 42n) | (((a >> 2n) & 1n) << 43n)
    | ((a & 0xf00n) === 0xf00n ? 1n << 14n : 0n) | ((a & 0x0f0n) === 0x0f0n ? 1n << 6n : 0n);
  w[cd + 1] = pageAt(2) | (c.high === 8n ? c.high << 48n : 0n);
  const inBits = 64 - (c.t0sz & 0x3f);
  const levels = Math.max(1, Math.min(4, Math.ceil((inBits - 12) / 9)));
  for (let l = 4 - levels, t = 2; l <= 3; l++, t++) {
    const idx = Number((c.iova >> BigInt(12 + 9 * (3 - l))) & 511n);
    const last = l === 3 || (c.tableAttrs === 3n && l >= 1);
    // leafAttrs: bits 7:2 attributes (AP[2] is 7), 8 AF, 9 DBM, 11:10 (9:8 on the last level) not both 0 = valid, 13:12 both set = next table outside RAM.
    const valid = ((c.leafAttrs >> (last ? 8n : 10n)) & 3n) !== 0n ? 1n : 0n;
    const next = ((c.leafAttrs >> 12n) & 3n) === 3n ? pageAt(100) : pageAt(t + 1);
    const leaf = valid | (l === 3 ? 2n : 0n) | pageAt(c.out) | (c.leafAttrs & 0xfcn) | (((c.leafAttrs >> 8n) & 1n) << 10n) | (((c.leafAttrs >> 9n) & 1n) << 51n) | (c.high < 8n ? c.high << 48n : 0n);
    w[t * 512 + idx] = last ? leaf : 2n | valid | next | ((c.tableAttrs & 1n) << 62n);
    if (last) break;
  }
  for (const [i, v] of c.noise) w[i] = v;
  return w;
}

describe('SMMUv3 fuzzer reference', () => {
  it('answers as the plain BigInt reading on random stage-1 chains and registers', () => {
    const kinds = new Set<string>();
    fc.assert(fc.property(
      chain,
      fc.record({ cr0ack: fc.constantFrom(1, 1, 1, 1, 0), gbpa: fc.constantFrom(0, 1 << 20), strtabCfg: fc.oneof(fc.constantFrom(6, 6, 6, 4), fc.integer({ min: 0, max: 0x3ffff })), idr1: fc.constantFrom(16, 16, 4) }),
      (c, regs) => {
        const mem = memory(build(c));
        const strtabBase = pageAt(0) | (1n << 62n);
        const reads: number[] = [];
        const plainReads: bigint[] = [];
        const got = referenceTranslate(mem, { ...regs, strtabBaseLo: Number(strtabBase & 0xffff_ffffn), strtabBaseHi: Number(strtabBase >> 32n) }, c.sid, c.ssid, c.iova, reads);
        const want = plainTranslate(mem, { ...regs, strtabBase }, c.sid, c.ssid, c.iova, plainReads);
        expect(got).toEqual(want);
        expect(reads.map(BigInt)).toEqual(plainReads);
        kinds.add(got.kind === 'map' ? `map ${got.write}` : got.why.replace(/0x[0-9a-f]+|\d+/g, 'N'));
      },
    ), { numRuns: 6000, seed: 19 });
    // The chains reach the walk's answers, not only the early ones.
    const walked = ['map true', 'map false', 'descriptor at N (level N) is invalid (F_TRANSLATION)', 'descriptor at N (level N) is not in RAM (F_WALK_EABT)',
      'descriptor at N has AF = N (F_ACCESS)', 'an address above N bits', 'CD.EPDN = N: TTBN walks disabled (F_TRANSLATION)', 'TTBN above N bits'];
    for (const k of walked) expect([...kinds]).toContain(k);
  });

  it('answers as the profile allows where it departs from the spec (RefQuirks)', () => {
    // A 4-level walk of IOVA 0 (T0SZ 16) ending in `leaf` at `level`.
    const walkTo = (level: number, leaf: bigint): GuestMemory & PlainMem => {
      const w: bigint[] = new Array<bigint>(SIZE / 8).fill(0n);
      w[0] = 1n | (0b101n << 1n) | pageAt(1);
      w[512] = 16n | (1n << 31n) | (1n << 41n);
      w[513] = pageAt(2);
      for (let l = 0; l < level; l++) w[(2 + l) * 512] = 3n | pageAt(3 + l);
      w[(2 + level) * 512] = leaf;
      return memory(w);
    };
    const regs = { cr0ack: 1, gbpa: 0, strtabBaseLo: BASE, strtabBaseHi: 0, strtabCfg: 6, idr1: 16 };
    const noAf = walkTo(3, 3n | pageAt(7));
    expect(referenceTranslate(noAf, regs, 0, undefined, 0n)).toMatchObject({ kind: 'fault', why: expect.stringMatching(/AF = 0/) });
    expect(referenceTranslate(noAf, regs, 0, undefined, 0n, undefined, { accessFlagIgnored: true })).toEqual({ kind: 'map', pa: pageAt(7), write: true });
    const level0Block = walkTo(0, 1n | (1n << 10n));
    expect(referenceTranslate(level0Block, regs, 0, undefined, 0n)).toMatchObject({ kind: 'fault', why: expect.stringMatching(/level 0 block/) });
    expect(referenceTranslate(level0Block, regs, 0, undefined, 0n, undefined, { walkBlocksAnyLevel: true }).kind).toBe('unknown');
  });
});

