/**
 * The IOAS's ordered interval map and automatic IOVA allocation, checked
 * against brute-force references over random operation sequences.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IntervalMap } from '../src/hostiommu/interval-map.js';
import { IovaSpace, allocIova, U64_MAX } from '../src/hostiommu/iova-space.js';
import { isHostIommuError } from '../src/hostiommu/errors.js';

type Iv = [start: bigint, end: bigint];

/** The sorted reference list's holes inside [start, last], lowest first. */
function refHoles(ref: Iv[], start: bigint, last: bigint): Iv[] {
  const out: Iv[] = [];
  let at = start;
  for (const [s, e] of ref) {
    if (e <= at) continue;
    if (s > last) break;
    if (s > at) out.push([at, s - 1n]);
    at = e;
  }
  if (at <= last) out.push([at, last]);
  return out;
}

/** An aligned-fit predicate: the lowest `align`-aligned start with `len` bytes before `last`. */
const fitsOf = (len: bigint, align: bigint) => (s: bigint, l: bigint): bigint | undefined => {
  const at = ((s + align - 1n) / align) * align;
  return at + len - 1n <= l ? at : undefined;
};

const op = fc.tuple(fc.nat(199), fc.integer({ min: 1, max: 9 }), fc.boolean());

describe('IntervalMap', () => {
  it('agrees with a sorted list on lookup, overlap queries, iteration and first-fit holes', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 120 }), fc.nat(2000), fc.integer({ min: 1, max: 40 }), fc.constantFrom(1n, 2n, 4n, 8n), (ops, qs, qlen, align) => {
      const m = new IntervalMap<number>();
      let ref: Iv[] = [];
      for (const [slot, len, del] of ops) {
        const s = BigInt(slot) * 10n;
        const e = s + BigInt(len);
        const hit = ref.find(([a, b]) => a < e && s < b);
        if (del && hit) {
          expect(m.delete(hit[0])).toBe(true);
          ref = ref.filter((x) => x !== hit);
        } else if (!hit) {
          m.insert(s, e, slot);
          ref.push([s, e]);
          ref.sort((x, y) => (x[0] < y[0] ? -1 : 1));
        }
      }
      expect(m.size).toBe(ref.length);
      expect([...m.entries()].map((x) => [x.start, x.end])).toEqual(ref);
      const q = BigInt(qs);
      const qLast = q + BigInt(qlen) - 1n;
      const inside = ref.filter(([a, b]) => a <= qLast && q < b);
      expect([...m.overlapping(q, qLast)].map((x) => [x.start, x.end])).toEqual(inside);
      expect(m.firstOverlap(q, qLast)?.start).toBe(inside[0]?.[0]);
      expect(m.lastOverlap(q, qLast)?.start).toBe(inside.at(-1)?.[0]);
      expect(m.find(q)?.start).toBe(ref.find(([a, b]) => a <= q && q < b)?.[0]);
      const need = BigInt(qlen);
      const fits = fitsOf(need, align);
      const want = refHoles(ref, q, q + 600n).map(([s, l]) => fits(s, l)).find((x) => x !== undefined);
      expect(m.findHole(q, q + 600n, need, fits)).toBe(want);
    }), { numRuns: 300 });
  });

  it('stays balanced: 16384 ascending inserts keep lookups a few dozen steps deep', () => {
    const m = new IntervalMap<number>();
    for (let i = 0; i < 16384; i++) m.insert(BigInt(i) * 4096n, BigInt(i) * 4096n + 4096n, i);
    const height = (m as unknown as { root: { height: number } }).root.height;
    expect(height).toBeLessThanOrEqual(Math.ceil(1.45 * Math.log2(16384 + 2)));
    for (let i = 0; i < 16384; i += 2) m.delete(BigInt(i) * 4096n);
    expect(m.size).toBe(8192);
    expect(m.findHole(0n, U64_MAX, 8192n, fitsOf(8192n, 8192n))).toBe(16384n * 4096n); // the 4 KiB holes are too small
    expect(m.findHole(0n, U64_MAX, 4096n, fitsOf(4096n, 4096n))).toBe(0n);
  });
});

describe('automatic IOVA allocation (iopt_alloc_iova)', () => {
  it('matches a brute-force first fit over allowed-minus-reserved windows and area holes', () => {
    const range = fc.tuple(fc.nat(255), fc.integer({ min: 1, max: 64 }));
    fc.assert(fc.property(fc.array(range, { maxLength: 12 }), fc.array(range, { maxLength: 4 }), fc.array(range, { maxLength: 3 }), fc.integer({ min: 1, max: 0x9000 }), fc.nat(0x3f_ffff),
      (areaSpec, resvSpec, allowSpec, len, addr) => {
        const P = 0x1000n;
        const areas = new IntervalMap<null>();
        const ref: Iv[] = [];
        for (const [slot, pages] of areaSpec) {
          const s = BigInt(slot) * P;
          const e = s + BigInt(pages) * P;
          if (ref.some(([a, b]) => a < e && s < b)) continue;
          areas.insert(s, e, null);
          ref.push([s, e]);
        }
        ref.sort((x, y) => (x[0] < y[0] ? -1 : 1));
        const space = new IovaSpace();
        const allowed = allowSpec.map(([slot, pages]) => ({ start: BigInt(slot) * P, last: BigInt(slot + pages) * P - 1n }));
        try {
          space.setAllowed(allowed);
        } catch (e) {
          if (!isHostIommuError(e, 'EINVAL')) throw e; // overlapping allowed ranges: keep none
        }
        for (const [slot, pages] of resvSpec) {
          const s = BigInt(slot) * P;
          try {
            space.reserve({}, 'r', s, s + BigInt(pages) * P - 1n, (a, l) => areas.firstOverlap(a, l)?.start);
          } catch (e) {
            if (!isHostIommuError(e, 'EADDRINUSE')) throw e;
          }
        }
        const L = BigInt(len);
        const hpa = BigInt(addr) * 8n;
        let align = 1n;
        while (align < L) align <<= 1n;
        const low = hpa === 0n ? align : hpa & -hpa;
        if (low < align) align = low;
        if (align > 1n << 21n) align = 1n << 21n;
        const fits = (s: bigint, l: bigint): bigint | undefined => {
          const at = ((s + align - 1n) & ~(align - 1n)) | (hpa % P);
          return at >= l || l - at < L - 1n ? undefined : at;
        };
        let want: bigint | undefined;
        for (const w of space.allocationWindows()) {
          want = refHoles(ref, w.start, w.last).map(([s, l]) => fits(s, l)).find((x) => x !== undefined);
          if (want !== undefined) break;
        }
        let got: bigint | undefined;
        try {
          got = allocIova(space, areas, L, hpa, 1n);
        } catch (e) {
          if (!isHostIommuError(e, 'ENOSPC')) throw e;
        }
        expect(got).toBe(want);
        if (got !== undefined) {
          expect(got).toBeGreaterThanOrEqual(0x1000n); // never IOVA 0 (nor the first page)
          expect(areas.firstOverlap(got, got + L - 1n)).toBeUndefined();
          expect(space.reservedIn(got, got + L - 1n)).toBeUndefined();
        }
      }), { numRuns: 400 });
  });
});
