/**
 * Runs one SMMUv3 fuzz input (fuzz/smmu/input.ts) on an Arm machine
 * (host/src/arm-machine.ts) over the fuzzer's coverage build of the core, a
 * pooled one reset to its start state (machine-pool.ts) or a new one,
 * with the oracles around every step: exception (anything thrown: guest
 * input must never throw), hang (a step over its budget), the register,
 * GERROR, queue and CMD_SYNC invariants (oracles.ts), DMA safety and event
 * records (dma-oracle.ts). Steps run through the replay runner
 * (host/src/scenario/replay.ts `replayOn`), as `viommu replay` runs them.
 */
import type { ArmMachine } from '../../host/src/arm-machine.js';
import type { CoreExports } from '../../host/src/core/core.js';
import { loadCoreFromSync } from '../../host/src/core/load.js';
import { ScenarioApics } from '../../host/src/scenario/apics.js';
import { replayOn } from '../../host/src/scenario/replay.js';
import { coreFeatures, HOST_FEATURE_BASE } from '../coverage.js';
import { SmmuDmaOracle } from './dma-oracle.js';
import { PooledArm, SmmuMachinePool } from './machine-pool.js';
import type { SmmuInput } from './input.js';
import { consumedCommands, distance, entryAt, evtq, inRam, readRegs, registerViolation, SmmuRegs, syncViolation, wrapPtr } from './oracles.js';

/** What an SMMU finding is about. */
export type SmmuFindingKind = 'exception' | 'hang' | 'register' | 'gerror' | 'cmdq' | 'evtq' | 'dma-unmapped' | 'event';

/** An oracle violation: which step, and what. */
export interface SmmuFinding {
  readonly kind: SmmuFindingKind;
  readonly step: number;
  readonly message: string;
}

/** The outcome of one execution. */
export interface SmmuExecResult {
  readonly finding?: SmmuFinding;
  /** Core probes (x hit-count bucket) plus SMMU outcomes (event types, GERROR bits, CMDQ errors, commands). */
  readonly features: number[];
  /** DMA steps the DMA-safety oracle judged (completed while the caches were clean, every piece known to the reference). */
  readonly dmaJudged: number;
  readonly ms: number;
}

type CovExports = CoreExports & { covPtr?: () => number; covSize?: () => number; covCount?: () => number };

/** Feature ids of SMMU outcomes (above the core probes'): kind x 256 + value. */
const OUTCOME_BASE = HOST_FEATURE_BASE;
const OUTCOME = { event: 0, gerror: 1, cerror: 2, command: 3 } as const;

const messageOf = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** The finding kind of an invariant message (its prefix). */
function kindOf(msg: string): SmmuFindingKind {
  const k = msg.slice(0, msg.indexOf(':'));
  return (['register', 'gerror', 'cmdq', 'evtq', 'dma-unmapped', 'event'] as const).find((x) => x === k) ?? 'register';
}

/** Options of an executor. */
export interface SmmuExecutorOptions {
  /** Per-step budget (ms, default 250). */
  readonly stepBudgetMs?: number;
  /** Reuse machines from a pool, reset between inputs (default true); false builds a new machine per execution. */
  readonly reuse?: boolean;
}

/** Runs SMMU inputs, each on a pooled machine reset to its start state, or on a new one. */
export class SmmuExecutor {
  /** The machines reused across executions (undefined when `reuse` is false). */
  readonly pool?: SmmuMachinePool;

  constructor(private readonly module: WebAssembly.Module, private readonly opts: SmmuExecutorOptions = {}) {
    if (opts.reuse !== false) this.pool = new SmmuMachinePool(() => loadCoreFromSync(module));
  }

  /** A machine for `input` in its start state: the pool's, reset, or a new one (its own core instance: coverage starts empty). */
  async machine(input: SmmuInput): Promise<PooledArm> {
    if (this.pool) return this.pool.get(input.machine);
    return PooledArm.create(input.machine, loadCoreFromSync(this.module));
  }

