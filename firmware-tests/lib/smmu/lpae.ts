/**
 * A guest builder of VMSAv8-64 translation tables, 4 KiB granule (Arm ARM
 * D8.3), for SMMUv3 stage 1 (CD.TTB0/1) and stage 2 (STE.S2TTB), as
 * io-pgtable-arm lays them out: 4 KiB pages at level 3, 2 MiB blocks at
 * level 2, 1 GiB blocks at level 1. Stage-2 tables may start with
 * concatenated pages (up to 16) at the start level.
 */
import type { GuestMemoryLike, PageAllocator } from '../tables.js';

/** Leaf attributes a mapping asks for. */
export interface LeafAttrs {
  readonly read?: boolean;
  readonly write?: boolean;
  /** Stage 1: unprivileged (EL0) access. */
  readonly user?: boolean;
  /** Execute never (stage 1 UXN+PXN, stage 2 XN). */
  readonly xn?: boolean;
  /** Access flag (default true). */
  readonly af?: boolean;
}

/** Stage-1 leaf bits: valid, AttrIndx 1, AP, SH inner, AF, XN (D8.3). */
export function s1Leaf(pa: bigint, a: LeafAttrs, page: boolean): bigint {
  let d = (pa & 0x0000_ffff_ffff_f000n) | 1n | (page ? 2n : 0n) | (1n << 2n) | (3n << 8n);
  if (a.af ?? true) d |= 1n << 10n;
  if (!(a.write ?? true)) d |= 1n << 7n;
  if (a.user ?? true) d |= 1n << 6n;
  if (a.xn) d |= (1n << 53n) | (1n << 54n);
  return d;
}

/** Stage-2 leaf bits: valid, MemAttr normal WB, S2AP, SH inner, AF, XN (D8.3). */
export function s2Leaf(pa: bigint, a: LeafAttrs, page: boolean): bigint {
  let d = (pa & 0x0000_ffff_ffff_f000n) | 1n | (page ? 2n : 0n) | (0xfn << 2n) | (3n << 8n);
  if (a.af ?? true) d |= 1n << 10n;
  if (a.read ?? true) d |= 1n << 6n;
  if (a.write ?? true) d |= 1n << 7n;
  if (a.xn) d |= 1n << 54n;
  return d;
}

/** Translation tables in guest memory. */
export class LpaeTables {
  /** The start-level table (TTB / S2TTB). */
  readonly root: bigint;
  /** Arm level of the root table. */
  readonly startLevel: number;
  private readonly rootBits: number;

  /**
   * @param stage 1 or 2
   * @param inputBits input address size (64 - TxSZ)
   * @param startLevel stage 2 only: the start level (default: the fewest concatenated pages)
   */
  constructor(private readonly mem: GuestMemoryLike, private readonly alloc: PageAllocator, readonly stage: 1 | 2, readonly inputBits = 48, startLevel?: number) {
    const levels = Math.ceil((inputBits - 12) / 9);
    this.startLevel = startLevel ?? 4 - levels;
    this.rootBits = inputBits - (12 + 9 * (3 - this.startLevel));
    const pages = Math.max(1, 2 ** (this.rootBits - 9));
    if (this.rootBits < 1 || pages > 16) throw new Error(`startLevel: ${String(startLevel)} does not fit ${inputBits} input bits`);
    if (pages === 1) this.root = alloc.alloc();
    else {
      // Concatenated start tables are aligned to their total size.
      const size = BigInt(pages) * 4096n;
      const first = alloc.allocContiguous(2 * pages - 1);
      this.root = (first + size - 1n) & ~(size - 1n);
    }
  }

  /** Maps `[va, va + 2^lg2)` to `pa` with a leaf at the level of that size (12, 21, 30). */
  map(va: bigint, pa: bigint, lg2: 12 | 21 | 30, a: LeafAttrs = {}): void {
    const leafLevel = 3 - (lg2 - 12) / 9;
    let table = this.root;
    for (let level = this.startLevel; level < leafLevel; level++) {
      const at = table + this.index(va, level) * 8n;
      const d = this.mem.readU64(at);
      if ((d & 3n) === 3n) { table = d & 0x0000_ffff_ffff_f000n; continue; }
      const next = this.alloc.alloc();
      this.mem.writeU64(at, next | 3n);
      table = next;
    }
    const leaf = this.stage === 1 ? s1Leaf(pa, a, lg2 === 12) : s2Leaf(pa, a, lg2 === 12);
    this.mem.writeU64(table + this.index(va, leafLevel) * 8n, leaf);
  }

  /** Writes `value` into the descriptor that maps `va` at Arm level `level` (tests corrupt tables this way). */
  setDescriptor(va: bigint, level: number, value: bigint): void {
    this.mem.writeU64(this.descriptorAddr(va, level), value);
  }

  /** The address of the descriptor for `va` at Arm level `level` (the tables down to it must exist). */
  descriptorAddr(va: bigint, level: number): bigint {
    let table = this.root;
    for (let l = this.startLevel; l < level; l++) table = this.mem.readU64(table + this.index(va, l) * 8n) & 0x0000_ffff_ffff_f000n;
    return table + this.index(va, level) * 8n;
  }

  /** Removes the leaf or table descriptor for `va` at Arm level `level`. */
  unmap(va: bigint, level = 3): void {
    this.setDescriptor(va, level, 0n);
  }

  private index(va: bigint, level: number): bigint {
    const bits = level === this.startLevel ? this.rootBits : 9;
    return (va >> BigInt(12 + 9 * (3 - level))) & ((1n << BigInt(bits)) - 1n);
  }
}
