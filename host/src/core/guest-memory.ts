/**
 * Guest RAM as the host sees it: reads and writes over the core's RAM
 * regions (docs/ABI.md "Memory"), without translation — the same bytes the
 * core walks, whether the core carved them (standalone) or the embedder
 * mapped its own RAM (`core.mapRam`).
 *
 * Two layers. The number API is the hot one: guest-physical addresses are
 * numbers (integers below 2^53), values are numbers — u8/u16/u32 exactly,
 * u64 as a number exact below 2^53 (`getUint64`; a larger value is an
 * Error, never a rounded answer: read such a value as two u32 halves) — and
 * a call allocates nothing, creates no DataView and reads no
 * `memory.buffer` (a view detached by memory growth is noticed by its
 * length). The BigInt API (`read`, `write`, `readU64`, ...) is a
 * convenience layer over it. An access outside RAM throws an Error naming
 * the address.
 */
import type { Core } from './core.js';
import type { Gpa } from '../types.js';
import { fillBytes } from './fill-bytes.js';

const TWO_32 = 4294967296;
const MAX_SAFE_HI = 0x1f_ffff; // high word of a u64 below 2^53
const U64_MAX = 0xffff_ffff_ffff_ffffn;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Guest-physical memory of a Core. */
export class GuestMemory {
  // Region table (refreshed when the core's table version changes).
  private bases: number[] = [];
  private sizes: number[] = [];
  private offsets: number[] = [];
  private version = -1;
  // The region of the last access: the common access is one subtraction and a compare.
  private hitBase = 0;
  private hitSize = 0;
  private hitOff = 0;
  // Views over the core's memory (length 0 once memory growth detached them).
  private u8: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  private dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

  /**
   * Guest RAM of `core` (the regions `core.addRam` / `core.mapRam` made, now
   * and later). With `window`, addresses are relative to `window.base` and
   * only [base, base + size) of the core's RAM is reachable (a VM's RAM
   * inside host memory, say); there is no cost per access for it.
   */
  constructor(private readonly core: Core, private readonly window: { readonly base: number; readonly size: number } = { base: 0, size: Number.MAX_SAFE_INTEGER }) {
    if (!Number.isSafeInteger(window.base) || window.base < 0 || !Number.isSafeInteger(window.size) || window.size < 0) {
      throw new Error(`window: { base: ${String(window.base)}, size: ${String(window.size)} } is not a range of guest-physical addresses`);
    }
  }

  // ---- number API -------------------------------------------------------------

  /** The byte offset in memory of [gpa, gpa+len) (len >= 1), or -1 outside RAM. */
  offsetAt(gpa: Gpa<number>, len: number): number {
    const rel = gpa - this.hitBase;
    // rel >>> 0 === rel: an integer in 0..2^32-1 (NaN, fractions, negatives fail).
    if ((rel >>> 0) === rel && rel + len <= this.hitSize) return this.hitOff + rel;
    return this.search(gpa, len);
  }

  private search(gpa: number, len: number): number {
    if (this.version !== this.core.ramTableVersion) this.refreshRegions();
    if (!Number.isSafeInteger(gpa) || gpa < 0 || !Number.isSafeInteger(len) || len < 1) return -1;
    for (let i = 0; i < this.bases.length; i++) {
      const rel = gpa - this.bases[i]!;
      if (rel >= 0 && rel + len <= this.sizes[i]!) {
        this.hitBase = this.bases[i]!;
        this.hitSize = this.sizes[i]!;
        this.hitOff = this.offsets[i]!;
        return this.hitOff + rel;
      }
    }
    return -1;
  }

  // The core's regions, clipped to the window and in its coordinates.
  private refreshRegions(): void {
    const { base, size } = this.window;
    this.bases = [];
    this.sizes = [];
    this.offsets = [];
    for (const r of this.core.ramRegions()) {
      const start = Math.max(r.base, base);
      const end = Math.min(r.base + r.size, base + size);
      if (start >= end) continue;
      this.bases.push(start - base);
      this.sizes.push(end - start);
      this.offsets.push(r.offset + (start - r.base));
    }
    this.version = this.core.ramTableVersion;
  }

  // The offset of [gpa, gpa+len), else an Error naming the access.
  private at(gpa: number, len: number, what: string): number {
    const off = this.offsetAt(gpa, len);
    if (off < 0) throw new Error(`${what}: gpa ${typeof gpa === 'number' && Number.isSafeInteger(gpa) ? `0x${gpa.toString(16)}` : String(gpa)} (+${len}) is outside guest RAM`);
    if (this.u8.length === 0) this.remap();
    return off;
  }

