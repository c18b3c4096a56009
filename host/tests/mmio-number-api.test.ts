/**
 * The number MMIO API (Machine.mmioRead32/64, mmioWrite32/64; VtdUnit
 * read32/read64/write32/write64) against its BigInt layer: the same guest
 * accesses through either leave the same registers and read the same values,
 * in every profile; host mistakes are Errors naming the argument.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMachine, VTD_BASE } from '../src/machine.js';

const BASE = Number(VTD_BASE);

describe('number MMIO API', () => {
  for (const profile of ['default', 'qemu-7.2', 'qemu-10.0']) {
    it(`${profile}: any 4- and 8-byte accesses give the same reads and registers as the BigInt API`, async () => {
      const big = await createMachine({ profile, ramMib: 4 });
      const num = await createMachine({ profile, ramMib: 4 });
      const op = fc.record({
        offset: fc.oneof(fc.integer({ min: 0, max: 0x3ff }).map((d) => d * 4), fc.constantFrom(0x18, 0x20, 0x28, 0x34, 0x38, 0x3c, 0x88, 0x90, 0x9c, 0xf0, 0xf8, 0x220, 0x228)),
        size: fc.constantFrom(4, 8),
        write: fc.boolean(),
        value: fc.bigInt(0n, (1n << 64n) - 1n),
      });
      fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        for (const o of ops) {
          const lo = Number(o.value & 0xffff_ffffn), hi = Number(o.value >> 32n);
          if (o.write) {
            big.mmioWrite(VTD_BASE + BigInt(o.offset), o.size, o.size === 4 ? o.value & 0xffff_ffffn : o.value);
            if (o.size === 4) num.mmioWrite32(BASE + o.offset, lo);
            else num.mmioWrite64(BASE + o.offset, lo, hi);
          } else {
            const want = big.mmioRead(VTD_BASE + BigInt(o.offset), o.size);
            const got = o.size === 4 ? BigInt(num.mmioRead32(BASE + o.offset))
              : BigInt(num.mmioRead64(BASE + o.offset)) | (BigInt(num.readHigh) << 32n);
            expect(got).toBe(want);
          }
        }
        expect(num.vtd.saveState()).toEqual(big.vtd.saveState());
      }), { numRuns: 40 });
    });
  }

  it('64-bit registers: one access at their offset, low dword first otherwise; reads return lo with readHigh', async () => {
    const m = await createMachine({ profile: 'default', ramMib: 4 });
    const cap = m.vtd.profile.cap;
    expect(m.mmioRead64(BASE + 0x8)).toBe(Number(cap & 0xffff_ffffn));
    expect(m.readHigh).toBe(Number(cap >> 32n));
    m.mmioWrite64(BASE + 0x3c, 0x1234, 0xfee0_0000); // FEDATA, FEADDR as two dwords
    expect([m.mmioRead32(BASE + 0x3c), m.mmioRead32(BASE + 0x40)]).toEqual([0x1234, 0xfee0_0000]);
    m.mmioWrite32(BASE + 0x3c, -1); // an i32 is the same bits
    expect(m.mmioRead32(BASE + 0x3c)).toBe(0xffff);
  });

  it('guest mistakes are logged and ignored; host mistakes are Errors naming the argument', async () => {
    const lines: string[] = [];
    const m = await createMachine({ profile: 'qemu-7.2', ramMib: 4, log: (l) => lines.push(l) });
    expect(m.mmioRead32(BASE + 0x2)).toBe(0);
    expect(m.mmioRead32(BASE + 0x800)).toBe(0); // past the qemu block
    m.mmioWrite32(BASE + 0x6, 1);
    expect(lines.filter((l) => l.startsWith('ignored'))).toHaveLength(3);
    expect(() => m.mmioWrite32(BASE + 0x3c, 2 ** 32)).toThrow(/^value:/);
    expect(() => m.mmioWrite32(BASE + 0x3c, 1.5)).toThrow(/^value:/);
    expect(() => m.mmioWrite64(BASE + 0x20, 0, NaN)).toThrow(/^hi:/);
    expect(() => m.mmioRead32(NaN)).toThrow(/^addr:/);
    expect(() => m.mmioWrite32(-8, 0)).toThrow(/^addr:/);
    expect(() => m.vtd.mmioWrite(0x3c, 4, 5 as unknown as bigint)).toThrow(/^value:/);
  });
});
