/**
 * The SMMUv3 fuzzer's loop (issue 19): the seeds (the SMMUv3 golden
 * scenarios) first, then mutants of corpus entries; an input that reaches
 * a new feature (core probe x hit bucket, or an SMMU outcome: event type,
 * GERROR bit, CMDQ error, command) joins the corpus; a finding is
 * confirmed by a re-run, minimized (fuzz/minimize.ts), de-duplicated by
 * signature and, with `out`, written as a scenario file
 * (`out/findings/<kind>-<hash>.scenario.json`). Single-threaded and bounded
 * by time and/or executions; progress every few seconds.
 *
 * Run: `viommu fuzz --unit smmuv3 --time 60 --seed 1 [--out DIR]`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST_FEATURE_BASE } from '../coverage.js';
import { formatScenarioDoc } from '../input.js';
import { minimize, signature } from '../minimize.js';
import { Rng } from '../rng.js';
import { SmmuExecutor, type SmmuFinding } from './execute.js';
import { smmuInputToDoc, smmuSeeds, type SmmuInput } from './input.js';
import { mutateSmmu } from './mutate.js';

/** Campaign options. */
export interface SmmuCampaignOptions {
  readonly module: WebAssembly.Module;
  /** Wall-clock limit in seconds (the seeds get at most half). */
  readonly timeSec?: number;
  /** Mutated executions to stop after (deterministic with a fixed seed). */
  readonly runs?: number;
  readonly seed?: number;
  /** Seeds (default: the SMMUv3 golden scenarios). */
  readonly seeds?: readonly SmmuInput[];
  /** Writes findings and the corpus here. */
  readonly out?: string;
  readonly stepBudgetMs?: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

/** One de-duplicated finding: minimized input and what it found. */
export interface SmmuBug {
  readonly signature: string;
  readonly finding: SmmuFinding;
  readonly input: SmmuInput;
}

/** What a campaign did. */
export interface SmmuCampaignStats {
  execs: number;
  seedsRun: number;
  seconds: number;
  /** Core probes reached (hit at least once). */
  coreProbes: number;
  /** SMMU outcome features (event types, GERROR bits, CMDQ errors, commands). */
  outcomes: number;
  corpus: number;
  readonly bugs: SmmuBug[];
  /** DMA steps the DMA-safety oracle judged against the reference. */
  dmaJudged: number;
  /** Executions per mutation operator (how often each applied). */
  readonly operators: Record<string, number>;
}

const hashOf = (input: SmmuInput): string => createHash('sha1').update(JSON.stringify(smmuInputToDoc(input, '', ''))).digest('hex').slice(0, 12);

/** Runs the campaign; never throws for model behaviour (that is a finding). */
export async function runSmmuCampaign(o: SmmuCampaignOptions): Promise<SmmuCampaignStats> {
  const t0 = performance.now();
  const deadline = o.timeSec === undefined ? Infinity : t0 + o.timeSec * 1000;
  const ex = new SmmuExecutor(o.module, { stepBudgetMs: o.stepBudgetMs });
  const confirmer = new SmmuExecutor(o.module, { stepBudgetMs: o.stepBudgetMs, reuse: false }); // confirms findings on a new machine
  const rng = new Rng(o.seed ?? 1);
  const seen = new Set<number>();
  const corpus: SmmuInput[] = [];
  const stats: SmmuCampaignStats = { execs: 0, seedsRun: 0, seconds: 0, coreProbes: 0, outcomes: 0, corpus: 0, dmaJudged: 0, bugs: [], operators: {} };
  const sigs = new Set<string>();
  let lastLog = t0;
  const progress = (force = false): void => {
    const now = performance.now();
    stats.seconds = (now - t0) / 1000;
    stats.corpus = corpus.length;
    if (!force && now - lastLog < 3000) return;
    lastLog = now;
    stats.coreProbes = countProbes(seen);
    o.log?.(`[smmu ${stats.seconds.toFixed(0)}s] execs ${stats.execs} (${(stats.execs / stats.seconds).toFixed(1)}/s) core probes ${stats.coreProbes}, outcomes ${stats.outcomes}, DMAs judged ${stats.dmaJudged}, corpus ${corpus.length}, findings ${stats.bugs.length}`);
  };
  const consider = async (input: SmmuInput): Promise<void> => {
    const r = await ex.run(input);
    stats.execs++;
    stats.dmaJudged += r.dmaJudged;
    let fresh = false;
    for (const f of r.features) {
      if (seen.has(f)) continue;
      seen.add(f);
      fresh = true;
      if (f >= HOST_FEATURE_BASE) stats.outcomes++;
    }
    if (fresh) {
      corpus.push(input);
      if (o.out) save(join(o.out, 'corpus'), hashOf(input), input, 'SMMUv3 fuzz corpus entry');
    }
    if (r.finding) await report(input, r.finding);
  };
  const report = async (input: SmmuInput, f: SmmuFinding): Promise<void> => {
    const sig = signature(f);
    if (sigs.has(sig)) return;
    const again = (await confirmer.run(input)).finding;
    if (!again || signature(again) !== sig) return; // not reproducible on a new machine
    sigs.add(sig);
    const small = await minimize(input, f, async (c) => (await ex.run(c)).finding, 200);
    const bug = { signature: sig, ...small };
    stats.bugs.push(bug);
    o.log?.(`[smmu] finding ${bug.finding.kind} at step ${bug.finding.step}: ${bug.finding.message}`);
    if (o.out) save(join(o.out, 'findings'), `${bug.finding.kind}-${hashOf(bug.input)}`, bug.input, bug.finding.message, { finding: bug.finding });
  };
  const seeds = o.seeds ?? smmuSeeds();
  for (const s of seeds) {
    if (performance.now() > t0 + (deadline - t0) / 2) break;
    await consider(s);
    stats.seedsRun++;
    progress();
  }
  for (let runs = 0; (o.runs === undefined || runs < o.runs) && performance.now() < deadline; runs++) {
    const parent = corpus.length ? rng.pick(corpus) : seeds[0]!;
    const { input, ops } = mutateSmmu(parent, rng, corpus);
    for (const op of ops) stats.operators[op] = (stats.operators[op] ?? 0) + 1;
    await consider(input);
    progress();
  }
  progress(true);
  return stats;
}

/** Core probes hit (a feature id is probe x 8 + hit-count bucket). */
function countProbes(seen: ReadonlySet<number>): number {
  const probes = new Set<number>();
  for (const f of seen) if (f < HOST_FEATURE_BASE) probes.add(f >> 3);
  return probes.size;
}

function save(dir: string, name: string, input: SmmuInput, description: string, extra: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.scenario.json`), formatScenarioDoc(smmuInputToDoc(input, name, description, extra)));
}
