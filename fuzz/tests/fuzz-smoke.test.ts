import { describe, expect, it } from 'vitest';
import { runCampaign } from '../campaign.js';
import { parseFuzzArgs } from '../../host/src/cli/fuzz.js';
import { goldenDir, scenarioFiles } from '../seeds.js';

// A short fixed-seed run in the current thread: deterministic (same seed and
// number of executions give the same corpus and coverage) and clean.
const seeds = scenarioFiles(goldenDir()).filter((f) => !f.includes('recorded'));
const run = () => runCampaign({ seed: 42, workers: 0, runs: 80, seedDirs: seeds, stepBudgetMs: 60_000, hostCoverage: false, minimizeRuns: 50 });

describe('viommu fuzz smoke', () => {
  it('a fixed seed gives the same corpus and coverage twice, reaches most of the core, and finds nothing', async () => {
    const a = await run();
    const b = await run();
    expect(a.execs).toBe(b.execs);
    expect(a.corpus).toBe(b.corpus);
    expect(a.coreProbes).toBe(b.coreProbes);
    expect(a.findings.map((f) => f.signature)).toEqual(b.findings.map((f) => f.signature));
    expect(a.execs).toBe(80 + seeds.length); // seeds + mutated runs
    expect(a.coreProbeTotal).toBeGreaterThan(500);
    expect(a.coreProbes / a.coreProbeTotal).toBeGreaterThan(0.5);
    expect(a.findings).toEqual([]);
  });

  it('parses the CLI arguments and names a bad one', () => {
    expect(parseFuzzArgs(['--time', '5', '--seed', '7', '--workers', '2', '--out', 'o'])).toMatchObject({ time: 5, seed: 7, workers: 2, out: 'o' });
    expect(() => parseFuzzArgs(['--time', 'x'])).toThrow(/--time/);
    expect(() => parseFuzzArgs(['--bogus'])).toThrow(/--bogus/);
  });
});
