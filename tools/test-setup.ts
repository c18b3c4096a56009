/**
 * Vitest global set-up: builds what the suites need but `npm install` does
 * not, once, before any test file runs (the test files run in parallel and
 * must not race to build it): the fuzzer's coverage build of the core.
 */
import { ensureCoverageBuild } from '../fuzz/coverage-build.js';

/** Runs before the first test file. */
export default function setup(): void {
  const r = ensureCoverageBuild((line) => process.stderr.write(`test set-up: ${line}\n`));
  if (r.note) process.stderr.write(`test set-up: ${r.note}\n`);
}
