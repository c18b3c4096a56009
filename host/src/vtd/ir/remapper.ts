/**
 * Interrupt remapping of one unit (VT-d chapter 5): the table pointer SIRTP
 * latched from IRTA (base, size, EIME), and the path of an interrupt request
 * (a DWORD write to 0xFEEx_xxxx, §5.1.2) from a device:
 *
 * - IRE off (GSTS.IRES=0): the request passes through unchanged;
 * - compatibility format (address bit 4 = 0): passes through when CFIS=1
 *   and EIME=0, else it is blocked (fault 0x25, §5.1.2.1);
 * - remappable format (§5.1.2.2): interrupt_index = handle (+ subhandle with
 *   SHV) selects an IRTE (§9.10) that is checked (present, reserved fields,
 *   source id per SVT/SQ) and turned into the interrupt the platform
 *   delivers: vector, destination (8-bit xAPIC or 32-bit x2APIC id),
 *   destination mode, delivery mode, trigger mode, redirection hint.
 *
 * A blocked request is a fault value recorded through the unit's fault
 * recorder (§5.1.4.1: FI bits 63:48 = interrupt_index), unless the IRTE's
 * FPD suppresses it. Present IRTEs are cached (entry-cache.ts) until an IEC
 * invalidation. The unit's own event interrupts (fault, invalidation,
 * page-request) are not remapped (§5.1.6) and never come here. Departures
 * of the qemu profiles are `HostQuirks.ir*` switches (docs/PROFILES.md).
 */
import type { GuestMemory } from '../../core/guest-memory.js';
import type { FaultRecord, RecordOutcome } from '../fault-recorder.js';
import type { HostQuirks, Profile } from '../profiles.js';
import type { RegisterFile } from '../register-file.js';
import { CAP, ECAP, GCMD } from '../spec/registers.js';
import {
  COMPAT, IR_FAULT, IR_QUALIFIED, IRTA, IRTE, IRTE_RESERVED, MSI_FORMAT_REMAPPABLE, REMAPPABLE, SQ_MASKS, SVT,
  irFaultInfo, irteDestination, irteField,
} from '../spec/interrupt-remapping.js';
import { InterruptEntryCache, type CachedIrte, type EntryCacheStats } from './entry-cache.js';
import type { Gpa, Sid } from '../../types.js';

/** What an IRTE made of a remappable request. */
export interface RemappedInterrupt {
  /** The interrupt_index whose IRTE was used. */
  readonly index: number;
  /** Interrupt vector (V). */
  readonly vector: number;
  /** APIC id: 8 bits in xAPIC mode, 32 in x2APIC mode (IRTA.EIME). */
  readonly destination: number;
  /** Destination mode: logical (DM=1) or physical. */
  readonly logical: boolean;
  /** DLM (§9.10): 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT. */
  readonly deliveryMode: number;
  /** Trigger mode: level (TM=1) or edge. */
  readonly levelTriggered: boolean;
  /** Redirection hint (RH): lowest-priority delivery may pick another destination. */
  readonly redirectionHint: boolean;
}

/** An interrupt as the platform's interrupt controller receives it. */
export interface DeliveredInterrupt {
  /** Requester id of the sender. */
  readonly sid: Sid;
  /** Message address: as sent, or the compatibility-format message of the remapped interrupt (§5.1.6). */
  readonly address: Gpa;
  /** Message data, likewise. */
  readonly data: number;
  /** Present when the request was remapped through an IRTE. */
  readonly remapped?: RemappedInterrupt;
}

/** What became of an interrupt request. */
export type InterruptOutcome =
  | { readonly ok: true; readonly delivered: DeliveredInterrupt }
  | {
    readonly ok: false;
    /** Interrupt-remapping fault reason (0x20-0x26). */
    readonly reason: number;
    /** The interrupt_index the fault names (0 when none was computed). */
    readonly index: number;
    /** What the fault recorder did; 'suppressed' by the IRTE's FPD, 'silent' when the profile records nothing. */
    readonly outcome: RecordOutcome | 'suppressed' | 'silent';
  };

