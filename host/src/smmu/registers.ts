/**
 * The SMMUv3 register table (IHI 0070 §6.3): one row per register with its
 * offset, width, reset value and writable mask, built from a profile; and
 * the register file that applies the generic access rules of §6.2 —
 * 32-bit registers take 32-bit accesses, 64-bit registers 32- or 64-bit
 * accesses (either half alone), anything else is ignored and logged.
 * Side effects belong to the unit (`onWrite` handlers); nothing here throws
 * for guest input.
 */
import { capsOf, type SmmuProfile } from './profiles.js';
import { PRIQ_IRQ_CFG2 } from './spec/priq.js';
import { SMMU_FRAME, SMMU_PAGE, SMMU_REG as R } from './spec/registers.js';

/** One register. */
export interface SmmuRegRow {
  /** The spec's name without the SMMU_ prefix (`CR0`, `STRTAB_BASE`, ...). */
  readonly name: string;
  /** Offset in the 128 KiB frame (page 1 from 0x10000). */
  readonly offset: number;
  /** Bytes: 4 or 8. */
  readonly width: 4 | 8;
  /** Value after reset. */
  readonly reset: bigint;
  /** Bits a guest write changes (the rest keep their value). */
  readonly writable: bigint;
  /** An identification register: its value is the profile's, always (a snapshot must agree). */
  readonly constant?: boolean;
}

const row = (name: string, offset: number, width: 4 | 8, reset = 0n, writable = 0n): SmmuRegRow => ({ name, offset, width, reset, writable });
const idRow = (name: string, offset: number, value: number): SmmuRegRow => ({ ...row(name, offset, 4, BigInt(value >>> 0)), constant: true });

/** MSI address field of *_IRQ_CFG0 (§6.3.20: ADDR 51:2). */
const MSI_ADDR = 0x000f_ffff_ffff_fffcn;

