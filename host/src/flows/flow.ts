/**
 * What a seed flow is: a name, a one-line summary, and a run that narrates
 * its steps through `FlowIo.say` and returns the result of its own final
 * checks. `check` records a failed expectation instead of throwing, so a
 * flow narrates to the end and the runner reports every broken check.
 */
import { isHostIommuError } from '../hostiommu/errors.js';

/** Where a flow narrates. */
export interface FlowIo {
  /** One narration line. */
  say(line: string): void;
}

/** A flow's outcome: every check that failed (none = success). */
export interface FlowResult {
  readonly ok: boolean;
  readonly failures: readonly string[];
}

/** One seed flow. */
export interface Flow {
  readonly name: string;
  readonly summary: string;
  run(io: FlowIo): Promise<FlowResult>;
}

/** Collects a flow's checks. */
export class Checks {
  readonly failures: string[] = [];

  constructor(private readonly io: FlowIo) {}

  /** Records `what` as checked; a false `cond` is a failure (narrated with "FAILED"). */
  that(cond: boolean, what: string): boolean {
    if (!cond) {
      this.failures.push(what);
      this.io.say(`  FAILED: ${what}`);
    }
    return cond;
  }

  /** The flow's result. */
  result(): FlowResult {
    return { ok: this.failures.length === 0, failures: [...this.failures] };
  }
}

/** What a host API call does, for narration: 'ok' or the errno of the HostIommuError it throws (other errors propagate). */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (isHostIommuError(e)) return e.errno;
    throw e;
  }
}

/** "0x..." for narration. */
export const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
