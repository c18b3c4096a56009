/**
 * Robustness: a guest writing random values with random sizes to random
 * offsets (and scribbling over the memory its tables would live in, and
 * starting DMAs) never makes the model throw or hang; after a reset a
 * normal translation works again.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { GuestIommu } from '../src/guest/guest-iommu.js';
import { guestEnvFor } from '../src/guest/machine-env.js';
import { encodeSsPte } from '../src/vtd/spec/ss-pte.js';
import { createMachine, VTD_BASE, type Machine } from '../src/machine.js';

type Op =
  | { kind: 'write'; offset: number; size: number; value: bigint }
  | { kind: 'read'; offset: number; size: number }
  | { kind: 'mem'; gpa: bigint; value: bigint }
  | { kind: 'dma'; dev: number; iova: bigint; len: number; write: boolean };

const interesting = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.constantFrom(0n, 0xffff_ffffn, 0xffff_ffff_ffff_ffffn, 0x8000_0000n, 0x4000_0000n, 0x0400_0000n, 0x10_0000n),
  fc.integer({ min: 0, max: 63 }).map((b) => 1n << BigInt(b)),
);
const offset = fc.oneof(
  fc.integer({ min: 0, max: 0x3ff }).map((d) => d * 4),
  fc.integer({ min: 0, max: 0x240 / 4 }).map((d) => d * 4),
  fc.integer({ min: -16, max: 0x1010 }),
);
// Sizes a guest access can have (a 3- or 16-byte access is a host caller's bug: an Error, host-api-args.test.ts).
const size = fc.constantFrom(4, 8, 4, 8, 1, 2);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), offset, size, value: interesting }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), offset, size }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('mem' as const),
      gpa: fc.integer({ min: 0x10_0000 / 8, max: 0x20_0000 / 8 - 1 }).map((q) => BigInt(q * 8)),
      value: interesting,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('dma' as const), dev: fc.constantFrom(0, 1),
      iova: fc.oneof(fc.bigInt({ min: 0n, max: 0x40_0000n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
      len: fc.integer({ min: 1, max: 4095 }), write: fc.boolean(),
    }),
  },
);

function apply(m: Machine, o: Op): void {
  switch (o.kind) {
    case 'write': m.mmioWrite(VTD_BASE + BigInt(o.offset), o.size, BigInt.asUintN(8 * o.size, o.value)); return;
    case 'read': m.mmioRead(VTD_BASE + BigInt(o.offset), o.size); return;
    case 'mem': m.ram.writeU64(o.gpa, o.value); return;
    case 'dma': {
      const d = m.dmaTest(o.dev === 0 ? '00:03.0' : '00:04.0');
      const r = o.write ? d.write(o.iova, o.len) : d.read(o.iova, o.len);
      expect(typeof r.ok).toBe('boolean');
    }
  }
}

/** After reset: a legacy 4 KiB mapping translates and moves data. */
function normalTranslationWorks(m: Machine): void {
  m.reset();
  expect(m.mmioRead(VTD_BASE + 0x1cn, 4)).toBe(0n); // GSTS back to reset
  const guest = new GuestIommu(guestEnvFor(m), 'legacy');
  const ss = guest.attachLegacy(0x18, { did: 1, levels: m.vtd.profile.options.awBits === 39 ? 3 : 4 });
  ss.map(0x5000n, 0x30_0000n, 12, encodeSsPte({ R: true, W: true }));
  guest.start();
  m.ram.fill(0x30_0000n, 64, 0x77);
  const dev = m.dmaTest('00:03.0');
  expect(dev.read(0x5000n, 64)).toEqual({ ok: true });
  expect(dev.buffer()[63]).toBe(0x77);
  dev.buffer().fill(0x11, 0, 8);
  expect(dev.write(0x5008n, 8)).toEqual({ ok: true });
  expect(m.ram.read(0x30_0008n, 1)[0]).toBe(0x11);
}

for (const profile of ['default', 'qemu-7.2', 'qemu-10.0'] as const) {
  describe(`random MMIO never throws (${profile})`, () => {
    let m: Machine;
    beforeAll(async () => {
      m = await createMachine({
        profile, iommu: { scalableMode: true, awBits: 48 }, ramMib: 64,
        devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '00:04.0', kind: 'dma-test' }],
      });
    });

    it('thousands of random operations, then a normal translation after reset', () => {
      let total = 0;
      fc.assert(
        fc.property(fc.array(op, { minLength: 200, maxLength: 1500 }), (ops) => {
          m.reset();
          for (const o of ops) apply(m, o);
          total += ops.length;
          normalTranslationWorks(m);
        }),
        { numRuns: 6, seed: profile.length * 7919 },
      );
      expect(total).toBeGreaterThan(1000);
    });
  });
}
