// Statistics counters (STAT_* of abi/layout.ts), f64 each, in the state
// region at statsPtr() so the host reads them without a call per counter.

import { STAT_COUNT } from './abi/layout';
import { heapAlloc } from './mem/heap';

/** Base of the f64 counter array (set once, at instantiation). */
export let STATS: usize = 0;

/** Allocate the counters. Returns false when the state region cannot hold them. */
export function statsInit(): bool {
  STATS = heapAlloc(<u64>STAT_COUNT * 8, 64);
  return STATS != 0;
}

/** Add 1 to counter `k`. */
// @ts-ignore: decorator
@inline export function bump(k: u32): void {
  const p = STATS + (k << 3);
  store<f64>(p, load<f64>(p) + 1);
}

/** Zero every counter. */
export function statsClear(): void {
  memory.fill(STATS, 0, <usize>STAT_COUNT * 8);
}

/** Add `n` to counter `k`. */
// @ts-ignore: decorator
@inline export function bumpBy(k: u32, n: u32): void {
  const p = STATS + (k << 3);
  store<f64>(p, load<f64>(p) + <f64>n);
}
