/**
 * The SMMUv3 register table (IHI 0070 §6.3): one row per register with its
 * offset, width, reset value and writable mask, built from a profile; and
 * the register file that applies the generic access rules of §6.2 —
 * 32-bit registers take 32-bit accesses, 64-bit registers 32- or 64-bit
 * accesses (either half alone), anything else is ignored and logged.
 * Side effects belong to the unit (`afterWrite`); nothing here throws for
 * guest input.
 */
import { capsOf, type SmmuProfile } from './profiles.js';
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
}

const row = (name: string, offset: number, width: 4 | 8, reset = 0n, writable = 0n): SmmuRegRow => ({ name, offset, width, reset, writable });

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
    ...p.idr.map((v, i) => row(`IDR${i}`, R.IDR0 + 4 * i, 4, BigInt(v >>> 0))),
    row('IIDR', R.IIDR, 4, BigInt(p.iidr)), row('AIDR', R.AIDR, 4, BigInt(p.aidr)),
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
    ...p.idRegs.map((v, i) => row(`ID${i}`, R.PIDR4 + 4 * i, 4, BigInt(v))),
  ];
  // SMMU_GBPA (§6.3.14): UPDATE, ABORT, INSTCFG, PRIVCFG, SHCFG (resets to 0b01, "use incoming"), ALLOCCFG, MTCFG, MemAttr.
  if (!sw.noGbpa) rows.push(row('GBPA', R.GBPA, 4, GBPA_RESET, 0x8013_3f1fn), row('AGBPA', R.AGBPA, 4));
  return rows;
}

/** SMMU_GBPA reset value (§6.3.14): SHCFG = 0b01. */
const GBPA_RESET = 0x1000n;

/** A guest write as the side-effect handler sees it. */
export interface SmmuRegWrite {
  /** The register written. */
  readonly row: SmmuRegRow;
  /** Its value before the write. */
  readonly old: bigint;
  /** Its value now (the writable bits merged in). */
  readonly value: bigint;
}

const DWORD = 0xffff_ffffn;

/** Register storage and decode of guest accesses. */
export class SmmuRegisterFile {
  /** Rows by name. */
  readonly rows: ReadonlyMap<string, SmmuRegRow>;
  private readonly values = new Map<string, bigint>();
  private readonly byDword = new Map<number, SmmuRegRow>();
  /** Runs after every guest write that reached a register. */
  afterWrite: (w: SmmuRegWrite) => void = () => {};

  /**
   * The register file of `profile`; `log` hears every ignored access.
   * @param profile The profile whose registers, reset values and page-1 rule the file has.
   */
  constructor(readonly profile: SmmuProfile, private readonly log: (m: string) => void) {
    const table = buildSmmuRegisters(profile);
    this.rows = new Map(table.map((r) => [r.name, r]));
    for (const r of table) for (let d = 0; d < r.width; d += 4) this.byDword.set(r.offset + d, r);
    this.reset();
  }

  /** Every register back to its reset value. */
  reset(): void {
    for (const r of this.rows.values()) this.values.set(r.name, r.reset);
  }

  /** Raw value of `name` (0 for a register the profile lacks). */
  get(name: string): bigint {
    return this.values.get(name) ?? 0n;
  }

  /** Stores a raw value (hardware-owned fields), no masks, no side effects. */
  set(name: string, value: bigint): void {
    const r = this.rows.get(name);
    if (r) this.values.set(name, BigInt.asUintN(r.width * 8, value));
  }

  /** Whether the profile has register `name`. */
  has(name: string): boolean {
    return this.rows.has(name);
  }

  /** Guest read; bad accesses read 0 and are logged. */
  read(offset: number, size: number): bigint {
    const at = this.decode(offset, size, 'read');
    if (!at) return 0n;
    const v = this.get(at.row.name);
    return size === 8 ? v : (v >> BigInt(8 * at.byte)) & DWORD;
  }

  /** Guest write; bad accesses are logged and ignored. */
  write(offset: number, size: number, value: bigint): void {
    const at = this.decode(offset, size, 'write');
    if (!at) return;
    const r = at.row;
    const lanes = size === 8 ? (1n << 64n) - 1n : DWORD << BigInt(8 * at.byte);
    const written = BigInt.asUintN(size * 8, value) << BigInt(8 * at.byte);
    const old = this.get(r.name);
    const mask = r.writable & lanes;
    const v = (old & ~mask) | (written & mask);
    this.values.set(r.name, v);
    this.afterWrite({ row: r, old, value: v });
  }

  /** The register and byte lane an access names, after the profile's page-1 rule; undefined (logged) if none. */
  private decode(offset: number, size: number, kind: string): { row: SmmuRegRow; byte: number } | undefined {
    let off = offset;
    const bad = (why: string) => { this.log(`smmu: ignored ${size}-byte ${kind} at 0x${offset.toString(16)}: ${why}`); return undefined; };
    if (!Number.isInteger(off) || off < 0 || off + size > SMMU_FRAME || (size !== 4 && size !== 8) || off % size !== 0) return bad('bad size or alignment');
    if (this.profile.switches.page1AliasesPage0 && off >= SMMU_PAGE) off -= SMMU_PAGE;
    const r = this.byDword.get(off);
    if (!r) return bad('no register');
    // §6.2: a 64-bit access to a 32-bit register is CONSTRAINED UNPREDICTABLE; here (as QEMU) ignored.
    if (size === 8 && r.width === 4) return bad('64-bit access to a 32-bit register');
    return { row: r, byte: off - r.offset };
  }
}
