/**
 * An ordered map of disjoint half-open intervals `[start, end)` (an AVL tree
 * keyed by start): what an IOAS keeps its areas in, so map, unmap, lookup
 * and overlap checks cost O(log n) in the number of areas (iommufd keeps
 * them in an interval tree, io_pagetable.c). Every node also carries the
 * largest gap between consecutive intervals of its subtree, so the first
 * free hole of a given size in a window is found without visiting every
 * interval (`findHole`, used by automatic IOVA allocation).
 *
 * Ranges are start/end half-open (asm/GLOSSARY.md) unless named `last`
 * (inclusive). The caller keeps intervals disjoint (`firstOverlap` first).
 */
import type { Iova } from '../types.js';

/** One stored interval. */
export interface IntervalEntry<V> {
  /** First address. */
  readonly start: bigint;
  /** One past the last address. */
  readonly end: bigint;
  /** What is stored there. */
  readonly value: V;
}

interface Node<V> extends IntervalEntry<V> {
  left: Node<V> | null;
  right: Node<V> | null;
  height: number;
  /** Start of the leftmost interval in the subtree. */
  minStart: bigint;
  /** End of the rightmost interval in the subtree. */
  maxEnd: bigint;
  /** Largest gap between two consecutive intervals inside the subtree (0 without). */
  maxGap: bigint;
}

/** Search state of `findHole`. */
interface HoleSearch {
  /** First address not yet known to be covered. */
  cursor: bigint;
  readonly last: bigint;
  readonly need: bigint;
  readonly fits: (start: bigint, last: bigint) => bigint | undefined;
  /** An interval starting after `last` was reached: no further interval matters. */
  past: boolean;
}

const height = <V>(n: Node<V> | null): number => (n === null ? 0 : n.height);
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** Recomputes a node's height and aggregates from its children. */
function update<V>(n: Node<V>): Node<V> {
  const l = n.left;
  const r = n.right;
  n.height = 1 + Math.max(height(l), height(r));
  n.minStart = l === null ? n.start : l.minStart;
  n.maxEnd = r === null ? n.end : r.maxEnd;
  let gap = 0n;
  if (l !== null) gap = max(l.maxGap, n.start - l.maxEnd);
  if (r !== null) gap = max(gap, max(r.maxGap, r.minStart - n.end));
  n.maxGap = gap;
  return n;
}

function rotateRight<V>(n: Node<V>): Node<V> {
  const l = n.left!;
  n.left = l.right;
  l.right = update(n);
  return update(l);
}

function rotateLeft<V>(n: Node<V>): Node<V> {
  const r = n.right!;
  n.right = r.left;
  r.left = update(n);
  return update(r);
}

/** Restores the AVL balance of `n` (children balanced) and its aggregates. */
function balance<V>(n: Node<V>): Node<V> {
  update(n);
  const b = height(n.left) - height(n.right);
  if (b > 1) {
    if (height(n.left!.left) < height(n.left!.right)) n.left = rotateLeft(n.left!);
    return rotateRight(n);
  }
  if (b < -1) {
    if (height(n.right!.right) < height(n.right!.left)) n.right = rotateRight(n.right!);
    return rotateLeft(n);
  }
  return n;
}

/** Disjoint intervals ordered by start, O(log n) per operation. */
export class IntervalMap<V> {
  private root: Node<V> | null = null;
  private count = 0;

  /** Number of intervals. */
  get size(): number {
    return this.count;
  }

  /** Adds `[start, end)` (must not overlap a stored interval; `start < end`). */
  insert(start: bigint, end: bigint, value: V): void {
    if (!(start < end)) throw new Error(`interval [0x${start.toString(16)}, 0x${end.toString(16)}) is empty`);
    this.root = this.insertAt(this.root, { start, end, value, left: null, right: null, height: 1, minStart: start, maxEnd: end, maxGap: 0n });
    this.count++;
  }

  /** Removes the interval starting at `start`; false if there is none. */
  delete(start: bigint): boolean {
    const before = this.count;
    this.root = this.deleteAt(this.root, start);
    return this.count < before;
  }

  /** The interval containing `addr`, or undefined. */
  find(addr: Iova): IntervalEntry<V> | undefined {
    const f = this.floor(addr);
    return f !== undefined && addr < f.end ? f : undefined;
  }

  /** The first interval (lowest start) overlapping `[start, last]`, or undefined. */
  firstOverlap(start: bigint, last: bigint): IntervalEntry<V> | undefined {
    const f = this.floor(start);
    if (f !== undefined && f.end > start) return f;
    const n = this.after(start);
    return n !== undefined && n.start <= last ? n : undefined;
  }