/** The register table of a profile. */
export function buildSmmuRegisters(p: SmmuProfile): SmmuRegRow[] {
  const c = capsOf(p);
  const sw = p.switches;
  const msi = c.msi ? MSI_ADDR : 0n;
  const page1 = sw.page1AliasesPage0 ? SMMU_PAGE : 0;
  // A control register: the spec's writable bits, or every bit where the profile keeps what was written.
  const ctl = (name: string, offset: number, width: 4 | 8, writable: bigint, reset = 0n): SmmuRegRow =>
    row(name, offset, width, reset, sw.registersKeepWrittenBits ? (1n << BigInt(8 * width)) - 1n : writable);
  // *_BASE LOG2SIZE resets to the largest size where the profile says so (else 0: the spec's UNKNOWN).
  const qReset = (log2: number): bigint => (sw.queueBaseResetsToMaxSize ? BigInt(log2) : 0n);
  const rows = [
    ...p.idr.map((v, i) => idRow(`IDR${i}`, R.IDR0 + 4 * i, v)),
    idRow('IIDR', R.IIDR, p.iidr), idRow('AIDR', R.AIDR, p.aidr),
    // CR0: SMMUEN, EVENTQEN, CMDQEN (+ PRIQEN with PRI, ATSCHK with ATS) (§6.3.9).
    ctl('CR0', R.CR0, 4, BigInt(0xd | (c.pri ? 2 : 0) | (c.ats ? 0x10 : 0))),
    row('CR0ACK', R.CR0ACK, 4),
    ctl('CR1', R.CR1, 4, 0xfffn),
    // CR2: RECINVSID, PTM (E2H needs IDR0.HYP) (§6.3.12).
    ctl('CR2', R.CR2, 4, 0x6n),
    row('STATUSR', R.STATUSR, 4),
    ctl('IRQ_CTRL', R.IRQ_CTRL, 4, c.pri ? 7n : 5n),
    row('IRQ_CTRLACK', R.IRQ_CTRLACK, 4),
    row('GERROR', R.GERROR, 4),
    ctl('GERRORN', R.GERRORN, 4, 0x1fdn),
    ctl('GERROR_IRQ_CFG0', R.GERROR_IRQ_CFG0, 8, msi),
    ctl('GERROR_IRQ_CFG1', R.GERROR_IRQ_CFG1, 4, c.msi ? 0xffff_ffffn : 0n),
    ctl('GERROR_IRQ_CFG2', R.GERROR_IRQ_CFG2, 4, c.msi ? 0x3fn : 0n),
    ctl('STRTAB_BASE', R.STRTAB_BASE, 8, 0x400f_ffff_ffff_ffc0n),
    ctl('STRTAB_BASE_CFG', R.STRTAB_BASE_CFG, 4, 0x307ffn),
    ctl('CMDQ_BASE', R.CMDQ_BASE, 8, 0x400f_ffff_ffff_ffffn, qReset(c.cmdqLog2)),
    ctl('CMDQ_PROD', R.CMDQ_PROD, 4, 0xf_ffffn),
    ctl('CMDQ_CONS', R.CMDQ_CONS, 4, 0xf_ffffn),
    ctl('EVENTQ_BASE', R.EVENTQ_BASE, 8, 0x400f_ffff_ffff_ffffn, qReset(c.evtqLog2)),
    // QEMU reads the event queue's MSI registers as zero even where it keeps GERROR's (RES0 without MSIs).
    row('EVENTQ_IRQ_CFG0', R.EVENTQ_IRQ_CFG0, 8, 0n, msi),
    row('EVENTQ_IRQ_CFG1', R.EVENTQ_IRQ_CFG1, 4, 0n, c.msi ? 0xffff_ffffn : 0n),
    row('EVENTQ_IRQ_CFG2', R.EVENTQ_IRQ_CFG2, 4, 0n, c.msi ? 0x3fn : 0n),
    // Page 1 (§6.2); where page 1 aliases page 0 (QEMU), the queue indexes sit at their page-0 offsets.
    ctl('EVENTQ_PROD', R.EVENTQ_PROD - page1, 4, 0x800f_ffffn),
    ctl('EVENTQ_CONS', R.EVENTQ_CONS - page1, 4, 0x800f_ffffn),
    ...p.idRegs.map((v, i) => idRow(`ID${i}`, R.PIDR4 + 4 * i, v)),
  ];
  // The PRI queue (§6.3.33-§6.3.36, §6.3.97, §6.3.98): present only with SMMU_IDR0.PRI, its MSI registers only with IDR0.MSI too.
  if (c.pri) {
    rows.push(
      ctl('PRIQ_BASE', R.PRIQ_BASE, 8, 0x400f_ffff_ffff_ffffn, qReset(c.priqLog2)),
      ctl('PRIQ_PROD', R.PRIQ_PROD - page1, 4, 0x800f_ffffn),
      ctl('PRIQ_CONS', R.PRIQ_CONS - page1, 4, 0x800f_ffffn),
    );
    if (c.msi) {
      rows.push(
        row('PRIQ_IRQ_CFG0', R.PRIQ_IRQ_CFG0, 8, 0n, msi),
        row('PRIQ_IRQ_CFG1', R.PRIQ_IRQ_CFG1, 4, 0n, 0xffff_ffffn),
        row('PRIQ_IRQ_CFG2', R.PRIQ_IRQ_CFG2, 4, 0n, BigInt(PRIQ_IRQ_CFG2.WRITABLE)),
      );
    }
  }
  // SMMU_GBPA (§6.3.14): UPDATE, ABORT, INSTCFG, PRIVCFG, SHCFG (resets to 0b01, "use incoming"), ALLOCCFG, MTCFG, MemAttr.
  if (!sw.noGbpa) rows.push(row('GBPA', R.GBPA, 4, GBPA_RESET, 0x8013_3f1fn), row('AGBPA', R.AGBPA, 4));
  return rows;
}

/** SMMU_GBPA reset value (§6.3.14): SHCFG = 0b01. */
const GBPA_RESET = 0x1000n;

/**
 * Side effect of a guest write to a 32-bit register: its value before the
 * write and now (the writable bits merged in). Every register with side
 * effects is 32 bits wide (§6.3).
 */
export type SmmuWriteHandler = (old: number, now: number) => void;

/** Dwords of one modelled page: the registers sit in the first 4 KiB of page 0 and of page 1 (§6.2, §6.3). */
const PAGE_DWORDS = 0x400;
/** No register at this dword, or no register of that name. */
const NONE = -1;

/**
 * Register storage and decode of guest accesses, on numbers: one u32 per
 * dword of the first 4 KiB of pages 0 and 1 (the rest of the frame holds no
 * register), the writable mask beside it, the row each dword belongs to. A
 * guest access is a few array loads and bit operations; registers with side
 * effects have a handler (`onWrite`). Registers are also reachable by
 * *slot* (`slotOf`, `at`, `put`): the dword index a hot path keeps instead
 * of a name.
 */