/** What the remapper uses of its unit. */
export interface IrHost {
  /** The unit's registers (GSTS, IRTA). */
  readonly regs: RegisterFile;
  /** Guest RAM (the interrupt remapping table). */
  readonly mem: GuestMemory;
  /** The unit's profile (CAP/ECAP, quirks). */
  readonly profile: Profile;
  /** Host address width: an IRTE above it faults 0x21. */
  readonly haw: number;
  /** The unit's fault recorder. */
  record(f: FaultRecord): RecordOutcome;
  /** Logs a guest programming error. */
  log(msg: string): void;
}

/** The remapper's state that registers do not hold (snapshots). */
export interface InterruptRemappingState {
  /** True once SIRTP latched a table pointer. */
  readonly latched: boolean;
  /** The IRTA value SIRTP latched. */
  readonly irta: bigint;
}

/** Request counters. */
export interface InterruptRemappingStats {
  /** Interrupt requests seen. */
  readonly requests: number;
  /** Delivered through an IRTE. */
  readonly remapped: number;
  /** Delivered unchanged (IRE off, or compatibility format allowed). */
  readonly passedThrough: number;
  /** Refused with an interrupt-remapping fault. */
  readonly blocked: number;
  /** The interrupt-entry cache's counters. */
  readonly entryCache: EntryCacheStats;
}

type Blocked = Extract<InterruptOutcome, { ok: false }>;

/** Interrupt remapping of one VT-d unit. */
export class InterruptRemapper {
  private latched = false;
  private irta = 0n;
  /** Decoded at SIRTP: table base, entries (0 before SIRTP), x2APIC mode. */
  private base = 0n;
  private entries = 0;
  private x2apic = false;
  private readonly quirks: HostQuirks;
  private readonly cache?: InterruptEntryCache;
  private counts = { requests: 0, remapped: 0, passedThrough: 0, blocked: 0 };

  /** The remapper of the unit `host` describes (no table latched). */
  constructor(private readonly host: IrHost) {
    this.quirks = host.profile.host;
    if (!this.quirks.irNoEntryCache) this.cache = new InterruptEntryCache();
  }

  /** SIRTP (§11.4.4.1): latches IRTA; with CAP.ESIRTPS the entry cache is invalidated too. */
  latchTable(): void {
    this.latch(true, this.host.regs.get('IRTA'));
    if ((this.host.profile.cap & CAP.ESIRTPS) !== 0n) this.cache?.invalidateAll();
  }

  /** IRE changed (GSTS.IRES follows); logs an enable before any SIRTP (every remappable request then faults 0x21). */
  enableChanged(on: boolean): void {
    if (on && !this.latched) this.host.log('GCMD.IRE before SIRTP: no interrupt remapping table latched, remappable interrupts fault 0x21');
  }

  /** Interrupt-entry cache invalidation: all entries, or 2^im entries around `index` (§6.5.2.7). */
  invalidateEntries(scope: { index: number; im: number } | 'all'): void {
    if (scope === 'all') this.cache?.invalidateAll();
    else this.cache?.invalidateIndex(scope.index, scope.im);
  }

  /** An interrupt request (a write of `data` to `address` in the interrupt range) from `sid`. */
  request(sid: Sid, address: Gpa, data: number): InterruptOutcome {
    this.counts.requests++;
    const gsts = Number(this.host.regs.get('GSTS'));
    if (!(gsts & GCMD.IRE)) return this.pass(sid, address, data);
    const lo = Number(address & 0xffff_ffffn);
    if (lo & MSI_FORMAT_REMAPPABLE) return this.remappable(sid, lo, data >>> 0);
    const blocked = this.x2apic || !(gsts & GCMD.CFI);
    if (blocked && !this.quirks.irCompatPassThrough) return this.fault(sid, IR_FAULT.COMPAT_BLOCKED, 0, false);
    return this.pass(sid, address, data);
  }

