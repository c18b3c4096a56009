/**
 * The coverage-guided fuzzing loop of one worker: a corpus of inputs that
 * each reached a new coverage feature, a scheduler that favours small and
 * recent entries, the mutators, and finding handling (confirm on a fresh
 * machine, minimize within the time limit, de-duplicate by signature).
 * Single-threaded and deterministic for a given seed and number of
 * executions (when no step runs over its time budget).
 */
import { FeatureSet, HostCoverage } from './coverage.js';
import { Executor, type ExecResult, type Finding } from './execute.js';
import { FUZZ_RAM_MIB, inputHash, type FuzzInput } from './input.js';
import { minimize, signature } from './minimize.js';
import { mutate } from './mutate.js';
import { Rng } from './rng.js';

/** Engine options. */
export interface EngineOptions {
  readonly seed: number;
  /** Per-step time budget in ms (a slower step is a finding). */
  readonly stepBudgetMs?: number;
  /** Collect host (TypeScript) block coverage too. */
  readonly hostCoverage?: boolean;
  /** Re-runs the minimizer may spend per finding. */
  readonly minimizeRuns?: number;
  /** performance.now() past which the minimizer stops (the session's time limit). */
  readonly deadline?: number;
}

/** A confirmed, minimized finding. */
export interface FoundBug {
  readonly signature: string;
  readonly finding: Finding;
  readonly input: FuzzInput;
  /** The input as found, before minimization (its step count). */
  readonly originalSteps: number;
}

/** A corpus entry. */
interface Entry {
  readonly input: FuzzInput;
  readonly hash: string;
  /** Times it was picked as a parent. */
  picks: number;
}

/** Events an embedding (worker, CLI) listens to. */
export interface EngineEvents {
  /** An input that reached new coverage (for the corpus directory and other workers). */
  newInput?(input: FuzzInput, hash: string, fresh: number[]): void;
  /** A new confirmed finding. */
  finding?(bug: FoundBug): void;
  /** Called before each execution with the input (hang diagnosis). */
  beforeRun?(input: FuzzInput): void;
}

/** One worker's fuzzing state. */
export class Engine {
  readonly features = new FeatureSet();
  readonly corpus: Entry[] = [];
  readonly bugs = new Map<string, FoundBug>();
  execs = 0;
  private readonly rng: Rng;
  private readonly exec: Executor;
  /** Confirms findings on a fresh machine (a finding must not depend on machine reuse). */
  private readonly fresh: Executor;
  private readonly host: HostCoverage | undefined;
  private readonly hashes = new Set<string>();

  constructor(module: WebAssembly.Module, private readonly opts: EngineOptions, private readonly events: EngineEvents = {}) {
    this.rng = new Rng(opts.seed);
    this.host = opts.hostCoverage ? new HostCoverage() : undefined;
    this.exec = new Executor(module, { stepBudgetMs: opts.stepBudgetMs, hostCoverage: this.host });
    this.fresh = new Executor(module, { stepBudgetMs: opts.stepBudgetMs, fresh: true });
  }

  /** Runs an input from outside (seed, corpus file, another worker); keeps it if it adds coverage. */
  async consider(input: FuzzInput, keepAnyway = false): Promise<ExecResult> {
    const r = await this.execute(input);
    if (!r.finding) this.keep(input, r, keepAnyway);
    return r;
  }

  /** One mutation + execution. */
  async fuzzOne(): Promise<void> {
    const parent = this.pickParent();
    const corpusInputs = this.corpus.map((e) => e.input);
    const { input } = mutate(parent?.input ?? { machine: defaultMachine(), steps: [] }, this.rng, corpusInputs);
    const r = await this.execute(input);
    if (!r.finding) this.keep(input, r, false);
  }

  /** Runs `n` iterations. */
  async fuzz(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.fuzzOne();
  }

  /** Stops host coverage collection. */
  close(): void {
    this.host?.close();
  }

  private async execute(input: FuzzInput): Promise<ExecResult> {
    this.events.beforeRun?.(input);
    const r = await this.exec.run(input);
    this.execs++;
    if (r.finding) await this.report(input, r.finding);
    return r;
  }

  private keep(input: FuzzInput, r: ExecResult, keepAnyway: boolean): void {
    const fresh = r.features.filter((f) => !this.features.seen[f]);
    if (fresh.length === 0 && !keepAnyway) return;
    this.features.add(r.features);
    const hash = inputHash(input);
    if (this.hashes.has(hash)) return;
    this.hashes.add(hash);
    this.corpus.push({ input, hash, picks: 0 });
    this.events.newInput?.(input, hash, fresh);
  }

  /** Favours recent, rarely picked and short entries. */
  private pickParent(): Entry | undefined {
    if (this.corpus.length === 0) return undefined;
    const n = this.corpus.length;
    const i = this.rng.chance(0.5) ? n - 1 - this.rng.below(Math.min(n, 16)) : this.rng.below(n);
    const a = this.corpus[i]!;
    const b = this.corpus[this.rng.below(n)]!;
    const score = (e: Entry): number => e.picks * 4 + e.input.steps.length / 16;
    const e = score(a) <= score(b) ? a : b;
    e.picks++;
    return e;
  }

  /** Confirms a finding on a fresh machine, minimizes it, records it once per signature. */
  private async report(input: FuzzInput, finding: Finding): Promise<void> {
    const sig = signature(finding);
    if (this.bugs.has(sig)) return;
    // Every re-run is announced like an execution (beforeRun: the worker's heartbeat), so a watchdog judges one
    // execution, not a whole minimization (400 re-runs of a 25 ms input outlast a 10 s watchdog on a loaded machine).
    this.events.beforeRun?.(input);
    const again = (await this.fresh.run(input)).finding;
    if (!again || signature(again) !== sig) return; // not reproducible (e.g. a one-off slow step)
    const deadline = this.opts.deadline ?? Infinity;
    const check = async (cand: FuzzInput): Promise<Finding | undefined> => {
      if (performance.now() >= deadline) return undefined;
      this.events.beforeRun?.(cand);
      return (await this.exec.run(cand)).finding;
    };
    const min = await minimize(input, finding, check, this.opts.minimizeRuns ?? 400);
    const bug: FoundBug = { signature: sig, finding: min.finding, input: min.input, originalSteps: input.steps.length };
    this.bugs.set(sig, bug);
    this.events.finding?.(bug);
  }
}

/** The machine of an empty start (no seeds): QEMU 7.2 legacy with one DMA device. */
export function defaultMachine(): FuzzInput['machine'] {
  return {
    profile: 'qemu-7.2', ram_mib: FUZZ_RAM_MIB,
    iommu: { scalable_mode: false, caching_mode: false, aw_bits: 39 },
    devices: [{ bdf: '00:03.0', kind: 'dma-test' }],
  };
}
