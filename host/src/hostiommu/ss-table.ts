/**
 * A host-owned second-stage page table: what a HWPT paging domain programs
 * into the physical IOMMU — VT-d second-stage entries (§9.8, SSPTPTR of a
 * PASID entry) by default, or another format plugged in as an `SsFormat`
 * (the SMMUv3's VMSAv8-64 stage 2, arm-s2-format.ts). Leaves
 * are 4 KiB, 2 MiB or 1 GiB (up to `maxLeafLg2`); a leaf never spans two
 * `map` calls, so `unmap` of a mapped range only clears whole leaves. Table
 * pages that become empty are freed, so a failed `map` that is rolled back
 * leaves the page count where it was.
 *
 * Levels follow asm/GLOSSARY.md: level 0 is the leaf table.
 */
import { fail } from './errors.js';
import { PAGE, type HostPages } from './host-pages.js';
import type { Hpa, Iova } from '../types.js';

/** §9.8 second-stage entry bits the host writes. */
export const SS = {
  R: 1n << 0n,
  W: 1n << 1n,
  /** Page size: this entry is a 2 MiB / 1 GiB leaf (levels 1, 2). */
  PS: 1n << 7n,
  /** Address bits 51:12. */
  ADDR: ((1n << 52n) - 1n) & ~(PAGE - 1n),
} as const;

/** Permission bits of a mapping: bit 0 read, bit 1 write (IOMMU_IOAS_MAP_READABLE/WRITEABLE). */
export const PERM = { READ: 1, WRITE: 2 } as const;

/** One translation found by a software walk. */
export interface SsLookup {
  /** Output address of the requested byte. */
  readonly hpa: Hpa;
  /** PERM bits of the leaf. */
  readonly perms: number;
  /** log2 of the leaf size. */
  readonly pageLg2: number;
}

const index = (iova: bigint, level: number): bigint => (iova >> BigInt(12 + 9 * level)) & 0x1ffn;

/**
 * How one table format encodes its entries (4 KiB tables of 512 entries,
 * levels 0 = leaf table as in asm/GLOSSARY.md); the tree logic is shared.
 */
export interface SsFormat {
  /** The entry maps something (a table or a leaf). */
  present(e: bigint): boolean;
  /** The entry at `level` (> 0) is a leaf (a 2 MiB / 1 GiB block). */
  isLeaf(e: bigint, level: number): boolean;
  /** Output or next-table address of an entry. */
  addr(e: bigint): bigint;
  /** PERM bits of a leaf. */
  perms(e: bigint): number;
  /** A table entry pointing at `table`. */
  table(table: bigint): bigint;
  /** A leaf at `level` mapping `addr` with PERM bits `perms` (at least one set). */
  leaf(addr: Hpa, perms: number, level: number): bigint;
}

/** VT-d second-stage entries (§9.8): R, W, PS for a 2 MiB / 1 GiB leaf. */
export const VTD_SS_FORMAT: SsFormat = {
  present: (e) => (e & (SS.R | SS.W)) !== 0n,
  isLeaf: (e) => (e & SS.PS) !== 0n,
  addr: (e) => e & SS.ADDR,
  perms: (e) => (e & SS.R ? PERM.READ : 0) | (e & SS.W ? PERM.WRITE : 0),
  table: (t) => t | SS.R | SS.W,
  leaf: (a, perms, level) => a | (perms & PERM.READ ? SS.R : 0n) | (perms & PERM.WRITE ? SS.W : 0n) | (level > 0 ? SS.PS : 0n),
};

/** A second-stage table of 3, 4 or 5 levels in host pages. */
export class SsPageTable {
  /** Host address of the top-level table (the SSPTPTR value). */
  readonly root: bigint;
  /** Present entries per table page (to free tables that empty). */
  private readonly counts = new Map<bigint, number>();

  /**
   * An empty table.
   * @param pages Where its pages come from.
   * @param levels Paging levels (3, 4 or 5).
   * @param maxLeafLg2 Largest leaf it maps (4 KiB, 2 MiB or 1 GiB).
   * @param format The entry format (default VT-d second stage).
   */
  constructor(private readonly pages: HostPages, readonly levels: 3 | 4 | 5, readonly maxLeafLg2: 12 | 21 | 30 = 21, readonly format: SsFormat = VTD_SS_FORMAT) {
    this.root = pages.alloc('second-stage root table');
    this.counts.set(this.root, 0);
  }

  /** Largest IOVA + 1 the table covers (2^(12 + 9 * levels)). */
  get limit(): bigint {
    return 1n << BigInt(12 + 9 * this.levels);
  }

  /** Number of table pages, root included. */
  get tablePages(): number {
    return this.counts.size;
  }

  /**
   * Maps `[iova, iova + len)` to `[hpa, hpa + len)` with PERM bits `perms`.
   * All-or-nothing: a table-page allocation failure unmaps what was written
   * and rethrows. The range must be 4 KiB aligned and not mapped yet.
   */
  map(iova: Iova, hpa: Hpa, len: bigint, perms: number): void {
    if ((iova | hpa | len) % PAGE !== 0n || len <= 0n) fail('EINVAL', `map: iova/hpa/len 0x${iova.toString(16)}/0x${hpa.toString(16)}/0x${len.toString(16)} not 4 KiB aligned`);
    if (iova + len > this.limit) fail('EINVAL', `map: iova range ends above the ${this.levels}-level table's 0x${this.limit.toString(16)}`);
    if ((perms & (PERM.READ | PERM.WRITE)) === 0) fail('EINVAL', `perms: ${perms} grants neither read nor write`);
    let done = 0n;
    try {
      while (done < len) {
        const lg2 = this.leafLg2(iova + done, hpa + done, len - done);
        this.setLeaf(iova + done, lg2, hpa + done, perms);
        done += 1n << BigInt(lg2);
      }
    } catch (e) {
      if (done > 0n) this.unmap(iova, done);
      throw e;
    }
  }

