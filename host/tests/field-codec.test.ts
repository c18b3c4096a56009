/**
 * decodeFields (host/src/vtd/spec/field-codec.ts) reads flags and numbers
 * from u32 halves with layouts compiled once; this compares it with the
 * plain bigint decode (a mask built per field per call) on every layout of
 * the spec files, any qword values (negative, wider than 64 bits, missing
 * words), and layouts interleaved (the halves are shared scratch).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { addr, decodeFields, encodeFields, fieldMask, flag, layoutWords, rsvd, uint, type Fields, type Layout } from '../src/vtd/spec/field-codec.js';
import { CONTEXT_ENTRY } from '../src/vtd/spec/context-entry.js';
import { FS_PTE } from '../src/vtd/spec/fs-pte.js';
import { PASID_DIR_ENTRY, PASID_ENTRY } from '../src/vtd/spec/pasid-entry.js';
import { ROOT_ENTRY } from '../src/vtd/spec/root-entry.js';
import { SM_CONTEXT_ENTRY } from '../src/vtd/spec/sm-context-entry.js';
import { SM_ROOT_ENTRY } from '../src/vtd/spec/sm-root-entry.js';
import { SS_PTE } from '../src/vtd/spec/ss-pte.js';

/** The plain decode: a bigint mask per field per call. */
function plainDecode<L extends Layout>(layout: L, words: readonly bigint[]): Fields<L> {
  const out: Record<string, boolean | number | bigint> = {};
  for (const [name, f] of Object.entries(layout)) {
    if (f.kind === 'rsvd') continue;
    const raw = (words[f.word] ?? 0n) & fieldMask(f);
    if (f.kind === 'flag') out[name] = raw !== 0n;
    else if (f.kind === 'addr') out[name] = raw;
    else out[name] = Number(raw >> BigInt(f.lo));
  }
  return out as Fields<L>;
}

/** Fields at the halves' edges: bit 31 and 32, a number across bit 32, 32-bit numbers in either half, a word past the halves' scratch. */
const EDGES = {
  f31: flag(0, 31), f32: flag(0, 32), f63: flag(1, 63), across: uint(0, 40, 20), low32: uint(1, 31, 0), high32: uint(1, 63, 32),
  top: uint(2, 63, 33), far: uint(17, 9, 3), farFlag: flag(16, 0), a: addr(2, 31, 12), r: rsvd(3, 63, 0),
} as const satisfies Layout;

const LAYOUTS: Record<string, Layout> = { ROOT_ENTRY, CONTEXT_ENTRY, SM_ROOT_ENTRY, SM_CONTEXT_ENTRY, PASID_DIR_ENTRY, PASID_ENTRY, SS_PTE, FS_PTE, EDGES };

/** Any qword: usually 64 bits, sometimes negative or wider (the plain decode masks them; so must the halves). */
const qword = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }) },
  { weight: 1, arbitrary: fc.constantFrom(0n, (1n << 64n) - 1n, 1n << 31n, 1n << 32n, 0xffff_ffffn) },
);

/** The plain encode: masks and the layout's size computed per call. */
function plainEncode(layout: Layout, fields: Record<string, boolean | number | bigint | undefined>): bigint[] {
  const out = new Array<bigint>(Math.max(...Object.values(layout).map((f) => f.word)) + 1).fill(0n);
  for (const [name, value] of Object.entries(fields)) {
    const f = layout[name];
    if (f === undefined || f.kind === 'rsvd') throw new Error(`unknown field '${name}'`);
    if (value === undefined) continue;
    const mask = fieldMask(f);
    const bits = f.kind === 'flag' ? (value ? 1n << BigInt(f.lo) : 0n) : f.kind === 'addr' ? BigInt(value) : BigInt(value) << BigInt(f.lo);
    if (bits < 0n || (bits & ~mask) !== 0n) throw new Error(`field '${name}' value ${String(value)} does not fit bits ${f.hi}:${f.lo}`);
    out[f.word] = out[f.word]! | bits;
  }
  return out;
}

const outcome = (f: () => unknown): unknown => {
  try {
    return f();
  } catch (e) {
    return (e as Error).message;
  }
};

describe('encodeFields', () => {
  it('equals the plain encode (masks per call) on every spec layout: decoded words re-encode to the bits of their fields; values that do not fit fail alike', () => {
    const names = Object.keys(LAYOUTS).filter((n) => n !== 'EDGES');
    fc.assert(fc.property(fc.constantFrom(...names), fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 8, maxLength: 8 }), fc.integer({ min: -2, max: 70 }), (name, words, junk) => {
      const layout = LAYOUTS[name]!;
      const fields = decodeFields(layout, words) as Record<string, boolean | number | bigint>;
      const encoded = encodeFields(layout, fields as Partial<Fields<Layout>>); // any layout: its field kinds are only known at run time
      expect(encoded).toEqual(plainEncode(layout, fields));
      const fieldBits = new Array<bigint>(layoutWords(layout)).fill(0n);
      for (const f of Object.values(layout)) if (f.kind !== 'rsvd') fieldBits[f.word] = fieldBits[f.word]! | fieldMask(f);
      expect(encoded).toEqual(words.slice(0, layoutWords(layout)).map((w, i) => w & fieldBits[i]!));
      // One field set to a value that may not fit (negative, or past its bits).
      const field = Object.keys(fields)[Math.abs(junk) % Object.keys(fields).length]!;
      const bad = { ...fields, [field]: typeof fields[field] === 'bigint' ? BigInt(junk) << 60n : typeof fields[field] === 'number' ? 2 ** Math.max(0, junk) - (junk < 0 ? 3 : 0) : fields[field] };
      expect(outcome(() => encodeFields(layout, bad as Partial<Fields<Layout>>))).toEqual(outcome(() => plainEncode(layout, bad)));
    }), { numRuns: 600 });
  });
});

describe('decodeFields', () => {
  it('equals the plain bigint decode on every spec layout, for any words, with layouts interleaved', () => {
    const names = Object.keys(LAYOUTS);
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom(...names), fc.array(qword, { maxLength: 19 })), { minLength: 1, maxLength: 6 }), (calls) => {
      for (const [name, words] of calls) {
        const layout = LAYOUTS[name]!;
        expect(decodeFields(layout, words)).toEqual(plainDecode(layout, words));
      }
    }), { numRuns: 1500 });
  });

  it('reads every word of every layout: a decode of all-ones sets every flag and every number to its maximum', () => {
    for (const layout of Object.values(LAYOUTS)) {
      const ones = new Array<bigint>(layoutWords(layout)).fill((1n << 64n) - 1n);
      expect(decodeFields(layout, ones)).toEqual(plainDecode(layout, ones));
      expect(decodeFields(layout, [])).toEqual(plainDecode(layout, []));
    }
  });
});
