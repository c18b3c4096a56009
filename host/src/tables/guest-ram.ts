/**
 * The narrow view of guest RAM that table code needs (the guest driver's
 * builders, the VMM's table reads, the reference model), a plain-array
 * implementation of it, and word helpers. The host's `GuestMemory`
 * (core/guest-memory.ts) satisfies `GuestMemoryLike`, and so does
 * `ArrayGuestMemory` (for code and tests that need no core).
 */
import type { Gpa } from '../types.js';

/** The guest-RAM operations table code needs (little-endian 64-bit words). */
export interface GuestMemoryLike {
  /** Reads the 64-bit little-endian word at `gpa`; throws outside RAM. */
  readU64(gpa: Gpa): bigint;
  /** Writes the 64-bit little-endian word at `gpa`; throws outside RAM. */
  writeU64(gpa: Gpa, v: bigint): void;
  /** Sets `len` bytes from `gpa` to `byte`; throws outside RAM. */
  fill(gpa: Gpa, len: number, byte: number): void;
}

/** Optional extension: a range check that does not throw. */
export interface GuestMemoryWithContains extends GuestMemoryLike {
  /** True when `[gpa, gpa+len)` lies inside guest RAM. */
  contains(gpa: Gpa, len: number): boolean;
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
  contains(gpa: Gpa, len: number): boolean {
    return gpa >= this.base && gpa + BigInt(len) <= this.base + BigInt(this.bytes.length);
  }

  private offset(gpa: bigint, len: number): number {
    if (!this.contains(gpa, len)) {
      throw new Error(`gpa 0x${gpa.toString(16)} (+${len}) is outside guest RAM`);
    }
    return Number(gpa - this.base);
  }

  /** Reads a little-endian u64. */
  readU64(gpa: Gpa): bigint {
    return this.view.getBigUint64(this.offset(gpa, 8), true);
  }

  /** Writes a little-endian u64 (value taken modulo 2^64). */
  writeU64(gpa: Gpa, v: bigint): void {
    this.view.setBigUint64(this.offset(gpa, 8), BigInt.asUintN(64, v), true);
  }

  /** Fills `len` bytes with `byte`. */
  fill(gpa: Gpa, len: number, byte: number): void {
    const off = this.offset(gpa, len);
    this.bytes.fill(byte, off, off + len);
  }
}

/** Reads `words` consecutive u64 words from `gpa`. */
export function readWords(mem: GuestMemoryLike, gpa: Gpa, words: number): bigint[] {
  return Array.from({ length: words }, (_, i) => mem.readU64(gpa + BigInt(i) * 8n));
}

/** Writes consecutive u64 words from `gpa`. */
export function writeWords(mem: GuestMemoryLike, gpa: Gpa, words: readonly bigint[]): void {
  words.forEach((w, i) => mem.writeU64(gpa + BigInt(i) * 8n, w));
}
