import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replayScenario } from '../../host/src/scenario/replay.js';
import { Executor, loadFuzzModule } from '../execute.js';
import { fromScenarioDoc } from '../input.js';
import { scenarioFiles } from '../seeds.js';

// Every finding the fuzzer made becomes a scenario here. A fixed one must
// pass the oracles from then on; an open one ("regression.status": "open")
// is listed as skipped with its note until the owner fixes it, and must
// still reproduce (so the file stays a valid reproducer).
const dir = join(import.meta.dirname, '..', 'findings-regression');
const files = scenarioFiles(dir);

describe('fuzz findings', () => {
  const exec = new Executor(loadFuzzModule().module);
  it('are valid scenarios that viommu replay runs', async () => {
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) await replayScenario(JSON.parse(readFileSync(f, 'utf8')));
  });
  for (const f of files) {
    const doc = JSON.parse(readFileSync(f, 'utf8')) as { name: string; regression?: { status: string; note: string } };
    const open = doc.regression?.status === 'open';
    it(`${doc.name}: ${open ? 'still reproduces (open)' : 'passes the oracles (fixed)'}`, async () => {
      const r = await exec.run(fromScenarioDoc(doc));
      if (open) expect(r.finding, doc.regression!.note).toBeDefined();
      else expect(r.finding).toBeUndefined();
    });
  }
});
