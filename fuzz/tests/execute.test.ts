import { beforeAll, describe, expect, it } from 'vitest';
import { replayScenario } from '../../host/src/scenario/replay.js';
import { readFileSync } from 'node:fs';
import { Executor, loadFuzzModule } from '../execute.js';
import { fromScenarioDoc, toScenarioDoc } from '../input.js';
import { goldenDir, scenarioFiles } from '../seeds.js';

describe('executor', () => {
  let exec: Executor;
  beforeAll(() => {
    exec = new Executor(loadFuzzModule().module);
  });

  it('observes what viommu replay observes, with no finding, on every golden scenario', async () => {
    const files = scenarioFiles(goldenDir());
    expect(files.length).toBeGreaterThan(100);
    for (const f of files) {
      const doc = JSON.parse(readFileSync(f, 'utf8'));
      if (doc.machine?.iommu?.type === 'smmuv3') continue; // the fuzzer drives the VT-d machine
      const input = fromScenarioDoc(doc);
      const r = await exec.run(input);
      expect(r.finding, f).toBeUndefined();
      const replay = await replayScenario(toScenarioDoc(input, 'x', ''));
      expect(r.observations, f).toEqual(replay.observations);
      expect(r.features.length).toBeGreaterThan(0);
    }
  }, 300_000); // hundreds of recordings, each run twice: ~20 s on an idle 2-core machine
});
