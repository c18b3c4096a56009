// The command queue decodes commands from u32 halves (spec/bits.ts Words):
// every command field reads the same from the halves as from the 64-bit
// doublewords, for any bits.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bits, get, getAddr, maskOf, word } from '../src/smmu/spec/bits.js';
import { CMD } from '../src/smmu/spec/commands.js';

const u64 = fc.bigInt(0n, (1n << 64n) - 1n);
const halves = (w: readonly bigint[]): Uint32Array => Uint32Array.from(w.flatMap((d) => [Number(d & 0xffff_ffffn), Number(d >> 32n)]));

describe('SMMUv3 fields from u32 halves', () => {
  it('get, getAddr and word agree with the doubleword forms for every command field', () => {
    fc.assert(fc.property(u64, u64, (a, b) => {
      const w = [a, b];
      const h = halves(w);
      for (const fd of Object.values(CMD)) {
        expect(get(h, fd)).toBe(get(w, fd));
        expect(getAddr(h, fd)).toBe(getAddr(w, fd));
      }
      expect([word(h, 0), word(h, 1)]).toEqual(w);
    }), { numRuns: 500, seed: 23 });
  });
});

describe('SMMUv3 field masks from tables', () => {
  it('bits and maskOf equal the plain BigInt formulas for every field position in a doubleword', () => {
    const plainMask = (hi: number, lo: number): bigint => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
    const plainBits = (v: bigint, hi: number, lo: number): bigint => (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
    fc.assert(fc.property(u64, (v) => {
      for (let lo = 0; lo < 64; lo++) {
        for (let hi = lo; hi < 64; hi++) {
          expect(maskOf(hi, lo)).toBe(plainMask(hi, lo));
          expect(bits(v, hi, lo)).toBe(plainBits(v, hi, lo));
        }
      }
      expect(bits(v, 70, 65)).toBe(plainBits(v, 70, 65)); // outside the tables: the plain formula
    }), { numRuns: 20, seed: 29 });
  });
});
