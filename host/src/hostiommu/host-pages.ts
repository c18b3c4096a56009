/**
 * Host memory for host-owned IOMMU structures (second-stage tables, root/
 * context/PASID tables of the physical IOMMU): 4 KiB pages handed out from a
 * host-owned address range, each allocation a fail-nth point. Pages are
 * zeroed on allocation; `allocated` is the leak counter.
 */
import { fail } from './errors.js';
import type { FailInjector } from './fail-nth.js';
import type { Hpa } from '../types.js';
import type { GuestMemoryLike } from '../tables/guest-ram.js';

/** 4 KiB: every VT-d table is one page (§9). */
export const PAGE = 4096n;

/** The memory operations table writers need (little-endian 64-bit words). */
export interface TableMemory {
  /** Reads the u64 at `addr`. */
  readU64(addr: Hpa): bigint;
  /** Writes the u64 at `addr`. */
  writeU64(addr: Hpa, v: bigint): void;
  /** Sets `len` bytes from `addr` to `byte`. */
  fill(addr: Hpa, len: number, byte: number): void;
}

/**
 * The RAM of the modelled physical host as the TableMemory its tables are
 * written in: the physical core (or the test's array) addresses that RAM by
 * its own guest-physical addresses, which are the host's HPAs. The one place
 * a `Gpa` of that RAM becomes an `Hpa` (compile-time only: the same object).
 */
export function hostRam(mem: GuestMemoryLike): TableMemory {
  return mem as unknown as TableMemory;
}

/** A page allocator over `[start, end)` of a TableMemory. */
export class HostPages {
  private next: bigint;
  private readonly freed: bigint[] = [];
  private readonly live = new Set<bigint>();

  /**
   * A page allocator.
   * @param mem Host memory the pages are in.
   * @param start First byte of the pool (page aligned).
   * @param end End of the pool (exclusive).
   */
  constructor(readonly mem: TableMemory, readonly start: bigint, readonly end: bigint, private readonly injector: FailInjector) {
    if (start % PAGE !== 0n || end % PAGE !== 0n || end <= start) {
      throw new Error(`range: [0x${start.toString(16)}, 0x${end.toString(16)}) must be non-empty and 4 KiB aligned`);
    }
    this.next = start;
  }

  /** Pages currently allocated. */
  get allocated(): number {
    return this.live.size;
  }

  /** A zeroed page (fail-nth point `site`; ENOMEM when the range is used up). */
  alloc(site: string): bigint {
    this.injector.point(site);
    let page = this.freed.pop();
    if (page === undefined) {
      if (this.next >= this.end) fail('ENOMEM', `${site}: host table memory [0x${this.start.toString(16)}, 0x${this.end.toString(16)}) is used up`);
      page = this.next;
      this.next += PAGE;
    }
    this.mem.fill(page, Number(PAGE), 0);
    this.live.add(page);
    return page;
  }

  /** `n` contiguous zeroed pages (fail-nth point `site`); freed later page by page. */
  allocRun(n: number, site: string): bigint {
    if (n === 1) return this.alloc(site);
    this.injector.point(site);
    const size = BigInt(n) * PAGE;
    if (this.next + size > this.end) fail('ENOMEM', `${site}: no ${n} contiguous pages left in host table memory`);
    const first = this.next;
    this.next += size;
    this.mem.fill(first, Number(size), 0);
    for (let i = 0n; i < BigInt(n); i++) this.live.add(first + i * PAGE);
    return first;
  }

  /** Gives a page back; throws if it is not allocated here (a host bug, not a caller error). */
  free(page: bigint): void {
    if (!this.live.delete(page)) throw new Error(`page: 0x${page.toString(16)} is not an allocated host page`);
    this.freed.push(page);
  }
}
