/**
 * `viommu fuzz`: coverage-guided fuzzing of the guest-facing interface
 * (fuzz/README.md). Runs for `--time` seconds on `--workers` threads, prints
 * executions/s and coverage growth, writes minimized findings as replayable
 * scenarios to `DIR/findings/` and the corpus to `DIR/corpus/` (resumed by
 * the next run). Exit status 0 without findings, 1 with, 2 on bad usage.
 * `viommu fuzz --check FILE...` runs scenario files under the oracles.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCampaign, summaryLine } from '../../../fuzz/campaign.js';
import { Executor, loadFuzzModule } from '../../../fuzz/execute.js';
import { fromScenarioDoc } from '../../../fuzz/input.js';
import { goldenDir } from '../../../fuzz/seeds.js';
import type { CliIo } from './main.js';

const USAGE = 'fuzz --time SEC [--seed N] [--workers K] [--out DIR] [--runs N] [--step-budget MS] [--no-host-coverage] [--seeds DIR]... | fuzz --check FILE...';

interface FuzzArgs {
  time: number;
  seed: number;
  workers: number;
  out?: string;
  runs?: number;
  stepBudget: number;
  hostCoverage: boolean;
  seeds: string[];
  check: string[];
}

const NUMERIC: Record<string, { key: 'time' | 'seed' | 'workers' | 'runs' | 'stepBudget'; min: number; max: number }> = {
  '--time': { key: 'time', min: 1, max: 7 * 24 * 3600 },
  '--seed': { key: 'seed', min: 0, max: 0xffff_ffff },
  '--workers': { key: 'workers', min: 0, max: 256 },
  '--runs': { key: 'runs', min: 1, max: 1e12 },
  '--step-budget': { key: 'stepBudget', min: 1, max: 600_000 },
};

/** Parses the arguments; throws an Error naming the bad one. */
export function parseFuzzArgs(args: readonly string[]): FuzzArgs {
  const a: FuzzArgs = { time: 60, seed: 1, workers: 1, stepBudget: 250, hostCoverage: true, seeds: [], check: [] };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const num = NUMERIC[flag];
    if (num) {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < num.min || v > num.max) throw new Error(`${flag}: expected an integer in ${num.min}..${num.max}, got ${JSON.stringify(args[i])}`);
      a[num.key] = v;
    } else if (flag === '--out' || flag === '--seeds') {
      const v = args[++i];
      if (!v) throw new Error(`${flag}: expected a directory`);
      if (flag === '--out') a.out = v;
      else a.seeds.push(v);
    } else if (flag === '--no-host-coverage') {
      a.hostCoverage = false;
    } else if (flag === '--check') {
      while (i + 1 < args.length && !args[i + 1]!.startsWith('--')) a.check.push(args[++i]!);
      if (a.check.length === 0) throw new Error('--check: expected scenario files');
    } else {
      throw new Error(`unknown argument ${JSON.stringify(flag)}`);
    }
  }
  return a;
}

/** Runs scenario files under the oracles; returns the number with a finding. */
async function checkFiles(files: readonly string[], io: CliIo): Promise<number> {
  const exec = new Executor(loadFuzzModule().module);
  let bad = 0;
  for (const f of files) {
    const r = await exec.run(fromScenarioDoc(JSON.parse(readFileSync(f, 'utf8'))));
    if (r.finding) {
      bad++;
      io.out(`${f}: ${r.finding.kind} at step ${r.finding.step}: ${r.finding.message}\n`);
    } else {
      io.out(`${f}: ok\n`);
    }
  }
  return bad;
}

/** The `fuzz` command (its row in main.ts loads this module on demand). */
export async function runFuzz(args: string[], io: CliIo): Promise<number> {
  let a: FuzzArgs;
  try {
    a = parseFuzzArgs(args);
  } catch (err) {
    io.err(`viommu fuzz: ${err instanceof Error ? err.message : String(err)}\nusage: viommu ${USAGE}\n`);
    return 2;
  }
  if (a.check.length > 0) return (await checkFiles(a.check, io)) > 0 ? 1 : 0;
  const seedDirs = [...(a.seeds.length > 0 ? a.seeds : [goldenDir()]), ...(a.out ? [join(a.out, 'corpus')] : [])];
  const summary = await runCampaign({
    seed: a.seed, workers: a.workers, outDir: a.out, timeMs: a.time * 1000, runs: a.runs, stepBudgetMs: a.stepBudget,
    hostCoverage: a.hostCoverage, seedDirs, print: (l) => io.out(`${l}\n`),
  });
  io.out(`${summaryLine(summary)}\n`);
  return summary.findings.length > 0 ? 1 : 0;
}