export class SmmuRegisterFile {
  /** Rows by name. */
  readonly rows: ReadonlyMap<string, SmmuRegRow>;
  /** High dword of the last `read64` (the low dword is its return value). */
  readHigh = 0;
  private readonly vals = new Uint32Array(2 * PAGE_DWORDS);
  private readonly resetVals = new Uint32Array(2 * PAGE_DWORDS);
  private readonly writable = new Uint32Array(2 * PAGE_DWORDS);
  /** Row index of each dword (NONE outside every register). */
  private readonly rowAt = new Int16Array(2 * PAGE_DWORDS).fill(NONE);
  /** Each row's first slot and width in bytes, by row index. */
  private readonly rowSlot: number[] = [];
  private readonly rowWidth: number[] = [];
  private readonly rowIndex = new Map<string, number>();
  private readonly handlers: (SmmuWriteHandler | undefined)[] = [];
  private readonly aliasPage1: boolean;

  /**
   * The register file of `profile`; `log` hears every ignored access.
   * @param profile The profile whose registers, reset values and page-1 rule the file has.
   */
  constructor(readonly profile: SmmuProfile, private readonly log: (m: string) => void) {
    const table = buildSmmuRegisters(profile);
    this.rows = new Map(table.map((r) => [r.name, r]));
    this.aliasPage1 = profile.switches.page1AliasesPage0;
    table.forEach((r, i) => this.addRow(r, i));
    this.reset();
  }

  private addRow(r: SmmuRegRow, i: number): void {
    const first = slotAt(r.offset);
    if (first === NONE) throw new Error(`profile: register ${r.name} at 0x${r.offset.toString(16)} is outside the modelled pages`);
    this.rowIndex.set(r.name, i);
    this.rowSlot[i] = first;
    this.rowWidth[i] = r.width;
    this.handlers[i] = undefined;
    for (let d = 0; d < r.width / 4; d++) {
      if (this.rowAt[first + d] !== NONE) throw new Error(`profile: register ${r.name} overlaps another`);
      const dword = (v: bigint): number => Number((v >> BigInt(32 * d)) & 0xffff_ffffn);
      this.rowAt[first + d] = i;
      this.resetVals[first + d] = dword(r.reset);
      this.writable[first + d] = dword(r.writable);
    }
  }

  /** Side effects of 32-bit register `name` after each guest write (one handler per register). */
  onWrite(name: string, handler: SmmuWriteHandler): void {
    const i = this.rowIndex.get(name);
    if (i === undefined) return; // a register the profile lacks has no writes
    if (this.rowWidth[i] !== 4) throw new Error(`name: ${name} is not a 32-bit register`);
    this.handlers[i] = handler;
  }

  /** Every register back to its reset value. */
  reset(): void {
    this.vals.set(this.resetVals);
  }

  /** The slot of register `name` (its low dword; a 64-bit register's high dword is the next slot), or -1 if the profile lacks it. */
  slotOf(name: string): number {
    const i = this.rowIndex.get(name);
    return i === undefined ? NONE : this.rowSlot[i]!;
  }

  /** Raw dword at `slot` (0 for slot -1: a register the profile lacks). */
  at(slot: number): number {
    return slot === NONE ? 0 : this.vals[slot]!;
  }

  /** Stores a raw dword at `slot` (hardware-owned fields): no masks, no side effects; slot -1 is ignored. */
  put(slot: number, value: number): void {
    if (slot !== NONE) this.vals[slot] = value;
  }

  /** Raw value of `name` (0 for a register the profile lacks). */
  get(name: string): bigint {
    const i = this.rowIndex.get(name);
    if (i === undefined) return 0n;
    const s = this.rowSlot[i]!;
    const lo = BigInt(this.vals[s]!);
    return this.rowWidth[i] === 8 ? lo | (BigInt(this.vals[s + 1]!) << 32n) : lo;
  }

  /** Stores a raw value (hardware-owned fields), no masks, no side effects. */
  set(name: string, value: bigint): void {
    const i = this.rowIndex.get(name);
    if (i === undefined) return;
    const s = this.rowSlot[i]!;
    this.vals[s] = Number(value & 0xffff_ffffn);
    if (this.rowWidth[i] === 8) this.vals[s + 1] = Number((value >> 32n) & 0xffff_ffffn);
  }

  /**
   * Throws an Error naming the first entry of `values` (register name ->
   * raw value) that this file could not hold: a name the profile lacks, a
   * register missing, a value wider than the register, an identification
   * register that differs from the profile's.
   */
  checkValues(values: Readonly<Record<string, unknown>>): void {
    for (const name of Object.keys(values)) if (!this.rows.has(name)) throw new Error(`state.registers.${name}: no such register in this profile`);
    for (const r of this.rows.values()) {
      const v = values[r.name];
      const what = `state.registers.${r.name}`;
      if (typeof v !== 'bigint' || v < 0n || v >> BigInt(8 * r.width) !== 0n) throw new Error(`${what}: ${String(v)} is not a ${8 * r.width}-bit value`);
      if (r.constant && v !== r.reset) throw new Error(`${what}: 0x${v.toString(16)} is not the profile's 0x${r.reset.toString(16)}`);
    }
  }

