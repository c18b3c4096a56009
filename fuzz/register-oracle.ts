/**
 * Register invariants the guest can check through MMIO (§11.4), derived
 * from the register table (host/src/vtd/register-table.ts), not restated:
 *
 * - a read returns no more bits than its size, write-only fields read 0,
 *   offsets no register covers read 0, VER/CAP/ECAP always read their value;
 * - a write never changes VER/CAP/ECAP, a fault record's low half, or GSTS
 *   (unless the same access writes GCMD);
 * - a write to a plain storage register (addresses, data, RTADDR before
 *   SRTP) leaves exactly `old & ~writable | value & writable`, so reserved
 *   bits read 0;
 * - W1C: a written 0 never clears a W1C bit; a written 1 clears the bits
 *   no hardware event can set again during the write (FSTS.PFO, ICS.IWC,
 *   PRS, FRCD.F).
 */
import type { RegisterRow } from '../host/src/vtd/register-table.js';

/** Registers whose value never changes. */
const CONSTANT = new Set(['VER', 'CAP', 'ECAP']);
/** Registers a write only stores into (no side effect on themselves). */
const STORAGE = new Set([
  'RTADDR', 'FEDATA', 'FEADDR', 'FEUADDR', 'IEDATA', 'IEADDR', 'IEUADDR', 'IRTA', 'PEDATA', 'PEADDR', 'PEUADDR',
]);
/** W1C bits per register that nothing re-sets during the write itself. */
function clearableW1c(row: RegisterRow): bigint {
  if (row.name === 'FSTS') return row.w1c & 1n; // PFO; IQE/ITE/ICE may be raised again when the queue resumes
  if (row.name === 'ICS' || row.name === 'PRS' || row.name.startsWith('FRCD')) return row.w1c;
  return 0n;
}

const byteMask = (n: number): bigint => (1n << BigInt(8 * n)) - 1n;

/** Reads a whole register (its own width). */
export type RowReader = (row: RegisterRow) => bigint;

/** Oracles built so far, by register table (tables are cached per machine description: generate.ts registerTableOf). */
const oracles = new WeakMap<readonly RegisterRow[], RegisterOracle>();

/** What a read of `size` bytes at one offset checks, byte by byte (RegisterOracle.readSite). */
interface ReadSite {
  /** The register each byte falls in (undefined: no register). */
  readonly rows: readonly (RegisterRow | undefined)[];
  /** Per byte: the bits that must read 0 (write-only fields, or all of a byte no register covers). */
  readonly zero: readonly number[];
  /** Per byte: the value a constant register's byte always reads, or -1. */
  readonly constant: readonly number[];
}

/** What a write of `size` bytes at one offset touches: its rows and the lanes of each (RegisterOracle.rowsAt). */
interface WriteSite {
  readonly rows: readonly RegisterRow[];
  readonly lanes: readonly bigint[];
}

/** Register invariants of one machine's register table. */
export class RegisterOracle {
  private readonly byByte = new Map<number, RegisterRow>();
  /** Sites by `offset * 16 + size`, built on first use (the table is fixed, so are they). */
  private readonly reads = new Map<number, ReadSite>();
  private readonly writes = new Map<number, WriteSite>();

  /** The oracle of `rows`, built once per table (it holds no state of an execution). */
  static of(rows: readonly RegisterRow[]): RegisterOracle {
    let o = oracles.get(rows);
    if (!o) oracles.set(rows, (o = new RegisterOracle(rows)));
    return o;
  }

  constructor(readonly rows: readonly RegisterRow[]) {
    for (const r of rows) for (let b = 0; b < r.width; b++) this.byByte.set(r.offset + b, r);
  }

  /** Rows an access `[offset, offset+size)` touches. */
  rowsAt(offset: number, size: number): readonly RegisterRow[] {
    return this.writeSite(offset, size).rows;
  }

  private writeSite(offset: number, size: number): WriteSite {
    const key = offset * 16 + size;
    let site = this.writes.get(key);
    if (!site) {
      const rows = new Set<RegisterRow>();
      for (let b = 0; b < size; b++) {
        const r = this.byByte.get(offset + b);
        if (r) rows.add(r);
      }
      site = { rows: [...rows], lanes: [...rows].map((r) => laneMask(r, offset, size)) };
      this.writes.set(key, site);
    }
    return site;
  }

