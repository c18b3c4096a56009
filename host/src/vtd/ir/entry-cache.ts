/**
 * The interrupt-entry cache (IEC; invalidated per §6.5.2.7): present IRTEs the
 * remapper fetched, by interrupt index. Software that changes an IRTE must
 * invalidate it (queued descriptor type 4, global or index-selective with
 * an index mask) or the cached copy keeps being used; SIRTP on a unit with
 * CAP.ESIRTPS invalidates it globally. Not-present entries are never cached.
 *
 * Bounded: at most `capacity` entries, the oldest dropped first, so a guest
 * cycling through 65536 indices costs no more memory than a small cache.
 */

import type { IrteDwords } from '../spec/interrupt-remapping.js';

/** A cached IRTE: its four dwords. */
export type CachedIrte = IrteDwords;

/** Interrupt-entry cache statistics. */
export interface EntryCacheStats {
  /** Interrupts served from the cache. */
  readonly hits: number;
  /** Interrupts that read the table. */
  readonly misses: number;
  /** Entries dropped by invalidations (global, index-selective, SIRTP). */
  readonly invalidated: number;
}

/** Default number of entries. */
export const IEC_CAPACITY = 256;

/** The cache of one remapping unit. */
export class InterruptEntryCache {
  private readonly entries = new Map<number, CachedIrte>();
  private hits = 0;
  private misses = 0;
  private invalidated = 0;

  /** A cache of `capacity` entries (1..65536). */
  constructor(readonly capacity = IEC_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 65536) throw new Error(`capacity: ${capacity} is not an integer in 1..65536`);
  }

  /** The cached IRTE of `index` (counts a hit or a miss). */
  lookup(index: number): CachedIrte | undefined {
    const e = this.entries.get(index);
    if (e) this.hits++;
    else this.misses++;
    return e;
  }

  /** Caches a present IRTE. */
  fill(index: number, words: CachedIrte): void {
    if (!this.entries.has(index) && this.entries.size >= this.capacity) {
      this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(index, words);
  }

  /** Global invalidation (descriptor G=0, SIRTP with ESIRTPS, reset). */
  invalidateAll(): void {
    this.invalidated += this.entries.size;
    this.entries.clear();
  }

  /**
   * Index-selective invalidation: the 2^`im` entries whose index equals
   * `index` in every bit above the low `im` (§6.5.2.7 IIDX, IM).
   */
  invalidateIndex(index: number, im: number): void {
    const first = index & ~((1 << im) - 1) & 0xffff;
    const count = 1 << im;
    if (count > this.entries.size) {
      for (const k of [...this.entries.keys()]) if (k >= first && k < first + count) this.drop(k);
      return;
    }
    for (let i = first; i < first + count; i++) this.drop(i);
  }

  /** Number of cached entries. */
  get size(): number {
    return this.entries.size;
  }

  /** Hit, miss and invalidation counters. */
  stats(): EntryCacheStats {
    return { hits: this.hits, misses: this.misses, invalidated: this.invalidated };
  }

  private drop(index: number): void {
    if (this.entries.delete(index)) this.invalidated++;
  }
}
