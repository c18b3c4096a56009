/**
 * Register storage and the generic access rules of the VT-d register block
 * (§10.2 / §11.2 access types): 4- and 8-byte accesses at any 4-byte-aligned
 * offset, masks applied from the register table, write-only fields read 0.
 *
 * An 8-byte access to a 64-bit register at its own offset is one access; any
 * other 8-byte access is two 4-byte accesses, low dword first (so an 8-byte
 * read of GSTS at 0x1C returns GSTS | RTADDR[31:0] << 32). Bad sizes,
 * alignments and offsets are ignored (reads return 0) and reported to the
 * log; nothing here throws for guest input.
 */
import { buildRegisterTable, type RegisterRow, type RegName } from './register-table.js';
import type { Profile } from './profiles.js';

/** A write as the side-effect handlers see it. */
export interface RegisterWrite {
  /** The register written. */
  readonly row: RegisterRow;
  /** Register value before the write. */
  readonly old: bigint;
  /** Register value after masks were applied. */
  readonly value: bigint;
  /** The written bits, positioned in the register (other lanes 0). */
  readonly written: bigint;
  /** Which bits this access covered (0xffffffff, 0xffffffff00000000 or all 64). */
  readonly lanes: bigint;
}

/** Per-register side effects; the generic masked write has already happened when `write` runs. */
export interface RegisterHooks {
  /** Replaces the generic masked write entirely (queued-invalidation registers). */
  route?(row: RegisterRow): { write(value: bigint, lanes: bigint): void; read(): bigint } | undefined;
  /** Side effects after a generic write. */
  afterWrite?(w: RegisterWrite): void;
}

const DWORD = 0xffff_ffffn;
const QWORD = 0xffff_ffff_ffff_ffffn;

/** The register block of one VT-d unit: raw storage plus decode of guest accesses. */
export class RegisterFile {
  /** Register rows by name. */
  readonly rows: ReadonlyMap<RegName, RegisterRow>;
  /** Size of the register block in bytes. */
  readonly blockSize: number;
  private readonly values = new Map<RegName, bigint>();
  /** Row covering each dword of the block (index = offset / 4). */
  private readonly byDword: (RegisterRow | undefined)[];
  private hooks: RegisterHooks = {};

  /**
   * Builds the block of `profile`; `log` receives one line per ignored access.
   * @param profile The profile whose register layout and reset values the block has.
   */
  constructor(readonly profile: Profile, private readonly log: (msg: string) => void = () => {}) {
    const table = buildRegisterTable(profile);
    this.blockSize = profile.blockSize;
    this.rows = new Map(table.map((r) => [r.name, r]));
    this.byDword = new Array<RegisterRow | undefined>(this.blockSize / 4).fill(undefined);
    for (const r of table) {
      for (let d = 0; d < r.width / 4; d++) {
        if (this.byDword[r.offset / 4 + d]) throw new Error(`profile: register ${r.name} overlaps another`);
        this.byDword[r.offset / 4 + d] = r;
      }
    }
    this.reset();
  }

  /** Installs the side-effect hooks (done once by the unit). */
  setHooks(hooks: RegisterHooks): void {
    this.hooks = hooks;
  }

  /** Puts every register back to its reset value. */
  reset(): void {
    for (const r of this.rows.values()) this.values.set(r.name, r.reset);
  }

  /** Raw stored value (no write-only masking, no routing). Throws for an unknown name. */
  get(name: RegName): bigint {
    const v = this.values.get(name);
    if (v === undefined) throw new Error(`name: no register ${name} in profile ${this.profile.name}`);
    return v;
  }

  /** Stores a raw value (truncated to the register width), no masks, no side effects. */
  set(name: RegName, value: bigint): void {
    const r = this.rows.get(name);
    if (!r) throw new Error(`name: no register ${name} in profile ${this.profile.name}`);
    this.values.set(name, value & (r.width === 8 ? QWORD : DWORD));
  }

  /** True if the profile has a register of that name. */
  has(name: RegName): boolean {
    return this.rows.has(name);
  }

  /** Guest read of `size` bytes at `offset`; bad accesses read 0 and are logged. */
  read(offset: number, size: number): bigint {
    if (!this.accessOk(offset, size, 'read')) return 0n;
    const r = this.byDword[offset / 4];
    if (size === 8 && r && r.width === 8 && r.offset === offset) return this.readRow(r);
    if (size === 4) return this.readDword(offset);
    return this.readDword(offset) | (this.readDword(offset + 4) << 32n);
  }

  /** Guest write of `size` bytes at `offset`; bad accesses are logged and ignored. */
  write(offset: number, size: number, value: bigint): void {
    if (!this.accessOk(offset, size, 'write')) return;
    const v = BigInt.asUintN(size * 8, value);
    const r = this.byDword[offset / 4];
    if (size === 8 && r && r.width === 8 && r.offset === offset) {
      this.writeRow(r, v, QWORD);
      return;
    }
    this.writeDword(offset, v & DWORD);
    if (size === 8) this.writeDword(offset + 4, v >> 32n);
  }

  private accessOk(offset: number, size: number, kind: string): boolean {
    const ok = (size === 4 || size === 8) && Number.isInteger(offset) && offset >= 0
      && offset % 4 === 0 && offset + size <= this.blockSize;
    if (!ok) this.log(`ignored ${size}-byte ${kind} at offset 0x${offset.toString(16)}`);
    return ok;
  }

  private readDword(offset: number): bigint {
    const r = this.byDword[offset / 4];
    if (!r) return 0n;
    const shift = BigInt((offset - r.offset) * 8);
    return (this.readRow(r) >> shift) & DWORD;
  }

  private readRow(r: RegisterRow): bigint {
    const routed = this.hooks.route?.(r);
    if (routed) return routed.read();
    return this.get(r.name) & ~r.writeOnly;
  }

  private writeDword(offset: number, v32: bigint): void {
    const r = this.byDword[offset / 4];
    if (!r) {
      this.log(`ignored write to unimplemented offset 0x${offset.toString(16)}`);
      return;
    }
    const shift = BigInt((offset - r.offset) * 8);
    this.writeRow(r, v32 << shift, DWORD << shift);
  }

  /** The generic masked write of the bits in `lanes`, then the side-effect hook. */
  private writeRow(r: RegisterRow, written: bigint, lanes: bigint): void {
    const old = this.get(r.name);
    const routed = this.hooks.route?.(r);
    if (routed) {
      routed.write((old & ~lanes) | written, lanes);
      return;
    }
    const wr = r.writable & lanes;
    let value = (old & ~wr) | (written & wr);
    value &= ~(written & r.w1c & lanes);
    this.values.set(r.name, value);
    this.hooks.afterWrite?.({ row: r, old, value, written, lanes });
  }
}
