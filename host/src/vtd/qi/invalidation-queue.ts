/**
 * The invalidation queue (VT-d spec §6.5.2, registers §11.4.9): a circular
 * buffer of descriptors in guest memory at IQA, produced by software at IQT
 * and consumed by hardware at IQH.
 *
 * The model consumes in order, synchronously with the guest's accesses: a
 * write to IQT (or enabling QIE, or clearing an error) runs descriptors from
 * IQH towards IQT before the MMIO write returns, so a wait descriptor always
 * finds earlier work done. The work one guest access can cause is bounded
 * (`QI_WORK_BUDGET`): the spec lets hardware process the queue
 * incrementally (software learns progress only from IQH, wait status writes
 * and completion interrupts), so what is left when the budget runs out is
 * processed at the unit's next register access (`backlog`, `drainBacklog`).
 * A queue outside RAM is a descriptor fetch error (IQE), never an exception.
 *
 * Descriptors are fetched as u32 words, a run of slots per RAM read, and
 * decoded with integer operations (descriptors.ts); nothing per descriptor
 * builds a BigInt except the 64-bit addresses of page-selective and
 * device-TLB invalidations.
 *
 * Errors (§6.5.2.10): IQE leaves IQH at the bad descriptor and stops fetching
 * until software clears FSTS.IQE; ITE (device-TLB invalidation time-out)
 * aborts the next wait descriptor and stops fetching until FSTS.ITE is
 * cleared; ICE (bad completion) is recorded and processing continues.
 * Profiles change the details (qi-behaviour.ts).
 */
import { ECAP, FSTS, REG } from '../spec/registers.js';
import type { QiHost } from '../qi-host.js';
import { LANE_HI, LANE_LO } from '../register-file.js';
import {
  descriptorName, descriptorPlans, dispatchDescriptor, typeUnder, type DescriptorPlan, type QiContext, type QueueError, type StepResult,
} from './handlers.js';
import { DESC } from '../spec/descriptors.js';
import type { QiBehaviour } from './qi-behaviour.js';
import {
  ICS_IWC, IECTL_IP, IQ_OFFSET_MASK, IQA, IQEI, IQERCD, IQT_QT0, queueEntries, type IqeiCode,
} from './queue-regs.js';
import type { Sid } from '../../types.js';

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

/**
 * Work one guest register access may make the queue do, in descriptor units:
 * a descriptor handled inside the unit costs 1, one that calls into a device
 * (device-TLB invalidations, page-group responses) costs `EXTERNAL_COST`.
 */
export const QI_WORK_BUDGET = 4096;
/** Work units of a descriptor whose handler calls into a device. */
export const EXTERNAL_COST = 16;
/** Most descriptors fetched by one RAM read. */
const FETCH_RUN = 256;

const ERROR_BITS = FSTS.IQE | FSTS.ITE;

/** Descriptor plans by queue rules and ECAP (they depend on nothing else; a system reset makes a new queue over the same profile). */
const planCache = new WeakMap<QiBehaviour, Map<bigint, readonly (DescriptorPlan | undefined)[]>>();

