/**
 * Checks a unit's register values before a restore (snapshots,
 * `VtdUnit.loadState`): a state is accepted only if the unit could have
 * reached it. Per register (register-table.ts): a value of the register's
 * width, every bit outside the writable, write-1-to-clear and
 * unit-changed (`hardware`) masks equal to the profile's value (VER, CAP and
 * ECAP are all such bits). Across registers and the unit's other state:
 * GSTS holds only the status of commands the profile supports (gcmd.ts) and
 * QIES matches the queue, FSTS.FRI names a fault record and PPF says
 * whether one is pending (§11.4.7.1), and IQH is the queue's head
 * (§11.4.9.1). Errors name `state.registers.<NAME>`.
 */
import { gstsBits } from './gcmd.js';
import type { Profile } from './profiles.js';
import { frcdName, type RegisterRow, type RegName } from './register-table.js';
import { FRCD, FSTS, GCMD } from './spec/registers.js';

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** A row with what `checkRegisterValues` compares: its width in bits and the bits no unit changes. */
interface RowCheck {
  readonly row: RegisterRow;
  readonly bits: bigint;
  readonly fixed: bigint;
}

/** The checks of a register table, computed once per table (a restore checks every register). */
const rowChecks = new WeakMap<ReadonlyMap<RegName, RegisterRow>, readonly RowCheck[]>();

function checksOf(rows: ReadonlyMap<RegName, RegisterRow>): readonly RowCheck[] {
  let checks = rowChecks.get(rows);
  if (checks === undefined) {
    checks = [...rows.values()].map((row) => {
      const bits = BigInt(8 * row.width);
      return { row, bits, fixed: ~(row.writable | row.w1c | row.hardware) & ((1n << bits) - 1n) };
    });
    rowChecks.set(rows, checks);
  }
  return checks;
}

/** Throws naming the first register of `values` that no unit of its profile could hold; every row must be present. */
export function checkRegisterValues(rows: ReadonlyMap<RegName, RegisterRow>, values: Readonly<Record<string, unknown>>): void {
  for (const name of Object.keys(values)) {
    if (!rows.has(name as RegName)) throw new Error(`state.registers.${name}: no such register in this profile`);
  }
  for (const { row, bits, fixed } of checksOf(rows)) {
    const v = values[row.name];
    if (v === undefined) throw new Error(`state.registers.${row.name}: missing`);
    if (typeof v !== 'bigint' || v < 0n || v >> bits !== 0n) throw new Error(`state.registers.${row.name}: ${String(v)} is not a ${8 * row.width}-bit value`);
    if ((v ^ row.reset) & fixed) {
      throw new Error(`state.registers.${row.name}: ${hex(v)} changes read-only bits ${hex((v ^ row.reset) & fixed)} (the profile's value there is ${hex(row.reset & fixed)})`);
    }
  }
}

/** What the status checks compare the registers with. */
export interface UnitStatus {
  readonly profile: Profile;
  /** The invalidation queue is enabled (latched at QIE). */
  readonly qiEnabled: boolean;
  /** Its head, in descriptors, and descriptor size. */
  readonly qiHead: number;
  readonly qiWide: boolean;
}

/** Throws naming the register whose status bits contradict the profile or the rest of the state. */
export function checkStatusRegisters(values: Readonly<Record<string, bigint>>, u: UnitStatus): void {
  const gsts = Number(values.GSTS);
  const extra = gsts & ~gstsBits(u.profile);
  if (extra) throw new Error(`state.registers.GSTS: ${hex(gsts)} sets status bits ${hex(extra >>> 0)} profile ${u.profile.name} cannot set`);
  if (((gsts & GCMD.QIE) !== 0) !== u.qiEnabled) throw new Error(`state.registers.GSTS: QIES=${(gsts >>> 26) & 1} but the queue is ${u.qiEnabled ? 'enabled' : 'disabled'}`);
  const fsts = Number(values.FSTS);
  const fri = (fsts & FSTS.FRI_MASK) >>> FSTS.FRI_SHIFT;
  if (fri >= u.profile.frcdCount) throw new Error(`state.registers.FSTS: FRI ${fri} names no fault record (${u.profile.frcdCount} of them)`);
  let pending = false;
  for (let n = 0; n < u.profile.frcdCount; n++) pending ||= (values[frcdName(n, 'HI')]! & FRCD.F) !== 0n;
  if (((fsts & FSTS.PPF) !== 0) !== pending) throw new Error(`state.registers.FSTS: PPF=${(fsts >> 1) & 1} but ${pending ? 'a' : 'no'} fault record is pending`);
  const iqh = values.IQH!;
  const head = BigInt(u.qiHead) << (u.qiWide ? 5n : 4n);
  if (iqh !== head) throw new Error(`state.registers.IQH: ${hex(iqh)} is not the queue's head (${hex(head)})`);
}
