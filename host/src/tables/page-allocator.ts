/**
 * Page allocation for table code: zeroed 4 KiB pages for the translation
 * structures and queues laid out in a memory (a guest driver's in guest RAM,
 * a host process's in host memory).
 */
import type { GuestMemoryLike } from './guest-ram.js';

/** VT-d page / paging-table size (§9: every table is one 4 KiB page). */
export const PAGE_SIZE = 4096n;

/**
 * Hands out zeroed 4 KiB guest pages from `[start, end)` (bump allocation,
 * optionally recycling freed pages). Throws when the range is exhausted.
 */
export class PageAllocator {
  private next: bigint;
  private readonly freed: bigint[] = [];
  private count = 0;

  /** `start`/`end` must be 4 KiB aligned; pages are zeroed through `mem`. */
  constructor(private readonly mem: GuestMemoryLike, readonly start: bigint, readonly end: bigint) {
    if (start % PAGE_SIZE !== 0n || end % PAGE_SIZE !== 0n || end <= start) {
      throw new Error(`PageAllocator: range [0x${start.toString(16)}, 0x${end.toString(16)}) must be non-empty and 4 KiB aligned`);
    }
    this.next = start;
  }

  /** Number of pages currently handed out. */
  get allocated(): number {
    return this.count;
  }

  /** End of the pages handed out so far: every allocated page lies in [start, highWater). */
  get highWater(): bigint {
    return this.next;
  }

  /** Returns the GPA of a fresh zeroed 4 KiB page. */
  alloc(): bigint {
    let page = this.freed.pop();
    if (page === undefined) {
      if (this.next >= this.end) throw new Error('PageAllocator: out of pages');
      page = this.next;
      this.next += PAGE_SIZE;
    }
    this.mem.fill(page, Number(PAGE_SIZE), 0);
    this.count++;
    return page;
  }

  /** Returns `pages` contiguous zeroed pages (never recycled ones); the first GPA. */
  allocContiguous(pages: number): bigint {
    if (!Number.isSafeInteger(pages) || pages <= 0) throw new Error(`allocContiguous: pages ${pages} must be positive`);
    const size = BigInt(pages) * PAGE_SIZE;
    if (this.next + size > this.end) throw new Error('PageAllocator: out of pages');
    const first = this.next;
    this.next += size;
    this.mem.fill(first, Number(size), 0);
    this.count += pages;
    return first;
  }

  /** Gives a page back for reuse (the caller must no longer reference it). */
  free(page: bigint): void {
    if (page < this.start || page >= this.end || page % PAGE_SIZE !== 0n) {
      throw new Error(`PageAllocator.free: page 0x${page.toString(16)} was not allocated here`);
    }
    this.freed.push(page);
    this.count--;
  }
}
