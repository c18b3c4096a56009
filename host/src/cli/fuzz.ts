/**
 * `viommu fuzz`: coverage-guided fuzzing of the guest-facing interface
 * (fuzz/README.md). Runs for `--time` seconds on `--workers` threads, prints
 * executions/s and coverage growth, writes minimized findings as replayable
 * scenarios to `DIR/findings/` and the corpus to `DIR/corpus/` (resumed by
 * the next run). `viommu fuzz --check FILE...` runs scenario files under the
 * oracles. `--json` prints the summary (or the per-file results) as JSON.
 * Exit status 0 without findings, 1 with, 2 on bad usage or an unreadable file.
 * The fuzzer's modules load on first use.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { printError, type CliCommand, type CliIo } from './command.js';
import { integerIn } from './values.js';

/** The options `fuzz` takes (commander's names). */
interface FuzzOpts {
  time: number;
  seed: number;
  workers: number;
  out?: string;
  runs?: number;
  stepBudget: number;
  maxLen?: number;
  hostCoverage: boolean;
  seeds?: string[];
  check?: string[];
  json?: boolean;
  unit: 'vtd' | 'smmuv3';
}

/** One `--check` file's outcome. */
interface CheckResult {
  readonly file: string;
  readonly ok: boolean;
  readonly finding?: { kind: string; step: number; message: string };
  /** The file could not be read or is not a valid scenario. */
  readonly error?: string;
}

/** Runs scenario files under the oracles; an unreadable or invalid file is reported naming it. */
async function checkFiles(files: readonly string[], json: boolean, io: CliIo): Promise<number> {
  const { Executor, loadFuzzModule } = await import('../../../fuzz/execute.js');
  const { fromScenarioDoc } = await import('../../../fuzz/input.js');
  const exec = new Executor(loadFuzzModule((l) => io.err(`${l}\n`)).module);
  const results: CheckResult[] = [];
  for (const file of files) {
    let input;
    try {
      input = fromScenarioDoc(JSON.parse(readFileSync(file, 'utf8')));
    } catch (err) {
      results.push({ file, ok: false, error: err instanceof Error ? err.message : String(err) });
      if (!json) printError(io, `${file}: ${results.at(-1)!.error!}`);
      continue;
    }
    const { finding } = await exec.run(input);
    results.push({ file, ok: !finding, ...(finding ? { finding: { kind: finding.kind, step: finding.step, message: finding.message } } : {}) });
    if (!json) io.out(finding ? `${file}: ${finding.kind} at step ${finding.step}: ${finding.message}\n` : `${file}: ok\n`);
  }
  if (json) io.out(`${JSON.stringify({ results }, null, 2)}\n`);
  return results.some((r) => r.error) ? 2 : results.some((r) => r.finding) ? 1 : 0;
}

/** A fuzzing campaign; with --json the progress lines go to stderr and the summary to stdout. */
async function campaign(o: FuzzOpts, io: CliIo): Promise<number> {
  const { runCampaign, summaryLine } = await import('../../../fuzz/campaign.js');
  const { ensureCoverageBuild } = await import('../../../fuzz/coverage-build.js');
  const { goldenDir } = await import('../../../fuzz/seeds.js');
  const note = ensureCoverageBuild((l) => io.err(`${l}\n`)).note; // once here, before the workers look for it
  if (note) io.err(`fuzz: ${note}; running without core coverage\n`);
  const print = o.json ? (l: string) => io.err(`${l}\n`) : (l: string) => io.out(`${l}\n`);
  const seedDirs = [...(o.seeds?.length ? o.seeds : [goldenDir()]), ...(o.out ? [join(o.out, 'corpus')] : [])];
  const summary = await runCampaign({
    seed: o.seed, workers: o.workers, outDir: o.out, timeMs: o.time * 1000, runs: o.runs, stepBudgetMs: o.stepBudget,
    hostCoverage: o.hostCoverage, seedDirs, print, maxLen: o.maxLen,
  });
  io.out(o.json ? `${JSON.stringify(summary, null, 2)}\n` : `${summaryLine(summary)}\n`);
  return summary.findings.length > 0 ? 1 : 0;
}