  private readSite(offset: number, size: number): ReadSite {
    const key = offset * 16 + size;
    let site = this.reads.get(key);
    if (!site) {
      const rows: (RegisterRow | undefined)[] = [];
      const zero: number[] = [];
      const constant: number[] = [];
      for (let b = 0; b < size; b++) {
        const row = this.byByte.get(offset + b);
        const shift = row ? BigInt(8 * (offset + b - row.offset)) : 0n;
        rows.push(row);
        zero.push(row ? Number((row.writeOnly >> shift) & 0xffn) : 0xff);
        constant.push(row && CONSTANT.has(row.name) ? Number((row.reset >> shift) & 0xffn) : -1);
      }
      site = { rows, zero, constant };
      this.reads.set(key, site);
    }
    return site;
  }

  /** Checks a read's value; returns a message for a violation. */
  checkRead(offset: number, size: number, value: bigint): string | undefined {
    if (value < 0n || value > byteMask(size)) return `read of ${size} bytes at 0x${offset.toString(16)} returned 0x${value.toString(16)}`;
    const site = this.readSite(offset, size);
    const lo = Number(value & 0xffff_ffffn);
    const hi = size > 4 ? Number(value >> 32n) : 0;
    for (let b = 0; b < size; b++) {
      const got = ((b < 4 ? lo : hi) >>> (8 * (b & 3))) & 0xff;
      const zero = got & site.zero[b]!;
      const constant = site.constant[b]!;
      if (zero === 0 && (constant < 0 || got === constant)) continue;
      const row = site.rows[b];
      const where = `byte 0x${(offset + b).toString(16)}`;
      if (!row) return `${where} is no register but reads 0x${got.toString(16)}`;
      if (zero !== 0) return `${row.name} ${where}: write-only bits read 0x${got.toString(16)}`;
      return `${row.name} ${where}: constant register reads 0x${got.toString(16)}, reset value 0x${constant.toString(16)}`;
    }
    return undefined;
  }

  /**
   * Checks a write: `before`/`after` are the touched rows' values read
   * around it (in `rowsAt` order). Returns a message for a violation.
   */
  checkWrite(offset: number, size: number, value: bigint, before: readonly bigint[], after: readonly bigint[]): string | undefined {
    const { rows, lanes: laneMasks } = this.writeSite(offset, size);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const lanes = laneMasks[i]!;
      const v = shiftInto(row, offset, value) & lanes;
      const b = before[i]!;
      const a = after[i]!;
      const name = (): string => `${row.name} after writing 0x${value.toString(16)} (${size} bytes at 0x${offset.toString(16)})`;
      if (a !== b && readOnlyUnder(row, rows)) {
        return `${name()}: read-only register changed 0x${b.toString(16)} -> 0x${a.toString(16)}`;
      }
      if (STORAGE.has(row.name)) {
        const expect = (b & ~(row.writable & lanes)) | (v & row.writable);
        const visible = expect & ~row.writeOnly;
        if (a !== visible) return `${name()}: reads 0x${a.toString(16)}, expected 0x${visible.toString(16)} (writable mask 0x${row.writable.toString(16)})`;
      }
      const keptW1c = b & row.w1c & lanes & ~v;
      if ((a & keptW1c) !== keptW1c) return `${name()}: a written 0 cleared W1C bits 0x${(keptW1c & ~a).toString(16)}`;
      const cleared = v & clearableW1c(row) & b;
      if ((a & cleared) !== 0n) return `${name()}: written 1 did not clear W1C bits 0x${(a & cleared).toString(16)}`;
    }
    return undefined;
  }
}

/**
 * True when a write touching `rows` must leave `row` unchanged: a constant
 * register, a fault record's low half, or GSTS unless GCMD shares the access.
 */
function readOnlyUnder(row: RegisterRow, rows: readonly RegisterRow[]): boolean {
  if (CONSTANT.has(row.name) || (row.name.startsWith('FRCD') && row.name.endsWith('_LO'))) return true;
  return row.name === 'GSTS' && !rows.some((r) => r.name === 'GCMD');
}

/** Bits of `row` an access `[offset, offset+size)` covers. */
function laneMask(row: RegisterRow, offset: number, size: number): bigint {
  let m = 0n;
  for (let b = 0; b < row.width; b++) {
    const addr = row.offset + b;
    if (addr >= offset && addr < offset + size) m |= 0xffn << BigInt(8 * b);
  }
  return m;
}

/** The written value positioned in `row`'s bit numbering. */
function shiftInto(row: RegisterRow, offset: number, value: bigint): bigint {
  const d = offset - row.offset;
  return d >= 0 ? (value << BigInt(8 * d)) & byteMask(row.width) : value >> BigInt(-8 * d);
}
