/**
 * The invalidation queue (VT-d spec §6.5.2, registers §11.4.9): a circular
 * buffer of descriptors in guest memory at IQA, produced by software at IQT
 * and consumed by hardware at IQH.
 *
 * The model consumes synchronously: a write to IQT (or enabling QIE, or
 * clearing an error) runs every descriptor from IQH up to IQT before the
 * MMIO write returns, so wait descriptors always find earlier work done.
 * Processing is bounded by the queue size per call; a queue outside RAM is
 * a descriptor fetch error (IQE), never an exception.
 *
 * Errors (§6.5.2.10): IQE leaves IQH at the bad descriptor and stops fetching
 * until software clears FSTS.IQE; ITE (device-TLB invalidation time-out)
 * aborts the next wait descriptor and stops fetching until FSTS.ITE is
 * cleared; ICE (bad completion) is recorded and processing continues.
 * Profiles change the details (qi-behaviour.ts).
 */
import { ECAP, FSTS } from '../spec/registers.js';
import type { QiHost } from '../qi-host.js';
import { descriptorName, dispatchDescriptor, type QiContext, type QueueError, type StepResult } from './handlers.js';
import { DESC, descType, type DescWords } from './descriptors.js';
import { qiBehaviourFor, type QiBehaviour } from './qi-behaviour.js';
import {
  ICS_IWC, IECTL_IP, IQ_OFFSET_MASK, IQA, IQEI, IQERCD, IQT_QT0, queueEntries, type IqeiCode,
} from './queue-regs.js';

/** The queue registers this class owns. */
export type QiRegister = 'IQA' | 'IQT' | 'IQH' | 'ICS' | 'IQERCD';

/**
 * The queue state the registers do not hold (snapshots): what QIE latched
 * and where fetching stands. Between MMIO accesses nothing else is live.
 */
export interface QiState {
  /** GSTS.QIES. */
  readonly enabled: boolean;
  /** Queue base latched at QIE enable. */
  readonly base: bigint;
  /** Queue size in descriptors (from IQA.QS and DW at enable). */
  readonly entries: number;
  /** 256-bit descriptors (IQA.DW latched at enable). */
  readonly wide: boolean;
  /** IQH in descriptors. */
  readonly head: number;
  /** IQT in descriptors (may lie past the queue: an IQE when fetching resumes). */
  readonly tail: number;
  /** Type of the last fetched descriptor (0: none). */
  readonly lastType: number;
  /** A device-TLB time-out happened: the next wait descriptor is aborted. */
  readonly abortNextWait: boolean;
}

/** Largest queue: QS 7 with 128-bit descriptors (§11.4.9.3). */
const MAX_ENTRIES = queueEntries(7, false);

const ERROR_BITS = BigInt(FSTS.IQE | FSTS.ITE);
const LOW_DWORD = 0xffff_ffffn;

/** Queued invalidation of one VT-d unit. */
export class InvalidationQueue {
  /** The profile's queue rules. */
  readonly behaviour: QiBehaviour;
  private enabled = false;
  /** Latched at QIE enable (§11.4.9.3: software must not change IQA while QIES=1). */
  private base = 0n;
  private entries = queueEntries(0, false);
  private wide = false;
  /** Index of the next descriptor to fetch (IQH) and the software tail (IQT), in descriptors. */
  private head = 0;
  private tail = 0;
  /** Type of the last fetched descriptor (QEMU's QIE-disable rule). */
  private lastType = 0;
  /** A device-TLB time-out happened; the next wait descriptor is aborted. */
  private abortNextWait = false;
  private running = false;
  private readonly ctx: QiContext;

  constructor(private readonly host: QiHost) {
    this.behaviour = qiBehaviourFor(host.profile.name);
    this.ctx = {
      host, behaviour: this.behaviour, cap: host.profile.cap, ecap: host.profile.ecap,
      deviceTimeout: (sid) => this.deviceTimeout(sid),
      takeAbortedWait: () => {
        const was = this.abortNextWait;
        this.abortNextWait = false;
        return was;
      },
    };
  }

