/**
 * A binary min-heap of numbers: the smallest first, push and pop in
 * O(log n). Shared by the host IOMMU's object table (lowest free id) and
 * the PCI BAR index (the first-visited BAR covering an address).
 */

/** A binary min-heap of numbers. */
export class MinHeap {
  private readonly a: number[] = [];

  /** Number of values held. */
  get size(): number {
    return this.a.length;
  }

  /** The smallest value (undefined when empty), left in the heap. */
  peek(): number | undefined {
    return this.a[0];
  }

  /** Adds `v`. */
  push(v: number): void {
    const a = this.a;
    a.push(v);
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      a[p] = v;
      i = p;
    }
  }

  /** Removes and returns the smallest value (undefined when empty). */
  pop(): number | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && a[l]! < a[m]!) m = l;
      if (r < a.length && a[r]! < a[m]!) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
    return top;
  }
}
