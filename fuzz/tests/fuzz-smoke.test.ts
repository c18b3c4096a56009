import { describe, expect, it } from 'vitest';
import { runCampaign } from '../campaign.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Executor, loadFuzzModule } from '../execute.js';
import { fromScenarioDoc } from '../input.js';
import { signature } from '../minimize.js';
import { goldenDir, loadInputs, scenarioFiles, withVmmVariants } from '../seeds.js';

// A short fixed-seed run in the current thread: deterministic (same seed and
// number of executions give the same corpus and coverage) and clean.
// The SMMUv3 recordings are not fuzz seeds (the fuzzer drives the VT-d machine).
const seeds = scenarioFiles(goldenDir()).filter((f) => !f.includes('recorded') && !f.includes('smmuv3'));
const run = () => runCampaign({ seed: 42, workers: 0, runs: 80, seedDirs: seeds, stepBudgetMs: 60_000, hostCoverage: false, minimizeRuns: 50 });

/** Signatures of the open findings in findings-regression/ (known bugs a run may meet again). */
async function openSignatures(): Promise<string[]> {
  const exec = new Executor(loadFuzzModule().module);
  const out: string[] = [];
  for (const f of scenarioFiles(join(import.meta.dirname, '..', 'findings-regression'))) {
    const doc = JSON.parse(readFileSync(f, 'utf8')) as { regression?: { status: string } };
    if (doc.regression?.status !== 'open') continue;
    const r = await exec.run(fromScenarioDoc(doc));
    if (r.finding) out.push(signature(r.finding));
  }
  return out;
}

describe('viommu fuzz smoke', () => {
  it('a fixed seed gives the same corpus and coverage twice, reaches most of the core, and finds nothing new', async () => {
    const a = await run();
    const b = await run();
    expect(a.execs).toBe(b.execs);
    expect(a.corpus).toBe(b.corpus);
    expect(a.coreProbes).toBe(b.coreProbes);
    expect(a.findings.map((f) => f.signature)).toEqual(b.findings.map((f) => f.signature));
    // Seeds + mutated runs + one run per new corpus entry its new features let the engine trim (engine.ts `trim`).
    expect(a.execs).toBeGreaterThan(80 + seeds.length);
    expect(a.coreProbeTotal).toBeGreaterThan(500);
    // The probe total (1222) now holds the SMMUv3 walker too, which VT-d inputs never reach: an absolute floor
    // (over half the 1035 VT-d-era probes) instead of half the total; this run reaches ~600.
    expect(a.coreProbes).toBeGreaterThan(560);
    const known = await openSignatures();
    expect(a.findings.filter((f) => !known.includes(f.signature))).toEqual([]);
  });

  it('--time bounds the whole run: the seeds get at most half of it, the rest fuzzes, progress is printed on the way', async () => {
    const lines: string[] = [];
    const t0 = performance.now();
    // 1 s: with session 8's executor all 866 seeds ran within the 1.25 s half of a 2.5 s run on a quiet machine.
    const r = await runCampaign({ seed: 3, workers: 0, timeMs: 1000, seedDirs: [goldenDir()], hostCoverage: false, progressMs: 250, print: (l) => lines.push(l) });
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1000 + 2000); // one execution or a minimization past the limit at most
    // Every VT-d recording is a seed (the SMMUv3 ones are not fuzzer inputs: fromScenarioDoc refuses them), and VM copies of some (seeds.ts).
    const vtd = scenarioFiles(goldenDir()).filter((f) => !f.includes('smmuv3')).length;
    const all = withVmmVariants(loadInputs([goldenDir()])).length;
    expect(all).toBeGreaterThan(vtd);
    expect(r.seedsTotal).toBe(all);
    expect(r.seedsRun).toBeLessThan(r.seedsTotal);
    expect(r.execs).toBeGreaterThan(r.seedsRun); // mutated inputs ran after the seeds
    expect(lines.some((l) => /^\[\d+s\] execs \d+/.test(l))).toBe(true);
    // Far more seeds than fit in 0.5 s: the run moved on to fuzzing with seeds left over.
    expect(all).toBeGreaterThan(300);
    expect(lines.some((l) => new RegExp(`seeds \\d+/${all}`).test(l))).toBe(true);
  }, 30_000);
});
