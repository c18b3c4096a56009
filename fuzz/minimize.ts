/**
 * Finding signatures and test-case minimization. A finding's signature is
 * its kind plus its message with the numbers taken out, so "the same bug at
 * another address" is one finding. The minimizer removes chunks of steps
 * (halving the chunk size down to single steps, delta-debugging style) as
 * long as the input still gives a finding with the same signature.
 */
import type { Finding } from './execute.js';
import type { FuzzInput } from './input.js';

/** What the minimizer needs of a finding (the VT-d fuzzer's Finding, the SMMUv3 fuzzer's). */
type AnyFinding = Pick<Finding, 'step' | 'message'> & { readonly kind: string };

/** Kind and number-free message: what makes two findings the same bug. */
export function signature(f: AnyFinding): string {
  return `${f.kind}: ${f.message.replace(/0x[0-9a-f]+|\b\d+\b/gi, 'N')}`;
}

/** Re-runs an input and says what it finds. */
export type Check = (input: FuzzInput) => Promise<Finding | undefined>;

/**
 * The smallest input (by steps) this search finds that still reproduces
 * `finding`'s signature, within `maxRuns` re-runs. Returns it with the
 * finding it gives (step indices refer to the minimized input).
 */
export async function minimize<I extends Pick<FuzzInput, 'steps'> = FuzzInput, F extends AnyFinding = Finding>(
  input: I, finding: F, check: (input: I) => Promise<F | undefined>, maxRuns = 400,
): Promise<{ input: I; finding: F }> {
  const sig = signature(finding);
  let best = { input, finding };
  let runs = 0;
  const attempt = async (steps: I['steps']): Promise<boolean> => {
    if (runs >= maxRuns) return false;
    runs++;
    const cand = { ...best.input, steps };
    const f = await check(cand);
    if (!f || signature(f) !== sig) return false;
    best = { input: cand, finding: f };
    return true;
  };
  // Steps after the failing one cannot matter (the end-of-input check uses them all).
  if (finding.step + 1 < input.steps.length) await attempt(input.steps.slice(0, finding.step + 1));
  for (let chunk = best.input.steps.length >> 1; chunk >= 1; chunk >>= 1) {
    for (let i = best.input.steps.length - chunk; i >= 0; i -= chunk) {
      const steps = best.input.steps;
      const cand = [...steps.slice(0, i), ...steps.slice(i + chunk)];
      if (cand.length > 0) await attempt(cand);
      if (runs >= maxRuns) return best;
    }
  }
  return best;
}
