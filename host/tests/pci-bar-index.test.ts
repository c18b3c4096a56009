/**
 * Memory decode through the sorted BAR index (pci/bar-index.ts) against a
 * reference walk over the hierarchy (the linear decode the index replaces):
 * whatever a guest programs — overlapping BARs, bridge windows that cut
 * BARs, memory decoding off — both name the same function, BAR and offset,
 * and the index follows BAR, command and window writes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bridgeWindow, PciBus, type PciFunction } from '../src/pci/bus.js';
import { PciBridge } from '../src/pci/bridge.js';
import { CFG, CMD, ConfigSpace } from '../src/pci/config-space.js';
import { createMachine } from '../src/machine.js';

/** An endpoint with the given BAR sizes and nothing behind them. */
class Endpoint implements PciFunction {
  readonly config: ConfigSpace;
  constructor(readonly sid: number, sizes: number[]) {
    this.config = new ConfigSpace({ vendorId: 0x5654, deviceId: 1, classCode: 0xff0000, revision: 0, bars: sizes.map((size) => ({ size })) });
  }
  barRead(): bigint { return 0n; }
  barWrite(): void {}
}

/** The reference: visit functions in attach order, a bridge's bus inside its open window. */
function reference(segment: Iterable<PciFunction>, addr: bigint): { fn: PciFunction; bar: number; offset: number } | undefined {
  for (const fn of segment) {
    if (fn instanceof PciBridge) {
      const w = bridgeWindow(fn.config);
      if (fn.config.memoryEnabled() && w && addr >= w.base && addr <= w.limit) {
        const hit = reference(fn.segment.values(), addr);
        if (hit) return hit;
      }
      continue;
    }
    const hit = fn.config.decode(addr);
    if (hit) return { fn, ...hit };
  }
  return undefined;
}

const MB = 0x10_0000;

describe('BAR index', () => {
  it('matches the reference walk for any programming of BARs, command registers and bridge windows', () => {
    const bar = fc.record({ fn: fc.integer({ min: 0, max: 5 }), bar: fc.integer({ min: 0, max: 1 }), base: fc.integer({ min: 0, max: 31 }) });
    const cmd = fc.record({ fn: fc.integer({ min: 0, max: 5 }), on: fc.boolean() });
    const win = fc.record({ base: fc.integer({ min: 0, max: 1 }), size: fc.integer({ min: 0, max: 2 }), on: fc.boolean() });
    fc.assert(fc.property(fc.array(fc.oneof(bar, cmd), { maxLength: 30 }), win, (ops, w) => {
      const bus = new PciBus();
      const bridge = new PciBridge(0x08 as never, 1);
      bus.attach(bridge, true);
      const eps = [0x10, 0x18, 0x20, 0x100, 0x108, 0x110].map((sid, i) => new Endpoint(sid, [0x1000 << (i % 3), 0x4000]));
      for (const e of eps) {
        bus.attach(e);
        e.config.write(CFG.COMMAND, 2, CMD.MEMORY);
      }
      bridge.setWindow(BigInt(0xfe00_0000 + w.base * MB), BigInt(w.size * MB));
      bridge.config.write(CFG.COMMAND, 2, w.on ? CMD.MEMORY : 0);
      for (const o of ops) {
        const e = eps[o.fn]!;
        if ('bar' in o) {
          const size = e.config.bars[o.bar]!.spec.size;
          e.config.write(CFG.BAR0 + 4 * o.bar, 4, 0xfe00_0000 + Math.floor((o.base * 0x8000) / size) * size);
        } else e.config.write(CFG.COMMAND, 2, o.on ? CMD.MEMORY : 0);
        // Probe every BAR edge and window edge after each change (the index is rebuilt lazily).
        const probes = new Set<number>();
        for (const f of eps) f.config.bars.forEach((b, i) => {
          const base = Number(f.config.barBase(i));
          for (const a of [base - 1, base, base + b.spec.size - 1, base + b.spec.size]) probes.add(a);
        });
        const bw = bridgeWindow(bridge.config);
        if (bw) for (const a of [bw.base - 1n, bw.base, bw.limit, bw.limit + 1n]) probes.add(Number(a));
        for (const a of probes) {
          if (a < 0) continue;
          const want = reference(bus.list().filter((f) => f.sid >> 8 === 0), BigInt(a));
          const got = bus.decode(BigInt(a));
          expect(got && { sid: got.fn.sid, bar: got.bar, offset: got.offset }, `0x${a.toString(16)}`)
            .toEqual(want && { sid: want.fn.sid, bar: want.bar, offset: want.offset });
        }
      }
    }), { numRuns: 60 });
  });

  it('1024 devices: every BAR decodes to its device, and a lookup is a binary search over the intervals', async () => {
    const devices = Array.from({ length: 1024 }, (_, i) => ({
      bdf: `${(1 + (i >> 8)).toString(16).padStart(2, '0')}:${((i >> 3) & 31).toString(16).padStart(2, '0')}.${i & 7}`, kind: 'dma-test' as const,
    }));
    const m = await createMachine({ ramMib: 4, devices });
    for (const dev of m.deviceList()) {
      const base = Number(dev.fn.config.barBase(0));
      const i = m.bus.barAt(base + 0x10);
      expect(m.bus.bars.fn(i)).toBe(dev);
      expect(m.bus.bars.offset(i, base + 0x10)).toBe(0x10);
    }
    expect(m.bus.bars.size).toBeGreaterThanOrEqual(1024);
  });
});
