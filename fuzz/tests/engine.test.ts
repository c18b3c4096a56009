import { describe, expect, it } from 'vitest';
import { Engine } from '../engine.js';
import { loadFuzzModule } from '../execute.js';
import type { FuzzInput } from '../input.js';

const { module } = loadFuzzModule();

describe('fuzz engine', () => {
  it('announces every re-run of a finding (confirmation, minimization) as an execution, so a watchdog times single executions', async () => {
    const seen: number[] = [];
    // A negative step budget makes every step a hang finding: confirmed on a fresh machine, then minimized to one step.
    const engine = new Engine(module, { seed: 1, stepBudgetMs: -1 }, { beforeRun: (input) => seen.push(input.steps.length) });
    const input: FuzzInput = {
      machine: { profile: 'default', ram_mib: 16, iommu: { scalable_mode: false, caching_mode: false, aw_bits: 48 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] },
      steps: Array.from({ length: 8 }, (_, i) => ({ op: 'mmio.read' as const, offset: 0x10 + 8 * (i % 2), size: 8 as const })),
    };
    await engine.consider(input);
    expect(engine.bugs.size).toBe(1);
    expect([...engine.bugs.values()][0]!.input.steps.length).toBe(1);
    expect(seen.length).toBeGreaterThan(2); // the execution, the fresh confirmation and the minimizer's re-runs
    expect(seen).toContain(1); // the minimizer's last candidates are announced too
  });
});
