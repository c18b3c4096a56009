/**
 * The VT-d register table (§11.4): one row per register with its offset,
 * width, reset value, writable mask, write-1-to-clear mask and write-only
 * mask. Generic code (register-file.ts) applies the masks; the unit's
 * handlers exist only for side effects.
 *
 * The table depends on the profile: FRCD and IVA/IOTLB positions come from
 * CAP.FRO/NFR and ECAP.IRO, and QEMU's masks differ from the spec's in a few
 * places (noted per row).
 */
import type { Profile } from './profiles.js';
import { CCMD, ECAP, ECTL, FRCD, FSTS, IOTLB, REG } from './spec/registers.js';
import { VCCAP_PAS, VCMD } from './spec/virtual-command.js';

/** Names of the fixed registers. */
export type FixedRegName = keyof typeof REG | 'IVA' | 'IOTLB';
/** Fault recording register halves: FRCD<n>_LO (FI) and FRCD<n>_HI (F, T, FR, PV, SID...). */
export type FrcdRegName = `FRCD${number}_${'LO' | 'HI'}`;
/** Any register name. */
export type RegName = FixedRegName | FrcdRegName;

/** One register of the table. */
export interface RegisterRow {
  /** The spec's register name. */
  readonly name: RegName;
  /** Byte offset in the register block. */
  readonly offset: number;
  /** Width in bytes. */
  readonly width: 4 | 8;
  /** Value after reset. */
  readonly reset: bigint;
  /** Bits software can write. */
  readonly writable: bigint;
  /** Bits a written 1 clears. */
  readonly w1c: bigint;
  /** Bits that read as 0 whatever is stored (write-only fields). */
  readonly writeOnly: bigint;
  /**
   * Read-only bits the unit itself changes (status, results, recorded
   * faults): with `writable` and `w1c`, every bit that may differ from
   * `reset`. The others always hold the profile's value (snapshot restore
   * checks it, register-state.ts).
   */
  readonly hardware: bigint;
}

const ALL32 = 0xffff_ffffn;
const ALL64 = 0xffff_ffff_ffff_ffffn;

function row(
  name: RegName, offset: number, width: 4 | 8,
  m: { reset?: bigint; writable?: bigint; w1c?: bigint; writeOnly?: bigint; hardware?: bigint } = {},
): RegisterRow {
  return {
    name, offset, width, reset: m.reset ?? 0n, writable: m.writable ?? 0n,
    w1c: m.w1c ?? 0n, writeOnly: m.writeOnly ?? 0n, hardware: m.hardware ?? 0n,
  };
}

/** Interrupt Pending of FECTL / IECTL / PECTL, set by the unit. */
const IP = BigInt(ECTL.IP);

/** Registers both QEMU and the spec profile present, with the spec's masks. */
function commonRows(p: Profile): RegisterRow[] {
  const m = p.masks;
  return [
    row('VER', REG.VER, 4, { reset: BigInt(p.ver) }),
    row('CAP', REG.CAP, 8, { reset: p.cap }),
    row('ECAP', REG.ECAP, 8, { reset: p.ecap }),
    // GCMD is write-only: reads return 0 (§11.4.4.1).
    row('GCMD', REG.GCMD, 4, { writable: 0xff80_0000n, writeOnly: ALL32 }),
    // GSTS: one status bit per command (§11.4.4.2); which ones a profile can set is gcmd.ts's.
    row('GSTS', REG.GSTS, 4, { hardware: 0xff80_0000n }),
    // RTADDR: RTA 63:12, TTM 11:10 (§11.4.5).
    row('RTADDR', REG.RTADDR, 8, { writable: 0xffff_ffff_ffff_fc00n }),
    // CCMD: ICC, CIRG writable, CAIG RO, FM and SID write-only (§11.4.6).
    row('CCMD', REG.CCMD, 8, { writable: 0xe000_0003_ffff_ffffn, writeOnly: 0x3_ffff_0000n, hardware: CCMD.CAIG_MASK }),
    // FSTS: the error bits (W1C in the spec profile), PPF and FRI are the unit's (§11.4.7.1).
    row('FSTS', REG.FSTS, 4, { w1c: m.fstsW1c, hardware: BigInt(FSTS.FRI_MASK | 0x7f) }),
    row('FECTL', REG.FECTL, 4, { reset: BigInt(ECTL.IM), writable: BigInt(ECTL.IM), hardware: IP }),
    row('FEDATA', REG.FEDATA, 4, { writable: 0xffffn }),
    row('FEADDR', REG.FEADDR, 4, { writable: 0xffff_fffcn }),
    row('FEUADDR', REG.FEUADDR, 4, { writable: m.upperAddressWritable }),
    // PMEN: RO when CAP.PLMR = CAP.PHMR = 0 (§11.4.8.1).
    row('PMEN', REG.PMEN, 4),
    row('IQH', REG.IQH, 8, { hardware: 0x7fff0n }),
    row('IQT', REG.IQT, 8, { writable: 0x7fff0n }),
    row('IQA', REG.IQA, 8, { writable: 0xffff_ffff_ffff_f807n }),
    row('ICS', REG.ICS, 4, { w1c: 1n }),
    row('IECTL', REG.IECTL, 4, { reset: BigInt(ECTL.IM), writable: BigInt(ECTL.IM), hardware: IP }),
    row('IEDATA', REG.IEDATA, 4, { writable: m.iedataWritable }),
    row('IEADDR', REG.IEADDR, 4, { writable: 0xffff_fffcn }),
    row('IEUADDR', REG.IEUADDR, 4, { writable: m.upperAddressWritable }),
    // IQERCD: ITESID 63:48, ICESID 47:32, IQEI 3:0 (§11.4.9.6).
    row('IQERCD', REG.IQERCD, 8, { hardware: 0xffff_ffff_0000_000fn }),
    row('IRTA', REG.IRTA, 8, { writable: 0xffff_ffff_ffff_f80fn }),
    // IOTLB: IVT, IIRG, DR, DW, DID writable; IAIG RO. IVA write-only.
    row('IOTLB', p.ivaOffset + 8, 8, { writable: 0xb003_ffff_0000_0000n, hardware: IOTLB.IAIG_MASK }),
    row('IVA', p.ivaOffset, 8, { writable: 0xffff_ffff_ffff_f07fn, writeOnly: ALL64 }),
  ];
}