  /** Clears the leaves in `[iova, iova + len)` (holes are skipped) and frees emptied tables. */
  unmap(iova: Iova, len: bigint): void {
    const end = iova + len;
    let a = iova;
    while (a < end) {
      const step = this.clearLeaf(a);
      a = (a & ~(step - 1n)) + step;
    }
  }

  /** Software walk of `iova` (for tests and the shadow mode); undefined if not mapped. */
  lookup(iova: Iova): SsLookup | undefined {
    let table = this.root;
    for (let level = this.levels - 1; level >= 0; level--) {
      const e = this.pages.mem.readU64(table + index(iova, level) * 8n);
      const f = this.format;
      if (!f.present(e)) return undefined;
      if (level === 0 || f.isLeaf(e, level)) {
        const lg2 = 12 + 9 * level;
        return { hpa: f.addr(e) + (iova & ((1n << BigInt(lg2)) - 1n)), perms: f.perms(e), pageLg2: lg2 };
      }
      table = f.addr(e);
    }
    return undefined;
  }

  /** Frees every table page (the table must no longer be in use). */
  destroy(): void {
    for (const t of this.counts.keys()) this.pages.free(t);
    this.counts.clear();
  }

  /** The largest leaf size that fits at (iova, hpa) within `left` bytes. */
  private leafLg2(iova: bigint, hpa: bigint, left: bigint): number {
    for (const lg2 of [30, 21]) {
      const size = 1n << BigInt(lg2);
      if (lg2 <= this.maxLeafLg2 && (lg2 - 12) / 9 < this.levels && (iova | hpa) % size === 0n && left >= size) return lg2;
    }
    return 12;
  }

  /** Writes a leaf at the level of `lg2`, allocating tables on the way. */
  private setLeaf(iova: bigint, lg2: number, hpa: bigint, perms: number): void {
    const f = this.format;
    const leafLevel = (lg2 - 12) / 9;
    const path: bigint[] = [];
    let table = this.root;
    for (let level = this.levels - 1; level > leafLevel; level--) {
      const ea = table + index(iova, level) * 8n;
      const e = this.pages.mem.readU64(ea);
      path.push(ea);
      if (f.present(e)) {
        if (f.isLeaf(e, level)) fail('EEXIST', `map: iova 0x${iova.toString(16)} is inside a mapped 2^${12 + 9 * level} leaf`);
        table = f.addr(e);
        continue;
      }
      let fresh: bigint;
      try {
        fresh = this.pages.alloc(`second-stage level-${level - 1} table`);
      } catch (err) {
        path.pop();
        if (table !== this.root && this.counts.get(table) === 0) this.dropTable(table, path);
        throw err;
      }
      this.counts.set(fresh, 0);
      this.pages.mem.writeU64(ea, f.table(fresh));
      this.bump(table, 1);
      table = fresh;
    }
    const ea = table + index(iova, leafLevel) * 8n;
    if (f.present(this.pages.mem.readU64(ea))) fail('EEXIST', `map: iova 0x${iova.toString(16)} is already mapped`);
    this.pages.mem.writeU64(ea, f.leaf(hpa, perms, leafLevel));
    this.bump(table, 1);
  }

  /** Clears the leaf covering `iova` if any; returns the size to step over. */
  private clearLeaf(iova: bigint): bigint {
    const path: bigint[] = [];
    let table = this.root;
    for (let level = this.levels - 1; level >= 0; level--) {
      const ea = table + index(iova, level) * 8n;
      const e = this.pages.mem.readU64(ea);
      const size = 1n << BigInt(12 + 9 * level);
      if (!this.format.present(e)) return size;
      path.push(ea);
      if (level === 0 || this.format.isLeaf(e, level)) {
        this.pages.mem.writeU64(ea, 0n);
        this.release(path);
        return size;
      }
      table = this.format.addr(e);
    }
    return PAGE;
  }

  /** Frees the empty table `table` whose parent entry is the last of `path`, then cascades upwards. */
  private dropTable(table: bigint, path: bigint[]): void {
    this.counts.delete(table);
    this.pages.free(table);
    this.pages.mem.writeU64(path[path.length - 1]!, 0n);
    this.release(path);
  }

  /** After clearing the last entry of `path`, frees tables that became empty (never the root). */
  private release(path: bigint[]): void {
    for (let i = path.length - 1; i >= 0; i--) {
      const table = path[i]! & ~(PAGE - 1n);
      if (this.bump(table, -1) > 0 || table === this.root) return;
      this.counts.delete(table);
      this.pages.free(table);
      this.pages.mem.writeU64(path[i - 1]!, 0n);
    }
  }

  private bump(table: bigint, by: number): number {
    const n = (this.counts.get(table) ?? 0) + by;
    this.counts.set(table, n);
    return n;
  }
}