  private remap(): void {
    const b = this.core.unsafeBytes();
    this.u8 = b;
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  /** The byte at gpa. */
  getUint8(gpa: Gpa<number>): number {
    const off = this.at(gpa, 1, 'getUint8');
    return this.u8[off]!;
  }

  /** The little-endian u16 at gpa. */
  getUint16(gpa: Gpa<number>): number {
    const off = this.at(gpa, 2, 'getUint16');
    return this.dv.getUint16(off, true);
  }

  /** The little-endian u32 at gpa. */
  getUint32(gpa: Gpa<number>): number {
    const off = this.at(gpa, 4, 'getUint32');
    return this.dv.getUint32(off, true);
  }

  /** The little-endian u64 at gpa as a number; an Error when it is 2^53 or more (read it as two u32 halves then). */
  getUint64(gpa: Gpa<number>): number {
    const off = this.at(gpa, 8, 'getUint64');
    const hi = this.dv.getUint32(off + 4, true);
    if (hi > MAX_SAFE_HI) throw new Error(`getUint64: the value at gpa 0x${gpa.toString(16)} is 2^53 or more; read it with getUint32 halves or readU64`);
    return hi * TWO_32 + this.dv.getUint32(off, true);
  }

  /** Writes the byte v (0..255) at gpa. */
  setUint8(gpa: Gpa<number>, v: number): void {
    if ((v & 0xff) !== v) throw new Error(`setUint8: value ${String(v)} is not a u8`);
    const off = this.at(gpa, 1, 'setUint8');
    this.u8[off] = v;
  }

  /** Writes the little-endian u16 v at gpa. */
  setUint16(gpa: Gpa<number>, v: number): void {
    if ((v & 0xffff) !== v) throw new Error(`setUint16: value ${String(v)} is not a u16`);
    const off = this.at(gpa, 2, 'setUint16');
    this.dv.setUint16(off, v, true);
  }

  /** Writes the little-endian u32 v at gpa. */
  setUint32(gpa: Gpa<number>, v: number): void {
    if ((v >>> 0) !== v) throw new Error(`setUint32: value ${String(v)} is not a u32`);
    const off = this.at(gpa, 4, 'setUint32');
    this.dv.setUint32(off, v, true);
  }

  /** Writes the little-endian u64 v (an integer below 2^53) at gpa. */
  setUint64(gpa: Gpa<number>, v: number): void {
    if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER && v % 1 === 0)) throw new Error(`setUint64: value ${String(v)} is not an integer in 0..2^53-1`);
    const off = this.at(gpa, 8, 'setUint64');
    this.dv.setUint32(off, v >>> 0, true);
    this.dv.setUint32(off + 4, (v / TWO_32) >>> 0, true);
  }

  /** Copies guest RAM [gpa, gpa + dst.length) into dst (no allocation). */
  readInto(gpa: Gpa<number>, dst: Uint8Array): void {
    const off = this.at(gpa, Math.max(dst.length, 1), 'readInto');
    dst.set(this.u8.subarray(off, off + dst.length));
  }

  /** Copies src into guest RAM at gpa. */
  writeFrom(gpa: Gpa<number>, src: Uint8Array): void {
    const off = this.at(gpa, Math.max(src.length, 1), 'writeFrom');
    this.u8.set(src, off);
  }

  /**
   * A zero-copy view of guest RAM [gpa, gpa + len) (inside one region):
   * what an emulator's devices read and write. Only guest RAM, never the
   * core's state. Invalid after the memory grows (fetch it again).
   */
  view(gpa: Gpa<number>, len: number): Uint8Array {
    const off = this.at(gpa, Math.max(len, 1), 'view');
    return this.u8.subarray(off, off + len);
  }

  // ---- BigInt convenience layer ---------------------------------------------------

  private num(gpa: bigint, what: string): number {
    if (typeof gpa !== 'bigint' || gpa < 0n) throw new Error(`${what}: gpa ${String(gpa)} is not a guest-physical address`);
    // Beyond 2^53 no region exists: -1 makes the access fail as outside RAM.
    return gpa <= SAFE_MAX ? Number(gpa) : -1;
  }

  private len(len: number, what: string): number {
    if (!Number.isSafeInteger(len) || len < 0) throw new Error(`${what}: len ${String(len)} is not a length`);
    return len;
  }

  /** The byte offset in memory of [gpa, gpa+len), or -1 outside RAM. */
  offsetOf(gpa: Gpa, len: number): number {
    return this.offsetAt(this.num(gpa, 'offsetOf'), Math.max(this.len(len, 'offsetOf'), 1));
  }

  /** True when [gpa, gpa+len) lies inside one RAM region. */
  contains(gpa: Gpa, len: number): boolean {
    return this.offsetOf(gpa, len) >= 0;
  }

  /** A copy of len bytes at gpa. */
  read(gpa: Gpa, len: number): Uint8Array {
    const out = new Uint8Array(this.len(len, 'read'));
    const g = this.num(gpa, 'read');
    const off = this.at(g, Math.max(len, 1), 'read');
    out.set(this.u8.subarray(off, off + len));
    return out;
  }

  /** Writes bytes at gpa. */
  write(gpa: Gpa, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new Error(`write: bytes ${typeof bytes} is not a Uint8Array`);
    this.writeFrom(this.num(gpa, 'write'), bytes);
  }

  /** Sets len bytes at gpa to byte. */
  fill(gpa: Gpa, len: number, byte: number): void {
    if (!Number.isInteger(byte) || byte < 0 || byte > 255) throw new Error(`fill: byte ${String(byte)} is not 0..255`);
    const off = this.at(this.num(gpa, 'fill'), Math.max(this.len(len, 'fill'), 1), 'fill');
    fillBytes(this.u8, byte, off, off + len);
  }

  /** The little-endian u32 at gpa. */
  readU32(gpa: Gpa): number {
    return this.getUint32(this.num(gpa, 'readU32'));
  }

  /** Writes a little-endian u32 at gpa. */
  writeU32(gpa: Gpa, v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new Error(`writeU32: value ${String(v)} is not a u32`);
    this.setUint32(this.num(gpa, 'writeU32'), v);
  }

  /** The little-endian u64 at gpa. */
  readU64(gpa: Gpa): bigint {
    const off = this.at(this.num(gpa, 'readU64'), 8, 'readU64');
    return this.dv.getBigUint64(off, true); // one BigInt (two halves, a shift and an or made four)
  }

  /** Writes a little-endian u64 at gpa. */
  writeU64(gpa: Gpa, v: bigint): void {
    if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new Error(`writeU64: value ${String(v)} is not a u64`);
    const off = this.at(this.num(gpa, 'writeU64'), 8, 'writeU64');
    this.dv.setBigUint64(off, v, true); // no BigInt made (splitting into halves made two)
  }
}