/** Registers only the spec profile presents (all read-only values or simple storage). */
function fullRows(p: Profile): RegisterRow[] {
  const vcs = (p.ecap & ECAP.VCS) !== 0n;
  return [
    row('AFLOG', REG.AFLOG, 8),
    row('PLMBASE', REG.PLMBASE, 4),
    row('PLMLIMIT', REG.PLMLIMIT, 4),
    row('PHMBASE', REG.PHMBASE, 8),
    row('PHMLIMIT', REG.PHMLIMIT, 8),
    // Page-request queue (§11.4.11): PQH software-owned; PQT advanced by hardware but RW
    // (drivers zero it before programming PQA, Linux intel_iommu_enable_prq); PQA base|PQS.
    row('PQH', REG.PQH, 8, { writable: 0x7ffe0n }),
    row('PQT', REG.PQT, 8, { writable: 0x7ffe0n }),
    row('PQA', REG.PQA, 8, { writable: 0xffff_ffff_ffff_f007n }),
    row('PRS', REG.PRS, 4, { w1c: 3n }),
    row('PECTL', REG.PECTL, 4, { reset: BigInt(ECTL.IM), writable: BigInt(ECTL.IM), hardware: IP }),
    row('PEDATA', REG.PEDATA, 4, { writable: 0xffffn }),
    row('PEADDR', REG.PEADDR, 4, { writable: 0xffff_fffcn }),
    row('PEUADDR', REG.PEUADDR, 4, { writable: ALL32 }),
    row('MTRRCAP', REG.MTRRCAP, 8),
    row('MTRRDEF', REG.MTRRDEF, 8),
    // Virtual command interface (virtual-command.ts): read-only zero unless ECAP.VCS.
    row('VCMD', REG.VCMD, 8, { writable: vcs ? VCMD.WRITABLE : 0n }),
    row('VCRSP', REG.VCRSP, 8),
    row('VCCAP', REG.VCCAP, 8, { reset: vcs ? VCCAP_PAS : 0n }),
  ];
}

/** FRCD bits 126:64 the unit writes with a fault: T, AT, PV, FR, PP, EXE, PRIV, SID. */
const FRCD_RECORD = FRCD.T | (3n << FRCD.AT_SHIFT) | (0xfffffn << FRCD.PV_SHIFT) | (0xffn << FRCD.FR_SHIFT) | FRCD.PP | FRCD.EXE | FRCD.PRIV | 0xffffn;

/** FRCD[n] as two 64-bit rows; F (bit 127) is RW1C, the rest RO (§11.4.7.6). */
function frcdRows(p: Profile): RegisterRow[] {
  const rows: RegisterRow[] = [];
  for (let n = 0; n < p.frcdCount; n++) {
    const off = p.frcdOffset + 16 * n;
    rows.push(row(`FRCD${n}_LO`, off, 8, { hardware: 0xffff_ffff_ffff_f000n }));
    rows.push(row(`FRCD${n}_HI`, off + 8, 8, { w1c: FRCD.F, hardware: FRCD_RECORD }));
  }
  return rows;
}

/** Builds the register table of a profile. Rows never overlap and lie inside the block. */
export function buildRegisterTable(p: Profile): RegisterRow[] {
  const rows = [...commonRows(p), ...(p.fullRegisterSet ? fullRows(p) : []), ...frcdRows(p)];
  for (const r of rows) {
    if (r.offset + r.width > p.blockSize) throw new Error(`profile: register ${r.name} outside the block`);
  }
  return rows;
}

/** Name of the FRCD half-row for record `n`. */
export function frcdName(n: number, half: 'LO' | 'HI'): FrcdRegName {
  return `FRCD${n}_${half}`;
}
