/**
 * Edits of a step list that both fuzzers' mutators share (fuzz/mutate.ts
 * for VT-d, fuzz/smmu/mutate.ts for the SMMUv3): insert at a random place,
 * delete a run, duplicate a run, move one step, splice a run from another
 * corpus entry. Each returns whether it changed anything.
 */
import type { Step } from '../host/src/scenario/parse.js';
import type { Rng } from './rng.js';

/** What the edits work on: a mutable step list. */
export interface StepDraft {
  steps: Step[];
}

/** A random insertion point. */
export const insertAt = (d: StepDraft, r: Rng): number => r.below(d.steps.length + 1);

/** Inserts the defined ones of `steps` at a random place. */
export function insertSteps(d: StepDraft, r: Rng, steps: readonly (Step | undefined)[]): boolean {
  const ok = steps.filter((s): s is Step => s !== undefined);
  if (ok.length === 0) return false;
  d.steps.splice(insertAt(d, r), 0, ...ok);
  return true;
}

/** Deletes a run of 1..`maxRun` steps. */
export function deleteRun(d: StepDraft, r: Rng, maxRun: number): boolean {
  if (d.steps.length === 0) return false;
  d.steps.splice(r.below(d.steps.length), 1 + r.below(Math.min(maxRun, d.steps.length)));
  return true;
}

/** Copies a run of 1..4 steps to a random place. */
export function duplicateRun(d: StepDraft, r: Rng): boolean {
  if (d.steps.length === 0) return false;
  const i = r.below(d.steps.length);
  d.steps.splice(insertAt(d, r), 0, ...d.steps.slice(i, i + 1 + r.below(4)));
  return true;
}

/** Moves one step to a random place. */
export function moveStep(d: StepDraft, r: Rng): boolean {
  if (d.steps.length < 2) return false;
  const [s] = d.steps.splice(r.below(d.steps.length), 1);
  d.steps.splice(insertAt(d, r), 0, s!);
  return true;
}

/** Inserts a run of 1..16 steps of another input (those `valid` keeps). */
export function spliceRun(d: StepDraft, r: Rng, corpus: readonly { readonly steps: readonly Step[] }[], valid: (s: Step) => boolean): boolean {
  const other = corpus.length > 0 ? r.pick(corpus) : undefined;
  if (!other || other.steps.length === 0) return false;
  const i = r.below(other.steps.length);
  return insertSteps(d, r, other.steps.slice(i, i + 1 + r.below(16)).filter(valid));
}