  /** Whether the profile has register `name`. */
  has(name: string): boolean {
    return this.rowIndex.has(name);
  }

  /** Guest 4-byte read at frame offset `offset`: the dword; bad accesses read 0 and are logged. */
  read32(offset: number): number {
    const s = this.decode(offset, 4, 'read');
    return s === NONE ? 0 : this.vals[s]!;
  }

  /** Guest 8-byte read: the low dword, the high one in `readHigh`; bad accesses read 0 and are logged. */
  read64(offset: number): number {
    const s = this.decode(offset, 8, 'read');
    if (s === NONE) { this.readHigh = 0; return 0; }
    this.readHigh = this.vals[s + 1]!;
    return this.vals[s]!;
  }

  /** Guest 4-byte write of `value` (u32, or the same bits as an i32); bad accesses are logged and ignored. */
  write32(offset: number, value: number): void {
    const s = this.decode(offset, 4, 'write');
    if (s === NONE) return;
    const old = this.vals[s]!;
    const m = this.writable[s]!;
    const now = ((old & ~m) | (value & m)) >>> 0;
    this.vals[s] = now;
    const h = this.handlers[this.rowAt[s]!];
    if (h !== undefined) h(old, now);
  }

  /** Guest 8-byte write of `hi:lo` (halves u32 or i32) to a 64-bit register; bad accesses are logged and ignored. */
  write64(offset: number, lo: number, hi: number): void {
    const s = this.decode(offset, 8, 'write');
    if (s === NONE) return;
    const m0 = this.writable[s]!;
    const m1 = this.writable[s + 1]!;
    this.vals[s] = ((this.vals[s]! & ~m0) | (lo & m0)) >>> 0;
    this.vals[s + 1] = ((this.vals[s + 1]! & ~m1) | (hi & m1)) >>> 0;
  }

  /** Guest read of 4 or 8 bytes as a bigint (the BigInt form of read32 / read64). */
  read(offset: number, size: number): bigint {
    if (size === 8) {
      const lo = this.read64(offset);
      return (BigInt(this.readHigh) << 32n) | BigInt(lo);
    }
    if (size !== 4) { this.bad(offset, size, 'read', 'bad size or alignment'); return 0n; }
    return BigInt(this.read32(offset));
  }

  /** Guest write of 4 or 8 bytes from a bigint (the BigInt form of write32 / write64). */
  write(offset: number, size: number, value: bigint): void {
    if (size === 8) this.write64(offset, Number(value & 0xffff_ffffn), Number((value >> 32n) & 0xffff_ffffn));
    else if (size === 4) this.write32(offset, Number(value & 0xffff_ffffn));
    else this.bad(offset, size, 'write', 'bad size or alignment');
  }

  /**
   * The slot a `size`-byte access at `offset` reaches, after the profile's
   * page-1 rule; NONE (logged) for a bad size or alignment, no register,
   * or a 64-bit access to a 32-bit register (§6.2: CONSTRAINED
   * UNPREDICTABLE; here, as QEMU, ignored).
   */
  private decode(offset: number, size: 4 | 8, kind: string): number {
    // One test: an integer, aligned to the size, inside the frame.
    if (offset !== (offset & (SMMU_FRAME - size))) return this.bad(offset, size, kind, 'bad size or alignment');
    const s = slotAt(this.aliasPage1 && offset >= SMMU_PAGE ? offset - SMMU_PAGE : offset);
    const row = s === NONE ? NONE : this.rowAt[s]!;
    if (row === NONE) return this.bad(offset, size, kind, 'no register');
    if (size === 8 && this.rowWidth[row] === 4) return this.bad(offset, size, kind, '64-bit access to a 32-bit register');
    return s;
  }

  private bad(offset: number, size: number, kind: string, why: string): number {
    this.log(`smmu: ignored ${size}-byte ${kind} at 0x${typeof offset === 'number' ? offset.toString(16) : String(offset)}: ${why}`);
    return NONE;
  }
}

/** The slot of the dword at frame offset `off` (4-aligned), or NONE where no register can be. */
function slotAt(off: number): number {
  if (off < 0x1000) return off >>> 2;
  const rel = off - SMMU_PAGE;
  return rel >= 0 && rel < 0x1000 ? PAGE_DWORDS + (rel >>> 2) : NONE;
}
