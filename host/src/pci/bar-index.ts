/**
 * Memory decode of the PCI hierarchy as a sorted index: which function and
 * BAR claims a physical address, found by binary search instead of asking
 * every function in turn (a lookup is O(log n) in the number of BARs).
 *
 * The index is what `decodeIn` (bus.ts) would answer, flattened: functions
 * are visited in the same order (bus 0 in attach order, a bridge's secondary
 * bus in place of the bridge, only where the bridge's memory window is
 * open, PCI-to-PCI Bridge spec §3.2.5.8), each BAR that decodes (memory
 * enabled, base != 0) contributes the part of its range that its bridges'
 * windows let through, and where ranges overlap (a guest may program
 * overlapping BARs) the function visited first keeps the address, as in the
 * linear walk. Ranges are kept as disjoint intervals sorted by start.
 *
 * The bus rebuilds the index lazily after any change that can move a
 * decode: a write to a command register, a BAR, a bridge window
 * (ConfigSpace.onDecodeChange), an attach, a reset or a restore.
 */
import { MinHeap } from '../min-heap.js';
import type { PciFunction } from './bus.js';
import type { Gpa } from '../types.js';

/** One decoding BAR range before overlaps are resolved: [start, end) of BAR `bar` of `fn` at `base`. */
export interface BarRange {
  readonly start: number;
  readonly end: number;
  readonly fn: PciFunction;
  readonly bar: number;
  /** The BAR's base address (offsets are relative to it). */
  readonly base: number;
}

/** Disjoint decode intervals sorted by start. */
export class BarIndex {
  private starts = new Float64Array(0);
  private ends = new Float64Array(0);
  private bases = new Float64Array(0);
  private bars = new Int32Array(0);
  private fns: PciFunction[] = [];

  /** Number of intervals. */
  get size(): number {
    return this.fns.length;
  }

  /**
   * Rebuilds from `ranges` in visiting order (earlier ranges win where they
   * overlap). Addresses are numbers: BARs are placed below 2^53 (a range
   * ending above it is dropped by the caller and decoded the slow way).
   */
  rebuild(ranges: readonly BarRange[]): void {
    const cut = disjoint(ranges);
    const n = cut.length;
    this.starts = new Float64Array(n);
    this.ends = new Float64Array(n);
    this.bases = new Float64Array(n);
    this.bars = new Int32Array(n);
    this.fns = new Array<PciFunction>(n);
    cut.forEach((r, i) => {
      this.starts[i] = r.start;
      this.ends[i] = r.end;
      this.bases[i] = r.base;
      this.bars[i] = r.bar;
      this.fns[i] = r.fn;
    });
  }

  /** Index of the interval holding `addr`, or -1 when no BAR decodes it. */
  find(addr: Gpa<number>): number {
    let lo = 0;
    let hi = this.fns.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (addr < this.starts[mid]!) hi = mid - 1;
      else if (addr >= this.ends[mid]!) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** The function of interval `i`. */
  fn(i: number): PciFunction {
    return this.fns[i]!;
  }

  /** The BAR (index into the function's `config.bars`) of interval `i`. */
  bar(i: number): number {
    return this.bars[i]!;
  }

  /** Offset of `addr` into the BAR of interval `i`. */
  offset(i: number, addr: Gpa<number>): number {
    return addr - this.bases[i]!;
  }
}

/**
 * The ranges cut into disjoint pieces, each address owned by the earliest
 * range covering it; sorted by start. A sweep over the range boundaries with
 * the covering ranges in a min-heap of their visiting order: O(n log n),
 * whatever the guest programmed.
 */
function disjoint(ranges: readonly BarRange[]): BarRange[] {
  const order = ranges.map((_, i) => i).filter((i) => ranges[i]!.end > ranges[i]!.start);
  order.sort((a, b) => ranges[a]!.start - ranges[b]!.start || a - b);
  const points = [...new Set(order.flatMap((i) => [ranges[i]!.start, ranges[i]!.end]))].sort((a, b) => a - b);
  const heap = new MinHeap();
  const out: BarRange[] = [];
  let next = 0;
  for (let k = 0; k + 1 < points.length; k++) {
    const x = points[k]!;
    while (next < order.length && ranges[order[next]!]!.start <= x) heap.push(order[next++]!);
    while (heap.size > 0 && ranges[heap.peek()!]!.end <= x) heap.pop();
    if (heap.size === 0) continue;
    const owner = ranges[heap.peek()!]!;
    const last = out[out.length - 1];
    if (last && last.fn === owner.fn && last.bar === owner.bar && last.end === x) out[out.length - 1] = { ...last, end: points[k + 1]! };
    else out.push({ ...owner, start: x, end: points[k + 1]! });
  }
  return out;
}
