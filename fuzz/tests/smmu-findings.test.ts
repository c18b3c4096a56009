import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replayScenario } from '../../host/src/scenario/replay.js';
import { loadFuzzModule } from '../execute.js';
import { scenarioFiles } from '../seeds.js';
import { SmmuExecutor } from '../smmu/execute.js';
import { smmuInputFromDoc } from '../smmu/input.js';

// Every SMMUv3 finding becomes a scenario in fuzz/smmu/findings-regression:
// a valid scenario `viommu replay` runs, that passes the oracles once fixed
// ("regression.status": "fixed"), or still reproduces while open.
const files = scenarioFiles(join(import.meta.dirname, '..', 'smmu', 'findings-regression'));

describe('SMMUv3 fuzz findings', () => {
  const exec = new SmmuExecutor(loadFuzzModule().module, { reuse: false });
  it('are valid scenarios that viommu replay runs', async () => {
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) await replayScenario(JSON.parse(readFileSync(f, 'utf8')));
  });
  for (const f of files) {
    const doc = JSON.parse(readFileSync(f, 'utf8')) as { name: string; regression: { status: string; note: string } };
    const open = doc.regression.status === 'open';
    it(`${doc.name}: ${open ? 'still reproduces (open)' : 'passes the oracles (fixed)'}`, async () => {
      const r = await exec.run(smmuInputFromDoc(doc));
      if (open) expect(r.finding, doc.regression.note).toBeDefined();
      else expect(r.finding).toBeUndefined();
    });
  }
});
