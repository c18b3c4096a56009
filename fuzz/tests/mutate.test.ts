import { describe, expect, it } from 'vitest';
import type { FuzzInput, Step } from '../input.js';
import { mutate, stepValid } from '../mutate.js';
import { Rng } from '../rng.js';
import { goldenDir, loadInputs, withVmmVariants } from '../seeds.js';

const seeds = withVmmVariants(loadInputs([goldenDir()]));
const keeps = (input: FuzzInput, s: Step): boolean => stepValid(input.machine, s) && !(input.vmm && s.op === 'snapshot');

describe('fuzz mutate', () => {
  it('gives only steps the mutant machine accepts, over generations of mutants (the parent\'s steps are not checked again when the machine keeps its step rules)', () => {
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

  it('drops a parent\'s step its own machine refuses, in every mutant (a parent is not trusted to be valid)', () => {
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
    expect(sameMachine).toBeGreaterThan(100); // the case that skips the parent's checks was reached
  });

});
