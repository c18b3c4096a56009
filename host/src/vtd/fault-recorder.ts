/**
 * Primary fault logging (§7.2.1 in 3.x, registers §11.4.7): fault recording
 * registers FRCD[0..NFR], FSTS (PFO, PPF, FRI, IQE/ICE/ITE) and the fault
 * event (FECTL/FEDATA/FEADDR/FEUADDR).
 *
 * Spec rules (default profile): records are used in turn; a fault whose
 * source already has a pending record (F=1) is collapsed into it; if the next
 * record is still pending, PFO is set and the fault is lost; while PFO is set
 * nothing is recorded. FRI names the record written when PPF went 0->1. The
 * fault event is raised when PPF, PFO, IQE, ICE or ITE gets set while none of
 * the fault-event status bits was set, and withdrawn when software has
 * cleared them all.
 *
 * QEMU profiles (observed on QEMU 7.2 and 10.0, firmware-tests/golden/FORMAT.md): the event conditions are PPF, PFO and IQE
 * only, and the event is withdrawn only by an FSTS write that leaves them
 * clear (clearing FRCD.F alone keeps IP).
 */
import type { EventInterrupts } from './interrupts.js';
import type { Profile } from './profiles.js';
import type { RegisterFile } from './register-file.js';
import { FRCD, FSTS, REG } from './spec/registers.js';
import type { Iova, Sid } from '../types.js';

/** One fault as it is written into a fault recording register. */
export interface FaultRecord {
  /** Requester id (bus << 8 | dev << 3 | fn). */
  readonly sid: Sid;
  /** Fault reason (§7.1.3 tables; the FR_* numbers). */
  readonly reason: number;
  /** Faulting address; bits 11:0 are dropped (FI is 63:12). */
  readonly addr: Iova;
  /** Read (T=1) or write (T=0) request. */
  readonly read: boolean;
  /** PASID present (PP) and the PASID value (PV, 20 bits). */
  readonly pp: boolean;
  /** The PASID value (PV), meaningful when `pp`. */
  readonly pv: number;
  /** Execute requested (EXE, scalable-mode records). */
  readonly exec?: boolean;
  /** Supervisor (privileged) request (PRIV, scalable-mode records). */
  readonly priv?: boolean;
  /** PCIe address type (AT): 0 untranslated, 1 translation request, 2 translated. */
  readonly at?: number;
}

/** The recorder state the registers do not hold (snapshots). */
export interface FaultRecorderState {
  /** Index of the fault recording register written next. */
  readonly next: number;
}

/** What happened to a reported fault. */
export type RecordOutcome = 'recorded' | 'collapsed' | 'overflow' | 'dropped';

const QEMU_EVENT_BITS = FSTS.PPF | FSTS.PFO | FSTS.IQE;
const SPEC_EVENT_BITS = FSTS.PFO | FSTS.PPF | FSTS.AFO | FSTS.APF | FSTS.IQE | FSTS.ICE | FSTS.ITE;

/** Fault recording state machine over a unit's register file. */
export class FaultRecorder {
  /** Index of the record hardware writes next. */
  private next = 0;
  private readonly eventBits: number;

  /** Records into `regs`' FRCD/FSTS registers and raises fault events through `events`. */
  constructor(
    private readonly regs: RegisterFile,
    private readonly profile: Profile,
    private readonly events: EventInterrupts,
    private readonly log: (msg: string) => void,
  ) {
    this.eventBits = profile.host.qemuFaultEventRule ? QEMU_EVENT_BITS : SPEC_EVENT_BITS;
  }

  /** Back to the reset state (registers are reset by the register file). */
  reset(): void {
    this.next = 0;
  }

