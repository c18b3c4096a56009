/**
 * Register storage and the generic access rules of the VT-d register block
 * (§10.2 / §11.2 access types): 4- and 8-byte accesses at any 4-byte-aligned
 * offset, masks applied from the register table, write-only fields read 0.
 *
 * The hot path works on numbers: the profile's register table
 * (register-table.ts) is precomputed into typed arrays indexed by dword
 * (offset / 4): stored value, writable mask, write-1-to-clear mask, read
 * mask, and the row each dword belongs to. A plain register access is a few
 * array loads and bit operations; per-register handlers (`onWrite`,
 * `route`, `onRead`) exist only for registers with side effects.
 *
 * An 8-byte access to a 64-bit register at its own offset is one access; any
 * other 8-byte access is two 4-byte accesses, low dword first (so an 8-byte
 * read of GSTS at 0x1C returns GSTS | RTADDR[31:0] << 32). Bad sizes,
 * alignments and offsets are ignored (reads return 0) and reported to the
 * log; nothing here throws for guest input.
 */
import { buildRegisterTable, type RegisterRow, type RegName } from './register-table.js';
import type { Profile } from './profiles.js';

/** Which dwords of a register an access covered: bit 0 the low dword, bit 1 the high dword. */
export const LANE_LO = 1;
/** The high dword of a 64-bit register. */
export const LANE_HI = 2;

/**
 * Side effect after the generic masked write of a register. `written` is the
 * value the guest wrote into the lowest dword the access covered (the low
 * dword when `lanes` has LANE_LO, else the high dword); the stored value
 * is already updated.
 */
export type WriteHandler = (written: number, lanes: number) => void;

/**
 * A register whose writes a component owns entirely (the invalidation
 * queue): `lo`/`hi` is the whole register after merging the written lanes
 * into the stored value; no generic write happens.
 */
export type WriteRoute = (lo: number, hi: number, lanes: number) => void;

/** Guest-visible value of dword `half` (0 low, 1 high) of a register whose reads a component computes. */
export type ReadRoute = (half: number) => number;

const ROW_NONE = -1;

/** The register block of one VT-d unit: raw storage plus decode of guest accesses. */
export class RegisterFile {
  /** Register rows by name. */
  readonly rows: ReadonlyMap<RegName, RegisterRow>;
  /** Size of the register block in bytes. */
  readonly blockSize: number;
  /** High dword of the last `read64` (the low dword is its return value). */
  readHigh = 0;
  /** Stored values, one u32 per dword of the block. */
  private readonly vals: Uint32Array;
  private readonly resetVals: Uint32Array;
  private readonly writable: Uint32Array;
  private readonly w1c: Uint32Array;
  /** Bits a guest read returns (write-only fields read 0; no register: 0). */
  private readonly readMask: Uint32Array;
  /** Row index of each dword (ROW_NONE outside every register). */
  private readonly rowAt: Int16Array;
  /** Dword index of each row's first dword, its width in dwords. */
  private readonly rowStart: Uint16Array;
  private readonly rowDwords: Uint8Array;
  private readonly rowIndex = new Map<RegName, number>();
  private readonly writeHandlers: (WriteHandler | undefined)[];
  private readonly writeRoutes: (WriteRoute | undefined)[];
  private readonly readRoutes: (ReadRoute | undefined)[];

  /**
   * Builds the block of `profile`; `log` receives one line per ignored access.
   * @param profile The profile whose register layout and reset values the block has.
   */
  constructor(readonly profile: Profile, private readonly log: (msg: string) => void = () => {}) {
    const table = buildRegisterTable(profile);
    this.blockSize = profile.blockSize;
    this.rows = new Map(table.map((r) => [r.name, r]));
    const dwords = this.blockSize >>> 2;
    this.vals = new Uint32Array(dwords);
    this.resetVals = new Uint32Array(dwords);
    this.writable = new Uint32Array(dwords);
    this.w1c = new Uint32Array(dwords);
    this.readMask = new Uint32Array(dwords);
    this.rowAt = new Int16Array(dwords).fill(ROW_NONE);
    this.rowStart = new Uint16Array(table.length);
    this.rowDwords = new Uint8Array(table.length);
    this.writeHandlers = new Array<WriteHandler | undefined>(table.length).fill(undefined);
    this.writeRoutes = new Array<WriteRoute | undefined>(table.length).fill(undefined);
    this.readRoutes = new Array<ReadRoute | undefined>(table.length).fill(undefined);
    table.forEach((r, i) => this.addRow(r, i));
    this.reset();
  }

