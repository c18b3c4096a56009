import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadCoreFromSync } from '../../host/src/core/load.js';
import { ScenarioApics } from '../../host/src/scenario/apics.js';
import { replayOn } from '../../host/src/scenario/replay.js';
import type { ArmMachine } from '../../host/src/arm-machine.js';
import { loadFuzzModule } from '../execute.js';
import { Rng } from '../rng.js';
import { SmmuExecutor, type SmmuExecResult } from '../smmu/execute.js';
import { HOST_FEATURE_BASE } from '../coverage.js';
import { touchedBitmap } from '../machine-pool.js';
import { smmuSeeds, type SmmuInput } from '../smmu/input.js';
import { PooledArm, SmmuMachinePool } from '../smmu/machine-pool.js';
import { mutateSmmu } from '../smmu/mutate.js';

// Issue 19: the SMMUv3 fuzzer reuses machines (fuzz/smmu/machine-pool.ts).
// A reused machine, reset after other inputs ran on it, must observe what a
// new machine observes and end in the same state; the executor must give
// the same findings, features and judged DMAs either way.
const { module } = loadFuzzModule();
const seeds = smmuSeeds();

/** Inputs: every `stride`-th seed, then mutants of them (fixed seed). */
function inputs(stride: number, mutants: number): SmmuInput[] {
  const rng = new Rng(11);
  const out = seeds.filter((_, i) => i % stride === 0);
  for (let i = 0; i < mutants; i++) out.push(mutateSmmu(rng.pick(out), rng, out).input);
  return out;
}

/** What a run shows: its observations (or the error that stopped it), the unit's registers and event count, a digest of RAM and device buffers. */
function observe(m: ArmMachine, input: SmmuInput): unknown {
  const run = replayOn(m, { name: 'x', description: '', iommu: 'smmuv3', machine: {}, cpus: 1, steps: input.steps }, new ScenarioApics(1));
  const obs: unknown[] = [];
  try {
    for (let s = run.next(); s; s = run.next()) if (s.observation) obs.push(s.observation);
  } catch (err) {
    obs.push(String(err));
  }
  const h = createHash('sha1');
  for (const r of m.core.ramRegions()) h.update(m.ram.view(r.base, r.size));
  for (const d of m.deviceList()) if ('buffer' in d && typeof d.buffer === 'function') h.update(d.buffer() as Uint8Array);
  return { obs, state: m.smmu.saveState(), ram: h.digest('hex'), caches: m.core.cacheContents() };
}

describe('SMMUv3 fuzzer machine pool', () => {
  it('a reused machine observes what a new one does (seeds and mutants), and a reset one starts as a new one', async () => {
    const pool = new SmmuMachinePool(() => loadCoreFromSync(module), 4);
    const all = inputs(3, 40);
    for (const [i, input] of all.entries()) {
      const fresh = (await PooledArm.create(input.machine, loadCoreFromSync(module))).machine;
      const startState = fresh.smmu.saveState();
      const reused = (await pool.get(input.machine)).machine;
      expect(reused.smmu.saveState(), `input ${i}: reset state`).toEqual(startState);
      const ram = reused.ram.view(reused.core.ramRegions()[0]!.base, 0x10_0000 * input.machine.ram_mib);
      expect(Buffer.from(ram.buffer, ram.byteOffset, ram.length).equals(Buffer.alloc(ram.length)), `input ${i}: RAM zero`).toBe(true);
      // The reset read the touched pages through the bitmap's summary: no bit of the bitmap or the summary is left behind.
      const touched = touchedBitmap(reused.core)!;
      expect([touched.map.every((b) => b === 0), touched.summary!.every((b) => b === 0)], `input ${i}: touched-page bitmap and summary cleared`).toEqual([true, true]);
      expect(observe(reused, input), `input ${i}`).toEqual(observe(fresh, input));
    }
    expect(pool.built).toBeLessThan(all.length / 4); // most runs reused a machine
  }, 300_000);

  it('the executor gives the same findings, SMMU outcomes and judged DMAs on reused and new machines', async () => {
    const reuse = new SmmuExecutor(module);
    const fresh = new SmmuExecutor(module, { reuse: false });
    // Core probes of the core's own housekeeping (its last-RAM-region lookup cache, setup-record allocation)
    // depend on the machine's history, not on the input: only the SMMU outcome features are compared.
    const view = (r: SmmuExecResult) => ({ finding: r.finding, dmaJudged: r.dmaJudged, outcomes: r.features.filter((f) => f >= HOST_FEATURE_BASE).sort() });
    for (const [i, input] of inputs(2, 40).entries()) {
      const [a, b] = [await reuse.run(input), await fresh.run(input)];
      expect(view(a), `input ${i}`).toEqual(view(b));
    }
    expect(reuse.pool!.built).toBeLessThan(20);
  }, 300_000);
});