  /** Logs a fault per the rules above; returns what happened to it. */
  record(f: FaultRecord): RecordOutcome {
    const fsts = this.fsts();
    if (fsts & FSTS.PFO) {
      this.log(`fault ${hex(f.reason)} from sid ${hex(f.sid)} dropped: PFO is set`);
      return 'dropped';
    }
    if (this.pendingFrom(f.sid)) return 'collapsed';
    const idx = this.next;
    if (this.pending(idx)) {
      this.setFsts(fsts | FSTS.PFO);
      this.raiseIfFirst(fsts);
      this.log(`fault ${hex(f.reason)} from sid ${hex(f.sid)} lost: fault record overflow`);
      return 'overflow';
    }
    // FRCD[idx] by offset (its LO and HI rows, register-table.ts frcdRows), not by name: no string per fault.
    const at = this.profile.frcdOffset + 16 * idx;
    this.setQword(at, f.addr & ~0xfffn);
    this.setQword(at + 8, encodeHigh(f));
    this.next = (idx + 1) % this.profile.frcdCount;
    let updated = fsts | FSTS.PPF;
    if (!(fsts & FSTS.PPF)) updated = (updated & ~FSTS.FRI_MASK) | (idx << FSTS.FRI_SHIFT);
    this.setFsts(updated);
    this.raiseIfFirst(fsts);
    return 'recorded';
  }

  /** Sets an invalidation error bit (IQE, ICE, ITE) with the fault-event rule. */
  setStatus(bit: 'IQE' | 'ICE' | 'ITE'): void {
    const fsts = this.fsts();
    this.setFsts(fsts | FSTS[bit]);
    this.raiseIfFirst(fsts);
  }

  /** After software wrote FSTS (W1C already applied). */
  afterFstsWrite(): void {
    this.withdrawIfServiced();
  }

  /** After software wrote an FRCD high qword (F cleared by W1C): recompute PPF. */
  afterFrcdWrite(): void {
    const fsts = this.fsts();
    let anyPending = false;
    for (let n = 0; n < this.profile.frcdCount; n++) anyPending ||= this.pending(n);
    this.setFsts(anyPending ? fsts | FSTS.PPF : fsts & ~FSTS.PPF);
    if (!this.profile.host.qemuFaultEventRule) this.withdrawIfServiced();
  }

  /** The recorder's state for a snapshot. */
  saveState(): FaultRecorderState {
    return { next: this.next };
  }

  /** Restores a state saved by `saveState`; throws an Error naming a field that does not fit this profile. */
  loadState(s: FaultRecorderState): void {
    const n = s?.next;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= this.profile.frcdCount) {
      throw new Error(`state.next: ${String(n)} is not a fault record index (0..${this.profile.frcdCount - 1})`);
    }
    this.next = n;
  }

  /** Index of the record written next (for tests and `info`). */
  nextIndex(): number {
    return this.next;
  }

  private withdrawIfServiced(): void {
    if (!(this.fsts() & this.eventBits)) this.events.withdraw('fault');
  }

  private raiseIfFirst(before: number): void {
    if (before & this.eventBits) return;
    this.events.raise('fault');
  }

  private pending(n: number): boolean {
    // F is bit 127 of the record: bit 31 of its last dword.
    return (this.regs.dword(this.profile.frcdOffset + 16 * n + 12) & 0x8000_0000) !== 0;
  }

  private pendingFrom(sid: number): boolean {
    for (let n = 0; n < this.profile.frcdCount; n++) {
      // SID is bits 79:64 of the record: the low half of its third dword.
      if (this.pending(n) && (this.regs.dword(this.profile.frcdOffset + 16 * n + 8) & 0xffff) === sid) return true;
    }
    return false;
  }

  private fsts(): number {
    return this.regs.dword(REG.FSTS);
  }

  /** Stores the 64-bit `v` (truncated, as RegisterFile.set does) at byte offset `at` of the register block. */
  private setQword(at: number, v: bigint): void {
    this.regs.setDword(at, Number(v & 0xffff_ffffn));
    this.regs.setDword(at + 4, Number((v >> 32n) & 0xffff_ffffn));
  }

  private setFsts(v: number): void {
    this.regs.setDword(REG.FSTS, v >>> 0);
  }
}

/** FRCD bits 127:64 for a fault (§11.4.7.6). */
export function encodeHigh(f: FaultRecord): bigint {
  return FRCD.F | (f.read ? FRCD.T : 0n) | (BigInt((f.at ?? 0) & 3) << FRCD.AT_SHIFT)
    | (BigInt(f.pv & 0xfffff) << FRCD.PV_SHIFT) | (BigInt(f.reason & 0xff) << FRCD.FR_SHIFT)
    | (f.pp ? FRCD.PP : 0n) | (f.exec ? FRCD.EXE : 0n) | (f.priv ? FRCD.PRIV : 0n)
    | BigInt(f.sid & 0xffff);
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