  /** True while queued invalidation is enabled (GSTS.QIES). */
  get isEnabled(): boolean {
    return this.enabled;
  }

  /** Descriptors between IQH and IQT not yet processed. */
  get pending(): number {
    return (this.tail - this.head + this.entries) % this.entries;
  }

  /**
   * A guest write to a queue register; `value` is the whole register after
   * merging the written lanes (`lanes`, default all 64 bits). Never throws.
   */
  onWrite(reg: QiRegister, value: bigint, lanes: bigint = 0xffff_ffff_ffff_ffffn): void {
    switch (reg) {
      case 'IQA': return this.writeIqa(value);
      case 'IQT': return this.writeIqt(value, lanes);
      case 'ICS': return this.writeIcs(value);
      default: this.host.log(`qi: write to read-only ${reg} ignored`);
    }
  }

  /** The guest-visible value of a queue register. */
  read(reg: QiRegister): bigint {
    if (reg !== 'IQA') return this.host.regs.get(reg);
    const iqa = this.host.regs.get('IQA');
    switch (this.behaviour.iqaReadBack) {
      case 'register': return iqa;
      case 'latched-base-qs': return this.base | (iqa & IQA.QS_MASK);
      case 'latched-base-qs-dw': return this.base | (iqa & (IQA.QS_MASK | IQA.DW));
    }
  }

  /** GCMD.QIE=1: latch IQA and start fetching at IQH (0). Returns true (QIES becomes 1). */
  enable(): boolean {
    if (this.enabled) return true;
    const iqa = this.host.regs.get('IQA');
    const awMask = (1n << BigInt(this.host.profile.options.awBits)) - 1n;
    this.base = IQA.base(iqa) & (this.behaviour.baseMaskedToAw ? awMask : IQA.BASE_MASK);
    // §11.4.9.3: DW is reserved (treated as 0) without scalable-mode support.
    this.wide = IQA.dw(iqa) && (this.host.profile.ecap & ECAP.SMTS) !== 0n;
    this.entries = queueEntries(IQA.qs(iqa), this.wide);
    this.head = 0;
    this.enabled = true;
    this.writeIqh();
    const raw = this.host.regs.get('IQT');
    if (!(this.wide && (raw & IQT_QT0))) this.tail = this.tailIndex(raw);
    this.drain();
    return true;
  }

  /**
   * GCMD.QIE=0: stop the queue and reset IQH to 0 (§11.4.9.1). Returns false
   * when the profile refuses (QEMU: only when idle after a wait descriptor).
   */
  disable(): boolean {
    if (!this.enabled) return true;
    if (this.behaviour.disableNeedsIdleAfterWait && !(this.head === this.tail && this.lastType === DESC.WAIT)) {
      this.host.log(`qi: QIE=0 refused (IQH ${this.head}, IQT ${this.tail}, last descriptor type ${this.lastType})`);
      return false;
    }
    if (this.head !== this.tail) this.host.log(`qi: QIE=0 with ${this.pending} descriptors pending; they are dropped`);
    this.enabled = false;
    this.head = 0;
    this.abortNextWait = false;
    this.host.regs.set('IQH', 0n);
    return true;
  }

  /**
   * Software cleared FSTS.IQE / ITE: the spec resumes fetching at IQH; QEMU
   * waits for the next IQT write. The unit calls this after every FSTS write.
   */
  resume(): void {
    if (this.behaviour.resumeOnErrorClear) this.drain();
  }

  /** The queue's state for a snapshot (a plain object; registers are saved by the register file). */
  saveState(): QiState {
    const { enabled, base, entries, wide, head, tail, lastType, abortNextWait } = this;
    return { enabled, base, entries, wide, head, tail, lastType, abortNextWait };
  }

