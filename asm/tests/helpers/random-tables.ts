/**
 * fast-check generators for random page-table trees: a list of
 * non-overlapping mappings (4 KiB / 2 MiB / 1 GiB, random permissions) over
 * a random format, and the brute-force answer for an address from that list
 * (no walk: the "mapping oracle").
 */
import fc from 'fast-check';
import { encodeFsPte } from '../../../host/src/vtd/spec/fs-pte.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';
import { ACC, PERM } from '../reference/constants.js';
import { inputWidthBits, type Format } from './formats.js';

/** One mapping of a random tree. */
export interface Mapping {
  readonly iova: bigint;
  readonly gpa: bigint;
  readonly pageLg2: 12 | 21 | 30;
  /** SS: R/W; FS: R/W (R always), plus user (U/S) for FS. */
  readonly write: boolean;
  readonly read: boolean;
}

/** Distinct 1 GiB slots the mappings use (slot i covers [i GiB, i+1 GiB)). */
const SLOTS = 8;

/**
 * Random non-overlapping mappings: each of up to SLOTS gigabyte slots holds
 * either one 1 GiB page, or some 2 MiB pages and some 4 KiB pages in distinct
 * 2 MiB regions. Output GPAs stay below 4 GiB and outside the interrupt range.
 */
export function arbMappings(): fc.Arbitrary<Mapping[]> {
  const perm = fc.record({ read: fc.boolean(), write: fc.boolean() }).filter((p) => p.read || p.write);
  const slot = fc.record({
    huge: fc.boolean(),
    perm,
    gpaGiB: fc.integer({ min: 0, max: 2 }),
    smalls: fc.uniqueArray(fc.record({ region: fc.integer({ min: 0, max: 511 }), size: fc.constantFrom(12, 21), page: fc.integer({ min: 0, max: 511 }), perm, gpaPage: fc.integer({ min: 0, max: 0x7ffff }) }), { selector: (s) => s.region, maxLength: 4 }),
  });
  return fc.uniqueArray(fc.record({ index: fc.integer({ min: 1, max: SLOTS }), slot }), { selector: (s) => s.index, minLength: 1, maxLength: 4 }).map((slots) => {
    const out: Mapping[] = [];
    for (const { index, slot: s } of slots) {
      const base = BigInt(index) << 30n;
      if (s.huge) {
        out.push({ iova: base, gpa: BigInt(s.gpaGiB) << 30n, pageLg2: 30, ...s.perm });
        continue;
      }
      for (const m of s.smalls) {
        const region = base + (BigInt(m.region) << 21n);
        if (m.size === 21) out.push({ iova: region, gpa: BigInt(m.gpaPage & 0x7fe00) << 12n, pageLg2: 21, ...m.perm });
        else out.push({ iova: region + (BigInt(m.page) << 12n), gpa: BigInt(m.gpaPage) << 12n, pageLg2: 12, ...m.perm });
      }
    }
    return out;
  }).filter((maps) => maps.length > 0);
}

/** Leaf bits for a mapping in `fmt` (FS: user pages; SS: R/W as given). */
export function leafBits(fmt: Format, m: Mapping): bigint {
  if (fmt.kind === 'fs' || fmt.kind === 'nested') return encodeFsPte({ P: true, US: true, RW: m.write });
  return encodeSsPte({ R: m.read, W: m.write });
}

/** What the mapping list says a request must get. */
export type Expected = { status: 0; addr: bigint; pageLg2: number; perms: number } | { status: number };

/** Brute-force answer for `iova` with `access` from the mapping list (no walk). */
export function oracle(fmt: Format, maps: readonly Mapping[], iova: bigint, access: number): Expected {
  const isFs = fmt.kind === 'fs' || fmt.kind === 'nested';
  if (iova >> BigInt(inputWidthBits(fmt)) !== 0n) return { status: fmt.codes.width };
  const m = maps.find((x) => iova >= x.iova && iova < x.iova + (1n << BigInt(x.pageLg2)));
  const write = (access & ACC.WRITE) !== 0;
  if (!m) return { status: fmt.codes.notPresent === 0x6 && write ? 0x5 : fmt.codes.notPresent };
  const read = isFs || m.read;
  const perms = (read ? PERM.R : 0) | (m.write ? PERM.W : 0);
  if (write && !m.write) return { status: fmt.codes.write };
  if (!write && !read) return { status: fmt.mode === 'legacy' ? 0x6 : 0x86 };
  return { status: 0, addr: m.gpa + (iova - m.iova), pageLg2: m.pageLg2, perms };
}

/** An address near a mapping (inside, at its last byte, just after) or random. */
export function arbProbe(maps: readonly Mapping[]): fc.Arbitrary<bigint> {
  const near = fc.tuple(fc.constantFrom(...maps), fc.constantFrom(0n, 1n, -1n, 2n), fc.bigInt({ min: 0n, max: (1n << 30n) - 1n })).map(([m, where, r]) => {
    const size = 1n << BigInt(m.pageLg2);
    if (where === 0n) return m.iova + (r % size);
    if (where === 1n) return m.iova + size - 1n;
    if (where === -1n) return m.iova + size;
    return m.iova === 0n ? 0n : m.iova - 1n;
  });
  return fc.oneof(near, near, fc.bigInt({ min: 0n, max: (1n << 33n) - 1n }));
}
