/**
 * A page-table tree being built in guest memory by a scenario: second-stage
 * (§9.8) or first-stage (§9.7) — both put the table pointer in bits 51:12 and
 * mark a superpage leaf with PS (bit 7), so one builder serves both; the
 * caller gives each format's permission/flag bits.
 */
import { encodeSsPte, ptIndex } from '../../host/src/vtd/spec/ss-pte.js';
import type { ScenarioBuilder } from './scenario-builder.js';

/**
 * Second-stage bits (§9.8) a family gives leaves and tables: permissions, and
 * PS (a superpage leaf; bit 7 in the first-stage format too, §9.7).
 */
export const SS = {
  R: encodeSsPte({ R: true }), W: encodeSsPte({ W: true }), RW: encodeSsPte({ R: true, W: true }), PS: encodeSsPte({ PS: true }),
} as const;

/** A tree of 4 KiB tables allocated from `base` upward, its top table first. */
export class PageTree {
  private next: bigint;
  readonly top: bigint;
  /** Entry address per `${iova}:${level}` (level 0 = leaf table), to let families corrupt entries. */
  readonly entryAt = new Map<string, bigint>();
  /** Every entry written, by address, so a family can restore the tree after corrupting it. */
  readonly written = new Map<bigint, bigint>();
  private readonly tables = new Map<string, bigint>();

  constructor(private readonly b: ScenarioBuilder, base: bigint, readonly levels: number) {
    this.next = base;
    this.top = this.alloc();
  }

  /** A zeroed table page. */
  alloc(): bigint { const p = this.next; this.next += 0x1000n; this.b.page(p); return p; }
  /** Writes one entry and remembers it. */
  write(at: bigint, v: bigint): void { this.written.set(at, v); this.b.memWrite(at, [v]); }
  /** Rewrites every entry this tree holds (undoing corruptions). */
  restore(): void { for (const [at, v] of this.written) this.b.memWrite(at, [v]); }

  /** Maps `iova` to `gpa` with a leaf at `leafLevel` (0 = 4K, 1 = 2M, 2 = 1G) carrying `flags`; new tables get `upper`. */
  map(iova: bigint, gpa: bigint, flags: bigint, leafLevel = 0, upper = SS.RW): void {
    let table = this.top;
    for (let level = this.levels - 1; level > leafLevel; level--) {
      const idx = BigInt(ptIndex(iova, level));
      const key = `${table}:${idx}`;
      let child = this.tables.get(key);
      if (child === undefined) {
        child = this.alloc();
        this.tables.set(key, child);
        this.write(table + idx * 8n, child | upper);
      }
      this.entryAt.set(`${iova}:${level}`, table + idx * 8n);
      table = child;
    }
    const idx = BigInt(ptIndex(iova, leafLevel));
    this.write(table + idx * 8n, gpa | (leafLevel > 0 ? SS.PS : 0n) | flags);
    this.entryAt.set(`${iova}:${leafLevel}`, table + idx * 8n);
  }
}
