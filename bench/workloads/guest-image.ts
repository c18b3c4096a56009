/**
 * A guest-physical memory image built on the host side: page tables and
 * VT-d structures are written here once, then the same bytes are loaded into
 * every implementation under test (the wasm core's RAM, the native C
 * baseline's buffer, the JS baseline's array). Guest-physical address 0 is
 * byte 0 of the image.
 */

/** Page size of every structure the builders allocate (§9: all tables are 4 KiB). */
export const PAGE_SIZE = 4096;

/** A growable little-endian byte image with a page bump allocator. */
export class GuestImage {
  private bytes: Uint8Array;
  private view: DataView;
  private nextFree: number;

  /** `firstFree` is where the allocator starts (page 0 stays unused: a zero pointer is never valid). */
  constructor(initialSize = 1 << 20, firstFree = PAGE_SIZE) {
    if (initialSize % PAGE_SIZE !== 0 || initialSize <= 0) throw new Error(`initialSize must be a positive multiple of 4096, got ${initialSize}`);
    this.bytes = new Uint8Array(initialSize);
    this.view = new DataView(this.bytes.buffer);
    this.nextFree = firstFree;
  }

  /** Bytes in use (the allocator's high-water mark, page aligned). */
  get size(): number {
    return this.nextFree;
  }

  /** The image up to the high-water mark (a view, not a copy). */
  data(): Uint8Array {
    return this.bytes.subarray(0, this.nextFree);
  }

  /** Allocates `pages` zeroed 4 KiB pages aligned to `alignLg2` (>= 12) and returns the first page's GPA. */
  allocPages(pages = 1, alignLg2 = 12): number {
    const align = 2 ** alignLg2;
    const start = Math.ceil(this.nextFree / align) * align;
    const end = start + pages * PAGE_SIZE;
    this.ensure(end);
    this.nextFree = end;
    return start;
  }

  /** Reads a 64-bit entry as a number (exact below 2^53; bench structures stay below). */
  readU64(gpa: number): number {
    return this.view.getUint32(gpa, true) + this.view.getUint32(gpa + 4, true) * 4294967296;
  }

  /** Writes a 64-bit entry given as a number below 2^53. */
  writeU64(gpa: number, value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`value must be a safe non-negative integer, got ${value}`);
    this.view.setUint32(gpa, value % 4294967296, true);
    this.view.setUint32(gpa + 4, Math.floor(value / 4294967296), true);
  }

  /** Writes a 64-bit entry as (hi, lo) 32-bit halves, for fields above bit 52. */
  writeU64Parts(gpa: number, hi: number, lo: number): void {
    this.view.setUint32(gpa, lo >>> 0, true);
    this.view.setUint32(gpa + 4, hi >>> 0, true);
  }

  private ensure(end: number): void {
    if (end <= this.bytes.length) return;
    let size = this.bytes.length;
    while (size < end) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes);
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }
}