  /** The last interval (highest start) overlapping `[start, last]`, or undefined. */
  lastOverlap(start: bigint, last: bigint): IntervalEntry<V> | undefined {
    const f = this.floor(last);
    return f !== undefined && f.end > start ? f : undefined;
  }

  /** The interval with the greatest start <= `addr`, or undefined. */
  floor(addr: Iova): IntervalEntry<V> | undefined {
    let n = this.root;
    let best: Node<V> | undefined;
    while (n !== null) {
      if (n.start <= addr) {
        best = n;
        n = n.right;
      } else n = n.left;
    }
    return best;
  }

  /** The interval with the least start > `addr`, or undefined. */
  after(addr: Iova): IntervalEntry<V> | undefined {
    let n = this.root;
    let best: Node<V> | undefined;
    while (n !== null) {
      if (n.start > addr) {
        best = n;
        n = n.left;
      } else n = n.right;
    }
    return best;
  }

  /** The intervals overlapping `[start, last]`, in order (O(log n) per step). */
  *overlapping(start: bigint, last: bigint): Generator<IntervalEntry<V>> {
    for (let e = this.firstOverlap(start, last); e !== undefined && e.start <= last; e = this.after(e.start)) yield e;
  }

  /** Every interval in order. */
  *entries(): Generator<IntervalEntry<V>> {
    const stack: Node<V>[] = [];
    let n = this.root;
    while (n !== null || stack.length > 0) {
      while (n !== null) {
        stack.push(n);
        n = n.left;
      }
      const top = stack.pop()!;
      yield top;
      n = top.right;
    }
  }

  /**
   * The lowest address `fits` accepts in a hole (an uncovered range) of at
   * least `need` bytes inside `[start, last]`, holes taken lowest first;
   * undefined if none. `fits(holeStart, holeLast)` returns the address it
   * would use in that hole or undefined (e.g. when alignment leaves no room).
   */
  findHole(start: bigint, last: bigint, need: bigint, fits: (start: bigint, last: bigint) => bigint | undefined): bigint | undefined {
    if (start > last) return undefined;
    const s: HoleSearch = { cursor: start, last, need, fits, past: false };
    const found = this.search(this.root, s);
    if (found !== undefined || s.past) return found;
    return s.cursor <= last && last - s.cursor + 1n >= need ? fits(s.cursor, last) : undefined;
  }

  /** Removes every interval. */
  clear(): void {
    this.root = null;
    this.count = 0;
  }

  private search(n: Node<V> | null, s: HoleSearch): bigint | undefined {
    if (n === null || s.past || n.maxEnd <= s.cursor) return undefined;
    if (n.minStart > s.last) return undefined;
    // The holes in this subtree's span are the one before its first interval and its inner gaps.
    if (n.minStart - s.cursor < s.need && n.maxGap < s.need) {
      s.cursor = max(s.cursor, n.maxEnd);
      return undefined;
    }
    const inLeft = this.search(n.left, s);
    if (inLeft !== undefined || s.past) return inLeft;
    if (n.start > s.cursor) {
      const holeLast = n.start - 1n < s.last ? n.start - 1n : s.last;
      if (holeLast - s.cursor + 1n >= s.need) {
        const at = s.fits(s.cursor, holeLast);
        if (at !== undefined) return at;
      }
    }
    if (n.start > s.last) {
      s.past = true;
      return undefined;
    }
    s.cursor = max(s.cursor, n.end);
    return this.search(n.right, s);
  }

  private insertAt(n: Node<V> | null, fresh: Node<V>): Node<V> {
    if (n === null) return fresh;
    if (fresh.start < n.start) n.left = this.insertAt(n.left, fresh);
    else n.right = this.insertAt(n.right, fresh);
    return balance(n);
  }

  private deleteAt(n: Node<V> | null, start: bigint): Node<V> | null {
    if (n === null) return null;
    if (start < n.start) n.left = this.deleteAt(n.left, start);
    else if (start > n.start) n.right = this.deleteAt(n.right, start);
    else {
      this.count--;
      if (n.left === null) return n.right;
      if (n.right === null) return n.left;
      let m = n.right;
      while (m.left !== null) m = m.left;
      const right = this.deleteMin(n.right);
      m.left = n.left;
      m.right = right;
      return balance(m);
    }
    return balance(n);
  }

  private deleteMin(n: Node<V>): Node<V> | null {
    if (n.left === null) return n.right;
    n.left = this.deleteMin(n.left);
    return balance(n);
  }
}
