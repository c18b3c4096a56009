/**
 * Round-trip and bit-position tests for the VT-d structure encoders of
 * the spec layer (host/src/vtd/spec/), and for the table builders
 * (host/src/tables/table-builders.ts) over a plain array RAM.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ArrayGuestMemory, readWords } from '../../../host/src/tables/guest-ram.js';
import { PageAllocator } from '../../../host/src/tables/page-allocator.js';
import { ContextTableBuilder, PageTableBuilder, PasidTableBuilder } from '../../../host/src/tables/table-builders.js';
import { CONTEXT_ENTRY, encodeContextEntry } from '../../../host/src/vtd/spec/context-entry.js';
import { decodeFields, encodeFields, encodeFieldsNumber, type Layout, reservedMask } from '../../../host/src/vtd/spec/field-codec.js';
import { encodeFsPte, FS_PTE } from '../../../host/src/vtd/spec/fs-pte.js';
import { encodePasidEntry, PASID_DIR_ENTRY, PASID_ENTRY } from '../../../host/src/vtd/spec/pasid-entry.js';
import { ROOT_ENTRY } from '../../../host/src/vtd/spec/root-entry.js';
import { encodeSmContextEntry, SM_CONTEXT_ENTRY } from '../../../host/src/vtd/spec/sm-context-entry.js';
import { SM_ROOT_ENTRY } from '../../../host/src/vtd/spec/sm-root-entry.js';
import { encodeSsPte, SS_PTE } from '../../../host/src/vtd/spec/ss-pte.js';

const LAYOUTS: Record<string, Layout> = { ROOT_ENTRY, SM_ROOT_ENTRY, CONTEXT_ENTRY, SM_CONTEXT_ENTRY, PASID_DIR_ENTRY, PASID_ENTRY, SS_PTE, FS_PTE };

/** fast-check arbitrary for a valid field object of `layout`. */
function arbFields(layout: Layout): fc.Arbitrary<Record<string, boolean | number | bigint>> {
  const rec: Record<string, fc.Arbitrary<boolean | number | bigint>> = {};
  for (const [name, f] of Object.entries(layout)) {
    const width = f.hi - f.lo + 1;
    if (f.kind === 'flag') rec[name] = fc.boolean();
    else if (f.kind === 'uint') rec[name] = fc.integer({ min: 0, max: 2 ** width - 1 });
    else if (f.kind === 'addr') rec[name] = fc.bigInt({ min: 0n, max: (1n << BigInt(width)) - 1n }).map((v) => v << BigInt(f.lo));
  }
  return fc.record(rec);
}

describe('structure codecs', () => {
  for (const [name, layout] of Object.entries(LAYOUTS)) {
    it(`${name}: decode(encode(x)) == x and no field touches a reserved bit`, () => {
      const rsvd = reservedMask(layout);
      fc.assert(
        fc.property(arbFields(layout), (fields) => {
          const words = encodeFields(layout, fields as never);
          expect(decodeFields(layout, words)).toEqual(fields);
          words.forEach((w, i) => expect(w & (rsvd[i] ?? 0n)).toBe(0n));
        }),
        { seed: 42, numRuns: 200 },
      );
    });
  }

  it('places fields at the spec bit positions', () => {
    // §9.3: TT 3:2, DID 23:8 of qw1, AW 2:0 of qw1
    expect(encodeContextEntry({ P: true, FPD: true, TT: 2, SSPTPTR: 0x1234000n, AW: 1, DID: 0xabcd })).toEqual([0x1234000n | 0b1011n, 0xabcd01n]);
    // §9.4: PDTS 11:9, RID_PASID 19:0, RID_PRIV 20
    expect(encodeSmContextEntry({ P: true, PASIDE: true, PDTS: 7, PASIDDIRPTR: 0x5000n, RID_PASID: 0xfffff, RID_PRIV: true }))
      .toEqual([0x5000n | (7n << 9n) | 0b1001n, 0x1fffffn, 0n, 0n]);
    // §9.6: PGTT 8:6, DID 79:64, SRE 128, FSPM 131:130, FSPTPTR 191:140
    const pe = encodePasidEntry({ P: true, AW: 2, PGTT: 3, SSADE: true, SSPTPTR: 0x7000n, DID: 5, PGSNP: true, SRE: true, FSPM: 1, WPE: true, FSPTPTR: 0x9000n });
    expect(pe.slice(0, 3)).toEqual([0x7000n | (1n << 9n) | (3n << 6n) | (2n << 2n) | 1n, 5n | (1n << 24n), 0x9000n | (1n << 4n) | (1n << 2n) | 1n]);
    expect(encodeSsPte({ R: true, W: true, PS: true, SNP: true, ADDR: 0x40000000n })).toBe(0x40000000n | 0x883n);
    expect(encodeFsPte({ P: true, RW: true, US: true, A: true, D: true, XD: true, ADDR: 0x2000n })).toBe((1n << 63n) | 0x2067n);
  });

  it('rejects values that do not fit, naming the field', () => {
    expect(() => encodeContextEntry({ TT: 4 })).toThrow(/TT/);
    expect(() => encodeContextEntry({ SSPTPTR: 0x1001n })).toThrow(/SSPTPTR/);
    expect(() => encodeSsPte({ ADDR: 1n << 52n })).toThrow(/ADDR/);
  });
});