  /** Runs `input`; never throws (a throw from the model is a finding). */
  async run(input: SmmuInput): Promise<SmmuExecResult> {
    const t0 = performance.now();
    let pm: PooledArm;
    try {
      pm = await this.machine(input);
    } catch (err) {
      return { finding: { kind: 'exception', step: 0, message: `building the machine: ${messageOf(err)}` }, features: [], dmaJudged: 0, ms: performance.now() - t0 };
    }
    const m = pm.machine;
    const outcomes = new Set<number>();
    const dma = new SmmuDmaOracle(m);
    pm.onRamWrite = (gpa, len) => dma.written(gpa, len);
    let finding: SmmuFinding | undefined;
    try {
      finding = this.steps(m, input, outcomes, dma);
    } finally {
      pm.onRamWrite = undefined;
    }
    const features: number[] = [];
    const ex = m.core.unsafeExports as CovExports;
    if (ex.covPtr && ex.covCount) coreFeatures(new Uint8Array(m.core.memory.buffer, ex.covPtr(), ex.covCount()), features);
    for (const o of outcomes) features.push(OUTCOME_BASE + o);
    return { finding, features, dmaJudged: dma.judged, ms: performance.now() - t0 };
  }

  private steps(m: ArmMachine, input: SmmuInput, outcomes: Set<number>, dma: SmmuDmaOracle): SmmuFinding | undefined {
    const run = replayOn(m, { name: 'fuzz', description: '', iommu: 'smmuv3', machine: {}, cpus: 1, steps: input.steps }, new ScenarioApics(1));
    const budget = this.opts.stepBudgetMs ?? 250;
    // The registers before and after each step: two objects swapped, refilled in place.
    let before = readRegs(m, new SmmuRegs());
    let after = new SmmuRegs();
    const consumed: number[] = [];
    const steps = input.steps;
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i]!;
      const pieces = s.op === 'dma.read' || s.op === 'dma.write' ? dma.before(s, before) : undefined;
      const t = performance.now();
      let read: bigint | undefined;
      try {
        const obs = run.next()?.observation as { value?: string } | undefined;
        if (obs?.value !== undefined && s.op === 'mmio.read' && s.size === 4) read = BigInt(obs.value); // the register oracle's 4-byte reads
      } catch (err) {
        return { kind: 'exception', step: i, message: messageOf(err) };
      }
      const dt = performance.now() - t;
      if (dt > budget) return { kind: 'hang', step: i, message: `${s.op} took ${dt.toFixed(0)} ms (budget ${budget} ms)` };
      readRegs(m, after);
      consumedCommands(m, s, before, after, consumed);
      const msg = registerViolation(s, before, after, read) ?? syncViolation(m, after, consumed)
        ?? (pieces && (s.op === 'dma.read' || s.op === 'dma.write') ? dma.check(s, pieces, before, after) : undefined);
      if (msg) return { kind: kindOf(msg), step: i, message: msg };
      dma.stepped(s, consumed);
      noteOutcomes(m, before, after, consumed, outcomes);
      const was = before;
      before = after;
      after = was;
    }
    return undefined;
  }
}

/** What the step made the SMMU do, as features: events recorded, GERROR bits raised, the CMDQ error code, commands run (`consumed`: four dwords each). */
function noteOutcomes(m: ArmMachine, before: SmmuRegs, after: SmmuRegs, consumed: readonly number[], out: Set<number>): void {
  if (after.evtqProd !== before.evtqProd) {
    const q = evtq(after);
    const n = Math.min(distance(q, before.evtqProd, after.evtqProd), 8);
    for (let i = 0, p = before.evtqProd; i < n; i++, p = (wrapPtr(q, p) + 1) & ((2 << q.log2) - 1)) {
      const at = entryAt(q, p);
      if (inRam(m.ram, at, 8)) out.add(OUTCOME.event * 256 + (m.ram.getUint32(at) & 0xff));
    }
  }
  const raised = before.gerror ^ after.gerror;
  if (raised !== 0) for (let b = 0; b < 16; b++) if ((raised >> b) & 1) out.add(OUTCOME.gerror * 256 + b);
  out.add(OUTCOME.cerror * 256 + ((after.cmdqCons >>> 24) & 0x7f));
  for (let c = 0; c < consumed.length; c += 4) out.add(OUTCOME.command * 256 + (consumed[c]! & 0xff));
}
