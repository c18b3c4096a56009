/**
 * Guest RAM as the host sees it: reads and writes over the core's RAM
 * regions (docs/ABI.md "Memory"), without translation. Views are re-created
 * after memory growth. An access outside RAM throws an Error naming the address.
 */
import type { Core } from './core.js';

interface Region { base: bigint; end: bigint; offset: number }

/** Guest-physical memory of a Core. */
export class GuestMemory {
  private regions: Region[] = [];
  private count = -1;

  /** Guest RAM of `core` (the regions `core.addRam` made). */
  constructor(private readonly core: Core) {}

  private refresh(): void {
    const n = this.core.exports.ramRegionCount();
    if (n === this.count) return;
    this.regions = this.core.ramRegions().map((r) => ({ base: BigInt(r.base), end: BigInt(r.base) + BigInt(r.size), offset: r.offset }));
    this.count = n;
  }

  /** The byte offset in core memory of [gpa, gpa+len), or -1 outside RAM. */
  offsetOf(gpa: bigint, len: number): number {
    this.refresh();
    for (const r of this.regions) {
      if (gpa >= r.base && gpa + BigInt(len) <= r.end) return r.offset + Number(gpa - r.base);
    }
    return -1;
  }

  /** True when [gpa, gpa+len) lies inside one RAM region. */
  contains(gpa: bigint, len: number): boolean {
    return this.offsetOf(gpa, len) >= 0;
  }

  // Number forms (as helper core's GuestMemory number API names them; this
  // interim version goes through offsetOf, so subclasses' windows apply).

  /** The byte offset in memory of [gpa, gpa+len) (len >= 1), or -1 outside RAM. */
  offsetAt(gpa: number, len: number): number {
    if (!Number.isSafeInteger(gpa) || gpa < 0 || !Number.isSafeInteger(len) || len < 1) return -1;
    return this.offsetOf(BigInt(gpa), len);
  }

  /**
   * A zero-copy view of guest RAM [gpa, gpa + len) (inside one region).
   * Invalid after the memory grows (fetch it again).
   */
  view(gpa: number, len: number): Uint8Array {
    const off = this.offsetAt(gpa, Math.max(len, 1));
    if (off < 0) throw new Error(`view: gpa ${String(gpa)} (+${len}) is outside guest RAM`);
    return this.core.views().subarray(off, off + len);
  }

  /** Writes the little-endian u32 v at gpa. */
  setUint32(gpa: number, v: number): void {
    if ((v >>> 0) !== v) throw new Error(`setUint32: value ${String(v)} is not a u32`);
    const off = this.offsetAt(gpa, 4);
    if (off < 0) throw new Error(`setUint32: gpa ${String(gpa)} (+4) is outside guest RAM`);
    new DataView(this.core.views().buffer).setUint32(off, v, true);
  }

  private at(gpa: bigint, len: number, what: string): number {
    if (typeof gpa !== 'bigint' || gpa < 0n) throw new Error(`${what}: gpa ${String(gpa)} is not a guest-physical address`);
    if (!Number.isSafeInteger(len) || len < 0) throw new Error(`${what}: len ${String(len)} is not a length`);
    const off = this.offsetOf(gpa, Math.max(len, 1));
    if (off < 0) throw new Error(`${what}: gpa 0x${gpa.toString(16)} (+${len}) is outside guest RAM`);
    return off;
  }

  /** A copy of len bytes at gpa. */
  read(gpa: bigint, len: number): Uint8Array {
    const off = this.at(gpa, len, 'read');
    return this.core.views().slice(off, off + len);
  }

  /** Writes bytes at gpa. */
  write(gpa: bigint, bytes: Uint8Array): void {
    const off = this.at(gpa, bytes.length, 'write');
    this.core.views().set(bytes, off);
  }

  /** Sets len bytes at gpa to byte. */
  fill(gpa: bigint, len: number, byte: number): void {
    if (!Number.isInteger(byte) || byte < 0 || byte > 255) throw new Error(`fill: byte ${String(byte)} is not 0..255`);
    const off = this.at(gpa, len, 'fill');
    this.core.views().fill(byte, off, off + len);
  }

  /** The little-endian u32 at gpa. */
  readU32(gpa: bigint): number {
    const off = this.at(gpa, 4, 'readU32');
    const u8 = this.core.views();
    return new DataView(u8.buffer).getUint32(off, true);
  }

  /** Writes a little-endian u32 at gpa. */
  writeU32(gpa: bigint, v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new Error(`writeU32: value ${String(v)} is not a u32`);
    const off = this.at(gpa, 4, 'writeU32');
    new DataView(this.core.views().buffer).setUint32(off, v, true);
  }

  /** The little-endian u64 at gpa. */
  readU64(gpa: bigint): bigint {
    const off = this.at(gpa, 8, 'readU64');
    return new DataView(this.core.views().buffer).getBigUint64(off, true);
  }

  /** Writes a little-endian u64 at gpa. */
  writeU64(gpa: bigint, v: bigint): void {
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) throw new Error(`writeU64: value ${String(v)} is not a u64`);
    const off = this.at(gpa, 8, 'writeU64');
    new DataView(this.core.views().buffer).setBigUint64(off, v, true);
  }
}