describe('number-based encoding (encodeFieldsNumber, for bulk builders below 2^53)', () => {
  /** The fields of `layout` whose values keep every word below 2^53, as numbers. */
  function arbSmallFields(layout: Layout): fc.Arbitrary<Record<string, boolean | number>> {
    const rec: Record<string, fc.Arbitrary<boolean | number>> = {};
    for (const [name, f] of Object.entries(layout)) {
      const width = Math.min(f.hi, 52) - f.lo + 1;
      if (width <= 0 || f.kind === 'rsvd') continue;
      if (f.kind === 'flag') rec[name] = f.lo < 53 ? fc.boolean() : fc.constant(false);
      else if (f.kind === 'uint') rec[name] = fc.integer({ min: 0, max: 2 ** Math.min(width, 52 - f.lo) - 1 });
      else rec[name] = fc.integer({ min: 0, max: 2 ** Math.min(width, 40) - 1 }).map((v) => v * 2 ** f.lo).filter((v) => v < 2 ** 52);
    }
    return fc.record(rec);
  }

  for (const [name, layout] of Object.entries(LAYOUTS)) {
    it(`${name}: the same words as encodeFields`, () => {
      fc.assert(
        fc.property(arbSmallFields(layout), (fields) => {
          const asBig = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, layout[k]!.kind === 'addr' ? BigInt(v) : v]));
          expect(encodeFieldsNumber(layout, fields as never).map(BigInt)).toEqual(encodeFields(layout, asBig as never));
        }),
        { seed: 42, numRuns: 200 },
      );
    });
  }

  it('rejects values that do not fit or words past 2^53, naming the field', () => {
    expect(() => encodeFieldsNumber(CONTEXT_ENTRY, { TT: 4 })).toThrow(/TT/);
    expect(() => encodeFieldsNumber(CONTEXT_ENTRY, { SSPTPTR: 0x1001 })).toThrow(/SSPTPTR/);
    expect(() => encodeFieldsNumber(FS_PTE, { XD: true })).toThrow(/XD/);
    expect(() => encodeFieldsNumber(SS_PTE, { ADDR: 2 ** 53 })).toThrow(/ADDR/);
    expect(encodeFieldsNumber(SS_PTE, { R: true, ADDR: 2 ** 52 - 4096 })).toEqual([2 ** 52 - 4096 + 1]);
  });
});

describe('builders', () => {
  const setup = () => {
    const mem = new ArrayGuestMemory(0x100000n, 0x100000);
    return { mem, alloc: new PageAllocator(mem, 0x100000n, 0x200000n) };
  };

  it('PageTableBuilder places entries at the indices of each level', () => {
    const { mem, alloc } = setup();
    const pt = new PageTableBuilder(mem, alloc, { stage: 'ss', levels: 4 });
    const iova = (3n << 39n) | (4n << 30n) | (5n << 21n) | (6n << 12n);
    pt.map(iova, 0xabc000n, 12, encodeSsPte({ R: true }));
    let table = pt.rootTable;
    for (const [level, idx] of [[3, 3], [2, 4], [1, 5], [0, 6]] as const) {
      const ea = table + BigInt(idx) * 8n;
      expect(pt.entryAddress(iova, level)).toBe(ea);
      const e = mem.readU64(ea);
      if (level === 0) expect(e).toBe(0xabc001n);
      else { expect(e & 0b111n).toBe(0b111n); table = e & ~0xfffn; }
    }
    pt.map(1n << 30n, 1n << 30n, 30, encodeSsPte({ R: true, W: true }));
    expect(pt.readEntry(1n << 30n, 2)).toBe((1n << 30n) | 0x83n);
    pt.unmap(iova, 12);
    expect(pt.readEntry(iova, 0)).toBe(0n);
    expect(() => pt.map(0x1000n, 0x200000n, 21, 1n)).toThrow(/aligned/);
  });

  it('ContextTableBuilder and PasidTableBuilder link tables', () => {
    const { mem, alloc } = setup();
    const ctx = new ContextTableBuilder(mem, alloc, 'scalable');
    ctx.setContext(0x0385, encodeSmContextEntry({ P: true }));
    const root = readWords(mem, ctx.rootTable + 3n * 16n, 2);
    expect(root[0]).toBe(0n);
    expect(root[1]! & 1n).toBe(1n);
    expect(mem.readU64((root[1]! & ~0xfffn) + 5n * 32n)).toBe(1n);
    const pasids = new PasidTableBuilder(mem, alloc, 0);
    pasids.setPasid(0x47, encodePasidEntry({ P: true, PGTT: 4 }));
    const dir = mem.readU64(pasids.directory + 8n);
    expect(dir & 1n).toBe(1n);
    expect(mem.readU64((dir & ~0xfffn) + 7n * 64n)).toBe(1n | (4n << 6n));
  });
});
