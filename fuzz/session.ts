/**
 * One fuzzing session in the current thread: an Engine fed with the seeds
 * and the resumed corpus, run for a time or a number of executions. Used by
 * each worker thread (fuzz/worker.ts) and, with `workers: 0`, directly by
 * the CLI and the tests.
 */
import { loadCoreFromSync } from '../host/src/core/load.js';
import { coreProbesHit } from './coverage.js';
import { Engine, type EngineEvents, type FoundBug } from './engine.js';
import { loadFuzzModule } from './execute.js';
import { scenarioText, shrinkRam, type FuzzInput } from './input.js';
import { loadInputs, withVmmVariants } from './seeds.js';

/** What a session needs. */
export interface SessionOptions {
  readonly seed: number;
  /** Seed directories (golden scenarios, a corpus to resume). */
  readonly seedDirs: readonly string[];
  /** Stop after this many ms from the session's creation (seeds included: they get at most half)... */
  readonly timeMs?: number;
  /** ...or after this many mutants (deterministic; a mutant equal to its parent is not run, EngineOptions.rerunUnchanged). */
  readonly runs?: number;
  readonly stepBudgetMs?: number;
  readonly hostCoverage?: boolean;
  readonly minimizeRuns?: number;
  /** The mutants' step limit at the start (length control, EngineOptions.maxLen). */
  readonly maxLen?: number;
  /** Run only every `count`-th seed from `index` (K workers share the seeds; corpus entries are exchanged). */
  readonly shard?: { readonly index: number; readonly count: number };
}

/** Progress a session reports. */
export interface SessionStats {
  readonly execs: number;
  readonly corpus: number;
  readonly coreProbes: number;
  readonly coreProbeTotal: number;
  readonly hostFeatures: number;
  readonly findings: number;
  /** Seeds run so far, of `seedsTotal` (this session's share). */
  readonly seedsRun: number;
  readonly seedsTotal: number;
}

/** A finding as a scenario file: name and contents. */
export function findingFile(bug: FoundBug): { name: string; text: string } {
  const name = `${bug.finding.kind}-${hashOf(bug.signature)}`;
  const text = scenarioText(bug.input, name, `fuzz finding (${bug.finding.kind}) at step ${bug.finding.step}: ${bug.finding.message}`, {
    finding: { ...bug.finding, signature: bug.signature },
  });
  return { name: `${name}.scenario.json`, text };
}

function hashOf(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** A running session. */
export class Session {
  readonly engine: Engine;
  readonly coreProbeTotal: number;
  private stopRequested = false;
  /** The time limit counts from here (seeds included). */
  private readonly t0 = performance.now();
  private readonly imports: FuzzInput[] = [];
  private seedsRun = 0;
  private seedsTotal = 0;

  constructor(private readonly opts: SessionOptions, events: EngineEvents = {}) {
    const { module } = loadFuzzModule();
    this.engine = new Engine(module, {
      seed: opts.seed, stepBudgetMs: opts.stepBudgetMs, hostCoverage: opts.hostCoverage, minimizeRuns: opts.minimizeRuns, maxLen: opts.maxLen,
      deadline: this.t0 + (opts.timeMs ?? Infinity),
    }, events);
    this.coreProbeTotal = probeCount(module);
  }

  /**
   * Runs this session's share of the seeds (each kept if it adds coverage;
   * the first always). With a time limit the seeds get at most half of it,
   * so a short run still fuzzes; the seeds left over are not run (their
   * count is in the stats). `tick` is called about every `everyMs`.
   */
  async loadSeeds(skip?: (file: string, why: string) => void, tick?: (s: SessionStats) => void, everyMs = 1000): Promise<number> {
    const shard = this.opts.shard ?? { index: 0, count: 1 };
    const seeds = withVmmVariants(loadInputs(this.opts.seedDirs, skip).map((s) => shrinkRam(s))).filter((_s, i) => i % shard.count === shard.index);
    this.seedsTotal = seeds.length;
    const deadline = this.t0 + (this.opts.timeMs ?? Infinity) / 2;
    let last = performance.now();
    for (let i = 0; i < seeds.length && !this.stopRequested && performance.now() < deadline; i++) {
      await this.engine.consider(seeds[i]!, i === 0);
      this.seedsRun++;
      if (performance.now() - last >= everyMs) {
        last = performance.now();
        tick?.(this.stats());
        await new Promise((r) => setImmediate(r)); // let messages in (worker stop)
      }
    }
    return this.seedsRun;
  }

  /** Queues an input found elsewhere (another worker); `run` considers it next. */
  enqueue(input: FuzzInput): void {
    this.imports.push(input);
  }

  /** Asks `run` to stop after the current execution. */
  stop(): void {
    this.stopRequested = true;
  }

  /** Fuzzes until the time or run limit; `tick` is called about every `everyMs`. */
  async run(tick?: (s: SessionStats) => void, everyMs = 1000): Promise<SessionStats> {
    const t0 = this.t0;
    let last = performance.now();
    let runs = 0;
    const limitRuns = this.opts.runs ?? Infinity;
    const limitMs = this.opts.timeMs ?? Infinity;
    while (!this.stopRequested && runs < limitRuns && performance.now() - t0 < limitMs) {
      const imported = this.imports.shift();
      if (imported) await this.engine.consider(imported);
      else {
        await this.engine.fuzzOne();
        runs++;
      }
      if (performance.now() - last >= everyMs) {
        last = performance.now();
        tick?.(this.stats());
        await new Promise((r) => setImmediate(r)); // let messages in (worker stop, imports)
      }
    }
    return this.stats();
  }

  /** Current figures. */
  stats(): SessionStats {
    const e = this.engine;
    return {
      execs: e.execs, corpus: e.corpus.length, coreProbes: coreProbesHit(e.features.seen),
      coreProbeTotal: this.coreProbeTotal, hostFeatures: e.features.counts().host, findings: e.bugs.size,
      seedsRun: this.seedsRun, seedsTotal: this.seedsTotal,
    };
  }
}

/** Probes the coverage build placed (0 for the release build). */
function probeCount(module: WebAssembly.Module): number {
  const x = loadCoreFromSync(module).unsafeExports as { covCount?: () => number };
  return x.covCount ? x.covCount() : 0;
}