  /** Back to the power-on state (no table latched, cache empty, counters zero). */
  reset(): void {
    this.latch(false, 0n);
    this.cache?.invalidateAll();
    this.counts = { requests: 0, remapped: 0, passedThrough: 0, blocked: 0 };
  }

  /** Table size in entries (0 before SIRTP). */
  get tableEntries(): number {
    return this.entries;
  }

  /** Counters and entry-cache statistics. */
  stats(): InterruptRemappingStats {
    const entryCache = this.cache?.stats() ?? { hits: 0, misses: 0, invalidated: 0 };
    return { ...this.counts, entryCache };
  }

  /** The latched table pointer, for a snapshot. */
  saveState(): InterruptRemappingState {
    return { latched: this.latched, irta: this.irta };
  }

  /** Restores `saveState()` output (the entry cache starts empty); throws an Error naming a bad field. */
  loadState(s: InterruptRemappingState): void {
    if (typeof s !== 'object' || s === null) throw new Error('state: not an object');
    if (typeof s.latched !== 'boolean') throw new Error(`state.latched: ${String(s.latched)} is not a boolean`);
    if (typeof s.irta !== 'bigint' || s.irta < 0n || s.irta >= 1n << 64n) throw new Error(`state.irta: ${String(s.irta)} is not a 64-bit value`);
    this.latch(s.latched, s.irta);
    this.cache?.invalidateAll();
  }

  private latch(latched: boolean, irta: bigint): void {
    this.latched = latched;
    this.irta = irta;
    const width = this.quirks.irtaMaskedToAw ? (1n << BigInt(this.host.haw)) - 1n : IRTA.ADDR_MASK;
    this.base = irta & IRTA.ADDR_MASK & width;
    this.entries = latched ? IRTA.entries(irta) : 0;
    // x2APIC mode: EIME where ECAP.EIM allows it (else the bit is RsvdZ).
    this.x2apic = (irta & IRTA.EIME) !== 0n && (this.host.profile.ecap & ECAP.EIM) !== 0n;
  }

  // -- remappable requests ---------------------------------------------------

  private remappable(sid: number, lo: number, data: number): InterruptOutcome {
    const shv = (lo & REMAPPABLE.SHV) !== 0;
    let index = REMAPPABLE.handle(lo) + (shv ? REMAPPABLE.subhandle(data) : 0);
    if (this.quirks.irIndexWraps) index &= 0xffff;
    const dataReserved = (data & REMAPPABLE.DATA_RESERVED) !== 0;
    if (dataReserved && !this.quirks.irDataCheckAfterEntry) return this.fault(sid, IR_FAULT.REQUEST_RESERVED, index, false);
    if (index >= this.entries) return this.fault(sid, IR_FAULT.INDEX_BEYOND_TABLE, index, false);
    const gpa = this.base + 16n * BigInt(index);
    if (gpa + 16n > 1n << BigInt(this.host.haw)) return this.fault(sid, IR_FAULT.INDEX_BEYOND_TABLE, index, false);
    const words = this.fetch(index, gpa);
    if (!words) return this.fault(sid, IR_FAULT.TABLE_UNREADABLE, index, false);
    const fpd = irteField(words, IRTE.FPD) === 1;
    const bad = this.checkEntry(words, sid);
    if (bad) return this.fault(sid, bad, index, fpd);
    if (dataReserved && shv) return this.fault(sid, IR_FAULT.REQUEST_RESERVED, 0, false);
    return this.deliver(sid, index, words);
  }

  /** The IRTE at `index`: from the entry cache, else from the table (cached if present). */
  private fetch(index: number, gpa: bigint): CachedIrte | undefined {
    const hit = this.cache?.lookup(index);
    if (hit) return hit;
    if (!this.host.mem.contains(gpa, 16)) {
      this.host.log(`interrupt remapping: IRTE ${index} at 0x${gpa.toString(16)} is outside RAM`);
      return undefined;
    }
    const b = this.host.mem.read(gpa, 16);
    const dw = (i: number): number => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
    const words: CachedIrte = [dw(0), dw(4), dw(8), dw(12)];
    if (irteField(words, IRTE.P) === 1) this.cache?.fill(index, words);
    return words;
  }

