/**
 * Guest-page allocation for tests and guest drivers.
 *
 * `GuestMemoryLike` is the narrow view of guest RAM that the table encoders,
 * builders and the reference model need; the host's `GuestMemory`
 * (host/src/core/guest-memory.ts) satisfies it, and so does the plain
 * `ArrayGuestMemory` below (for tests that need no core).
 */

/** VT-d page / paging-table size (§9: every table is one 4 KiB page). */
export const PAGE_SIZE = 4096n;

/** The guest-RAM operations table code needs (little-endian 64-bit words). */
export interface GuestMemoryLike {
  /** Reads the 64-bit little-endian word at `gpa`; throws outside RAM. */
  readU64(gpa: bigint): bigint;
  /** Writes the 64-bit little-endian word at `gpa`; throws outside RAM. */
  writeU64(gpa: bigint, v: bigint): void;
  /** Sets `len` bytes from `gpa` to `byte`; throws outside RAM. */
  fill(gpa: bigint, len: number, byte: number): void;
}

/** Optional extension: a range check that does not throw. */
export interface GuestMemoryWithContains extends GuestMemoryLike {
  /** True when `[gpa, gpa+len)` lies inside guest RAM. */
  contains(gpa: bigint, len: number): boolean;
}

/**
 * Guest RAM as one JS byte array starting at `base` (no core needed).
 * Accesses outside `[base, base+size)` throw an `Error` naming the address.
 */
export class ArrayGuestMemory implements GuestMemoryWithContains {
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  /** `base` and `size` in bytes; `size` must be a multiple of 8. */
  constructor(readonly base: bigint, size: number) {
    if (!Number.isSafeInteger(size) || size <= 0 || size % 8 !== 0) {
      throw new Error(`ArrayGuestMemory: size ${size} must be a positive multiple of 8`);
    }
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  /** True when `[gpa, gpa+len)` lies inside this RAM. */
  contains(gpa: bigint, len: number): boolean {
    return gpa >= this.base && gpa + BigInt(len) <= this.base + BigInt(this.bytes.length);
  }

  private offset(gpa: bigint, len: number): number {
    if (!this.contains(gpa, len)) {
      throw new Error(`gpa 0x${gpa.toString(16)} (+${len}) is outside guest RAM`);
    }
    return Number(gpa - this.base);
  }

  /** Reads a little-endian u64. */
  readU64(gpa: bigint): bigint {
    return this.view.getBigUint64(this.offset(gpa, 8), true);
  }

  /** Writes a little-endian u64 (value taken modulo 2^64). */
  writeU64(gpa: bigint, v: bigint): void {
    this.view.setBigUint64(this.offset(gpa, 8), BigInt.asUintN(64, v), true);
  }

  /** Fills `len` bytes with `byte`. */
  fill(gpa: bigint, len: number, byte: number): void {
    const off = this.offset(gpa, len);
    this.bytes.fill(byte, off, off + len);
  }
}

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