/** An SMMUv3 campaign (fuzz/smmu/campaign.ts): one thread, the SMMUv3 golden recordings as seeds. */
async function smmuCampaign(o: FuzzOpts, io: CliIo): Promise<number> {
  const { loadFuzzModule } = await import('../../../fuzz/execute.js');
  const { runSmmuCampaign } = await import('../../../fuzz/smmu/campaign.js');
  const print = o.json ? (l: string) => io.err(`${l}\n`) : (l: string) => io.out(`${l}\n`);
  const { module } = loadFuzzModule(print);
  const s = await runSmmuCampaign({ module, timeSec: o.time, runs: o.runs, seed: o.seed, out: o.out, stepBudgetMs: o.stepBudget, log: print });
  const summary = { execs: s.execs, seconds: s.seconds, seedsRun: s.seedsRun, coreProbes: s.coreProbes, outcomes: s.outcomes, dmaJudged: s.dmaJudged, corpus: s.corpus, findings: s.bugs.map((b) => b.signature) };
  io.out(o.json ? `${JSON.stringify(summary, null, 2)}\n`
    : `smmu fuzz: ${s.execs} execs in ${s.seconds.toFixed(1)} s, core probes ${s.coreProbes}, DMAs judged ${s.dmaJudged}, corpus ${s.corpus}, findings ${s.bugs.length}\n`);
  return s.bugs.length > 0 ? 1 : 0;
}

/** The `fuzz` row of the command table. */
export const fuzzCommand: CliCommand = {
  name: 'fuzz',
  summary: 'coverage-guided fuzzing of the guest interface; findings as replayable scenarios (fuzz/README.md)',
  define: (cmd: Command) => {
    const campaignOnly = ['time', 'seed', 'workers', 'out', 'runs', 'stepBudget', 'seeds', 'maxLen'];
    cmd.addOption(new Option('--time <sec>', 'run this long, seeds included (they get at most half; K workers share them)').argParser(integerIn(1, 7 * 24 * 3600)).default(60))
      .addOption(new Option('--seed <n>', 'random seed').argParser(integerIn(0, 0xffff_ffff)).default(1))
      .addOption(new Option('--workers <k>', 'worker threads (0: this thread)').argParser(integerIn(0, 256)).default(1))
      .option('--out <dir>', 'write findings/ and corpus/ here (a later run resumes the corpus)')
      .addOption(new Option('--runs <n>', 'stop after this many executions').argParser(integerIn(1, 1e12)))
      .addOption(new Option('--step-budget <ms>', 'a step slower than this is a finding').argParser(integerIn(1, 600_000)).default(250))
      .addOption(new Option('--max-len <steps>', 'mutants start limited to this many steps; the limit grows when coverage stalls (default: no limit)').argParser(integerIn(1, 192)))
      .option('--no-host-coverage', 'core coverage only (faster)')
      .option('--seeds <dir...>', 'seed scenario folders (default: firmware-tests/golden)')
      .addOption(new Option('--check <file...>', 'run scenario files under the oracles instead of fuzzing').conflicts(campaignOnly))
      .option('--json', 'print the summary (or the --check results) as JSON')
      .addOption(new Option('--unit <unit>', 'the unit to fuzz: vtd, or smmuv3 (one thread, SMMUv3 recordings as seeds)').choices(['vtd', 'smmuv3']).default('vtd'));
  },
  run: (_args, opts, io) => {
    const o = opts as unknown as FuzzOpts;
    if (o.check) return checkFiles(o.check, !!o.json, io);
    return o.unit === 'smmuv3' ? smmuCampaign(o, io) : campaign(o, io);
  },
};