  /** The fault an IRTE gives a request from `sid`, or 0 when it may be used (§5.1.4.1 order). */
  private checkEntry(words: CachedIrte, sid: number): number {
    if (irteField(words, IRTE.P) === 0) return IR_FAULT.ENTRY_NOT_PRESENT;
    if (this.reservedSet(words)) return IR_FAULT.ENTRY_RESERVED;
    const svt = irteField(words, IRTE.SVT);
    const source = irteField(words, IRTE.SID);
    if (svt === SVT.MASKED) {
      const mask = SQ_MASKS[irteField(words, IRTE.SQ)]!;
      return (sid & mask) === (source & mask) ? 0 : IR_FAULT.SOURCE_ID;
    }
    if (svt === SVT.BUS_RANGE) {
      const [first, last] = this.quirks.irBusRangeSwapped ? [source & 0xff, source >>> 8] : [source >>> 8, source & 0xff];
      const bus = sid >>> 8;
      return bus >= first && bus <= last ? 0 : IR_FAULT.SOURCE_ID;
    }
    return svt === SVT.RESERVED ? IR_FAULT.SOURCE_ID : 0;
  }

  /** Reserved fields of a present IRTE (§9.10), the conditional ones included. */
  private reservedSet(words: CachedIrte): boolean {
    if ((words[0] & IRTE_RESERVED.DW0) !== 0 || (words[2] & IRTE_RESERVED.DW2) !== 0 || (words[3] & IRTE_RESERVED.DW3) !== 0) return true;
    if (this.quirks.irQemuReservedIrte) return false;
    if (!this.x2apic && (words[1] & IRTE_RESERVED.DW1_XAPIC) !== 0) return true;
    // IM=1 is the posted format (§9.11), reserved without CAP.PI; SVT=11 is reserved.
    if (irteField(words, IRTE.IM) === 1 && (this.host.profile.cap & CAP.PI) === 0n) return true;
    return irteField(words, IRTE.SVT) === SVT.RESERVED;
  }

  private deliver(sid: number, index: number, words: CachedIrte): InterruptOutcome {
    const remapped: RemappedInterrupt = {
      index, vector: irteField(words, IRTE.V), destination: irteDestination(words, this.x2apic),
      logical: irteField(words, IRTE.DM) === 1, deliveryMode: irteField(words, IRTE.DLM),
      levelTriggered: irteField(words, IRTE.TM) === 1, redirectionHint: irteField(words, IRTE.RH) === 1,
    };
    this.counts.remapped++;
    return {
      ok: true,
      delivered: { sid, address: COMPAT.address(remapped), data: COMPAT.data(remapped), remapped },
    };
  }

  private pass(sid: number, address: bigint, data: number): InterruptOutcome {
    this.counts.passedThrough++;
    return { ok: true, delivered: { sid, address, data } };
  }

  /** Blocks a request: records the fault unless FPD suppresses it (qualified reasons) or the profile records none. */
  private fault(sid: number, reason: number, index: number, fpd: boolean): Blocked {
    this.counts.blocked++;
    if (fpd && IR_QUALIFIED.has(reason)) return { ok: false, reason, index, outcome: 'suppressed' };
    if (this.quirks.irNoFaultRecords) {
      this.host.log(`interrupt from sid 0x${sid.toString(16)} dropped (reason 0x${reason.toString(16)}, index ${index}), not recorded`);
      return { ok: false, reason, index, outcome: 'silent' };
    }
    const outcome = this.host.record({ sid, reason, addr: irFaultInfo(index), read: false, pp: false, pv: 0 });
    return { ok: false, reason, index, outcome };
  }
}