  /**
   * Restores a state saved by `saveState` (registers are restored separately).
   * Throws an Error naming the field that is not a possible queue state.
   */
  loadState(s: QiState): void {
    const int = (v: unknown, max: number, what: string): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Error(`state.${what}: ${String(v)} is not an integer in 0..${max}`);
      return v;
    };
    const bool = (v: unknown, what: string): boolean => {
      if (typeof v !== 'boolean') throw new Error(`state.${what}: ${String(v)} is not a boolean`);
      return v;
    };
    if (typeof s?.base !== 'bigint' || s.base < 0n || s.base >= 1n << 64n || (s.base & 0xfffn)) throw new Error(`state.base: ${String(s?.base)} is not a 4 KiB aligned address`);
    const entries = int(s.entries, MAX_ENTRIES, 'entries');
    if (entries === 0 || (entries & (entries - 1))) throw new Error(`state.entries: ${entries} is not a power of two`);
    this.head = int(s.head, entries - 1, 'head');
    this.tail = int(s.tail, Number(IQ_OFFSET_MASK >> 4n), 'tail'); // IQT may point past the queue (IQE on the next fetch)
    this.lastType = int(s.lastType, 0xff, 'lastType');
    this.enabled = bool(s.enabled, 'enabled');
    this.wide = bool(s.wide, 'wide');
    this.abortNextWait = bool(s.abortNextWait, 'abortNextWait');
    this.base = s.base;
    this.entries = entries;
    this.running = false;
  }

  /**
   * A device sent an invalidation completion that matches no request
   * (§6.5.2.10 ICE): records ICESID and sets FSTS.ICE; processing continues.
   */
  invalidCompletion(sid: number): void {
    if (!this.behaviour.deviceErrors) {
      this.host.log(`qi: unexpected invalidation completion from ${sid.toString(16)} ignored`);
      return;
    }
    if (!(this.fsts() & BigInt(FSTS.ICE))) {
      const r = this.host.regs.get('IQERCD') & ~IQERCD.ICESID_MASK;
      this.host.regs.set('IQERCD', r | (BigInt(sid & 0xffff) << IQERCD.ICESID_SHIFT));
    }
    this.host.setFaultStatus('ICE');
  }

  private writeIqa(value: bigint): void {
    if (this.enabled) this.host.log('qi: IQA written while QIES=1; the queue keeps the base and size latched at enable');
    // §11.4.9.3: DW is Reserved(0) without scalable-mode support (QEMU stores it anyway).
    const dwOk = this.behaviour.iqaReadBack !== 'register' || (this.host.profile.ecap & ECAP.SMTS) !== 0n;
    this.host.regs.set('IQA', value & (IQA.BASE_MASK | (dwOk ? IQA.DW : 0n) | IQA.QS_MASK));
  }

  private writeIqt(value: bigint, lanes: bigint): void {
    const raw = value & IQ_OFFSET_MASK;
    this.host.regs.set('IQT', raw);
    if ((lanes & LOW_DWORD) === 0n) return; // IQT 63:32 are RsvdZ: nothing to do
    if (this.effectiveWide() && (raw & IQT_QT0)) {
      if (!this.enabled) return this.host.log('qi: IQT bit 4 set in a 256-bit queue while QIES=0');
      // §11.4.9.2: a 256-bit queue's tail must be 32-byte aligned; the tail does not move.
      this.queueError({ iqei: IQEI.TAIL_MISALIGNED, why: `IQT 0x${raw.toString(16)} has bit 4 set in a 256-bit queue` });
      return;
    }
    this.tail = this.tailIndex(raw);
    this.drain();
  }

  private writeIcs(value: bigint): void {
    const regs = this.host.regs;
    if (value & ICS_IWC) regs.set('ICS', regs.get('ICS') & ~ICS_IWC);
    // §11.4.9.5: clearing IWC withdraws a pending invalidation event.
    if (!(regs.get('ICS') & ICS_IWC)) regs.set('IECTL', regs.get('IECTL') & ~IECTL_IP);
  }

  /** Runs descriptors from IQH to IQT; bounded by the queue size. */
  private drain(): void {
    if (!this.enabled || this.running || (this.fsts() & ERROR_BITS)) return;
    if (this.tail >= this.entries) {
      this.queueError({ iqei: IQEI.INVALID_TAIL, why: `IQT index ${this.tail} beyond the ${this.entries}-entry queue` });
      return;
    }
    this.running = true;
    try {
      for (let budget = this.entries; this.head !== this.tail && budget > 0; budget--) {
        const r = this.step();
        if (r === 'ok' || r === 'stop') {
          this.head = (this.head + 1) % this.entries;
          this.writeIqh();
        }
        if (r !== 'ok') {
          if (r !== 'stop') this.queueError(r);
          break;
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Fetches and runs the descriptor at IQH. */
  private step(): StepResult {
    const words = this.fetch();
    if (!words) {
      this.lastType = 0;
      return { iqei: IQEI.FETCH_ERROR, why: `descriptor at 0x${this.slotGpa().toString(16)} is outside RAM` };
    }
    this.lastType = descType(words[0]);
    try {
      return dispatchDescriptor(this.ctx, words, this.wide);
    } catch (e) {
      // A model bug, not a guest error: log it, keep the queue going.
      this.host.log(`qi: ${descriptorName(this.lastType)} handler failed: ${(e as Error).message}`);
      return 'ok';
    }
  }

  private fetch(): DescWords | undefined {
    const gpa = this.slotGpa();
    const size = this.wide ? 32 : 16;
    if (!this.host.mem.contains(gpa, size)) return undefined;
    const m = this.host.mem;
    return [m.readU64(gpa), m.readU64(gpa + 8n), this.wide ? m.readU64(gpa + 16n) : 0n, this.wide ? m.readU64(gpa + 24n) : 0n];
  }

  private slotGpa(): bigint {
    return this.base + BigInt(this.head * (this.wide ? 32 : 16));
  }

  /** Sets IQE and records the cause; IQH stays at the descriptor (§6.5.2.10). */
  private queueError(e: QueueError): void {
    this.host.log(`qi: IQE at IQH ${this.head}: ${e.why}`);
    if (this.behaviour.recordIqercd) this.setIqei(e.iqei);
    this.host.setFaultStatus('IQE');
  }

  private setIqei(code: IqeiCode): void {
    const r = this.host.regs.get('IQERCD') & ~IQERCD.IQEI_MASK;
    this.host.regs.set('IQERCD', r | BigInt(code));
  }

  private deviceTimeout(sid: number): void {
    if (!this.behaviour.deviceErrors) {
      this.host.log(`qi: device-TLB invalidation for ${sid.toString(16)} timed out; profile treats it as done`);
      return;
    }
    this.host.log(`qi: device-TLB invalidation for ${sid.toString(16)} timed out (ITE)`);
    if (!(this.fsts() & BigInt(FSTS.ITE))) {
      const r = this.host.regs.get('IQERCD') & ~IQERCD.ITESID_MASK;
      this.host.regs.set('IQERCD', r | (BigInt(sid & 0xffff) << IQERCD.ITESID_SHIFT));
    }
    this.abortNextWait = true;
    this.host.setFaultStatus('ITE');
  }

  private fsts(): bigint {
    return this.host.regs.get('FSTS');
  }

  private effectiveWide(): boolean {
    if (this.enabled) return this.wide;
    return IQA.dw(this.host.regs.get('IQA')) && (this.host.profile.ecap & ECAP.SMTS) !== 0n;
  }

  private tailIndex(raw: bigint): number {
    return Number(raw >> (this.effectiveWide() ? 5n : 4n));
  }

  private writeIqh(): void {
    this.host.regs.set('IQH', BigInt(this.head) << (this.wide ? 5n : 4n));
  }
}
