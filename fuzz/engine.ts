/**
 * The coverage-guided fuzzing loop of one worker: a corpus of inputs that
 * each reached a new coverage feature, a scheduler that favours small and
 * recent entries, the mutators, and finding handling (confirm on a fresh
 * machine, minimize within the time limit, de-duplicate by signature).
 * Single-threaded and deterministic for a given seed and number of
 * executions (when no step runs over its time budget).
 */
import { FEATURE_SPACE, FeatureSet, HostCoverage } from './coverage.js';
import { Executor, type ExecResult, type Finding } from './execute.js';
import { FUZZ_RAM_MIB, inputHash, MAX_STEPS, sameInput, type FuzzInput } from './input.js';
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
  /**
   * Length control (libFuzzer's -len_control): mutants are cut to `maxLen`
   * steps at first (the seeds and imported inputs run whole), a limit that
   * grows by log2 of itself after LEN_CONTROL x log2(limit) executions
   * without new coverage, up to MAX_STEPS. Default MAX_STEPS: libFuzzer
   * starts at its longest corpus input, and a golden seed has up to 192
   * steps; measured, a lower start costs coverage per CPU-second on the
   * golden seeds (fuzz/README.md "Cost and figures").
   */
  readonly maxLen?: number;
  /**
   * Run a mutant even when it is its parent unchanged (every operator
   * failed, or changed nothing: a VM input's ATS or snapshot steps, which
   * VMs drop). Off by default: an execution is deterministic, so such a
   * re-run reaches only features the parent already added; a test runs both
   * ways and compares the corpus.
   */
  readonly rerunUnchanged?: boolean;
}

/** Executions without new coverage, per log2 of the limit, after which the length limit grows (libFuzzer's -len_control default). */
export const LEN_CONTROL = 100;

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
  /** Replaced by a shorter mutant that reaches all of `unique` (`reduce`). */
  input: FuzzInput;
  hash: string;
  /** Times it was picked as a parent. */
  picks: number;
  /** The features it was kept for (new when it ran). */
  readonly unique: readonly number[];
}

