import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../host/src/scenario/parse.js';
import { startReplay } from '../../host/src/scenario/replay.js';
import { REG } from '../../host/src/vtd/spec/registers.js';
import { Executor, loadFuzzModule } from '../execute.js';
import { toScenarioDoc, type FuzzInput, type Step } from '../input.js';
import { mutate } from '../mutate.js';
import { devCfgStep, devMmioStep, pasidDmaStep, priSetupSteps, prqRegisterStep, prqResponseSteps, smTableSteps } from '../pri-steps.js';
import { Rng } from '../rng.js';

// The generators of the viommu extensions (PASID DMA, device programming,
// page requests): what they make is a valid scenario that replays, a PRI
// setup plus tables plus a PASID DMA really fills the page-request queue,
// and the oracles stay quiet on such inputs.
const base: FuzzInput = {
  machine: { profile: 'default', ram_mib: 16, iommu: { scalable_mode: true, caching_mode: false, aw_bits: 48 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] },
  steps: [],
};

function grow(rng: Rng, n: number): FuzzInput {
  let input = base;
  const gens: ((r: Rng, i: FuzzInput) => (Step | undefined)[])[] = [
    (r, i) => priSetupSteps(r, i), (r, i) => smTableSteps(r, i), (r, i) => [devCfgStep(r, i)], (r, i) => devMmioStep(r, i),
    (r, i) => [pasidDmaStep(r, i)], (r, i) => [prqRegisterStep(r, i)], (r, i) => prqResponseSteps(r, i),
  ];
  for (let k = 0; k < n; k++) {
    const steps = rng.pick(gens)(rng, input).filter((s): s is Step => s !== undefined);
    input = { machine: input.machine, steps: [...input.steps, ...steps] };
  }
  return input;
}

describe('fuzz generators for PASID and page-request traffic', () => {
  it('make valid default-profile scenarios (also after mutation)', () => {
    const rng = new Rng(7);
    for (let k = 0; k < 50; k++) {
      const input = grow(rng, 12);
      expect(() => parseScenario(toScenarioDoc(input, 'g', ''))).not.toThrow();
      const m = mutate(input, rng, [input]).input;
      expect(() => parseScenario(toScenarioDoc(m, 'm', ''))).not.toThrow();
    }
  });

  it('PRI setup + scalable tables + a PASID DMA puts a page request in the queue', async () => {
    const rng = new Rng(3);
    const setup = priSetupSteps(rng, base);
    const withSetup = { ...base, steps: setup };
    const tables = smTableSteps(rng, withSetup, 5);
    const steps = [...setup, ...tables, { op: 'dma.read', bdf: '00:03.0', iova: 0x5000n, len: 8, pasid: 5 } as Step];
    const run = await startReplay(toScenarioDoc({ ...base, steps }, 'prq', ''));
    while (run.next());
    const pqt = run.machine.mmioRead(0xfed9_0000n + BigInt(REG.PQT), 8);
    expect(pqt).toBe(0x20n);
  });

  it('the oracles stay quiet on generated PASID / PRI inputs', async () => {
    const exec = new Executor(loadFuzzModule().module);
    const rng = new Rng(11);
    for (let k = 0; k < 20; k++) {
      const r = await exec.run(grow(rng, 16));
      expect(r.finding).toBeUndefined();
    }
  });
});
