/**
 * Interleaved measurement: every round runs each target once on the same
 * request list, rotating the order each round so no target always runs
 * first (or right after another's cache-trashing run). Reports per-target
 * median ns per request and the median of the per-round ratios to a
 * reference target, which cancels slow drifts (frequency, other load) that
 * would bias separately measured absolute times.
 */
import type { RunMode, RunResult, Target } from './target.js';
import { median } from './target.js';

/** One target's part in a measurement: which mode it runs in. */
export interface Contender {
  target: Target;
  mode: RunMode;
  /** Label in results (defaults to the target's name). */
  label?: string;
}

/** Per-target summary of an interleaved measurement. */
export interface ContenderSummary {
  label: string;
  mode: RunMode;
  /** Median over rounds of ns per request. */
  nsPerOp: number;
  /** All rounds' ns per request (for spread). */
  roundsNsPerOp: number[];
  /** Counters of the last round. */
  last: RunResult;
}

/** Result of one interleaved measurement. */
export interface Interleaved {
  summaries: ContenderSummary[];
  /** label -> median over rounds of (label ns/op) / (reference ns/op). */
  ratios: Record<string, number>;
}

/**
 * Measures `contenders` on request list `slot` (already loaded in each):
 * one untimed warm-up run each, then `rounds` rounds of `passes` passes.
 * `reference` names the label ratios divide by (absent: no ratios).
 */
export async function measureInterleaved(contenders: Contender[], slot: number, rounds: number, passes: number, reference?: string): Promise<Interleaved> {
  if (rounds < 1 || passes < 1) throw new Error(`rounds and passes must be >= 1, got ${rounds}, ${passes}`);
  const labels = contenders.map((c) => c.label ?? c.target.name);
  const perRound: number[][] = contenders.map(() => []);
  const last: RunResult[] = [];
  for (const c of contenders) await c.target.run(slot, c.mode, 1);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < contenders.length; k++) {
      const i = (k + r) % contenders.length;
      const c = contenders[i]!;
      await schedulerPause();
      const res = await c.target.run(slot, c.mode, passes);
      perRound[i]!.push(res.ns / res.n);
      last[i] = res;
    }
  }
  const summaries = contenders.map((c, i) => ({ label: labels[i]!, mode: c.mode, nsPerOp: median(perRound[i]!), roundsNsPerOp: perRound[i]!, last: last[i]! }));
  const ratios: Record<string, number> = {};
  const refIndex = reference === undefined ? -1 : labels.indexOf(reference);
  if (refIndex >= 0) {
    for (let i = 0; i < labels.length; i++) {
      if (i === refIndex) continue;
      ratios[labels[i]!] = median(perRound[i]!.map((v, r) => v / perRound[refIndex]![r]!));
    }
  }
  return { summaries, ratios };
}

/**
 * Sleeps about a millisecond before a timed run. The native baselines are
 * child processes that sleep between commands, and a busy machine's
 * scheduler favours a task that just woke over one that kept running (this
 * process, which times the core and the JS baseline itself): without the
 * pause the in-process targets' runs were the ones preempted, and every
 * ratio to the C drifted up with the load average. (No effect on an idle
 * machine.)
 */
export function schedulerPause(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}
