/**
 * A guest builder of VMSAv8-64 translation tables (Arm ARM D8.3) for SMMUv3
 * stage 1 (CD.TTB0/1) and stage 2 (STE.S2TTB), as io-pgtable-arm lays them
 * out, for the 4, 16 and 64 KiB granules: pages at level 3, blocks one or
 * two levels up (4 KiB: 2 MiB at level 2, 1 GiB at level 1; 16 KiB: 32 MiB
 * at level 2; 64 KiB: 512 MiB at level 2). Stage-2 tables may start with
 * concatenated tables (up to 16) at the start level.
 */
import type { GuestMemoryLike } from '../../tables/guest-ram.js';
import type { PageAllocator } from '../../tables/page-allocator.js';

/** Leaf attributes a mapping asks for. */
export interface LeafAttrs {
  readonly read?: boolean;
  readonly write?: boolean;
  /** Stage 1: unprivileged (EL0) access (AP[1]; default true). */
  readonly user?: boolean;
  /** Execute never (stage 1 UXN+PXN, stage 2 XN). */
  readonly xn?: boolean;
  /** Stage 1: privileged execute never only (PXN). */
  readonly pxn?: boolean;
  /** Stage 1: unprivileged execute never only (UXN). */
  readonly uxn?: boolean;
  /** Access flag (default true). */
  readonly af?: boolean;
}

/** Table-descriptor attributes (hierarchical controls, D8.4.2). */
export interface TableAttrs {
  /** APTable[0]: no unprivileged access below. */
  readonly noEl0?: boolean;
  /** APTable[1]: no write access below. */
  readonly readOnly?: boolean;
  /** UXNTable / XNTable. */
  readonly xn?: boolean;
  /** PXNTable. */
  readonly pxn?: boolean;
}

/** Output address bits 47:12 of a descriptor. */
const OA = 0x0000_ffff_ffff_f000n;

/** Stage-1 leaf bits: valid, AttrIndx 1, AP, SH inner, AF, PXN/UXN (D8.3). */
export function s1Leaf(pa: bigint, a: LeafAttrs, page: boolean): bigint {
  let d = (pa & OA) | 1n | (page ? 2n : 0n) | (1n << 2n) | (3n << 8n);
  if (a.af ?? true) d |= 1n << 10n;
  if (!(a.write ?? true)) d |= 1n << 7n;
  if (a.user ?? true) d |= 1n << 6n;
  if (a.xn || a.pxn) d |= 1n << 53n;
  if (a.xn || a.uxn) d |= 1n << 54n;
  return d;
}

/** Stage-2 leaf bits: valid, MemAttr normal WB, S2AP, SH inner, AF, XN (D8.3). */
export function s2Leaf(pa: bigint, a: LeafAttrs, page: boolean): bigint {
  let d = (pa & OA) | 1n | (page ? 2n : 0n) | (0xfn << 2n) | (3n << 8n);
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
  private readonly stride: number;

  /**
   * @param stage 1 or 2
   * @param inputBits input address size (64 - TxSZ)
   * @param startLevel stage 2 only: the start level (default: the fewest levels)
   * @param granLg2 12, 14 or 16 (4, 16 or 64 KiB)
   */
  constructor(
    private readonly mem: GuestMemoryLike, private readonly alloc: PageAllocator, readonly stage: 1 | 2, readonly inputBits = 48,
    startLevel?: number, readonly granLg2: 12 | 14 | 16 = 12,
  ) {
    this.stride = granLg2 - 3;
    const levels = Math.ceil((inputBits - granLg2) / this.stride);
    this.startLevel = startLevel ?? 4 - levels;
    this.rootBits = inputBits - (granLg2 + this.stride * (3 - this.startLevel));
    const tables = Math.max(1, 2 ** (this.rootBits - this.stride));
    if (this.rootBits < 1 || tables > 16) throw new Error(`startLevel: ${String(startLevel)} does not fit ${inputBits} input bits`);
    // Concatenated start tables are aligned to their total size.
    const size = BigInt(tables) << BigInt(granLg2);
    const first = this.pages(Number(size / 4096n) * 2);
    this.root = (first + size - 1n) & ~(size - 1n);
  }

  /** The bytes one entry at Arm level `level` maps. */
  levelSize(level: number): bigint {
    return 1n << BigInt(this.granLg2 + this.stride * (3 - level));
  }

  /**
   * Maps `[va, va + 2^lg2)` to `pa` with a leaf at the level of that size
   * (a page, or a block one or two levels up); `table` sets the attributes
   * of the table descriptors made on the way.
   */
  map(va: bigint, pa: bigint, lg2: number, a: LeafAttrs = {}, table: TableAttrs = {}): void {
    const leafLevel = 3 - (lg2 - this.granLg2) / this.stride;
    if (!Number.isInteger(leafLevel) || leafLevel < this.startLevel || leafLevel > 3) throw new Error(`lg2: 2^${lg2} is not a leaf size of a 2^${this.granLg2} granule`);
    let t = this.root;
    for (let level = this.startLevel; level < leafLevel; level++) {
      const at = t + this.index(va, level) * 8n;
      const d = this.mem.readU64(at);
      if ((d & 3n) === 3n) { t = d & OA; continue; }
      const next = this.pages(2 ** (this.granLg2 - 12));
      this.mem.writeU64(at, next | 3n | tableBits(table));
      t = next;
    }
    const leaf = this.stage === 1 ? s1Leaf(pa, a, leafLevel === 3) : s2Leaf(pa, a, leafLevel === 3);
    this.mem.writeU64(t + this.index(va, leafLevel) * 8n, leaf);
  }

  /** Writes `value` into the descriptor that maps `va` at Arm level `level` (tests corrupt tables this way). */
  setDescriptor(va: bigint, level: number, value: bigint): void {
    this.mem.writeU64(this.descriptorAddr(va, level), value);
  }

  /** The address of the descriptor for `va` at Arm level `level` (the tables down to it must exist). */
  descriptorAddr(va: bigint, level: number): bigint {
    let t = this.root;
    for (let l = this.startLevel; l < level; l++) t = this.mem.readU64(t + this.index(va, l) * 8n) & OA;
    return t + this.index(va, level) * 8n;
  }

  /** Removes the leaf or table descriptor for `va` at Arm level `level`. */
  unmap(va: bigint, level = 3): void {
    this.setDescriptor(va, level, 0n);
  }

  private index(va: bigint, level: number): bigint {
    const bits = level === this.startLevel ? this.rootBits : this.stride;
    return (va >> BigInt(this.granLg2 + this.stride * (3 - level))) & ((1n << BigInt(bits)) - 1n);
  }

  /** `n` zeroed contiguous 4 KiB pages aligned to the granule. */
  private pages(n: number): bigint {
    const g = 1n << BigInt(this.granLg2);
    const first = this.alloc.allocContiguous(n + Number(g / 4096n) - 1);
    return (first + g - 1n) & ~(g - 1n);
  }
}

/** Table-descriptor attribute bits (APTable 62:61, UXNTable 60, PXNTable 59). */
function tableBits(t: TableAttrs): bigint {
  return (t.noEl0 ? 1n << 61n : 0n) | (t.readOnly ? 1n << 62n : 0n) | (t.xn ? 1n << 60n : 0n) | (t.pxn ? 1n << 59n : 0n);
}
