import { describe, expect, it } from 'vitest';
import type { FuzzInput, Step } from '../input.js';
import { mutate, stepValid } from '../mutate.js';
import { Rng } from '../rng.js';
import { goldenDir, loadInputs, withVmmVariants } from '../seeds.js';

const seeds = withVmmVariants(loadInputs([goldenDir()]));
const keeps = (input: FuzzInput, s: Step): boolean => stepValid(input.machine, s) && !(input.vmm && s.op === 'snapshot');

describe('fuzz mutate', () => {
  it('gives only steps the mutant machine accepts, over generations of mutants', () => {
    const rng = new Rng(19);
    const pool = [...seeds];
    for (let i = 0; i < 3000; i++) {
      const parent = pool[rng.below(pool.length)]!;
      const { input } = mutate(parent, rng, pool);
      const bad = input.steps.filter((s) => !keeps(input, s));
      expect(bad, `mutant ${i}`).toEqual([]);
      if (i % 4 === 0) pool.push(input); // mutants of mutants: parents whose steps were checked when they were made
    }
  });

  it('drops a parent\'s step its own machine refuses, in every mutant, also when the machine stays the same', () => {
    const machine: FuzzInput['machine'] = { profile: 'qemu-7.2', ram_mib: 16, iommu: { scalable_mode: false, caching_mode: false, aw_bits: 39 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] };
    const missing: Step = { op: 'dma.read', bdf: '00:09.0', iova: 0x1000n, len: 8 }; // no such device
    const parent: FuzzInput = { machine, steps: [{ op: 'mmio.read', offset: 0x10, size: 8 }, missing, { op: 'mem.write', gpa: 0x2000n, u64: [1n] }] };
    const rng = new Rng(7);
    let sameMachine = 0;
    for (let i = 0; i < 500; i++) {
      const { input } = mutate(parent, rng, [parent]);
      expect(input.steps).not.toContain(missing);
      if (JSON.stringify(input.machine) === JSON.stringify(machine)) sameMachine++;
    }
    expect(sameMachine).toBeGreaterThan(100); // mutants that kept the parent's machine were among them
  });

  it('checks values, addresses and devices at their limits', () => {
    const m: FuzzInput['machine'] = {
      profile: 'default', ram_mib: 16, iommu: { scalable_mode: true, caching_mode: false, aw_bits: 48 },
      devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '00:05.0', kind: 'ats' }],
    };
    const limits = (size: number) => {
      const top = 1n << BigInt(8 * size);
      return [[top - 1n, true], [top, false], [-1n, false], [0n, true]] as const;
    };
    for (const size of [1, 2, 4] as const) {
      for (const [value, ok] of limits(size)) expect(stepValid(m, { op: 'pci.cfg.write', bdf: '00:03.0', offset: 0, size, value }), `cfg size ${size} value ${value}`).toBe(ok);
    }
    for (const size of [4, 8] as const) {
      for (const [value, ok] of limits(size)) expect(stepValid(m, { op: 'dev.mmio.write', bdf: '00:05.0', bar: 0, offset: 0, size, value }), `bar size ${size} value ${value}`).toBe(ok);
    }
    const dma = (bdf: string, iova: bigint): Step => ({ op: 'dma.read', bdf, iova, len: 8 });
    expect(stepValid(m, dma('00:03.0', (1n << 64n) - 1n))).toBe(true);
    expect(stepValid(m, dma('00:03.0', 1n << 64n))).toBe(false);
    expect(stepValid(m, dma('00:05.0', 0x1000n))).toBe(false); // an ATS device takes no dma.* step
    expect(stepValid(m, { op: 'msi', bdf: '00:05.0', address: 0xfee0_0000n, data: 0x30 })).toBe(true);
    expect(stepValid(m, { op: 'msi', bdf: '00:07.0', address: 0xfee0_0000n, data: 0x30 })).toBe(false);
    expect(stepValid(m, { op: 'msi', bdf: '00:03.0', address: 1n << 64n, data: 0x30 })).toBe(false);
  });
});