  private addRow(r: RegisterRow, i: number): void {
    const first = r.offset >>> 2;
    this.rowIndex.set(r.name, i);
    this.rowStart[i] = first;
    this.rowDwords[i] = r.width >>> 2;
    for (let d = 0; d < r.width >>> 2; d++) {
      if (this.rowAt[first + d] !== ROW_NONE) throw new Error(`profile: register ${r.name} overlaps another`);
      const shift = BigInt(32 * d);
      const dword = (v: bigint): number => Number((v >> shift) & 0xffff_ffffn);
      this.rowAt[first + d] = i;
      this.resetVals[first + d] = dword(r.reset);
      this.writable[first + d] = dword(r.writable);
      this.w1c[first + d] = dword(r.w1c);
      this.readMask[first + d] = ~dword(r.writeOnly) >>> 0;
    }
  }

  /** Side effects of register `name` after its generic masked write (one handler per register). */
  onWrite(name: RegName, handler: WriteHandler): void {
    this.writeHandlers[this.indexOf(name)] = handler;
  }

  /** Hands every write of register `name` to `route` instead of the generic masked write. */
  routeWrites(name: RegName, route: WriteRoute): void {
    this.writeRoutes[this.indexOf(name)] = route;
  }

  /** Guest reads of register `name` return what `route` computes. */
  routeReads(name: RegName, route: ReadRoute): void {
    this.readRoutes[this.indexOf(name)] = route;
  }

  /** Puts every register back to its reset value. */
  reset(): void {
    this.vals.set(this.resetVals);
  }

  /** Raw stored value (no write-only masking, no routing). Throws for an unknown name. */
  get(name: RegName): bigint {
    const i = this.indexOf(name);
    const d = this.rowStart[i]!;
    const lo = BigInt(this.vals[d]!);
    return this.rowDwords[i] === 2 ? lo | (BigInt(this.vals[d + 1]!) << 32n) : lo;
  }

  /** Stores a raw value (truncated to the register width), no masks, no side effects. */
  set(name: RegName, value: bigint): void {
    const i = this.indexOf(name);
    const d = this.rowStart[i]!;
    this.vals[d] = Number(value & 0xffff_ffffn);
    if (this.rowDwords[i] === 2) this.vals[d + 1] = Number((value >> 32n) & 0xffff_ffffn);
  }

  /** Raw stored dword at byte offset `offset` (4-aligned, inside the block): the number form of `get`. */
  dword(offset: number): number {
    return this.vals[offset >>> 2]!;
  }

  /** Stores a raw dword at byte offset `offset`: the number form of `set` (no masks, no side effects). */
  setDword(offset: number, value: number): void {
    this.vals[offset >>> 2] = value;
  }

  /** True if the profile has a register of that name. */
  has(name: RegName): boolean {
    return this.rowIndex.has(name);
  }

  /** Guest 4-byte read at `offset`; bad accesses read 0 and are logged. */
  read32(offset: number): number {
    if (!this.aligned(offset, 4)) {
      this.log(`ignored 4-byte read at offset ${hex(offset)}`);
      return 0;
    }
    return this.readDword(offset >>> 2);
  }

  /**
   * Guest 8-byte read at `offset`: returns the low dword, the high dword is
   * in `readHigh`. At the block's last dword the access is that dword (the
   * rest reads 0), as QEMU splits it.
   */
  read64(offset: number): number {
    if (!this.aligned(offset, 8)) {
      if (this.lastDwordOnly(offset)) {
        this.readHigh = 0;
        return this.readDword(offset >>> 2);
      }
      this.log(`ignored 8-byte read at offset ${hex(offset)}`);
      this.readHigh = 0;
      return 0;
    }
    // Reads have no side effects, so an 8-byte read is its two dwords.
    const d = offset >>> 2;
    this.readHigh = this.readDword(d + 1);
    return this.readDword(d);
  }

  /** Guest 4-byte write of `value` (u32 or i32) at `offset`; bad accesses are logged and ignored. */
  write32(offset: number, value: number): void {
    if (!this.aligned(offset, 4)) {
      this.log(`ignored 4-byte write at offset ${hex(offset)}`);
      return;
    }
    this.writeDword(offset >>> 2, value >>> 0);
  }

