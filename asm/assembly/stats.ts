// Statistics counters (STAT_* of abi/layout.ts), f64 each, in linear memory
// at statsPtr() so the host reads them without a call per counter.

import { STAT_COUNT } from './abi/layout';

/** Base of the f64 counter array. */
export const STATS = memory.data(<i32>STAT_COUNT * 8);

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
