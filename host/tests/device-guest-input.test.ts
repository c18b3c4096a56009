import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeviceTlb, NO_PASID } from '../src/devices/ats/device-tlb.js';
import { AtsDevice } from '../src/devices/ats/device.js';
import { FakeDmaPort } from '../src/devices/common/testing.js';
import { DmaTestDevice } from '../src/devices/dma-test/device.js';
import { SwqDevice } from '../src/devices/swq/device.js';
import { sid } from '../src/types.js';

const makers = {
  'dma-test': (p: FakeDmaPort) => new DmaTestDevice(sid(0x18), p),
  ats: (p: FakeDmaPort) => new AtsDevice(sid(0x28), p),
  swq: (p: FakeDmaPort) => new SwqDevice(sid(0x30), p),
};

const access = fc.oneof(
  fc.record({ kind: fc.constant('bar' as const), off: fc.integer({ min: 0, max: 0x4000 }).map((o) => o & ~3), size: fc.constantFrom(4, 8), v: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
  fc.record({ kind: fc.constant('cfg' as const), off: fc.integer({ min: 0, max: 4095 }), size: fc.constantFrom(1, 2, 4), v: fc.integer({ min: 0, max: 0xffff_ffff }) }),
);

describe('devices take any guest input without throwing', () => {
  for (const [name, make] of Object.entries(makers)) {
    it(`${name}: random BAR and config-space accesses`, () => {
      fc.assert(fc.property(fc.array(access, { maxLength: 80 }), (ops) => {
        const port = new FakeDmaPort();
        port.faultFrom = 0x8000;
        const dev = make(port);
        for (const o of ops) {
          if (o.kind === 'bar') {
            dev.barWrite(o.off, o.size, o.v);
            dev.barRead(o.off, o.size);
          } else {
            dev.config.write(o.off, o.size, o.v);
            dev.config.read(o.off, o.size);
          }
        }
        for (const r of port.requests) expect(r.len).toBeGreaterThan(0);
      }), { numRuns: 150 });
    });
  }
});

describe('device-TLB', () => {
  const entry = (pasid: number, iova: bigint, sizeLg2 = 12) => ({ pasid, iova, sizeLg2, addr: iova + 0x100_0000n, read: true, write: true, exec: false, priv: false });

  it('invalidation removes exactly the overlapping entries of the named PASID', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ pasid: fc.constantFrom(NO_PASID, 1, 2), page: fc.integer({ min: 0, max: 63 }), big: fc.boolean() }), { maxLength: 30 }),
      fc.record({ pasid: fc.constantFrom(undefined, 1, 2), page: fc.integer({ min: 0, max: 63 }), sizeLg2: fc.integer({ min: 12, max: 18 }), global: fc.boolean() }),
      (ins, inv) => {
        const tlb = new DeviceTlb(64);
        for (const i of ins) tlb.insert(entry(i.pasid, i.big ? BigInt(i.page >> 3) << 15n : BigInt(i.page) << 12n, i.big ? 15 : 12));
        const before = [...tlb.entries()];
        const size = 1n << BigInt(inv.sizeLg2);
        const start = (BigInt(inv.page) << 12n) & ~(size - 1n);
        tlb.invalidate({ pasid: inv.pasid, addr: start, sizeLg2: inv.sizeLg2, global: inv.global });
        const hit = (e: (typeof before)[number]) => (inv.global || e.pasid === (inv.pasid ?? NO_PASID))
          && e.iova < start + size && start < e.iova + (1n << BigInt(e.sizeLg2));
        expect(tlb.entries()).toEqual(before.filter((e) => !hit(e)));
      },
    ));
  });

  it('lookups hit only covering entries of the same PASID; full capacity evicts the oldest', () => {
    const tlb = new DeviceTlb(2);
    tlb.insert(entry(1, 0x1000n));
    tlb.insert(entry(NO_PASID, 0x20_0000n, 21));
    expect(tlb.lookup(1, 0x1fffn)?.iova).toBe(0x1000n);
    expect(tlb.lookup(2, 0x1000n)).toBeUndefined();
    expect(tlb.lookup(NO_PASID, 0x3f_ffffn)?.sizeLg2).toBe(21);
    tlb.insert(entry(1, 0x5000n));
    expect(tlb.lookup(1, 0x1000n)).toBeUndefined();
    expect(tlb.size).toBe(2);
  });
});