  /**
   * Guest 8-byte write of `hi:lo` at `offset`; one access for a 64-bit
   * register at its own offset. At the block's last dword only that dword
   * is written, as QEMU splits it.
   */
  write64(offset: number, lo: number, hi: number): void {
    if (!this.aligned(offset, 8)) {
      if (this.lastDwordOnly(offset)) {
        this.log(`8-byte write at offset ${hex(offset)}: its upper dword is past the register block, ignored`);
        this.writeDword(offset >>> 2, lo >>> 0);
      } else {
        this.log(`ignored 8-byte write at offset ${hex(offset)}`);
      }
      return;
    }
    const d = offset >>> 2;
    const r = this.rowAt[d]!;
    if (r !== ROW_NONE && this.rowDwords[r] === 2 && this.rowStart[r] === d) {
      this.writeRow(r, d, lo >>> 0, hi >>> 0, LANE_LO | LANE_HI);
      return;
    }
    if (r === ROW_NONE && this.profile.host.qwordPairMasksOnly) {
      // QEMU's default case: the upper dword's masks (W1C included), no route, no side effect.
      if (this.rowAt[d + 1] !== ROW_NONE) this.merge(d + 1, hi >>> 0);
      return;
    }
    this.writeDword(d, lo >>> 0);
    this.writeDword(d + 1, hi >>> 0);
  }

  /** Guest read of `size` bytes at `offset` (the BigInt form of read32 / read64). */
  read(offset: number, size: number): bigint {
    if (size === 4) return BigInt(this.read32(offset));
    if (size !== 8) {
      this.log(`ignored ${size}-byte read at offset ${hex(offset)}`);
      return 0n;
    }
    const lo = this.read64(offset);
    return BigInt(lo) | (BigInt(this.readHigh) << 32n);
  }

  /** Guest write of `size` bytes at `offset` (the BigInt form of write32 / write64). */
  write(offset: number, size: number, value: bigint): void {
    if (size === 4) this.write32(offset, Number(BigInt.asUintN(32, value)));
    else if (size === 8) this.write64(offset, Number(BigInt.asUintN(32, value)), Number(BigInt.asUintN(32, value >> 32n)));
    else this.log(`ignored ${size}-byte write at offset ${hex(offset)}`);
  }

  /**
   * True for an 8-byte access at the block's last dword. QEMU's memory core
   * splits an access unaligned for its size into aligned ones (an 8-byte
   * access at 4 mod 8 into two dword accesses), and the one past its
   * 0x230-byte block reaches no register: the first dword is performed,
   * the second reads 0 and writes nothing. Recorded on QEMU 10.0 (FRCD0.F
   * cleared by an 8-byte write at 0x22c); every profile does the same.
   */
  private lastDwordOnly(offset: number): boolean {
    return offset === this.blockSize - 4;
  }

  /** True for an integer offset, aligned to 4, with `size` bytes inside the block. */
  private aligned(offset: number, size: number): boolean {
    return offset >= 0 && offset + size <= this.blockSize && (offset & 3) === 0 && offset === Math.floor(offset);
  }

  private readDword(d: number): number {
    const r = this.rowAt[d]!;
    if (r !== ROW_NONE) {
      const route = this.readRoutes[r];
      if (route !== undefined) return route(d - this.rowStart[r]!) >>> 0;
    }
    return (this.vals[d]! & this.readMask[d]!) >>> 0;
  }

  private writeDword(d: number, v: number): void {
    const r = this.rowAt[d]!;
    if (r === ROW_NONE) {
      this.log(`ignored write to unimplemented offset ${hex(d << 2)}`);
      return;
    }
    if (d === this.rowStart[r]) this.writeRow(r, d, v, 0, LANE_LO);
    else this.writeRow(r, d - 1, 0, v, LANE_HI);
  }

  /** The generic masked write of the lanes of row `r` (first dword `d`), then its side effect. */
  private writeRow(r: number, d: number, lo: number, hi: number, lanes: number): void {
    const route = this.writeRoutes[r];
    if (route !== undefined) {
      const wide = this.rowDwords[r] === 2;
      route(lanes & LANE_LO ? lo : this.vals[d]!, wide && !(lanes & LANE_HI) ? this.vals[d + 1]! : hi, lanes);
      return;
    }
    if (lanes & LANE_LO) this.merge(d, lo);
    if (lanes & LANE_HI) this.merge(d + 1, hi);
    const handler = this.writeHandlers[r];
    if (handler !== undefined) handler(lanes & LANE_LO ? lo : hi, lanes);
  }

  private merge(d: number, v: number): void {
    const wr = this.writable[d]!;
    this.vals[d] = ((this.vals[d]! & ~wr) | (v & wr)) & ~(v & this.w1c[d]!);
  }

  private indexOf(name: RegName): number {
    const i = this.rowIndex.get(name);
    if (i === undefined) throw new Error(`name: no register ${name} in profile ${this.profile.name}`);
    return i;
  }
}

function hex(n: number): string {
  return Number.isFinite(n) ? `0x${n.toString(16)}` : String(n);
}
