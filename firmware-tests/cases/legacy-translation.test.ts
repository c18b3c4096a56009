/**
 * Guest-driver suite: legacy-mode second-stage translation (§3.7, §9.3,
 * §9.8), programmed only through MMIO and guest RAM.
 */
import { describe, expect, it } from 'vitest';
import { bootTestbed, sidOf } from '../lib/testbed.js';
import { encodeSsPte } from '../../host/src/vtd/spec/ss-pte.js';

const RW = encodeSsPte({ R: true, W: true });
const RO = encodeSsPte({ R: true });
const WO = encodeSsPte({ W: true });

describe('legacy second-stage translation', () => {
  for (const [levels, aw] of [[3, 39], [4, 48], [5, 57]] as const) {
    it(`${levels}-level table: 4 KiB, 2 MiB${levels > 3 ? ', 1 GiB' : ''} leaves move the right bytes`, async () => {
      const tb = await bootTestbed({ profile: 'default', iommu: { awBits: aw } });
      const g = tb.guest('legacy');
      const ss = g.attachLegacy(sidOf(3), { did: 1, levels });
      const high = 1n << BigInt(aw - 1); // the top of the address space
      ss.map(high, 0x20_0000n, 12, RW);
      ss.map(0x4000_0000n, 0x40_0000n, 21, RW);
      if (levels > 3) ss.map(0x80_0000_0000n, 0n, 30, RW);
      g.start();
      const dev = tb.dev(3);
      const checks: [bigint, bigint][] = [[high + 0x10n, 0x20_0010n], [0x4012_3450n, 0x52_3450n]];
      if (levels > 3) checks.push([0x80_0061_2340n, 0x61_2340n]);
      for (const [iova, gpa] of checks) {
        const want = tb.pattern(gpa, 64, Number(gpa & 0xffn));
        expect(dev.read(iova, 64)).toEqual({ ok: true });
        expect([...dev.buffer().subarray(0, 64)]).toEqual([...want]);
        dev.buffer().fill(0xc3, 0, 16);
        expect(dev.write(iova + 64n, 16)).toEqual({ ok: true });
        expect([...tb.m.ram.read(gpa + 64n, 16)]).toEqual(new Array(16).fill(0xc3));
      }
    });
  }

  it('read-only and write-only leaves allow only that access; the fault is recorded', async () => {
    const tb = await bootTestbed({ profile: 'default', iommu: { awBits: 48 } });
    const g = tb.guest('legacy');
    const ss = g.attachLegacy(sidOf(3), { did: 2, levels: 4 });
    ss.map(0x1000n, 0x30_0000n, 12, RO);
    ss.map(0x2000n, 0x30_1000n, 12, WO);
    g.start();
    const dev = tb.dev(3);
    expect(dev.read(0x1000n, 8).ok).toBe(true);
    expect(dev.write(0x1000n, 8)).toMatchObject({ ok: false, reason: 5 });
    expect(g.drv.readFaults()).toMatchObject([{ sid: sidOf(3), reason: 5, addr: 0x1000n, read: false }]);
    expect(dev.write(0x2000n, 8).ok).toBe(true);
    expect(dev.read(0x2000n, 8)).toMatchObject({ ok: false, reason: 6 });
    expect(g.drv.readFaults()).toMatchObject([{ reason: 6, addr: 0x2000n, read: true }]);
  });

  it('a DMA crossing into an unmapped page moves the first page and faults on the second', async () => {
    const tb = await bootTestbed({ profile: 'default', iommu: { awBits: 48 } });
    const g = tb.guest('legacy');
    const ss = g.attachLegacy(sidOf(3), { did: 2, levels: 4 });
    ss.map(0x1000n, 0x30_0000n, 12, RW);
    g.start();
    tb.pattern(0x30_0ff0n, 16, 9);
    expect(tb.dev(3).read(0x1ff0n, 32)).toMatchObject({ ok: false });
    expect(g.drv.readFaults()).toMatchObject([{ addr: 0x2000n, reason: 6 }]);
  });

  it('two devices in different domains see different memory through the same IOVA', async () => {
    const tb = await bootTestbed({ profile: 'default', iommu: { awBits: 48 } });
    const g = tb.guest('legacy');
    g.attachLegacy(sidOf(3), { did: 1, levels: 4 }).map(0x1000n, 0x30_0000n, 12, RW);
    g.attachLegacy(sidOf(4), { did: 2, levels: 4 }).map(0x1000n, 0x31_0000n, 12, RW);
    g.start();
    tb.pattern(0x30_0000n, 8, 0x10);
    tb.pattern(0x31_0000n, 8, 0x20);
    tb.dev(3).read(0x1000n, 8);
    tb.dev(4).read(0x1000n, 8);
    expect(tb.dev(3).buffer()[0]).toBe(0x10);
    expect(tb.dev(4).buffer()[0]).toBe(0x20);
  });

  it('translation off is identity; pass-through context (TT=2) is identity', async () => {
    const tb = await bootTestbed({ profile: 'default', iommu: { awBits: 48 } });
    tb.pattern(0x30_0000n, 8, 0x44);
    expect(tb.dev(3).read(0x30_0000n, 8).ok).toBe(true);
    expect(tb.dev(3).buffer()[0]).toBe(0x44);
    const g = tb.guest('legacy');
    g.attachLegacy(sidOf(3), { did: 1, levels: 4, tt: 2 });
    g.start();
    expect(tb.dev(3).read(0x30_0000n, 8).ok).toBe(true);
    expect(tb.dev(4).read(0x30_0000n, 8)).toMatchObject({ ok: false, reason: 2 });
  });
});
