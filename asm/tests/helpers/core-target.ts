/**
 * The WASM core as a test target (see targets.ts). Loads host/src/core when
 * it exists and build/viommu.wasm has been built; otherwise returns
 * undefined so the tests run on the reference model alone.
 */
import type { RefCaps, RefRoot } from '../reference/config.js';
import type { RefRequest } from '../reference/translate.js';
import type { Observed, Target } from './targets.js';

/** Placeholder until host/src/core lands. */
export async function loadCoreTarget(): Promise<Target | undefined> {
  return undefined;
}

export type { RefCaps, RefRoot, RefRequest, Observed };