/** `descriptorPlans(ctx)`, computed once per (queue rules, ECAP). */
function plansOf(ctx: QiContext): readonly (DescriptorPlan | undefined)[] {
  let byEcap = planCache.get(ctx.behaviour);
  if (!byEcap) planCache.set(ctx.behaviour, (byEcap = new Map()));
  let plans = byEcap.get(ctx.ecap);
  if (!plans) byEcap.set(ctx.ecap, (plans = descriptorPlans(ctx)));
  return plans;
}

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
  /** The budget ran out with descriptors pending: the next register access continues. */
  private pendingWork = false;
  private readonly ctx: QiContext;
  private readonly plans: readonly (DescriptorPlan | undefined)[];
  /** The descriptor being processed (words 4-7 are 0 in a 128-bit queue). */
  private readonly words = new Uint32Array(8);
  /** Descriptors fetched by the last RAM read: slots [runFirst, runFirst + runCount). */
  private run: Uint32Array = new Uint32Array(0);
  private runFirst = 0;
  private runCount = 0;

  constructor(private readonly host: QiHost) {
    this.behaviour = host.profile.qi;
    this.ctx = {
      host, behaviour: this.behaviour, cap: host.profile.cap, ecap: host.profile.ecap,
      deviceTimeout: (sid) => this.deviceTimeout(sid),
      takeAbortedWait: () => {
        const was = this.abortNextWait;
        this.abortNextWait = false;
        return was;
      },
    };
    this.plans = plansOf(this.ctx);
  }

  /** True when an access left descriptors for later (the work budget ran out); `drainBacklog` continues. */
  get backlog(): boolean {
    return this.pendingWork;
  }

  /** Continues processing after an access that ran out of budget (the unit calls this on its next access). */
  drainBacklog(): void {
    this.drain();
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
   * A guest write to a queue register: `lo`/`hi` is the whole register after
   * merging the written lanes (`lanes`: LANE_LO | LANE_HI bits). Never throws.
   */
  onWriteWords(reg: QiRegister, lo: number, hi: number, lanes: number): void {
    switch (reg) {
      case 'IQA': return this.writeIqa(lo, hi);
      case 'IQT': return this.writeIqt(lo, lanes);
      case 'ICS': return this.writeIcs(lo);
      default: this.host.log(`qi: write to read-only ${reg} ignored`);
    }
  }

  /** `onWriteWords` with a 64-bit value and lane mask (default all 64 bits). */
  onWrite(reg: QiRegister, value: bigint, lanes: bigint = 0xffff_ffff_ffff_ffffn): void {
    const lanesBits = ((lanes & 0xffff_ffffn) !== 0n ? LANE_LO : 0) | ((lanes >> 32n) !== 0n ? LANE_HI : 0);
    this.onWriteWords(reg, Number(value & 0xffff_ffffn), Number((value >> 32n) & 0xffff_ffffn), lanesBits);
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

  /** The guest-visible dword `half` (0 low, 1 high) of IQA (the register file routes IQA reads here). */
  readIqa(half: number): number {
    const v = this.read('IQA');
    return Number(half === 0 ? v & 0xffff_ffffn : v >> 32n);
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
    this.words.fill(0); // a 128-bit queue never writes words 4-7
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
    this.pendingWork = this.enabled && this.head !== this.tail;
  }

  /**
   * A device sent an invalidation completion that matches no request
   * (§6.5.2.10 ICE): records ICESID and sets FSTS.ICE; processing continues.
   */
  invalidCompletion(sid: Sid): void {
    if (!this.behaviour.deviceErrors) {
      this.host.log(`qi: unexpected invalidation completion from ${sid.toString(16)} ignored`);
      return;
    }
    if (!(this.fsts() & FSTS.ICE)) {
      const r = this.host.regs.get('IQERCD') & ~IQERCD.ICESID_MASK;
      this.host.regs.set('IQERCD', r | (BigInt(sid & 0xffff) << IQERCD.ICESID_SHIFT));
    }
    this.host.setFaultStatus('ICE');
  }

  private writeIqa(lo: number, hi: number): void {
    if (this.enabled) this.host.log('qi: IQA written while QIES=1; the queue keeps the base and size latched at enable');
    // §11.4.9.3: DW is Reserved(0) without scalable-mode support (QEMU stores it anyway).
    const smts = (this.host.profile.ecap & ECAP.SMTS) !== 0n;
    const dwOk = this.behaviour.iqaReadBack !== 'register' || smts;
    const keep = Number(IQA.BASE_MASK & 0xffff_ffffn) | (dwOk ? Number(IQA.DW) : 0) | Number(IQA.QS_MASK);
    this.host.regs.setDword(REG.IQA, (lo & keep) >>> 0);
    this.host.regs.setDword(REG.IQA + 4, hi >>> 0);
    if (this.enabled && this.behaviour.dwLive) this.wide = (lo & Number(IQA.DW)) !== 0 && smts;
  }

  private writeIqt(lo: number, lanes: number): void {
    const raw = (lo & Number(IQ_OFFSET_MASK)) >>> 0;
    this.host.regs.setDword(REG.IQT, raw);
    this.host.regs.setDword(REG.IQT + 4, 0);
    if ((lanes & LANE_LO) === 0) return; // IQT 63:32 are RsvdZ: nothing to do
    if (this.effectiveWide() && (raw & Number(IQT_QT0))) {
      if (!this.enabled) return this.host.log('qi: IQT bit 4 set in a 256-bit queue while QIES=0');
      if (this.behaviour.misalignedTailIgnored) return this.host.log('qi: IQT bit 4 set in a 256-bit queue: stored, the tail does not move');
      // §11.4.9.2: a 256-bit queue's tail must be 32-byte aligned; the tail does not move.
      this.queueError({ iqei: IQEI.TAIL_MISALIGNED, why: `IQT 0x${raw.toString(16)} has bit 4 set in a 256-bit queue` });
      return;
    }
    this.tail = raw >>> (this.effectiveWide() ? 5 : 4);
    this.drain();
  }

  private writeIcs(lo: number): void {
    const regs = this.host.regs;
    if (lo & ICS_IWC_BIT) regs.setDword(REG.ICS, regs.dword(REG.ICS) & ~ICS_IWC_BIT);
    // §11.4.9.5: clearing IWC withdraws a pending invalidation event.
    if (!(regs.dword(REG.ICS) & ICS_IWC_BIT)) regs.setDword(REG.IECTL, (regs.dword(REG.IECTL) & ~IECTL_IP_BIT) >>> 0);
  }

  /** Runs descriptors from IQH towards IQT within the work budget; the rest waits for the next access. */
  private drain(): void {
    if (this.running) return;
    if (!this.enabled || (this.fsts() & ERROR_BITS)) {
      this.pendingWork = false;
      return;
    }
    if (this.tail >= this.entries) {
      this.pendingWork = false;
      this.queueError({ iqei: IQEI.INVALID_TAIL, why: `IQT index ${this.tail} beyond the ${this.entries}-entry queue` });
      return;
    }
    this.running = true;
    this.runCount = 0; // map the slots afresh (memory may have grown since the last access)
    try {
      this.pendingWork = this.runDescriptors(QI_WORK_BUDGET);
    } finally {
      this.running = false;
    }
  }

  /**
   * Runs descriptors from IQH until it reaches IQT, a descriptor stops the
   * queue, or `budget` work units are spent; true when the budget stopped it.
   */
  private runDescriptors(budget: number): boolean {
    const w = this.words;
    const regs = this.host.regs;
    while (this.head !== this.tail) {
      if (budget <= 0) return true;
      if (!this.fetch()) {
        this.lastType = 0;
        this.queueError({ iqei: IQEI.FETCH_ERROR, why: `descriptor at 0x${this.slotGpa(this.head).toString(16)} is outside RAM` });
        return false;
      }
      const type = typeUnder(this.behaviour, w[0]!);
      this.lastType = type;
      const plan = this.plans[type];
      let r: StepResult;
      try {
        r = dispatchDescriptor(this.ctx, plan, w, this.wide);
      } catch (e) {
        // A model bug, not a guest error: reported as one, the queue keeps going.
        this.host.internalError(`qi: ${descriptorName(type)} handler`, e);
        r = 'ok';
      }
      budget -= plan !== undefined && plan.row.external ? EXTERNAL_COST : 1;
      if (r === 'ok' || r === 'stop') {
        this.head = this.head + 1 === this.entries ? 0 : this.head + 1;
        regs.setDword(REG.IQH, this.wide ? this.head << 5 : this.head << 4);
      }
      if (r !== 'ok') {
        if (r !== 'stop') this.queueError(r);
        return false;
      }
    }
    return false;
  }

  /** Loads the descriptor at IQH into `words` (through the live view of its run of slots); false when it is outside RAM. */
  private fetch(): boolean {
    let i = this.head - this.runFirst;
    // A view detached by memory growth (a device or an interrupt handler may grow it) has length 0.
    if (i < 0 || i >= this.runCount || this.run.length === 0) {
      if (!this.fetchRun()) return false;
      i = 0;
    }
    const run = this.run;
    const w = this.words;
    if (this.wide) {
      const at = i << 3;
      for (let k = 0; k < 8; k++) w[k] = run[at + k]!;
    } else {
      const at = i << 2;
      w[0] = run[at]!;
      w[1] = run[at + 1]!;
      w[2] = run[at + 2]!;
      w[3] = run[at + 3]!;
    }
    return true;
  }

  /**
   * Maps the slots from IQH up to IQT (or the end of the ring), at most
   * FETCH_RUN, as a live u32 view of guest RAM: descriptors are read where
   * they are, when they are run, as from memory one at a time.
   */
  private fetchRun(): boolean {
    const size = this.wide ? 32 : 16;
    const gpa = this.slotNumber(this.head);
    let n = Math.min(FETCH_RUN, this.tail > this.head ? this.tail - this.head : this.entries - this.head);
    // A run that leaves RAM is mapped one slot at a time, so the first slot outside faults alone.
    if (this.host.mem.offsetAt(gpa, n * size) < 0) n = 1;
    if (this.host.mem.offsetAt(gpa, n * size) < 0) return false;
    const bytes = this.host.mem.view(gpa, n * size);
    this.run = (bytes.byteOffset & 3) === 0
      ? new Uint32Array(bytes.buffer, bytes.byteOffset, (n * size) >>> 2)
      : new Uint32Array(bytes.slice().buffer); // unaligned RAM (an embedder's odd offset): a copy
    this.runFirst = this.head;
    this.runCount = n;
    return true;
  }

  /** Guest-physical address of a slot as a number (-1 when it is at or above 2^53, where no RAM is). */
  private slotNumber(slot: number): number {
    const gpa = this.slotGpa(slot);
    return gpa < 1n << 53n ? Number(gpa) : -1;
  }

  private slotGpa(slot: number): bigint {
    return this.base + BigInt(slot * (this.wide ? 32 : 16));
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
    if (!(this.fsts() & FSTS.ITE)) {
      const r = this.host.regs.get('IQERCD') & ~IQERCD.ITESID_MASK;
      this.host.regs.set('IQERCD', r | (BigInt(sid & 0xffff) << IQERCD.ITESID_SHIFT));
    }
    this.abortNextWait = true;
    this.host.setFaultStatus('ITE');
  }

  private fsts(): number {
    return this.host.regs.dword(REG.FSTS);
  }

  private effectiveWide(): boolean {
    if (this.enabled) return this.wide;
    return IQA.dw(this.host.regs.get('IQA')) && (this.host.profile.ecap & ECAP.SMTS) !== 0n;
  }

  private tailIndex(raw: bigint): number {
    return Number(raw >> (this.effectiveWide() ? 5n : 4n));
  }

  private writeIqh(): void {
    this.host.regs.setDword(REG.IQH, (this.head << (this.wide ? 5 : 4)) >>> 0);
    this.host.regs.setDword(REG.IQH + 4, 0);
  }
}

const ICS_IWC_BIT = Number(ICS_IWC);
const IECTL_IP_BIT = Number(IECTL_IP);