/** Events an embedding (worker, CLI) listens to. */
export interface EngineEvents {
  /**
   * An input that reached new coverage (for the corpus directory and other
   * workers), or, with `replaced`, a shorter input that took the place of
   * the corpus entry of that hash (same unique features, no fresh one).
   */
  newInput?(input: FuzzInput, hash: string, fresh: number[], replaced?: string): void;
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
  /** Corpus entries replaced by a shorter input with the same unique features. */
  reductions = 0;
  /** New corpus entries kept as a shorter prefix (`trim`). */
  trims = 0;
  /** Mutants not run because they were their parent unchanged (`rerunUnchanged`). */
  unchanged = 0;
  /** The mutants' current step limit (length control). */
  maxLen: number;
  /** `execs` when coverage last grew (or the limit last grew). */
  private lastGrowth = 0;
  /** The corpus inputs (the splice operator's pool), kept alongside `corpus`. */
  private readonly inputs: FuzzInput[] = [];
  /** Scratch bitmap: the features of the last execution (reduce check). */
  private readonly mark = new Uint8Array(FEATURE_SPACE);
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
    this.maxLen = Math.max(1, Math.min(MAX_STEPS, opts.maxLen ?? MAX_STEPS));
  }

  /** Runs an input from outside (seed, corpus file, another worker); keeps it if it adds coverage. */
  async consider(input: FuzzInput, keepAnyway = false): Promise<ExecResult> {
    const r = await this.execute(input);
    if (!r.finding) await this.keep(input, r, keepAnyway);
    return r;
  }

  /** One mutation + execution. */
  async fuzzOne(): Promise<void> {
    this.controlLength();
    const parent = this.pickParent();
    const { input } = mutate(parent?.input ?? { machine: defaultMachine(), steps: [] }, this.rng, this.inputs, this.maxLen);
    if (parent && !this.opts.rerunUnchanged && sameInput(input, parent.input)) {
      this.unchanged++;
      return;
    }
    const r = await this.execute(input);
    if (r.finding) return;
    if (!(await this.keep(input, r, false)) && parent) this.reduce(parent, input, r.features);
  }

  /**
   * The prefix of `input` up to the last step that first reached one of
   * `fresh` (the executor's per-step record of the run that just ended),
   * run once: it replaces the input when it reaches every feature of
   * `fresh`, those of the end-of-input check included. A mutant that found
   * something by an inserted step no longer carries its parent's tail, so
   * the corpus, and the mutants of it, stay short.
   */
  private async trim(input: FuzzInput, fresh: readonly number[]): Promise<{ input: FuzzInput; r: ExecResult } | undefined> {
    if (fresh.length === 0 || input.vmm) return undefined;
    let last = -1; // features no step reached first (the end-of-input check's) bind no step: the re-run checks them
    for (const f of fresh) last = Math.max(last, this.exec.stepCoverage.stepOf(f) ?? -1);
    if (last < 0 || last + 1 >= input.steps.length) return undefined;
    const cand = { ...input, steps: input.steps.slice(0, last + 1) };
    const r = await this.execute(cand);
    if (r.finding) return undefined;
    for (const f of r.features) this.mark[f] = 1;
    const all = fresh.every((f) => this.mark[f] === 1);
    for (const f of r.features) this.mark[f] = 0;
    if (!all) return undefined;
    this.trims++;
    return { input: cand, r };
  }

  /**
   * Length control's clock: executions, and the mutants not run because
   * they were their parent unchanged (each would have run and found
   * nothing), so skipping them changes no later mutant (`rerunUnchanged`).
   */
  private get lengthClock(): number {
    return this.execs + this.unchanged;
  }

  /** libFuzzer's length control: after LEN_CONTROL x log2(limit) executions without new coverage, the limit grows by log2 of itself. */
  private controlLength(): void {
    if (this.maxLen >= MAX_STEPS) return;
    const lg = Math.max(1, Math.log2(this.maxLen));
    if (this.lengthClock - this.lastGrowth <= LEN_CONTROL * lg) return;
    this.maxLen = Math.min(MAX_STEPS, this.maxLen + Math.ceil(lg));
    this.lastGrowth = this.lengthClock;
  }

  /**
   * libFuzzer's -reduce_inputs: a mutant shorter than its parent that
   * reached every feature the parent was kept for replaces it (the corpus
   * gets shorter, so mutants of it run faster, with the same coverage).
   */
  private reduce(parent: Entry, input: FuzzInput, features: readonly number[]): void {
    if (input.steps.length >= parent.input.steps.length || parent.unique.length === 0) return;
    if ((input.vmm === undefined) !== (parent.input.vmm === undefined)) return;
    for (const f of features) this.mark[f] = 1;
    const all = parent.unique.every((f) => this.mark[f] === 1);
    for (const f of features) this.mark[f] = 0;
    if (!all) return;
    const hash = inputHash(input);
    if (this.hashes.has(hash)) return;
    const replaced = parent.hash;
    this.hashes.delete(replaced);
    this.hashes.add(hash);
    parent.input = input;
    parent.hash = hash;
    this.inputs[this.corpus.indexOf(parent)] = input;
    this.reductions++;
    this.events.newInput?.(input, hash, [], replaced);
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

  /**
   * Adds `input` to the corpus when it reached a new feature (or
   * `keepAnyway`), trimmed to the steps its new features needed; true when
   * coverage grew.
   */
  private async keep(input: FuzzInput, r: ExecResult, keepAnyway: boolean): Promise<boolean> {
    let fresh = r.features.filter((f) => !this.features.seen[f]);
    if (fresh.length === 0 && !keepAnyway) return false;
    const trimmed = await this.trim(input, fresh);
    if (trimmed) {
      ({ input, r } = trimmed);
      fresh = r.features.filter((f) => !this.features.seen[f]);
    }
    this.features.add(r.features);
    if (fresh.length > 0) this.lastGrowth = this.lengthClock;
    const hash = inputHash(input);
    if (this.hashes.has(hash)) return fresh.length > 0;
    this.hashes.add(hash);
    this.corpus.push({ input, hash, picks: 0, unique: fresh });
    this.inputs.push(input);
    this.events.newInput?.(input, hash, fresh);
    return fresh.length > 0;
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
