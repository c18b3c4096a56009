/**
 * One guest-visible VT-d remapping unit (§11 registers, §7 fault handling) on
 * top of the WASM core: MMIO register access, GCMD commands, register-based
 * invalidation, queued invalidation (qi/), fault recording and the event
 * interrupts. Devices translate through `translate` / `dma`, which report
 * faults to the recorder.
 *
 * Guest input never throws: bad accesses are logged and ignored, bad tables
 * and descriptors give the spec's faults and errors.
 */
import type { Core } from '../core/core.js';
import type { GuestMemory } from '../core/guest-memory.js';
import * as K from '../core/constants.js';
import { CoreDmaPort, type DmaBackend } from '../pci/core-dma-port.js';
import { REQ, type DmaPort } from '../pci/dma-port.js';
import { configureCore, writeCoreConfig } from './core-config.js';
import { FaultRecorder, type FaultRecord, type FaultRecorderState, type RecordOutcome } from './fault-recorder.js';
import { handleGcmdWrite, latchedTtm, type GcmdTarget } from './gcmd.js';
import { EventInterrupts, type InterruptSink } from './interrupts.js';
import { InterruptRemapper, type InterruptOutcome, type InterruptRemappingState } from './ir/remapper.js';
import type { Profile } from './profiles.js';
import type { QiHost } from './qi-host.js';
import { InvalidationQueue, type QiRegister, type QiState } from './qi/invalidation-queue.js';
import type { PageRequestOutcome, PageRequestSink } from './prq/page-request.js';
import type { PageRequest } from './spec/page-request.js';
import { PageRequestService, type PageRequestState, type PageResponseRouter } from './prq/page-request-service.js';
import { InvalidationTap, type InvalidationListener } from './cache-invalidation.js';
import { LANE_HI, LANE_LO, RegisterFile } from './register-file.js';
import { handleCcmdWrite, handleIotlbWrite, type RegInvalTarget } from './register-invalidation.js';
import { frcdName, type RegName } from './register-table.js';
import { checkRegisterValues, checkStatusRegisters } from './register-state.js';
import { ECAP, GCMD, RTADDR, TTM } from './spec/registers.js';
import { VirtualCommands } from './virtual-command.js';
import { gpa as checkGpa, sid as checkSid, type Gpa, type Sid } from '../types.js';

/** Options of a unit. */
export interface VtdUnitOptions {
  /** The WASM core that translates and caches. */
  readonly core: Core;
  /** Guest RAM (tables, queues, fault records are read and written here). */
  readonly mem: GuestMemory;
  /** Capability profile: register layout, CAP/ECAP, quirks. */
  readonly profile: Profile;
  /** Receives every MSI the unit sends (fault, invalidation, page-request events). */
  readonly onInterrupt?: InterruptSink;
  /** Receives one line per guest programming error or ignored access. */
  readonly log?: (msg: string) => void;
  /**
   * Receives every internal error: an exception the model caught while
   * serving the guest (a bug, never a guest programming error), with where
   * it happened. The unit logs it too and carries on.
   */
  readonly onInternalError?: InternalErrorSink;
}

/** Where an internal error happened and what was thrown. */
export type InternalErrorSink = (where: string, err: unknown) => void;

/** A DMA fault as the unit saw it: the core's answer and what the recorder did. */
export interface DmaFault {
  /** The VT-d fault reason (FR_* numbers). */
  readonly reason: number;
  /** The fault as it would be recorded. */
  readonly record: FaultRecord;
  /** What the recorder did; 'suppressed' by an FPD, 'silent' when the profile fails the access without a record. */
  readonly outcome: RecordOutcome | 'suppressed' | 'silent';
}

/**
 * A unit's whole state as plain data (machine snapshots): every register's
 * raw value, what SRTP latched, and the state of the queue, the fault
 * recorder and the page-request service. Caches are not part of it.
 */
export interface VtdUnitState {
  /** Raw register values by name (the profile's register table). */
  readonly registers: Readonly<Record<string, bigint>>;
  /** Root-table mode (TTM) latched by the last SRTP. */
  readonly ttm: number;
  /** Root-table address latched by the last SRTP. */
  readonly rootTable: bigint;
  /** Queued invalidation. */
  readonly qi: QiState;
  /** Fault recording. */
  readonly faults: FaultRecorderState;
  /** Page requests: open groups and counters. */
  readonly prq: PageRequestState;
  /** Interrupt remapping: the table pointer SIRTP latched (absent: none latched). */
  readonly ir?: InterruptRemappingState;
}

/** Throws an Error naming `what` unless `v` is an integer in 0..max. */
function checkInt(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`${what}: ${String(v)} is not an integer in 0..${max}`);
}

/** Registers whose writes the invalidation queue owns (§11.4.9). */
const QUEUE_REGS: readonly QiRegister[] = ['IQH', 'IQT', 'IQA', 'ICS', 'IQERCD'];

/** Page-request registers whose writes the page-request service checks (§11.4.11). */
const PRQ_REGS = ['PQH', 'PQT', 'PQA', 'PRS'] as const;

/** Event control registers and the event each one masks (§7.3, §6.5.2.8, §7.5). */
const EVENT_CONTROLS = [['FECTL', 'fault'], ['IECTL', 'invalidation'], ['PECTL', 'page-request']] as const;

/** A VT-d unit: registers, commands, invalidation, fault reporting and page requests. */
export class VtdUnit implements GcmdTarget, PageRequestSink {
  /** The WASM core that translates and caches. */
  readonly core: Core;
  /** Guest RAM. */
  readonly mem: GuestMemory;
  /** The capability profile the unit was built with. */
  readonly profile: Profile;
  /** The register file (values, masks). */
  readonly regs: RegisterFile;
  /** Fault / invalidation / page-request event interrupts (xxCTL, xxDATA, xxADDR, MSI history). */
  readonly events: EventInterrupts;
  /** The fault recording registers and their logic. */
  readonly faults: FaultRecorder;
  /** The page-request queue and page-group response routing (prq/). */
  readonly prq: PageRequestService;
  /** Interrupt remapping (ir/): the latched table and the path of device interrupt requests. */
  readonly interrupts: InterruptRemapper;
  /** The virtual command interface (ECAP.VCS); a VMM sets its `backend`. */
  readonly virtualCommands: VirtualCommands;
  /** Recent log lines (bounded), newest last. */
  readonly logLines: string[] = [];
  private accessCount = 0;
  private readonly logSink: (msg: string) => void;
  private readonly internalSink: InternalErrorSink | undefined;
  private qi: InvalidationQueue;
  private ttm: number = TTM.LEGACY;
  /** Root table address SRTP latched (page requests read context entries from it). */
  private rootTable = 0n;
  /** The core as the invalidation paths see it: each `inv*` call is also told to `onInvalidate` as an event. */
  private readonly inv: InvalidationTap;
  private readonly regInval: RegInvalTarget;
  /** What the DMA ports of this unit's devices use (portFor). */
  private readonly dmaBackend: DmaBackend;

  private constructor(o: VtdUnitOptions) {
    for (const name of ['onInterrupt', 'log', 'onInternalError'] as const) {
      if (o[name] !== undefined && typeof o[name] !== 'function') throw new Error(`${name}: ${String(o[name])} is not a function`);
    }
    this.core = o.core;
    this.mem = o.mem;
    this.profile = o.profile;
    this.logSink = o.log ?? (() => {});
    this.internalSink = o.onInternalError;
    this.inv = new InvalidationTap(o.core);
    this.regs = new RegisterFile(o.profile, (m) => this.log(m));
    this.regInval = { regs: this.regs, profile: this.profile, inv: this.inv, log: (m: string) => this.log(m) };
    this.events = new EventInterrupts(this.regs, o.onInterrupt);
    this.faults = new FaultRecorder(this.regs, o.profile, this.events, (m) => this.log(m));
    this.prq = new PageRequestService({
      regs: this.regs, mem: this.mem, events: this.events, faults: this.faults, core: this.core, ecap: o.profile.ecap,
      latchedRoot: () => ({ rootTable: this.rootTable, ttm: this.ttm }), log: (m) => this.log(m),
    });
    this.interrupts = new InterruptRemapper({
      regs: this.regs, mem: this.mem, profile: o.profile, haw: o.profile.haw,
      record: (f) => this.faults.record(f), log: (m) => this.log(m),
    });
    this.virtualCommands = new VirtualCommands(this.regs, (m) => this.log(m));
    this.qi = new InvalidationQueue(this.qiHost());
    this.wireRegisters();
    this.dmaBackend = this.unitDmaBackend();
    configureCore(this.core, this.profile);
  }

  /** Creates a unit and configures the core for the profile. */
  static create(o: VtdUnitOptions): VtdUnit {
    return new VtdUnit(o);
  }

  /**
   * Hears every cache invalidation the guest requested, register-based
   * (§6.5.1) or queued (§6.5.2), with its exact scope, as a typed event
   * (`InvalidationEvent`: `{ kind: 'iotlbPage', did, addr, am, ih }`, ...),
   * after the unit's own caches did it. A VMM shadows or passes them through
   * (vmm/).
   */
  get onInvalidate(): InvalidationListener | undefined {
    return this.inv.listener;
  }

  set onInvalidate(listener: InvalidationListener | undefined) {
    if (listener !== undefined && typeof listener !== 'function') throw new Error(`onInvalidate: ${String(listener)} is not a function`);
    this.inv.listener = listener;
  }

  // --- MMIO: the number API (hot) and its BigInt form ------------------------

  /** Guest 4-byte MMIO read at `offset` from the register base: the dword as a u32. Bad offsets read 0 (logged). */
  read32(offset: number): number {
    this.accessCount++;
    if (this.qi.backlog) this.qi.drainBacklog();
    return this.regs.read32(offset);
  }

  /** Guest 8-byte MMIO read at `offset`: returns the low dword; the high dword is then in `readHigh`. */
  read64(offset: number): number {
    this.accessCount++;
    if (this.qi.backlog) this.qi.drainBacklog();
    return this.regs.read64(offset);
  }

  /** High dword of the last `read64`. */
  get readHigh(): number {
    return this.regs.readHigh;
  }

  /**
   * Guest 4-byte MMIO write of `value` (a u32, or the same bits as an i32) at
   * `offset`. Bad offsets are logged and ignored; a `value` that is not a
   * 32-bit integer is a host bug: Error naming `value`.
   */
  write32(offset: number, value: number): void {
    this.accessCount++;
    if (value !== (value | 0) && value !== (value >>> 0)) throw new Error(`value: ${String(value)} is not a 32-bit integer`);
    if (this.qi.backlog) this.qi.drainBacklog();
    this.regs.write32(offset, value);
  }

  /**
   * Guest 8-byte MMIO write of `hi:lo` at `offset` (each half a u32 or i32):
   * one access for a 64-bit register at its own offset, else two dword
   * writes, low first.
   */
  write64(offset: number, lo: number, hi: number): void {
    this.accessCount++;
    if (lo !== (lo | 0) && lo !== (lo >>> 0)) throw new Error(`lo: ${String(lo)} is not a 32-bit integer`);
    if (hi !== (hi | 0) && hi !== (hi >>> 0)) throw new Error(`hi: ${String(hi)} is not a 32-bit integer`);
    if (this.qi.backlog) this.qi.drainBacklog();
    this.regs.write64(offset, lo, hi);
  }

  /** Guest MMIO read at `offset` from the register base (4 or 8 bytes), as a BigInt (convenience over read32/read64). */
  mmioRead(offset: number, size: number): bigint {
    this.accessCount++;
    if (this.qi.backlog) this.qi.drainBacklog();
    return this.regs.read(offset, size);
  }

  /** Guest MMIO write at `offset` from the register base (4 or 8 bytes), BigInt value (convenience over write32/write64). */
  mmioWrite(offset: number, size: number, value: bigint): void {
    this.accessCount++;
    if (typeof value !== 'bigint') throw new Error(`value: ${String(value)} is not a bigint`);
    if (this.qi.backlog) this.qi.drainBacklog();
    this.regs.write(offset, size, value);
  }

  /** Back to the power-on state: registers, fault recorder, queue, caches, translation off. */
  reset(): void {
    this.regs.reset();
    this.faults.reset();
    this.prq.reset();
    this.interrupts.reset();
    this.virtualCommands.reset();
    this.ttm = TTM.LEGACY;
    this.rootTable = 0n;
    this.qi = new InvalidationQueue(this.qiHost());
    this.core.setTranslationEnabled(false);
    writeCoreConfig(this.core, this.profile);
    this.core.setRootTable(0n, 0); // after the profile's config: its SRTP empties every cache (configureCore's invalidateAll)
  }

  /** Guest register accesses so far: what a VMM bounds its work per access by (vmm/work-budget.ts). */
  get accesses(): number {
    return this.accessCount;
  }

  /** The root table address latched by the last SRTP (0 before one). */
  get latchedRootTable(): bigint {
    return this.rootTable;
  }

  /** The unit's state as plain data (see `VtdUnitState`). */
  saveState(): VtdUnitState {
    const registers: Record<string, bigint> = {};
    for (const name of this.regs.rows.keys()) registers[name] = this.regs.get(name);
    return {
      registers, ttm: this.ttm, rootTable: this.rootTable,
      qi: this.qi.saveState(), faults: this.faults.saveState(), prq: this.prq.saveState(),
      ir: this.interrupts.saveState(),
    };
  }

  /**
   * Restores a state saved by a unit of the same profile, then latches the
   * root table and TE into the core with every cache empty (what hardware
   * may do at any time). Everything is checked first (register values
   * against the profile and against each other, register-state.ts; the
   * queue, recorder and page-request states): on an Error naming the field
   * that does not fit, nothing has changed.
   */
  loadState(s: VtdUnitState): void {
    if (typeof s !== 'object' || s === null) throw new Error('state: not an object');
    if (typeof s.registers !== 'object' || s.registers === null) throw new Error('state.registers: not an object');
    checkRegisterValues(this.regs.rows, s.registers);
    if (!Object.values(TTM).includes(s.ttm as never)) throw new Error(`state.ttm: ${String(s.ttm)} is not a root-table mode`);
    if (typeof s.rootTable !== 'bigint' || (s.rootTable & ~RTADDR.RTA_MASK) !== 0n) throw new Error(`state.rootTable: ${String(s.rootTable)} is not a root-table address`);
    const undo = this.loadParts(s);
    try {
      checkStatusRegisters(s.registers, { profile: this.profile, qiEnabled: s.qi.enabled, qiHead: s.qi.head, qiWide: s.qi.wide });
    } catch (e) {
      undo();
      throw e;
    }
    for (const [name, v] of Object.entries(s.registers)) this.regs.set(name as RegName, v);
    this.ttm = s.ttm;
    this.rootTable = s.rootTable;
    this.core.setRootTable(this.rootTable, this.ttm);
    this.core.setTranslationEnabled((Number(this.regs.get('GSTS')) & GCMD.TE) !== 0);
    this.core.invalidateAll();
  }

  /**
   * Loads the queue, recorder and page-request states, all or none; errors
   * name `state.<part>.<field>`. Returns how to put the old states back.
   */
  private loadParts(s: VtdUnitState): () => void {
    const parts = [
      { name: 'qi', part: this.qi, state: s.qi },
      { name: 'faults', part: this.faults, state: s.faults },
      { name: 'prq', part: this.prq, state: s.prq },
      { name: 'ir', part: this.interrupts, state: s.ir ?? { latched: false, irta: 0n } },
    ] as { name: string; part: { saveState(): unknown; loadState(x: unknown): void }; state: unknown }[];
    const before = parts.map((p) => p.part.saveState());
    const undo = () => parts.forEach((p, i) => p.part.loadState(before[i]));
    let at = 0;
    try {
      for (; at < parts.length; at++) parts[at]!.part.loadState(parts[at]!.state);
    } catch (e) {
      undo();
      throw new Error((e as Error).message.replace(/^state\./, `state.${parts[at]!.name}.`));
    }
    return undo;
  }


  /** True when the root table latched by the last SRTP is in scalable mode (TTM = 01). */
  scalableMode(): boolean {
    return this.ttm === TTM.SCALABLE;
  }

  /**
   * Reports the fault the core just returned (its out-buffer describes it) for
   * a request from `sid`; `read` is the request type. Returns what happened.
   */
  reportCoreFault(sid: Sid, read: boolean, exec = false, priv = false): DmaFault {
    checkSid(sid);
    const out = this.core.out;
    const reason = out[K.OUT_STATUS]!;
    const flags = out[K.OUT_FAULT_FLAGS]!;
    const addr = (BigInt(out[K.OUT_FAULT_ADDR_HI]!) << 32n) | BigInt(out[K.OUT_FAULT_ADDR_LO]!);
    // PP/PV come from the core (QUIRK_QEMU_FAULT_PV gives QEMU's PV 0xFFFF with PP 0).
    const pp = (flags & K.FF_PP) !== 0;
    const pv = out[K.OUT_FAULT_PASID]!;
    const record: FaultRecord = { sid, reason, addr, read, pp, pv, exec, priv };
    if (flags & K.FF_SUPPRESSED) return { reason, record, outcome: 'suppressed' };
    if (flags & K.FF_SILENT) return { reason, record, outcome: 'silent' };
    return { reason, record, outcome: this.faults.record(record) };
  }

  /**
   * An interrupt request from `sid`: a DWORD write of `data` to `address` in
   * the interrupt address range (§5.1.2). Remapped, passed through, or blocked
   * with a recorded fault (ir/remapper.ts).
   */
  interruptRequest(sid: Sid, address: Gpa, data: number): InterruptOutcome {
    return this.interrupts.request(checkSid(sid), checkGpa(address, 'address'), data);
  }

  /** A device's page request (PCIe PRI) enters the IOMMU here (prq/page-request-service.ts). */
  submitPageRequest(req: PageRequest): PageRequestOutcome {
    return this.prq.submitPageRequest(req);
  }

  /**
   * How device-TLB invalidation requests find their ATS device by requester
   * id (the machine's PCI bus); the device answers 'done' or 'timeout' (ITE).
   */
  deviceTlbTarget?: (sid: Sid) => {
    deviceTlbInvalidate?(req: { pasid?: number; addr: bigint; sizeLg2: number; global: boolean }): 'done' | 'timeout';
  } | undefined;

  /**
   * An Invalidate Completion message (PCIe §10.3.2) from `sid` that arrives
   * on its own. The model completes device-TLB invalidations synchronously
   * (the device's answer is the return value of `deviceTlbInvalidate`), so no
   * ITag is outstanding when such a message arrives: it is unexpected, an
   * invalidation completion error (FSTS.ICE, IQERCD.ICESID, §6.5.2.10).
   * Only a misbehaving device sends one (devices/ats/testing.ts).
   */
  invalidationCompletion(sid: Sid, itag: number): void {
    checkSid(sid);
    checkInt(itag, 31, 'itag');
    this.log(`qi: invalidation completion from ${sid.toString(16)} with ITag ${itag} matches no outstanding request`);
    this.qi.invalidCompletion(sid);
  }

  /** Sets how page-group responses find their device by requester id (the machine's PCI bus). */
  setPageResponseRouter(router: PageResponseRouter): void {
    this.prq.setRouter(router);
  }

  /**
   * The DMA port of requester id `sid` (bus << 8 | devfn): untranslated and
   * translate-only requests, ATS and page requests through this unit, faults
   * recorded in its fault recording registers (pci/dma-port.ts).
   */
  portFor(sid: Sid): DmaPort {
    this.core.addRequester(sid);
    return new CoreDmaPort(this.dmaBackend, sid);
  }

  // --- GcmdTarget -----------------------------------------------------------

  /** SRTP: latches RTADDR (address, TTM) into the core; ESRTPS: caches are invalidated. */
  setRootTable(rtaddr: Gpa): void {
    if (typeof rtaddr !== 'bigint' || rtaddr < 0n || rtaddr >> 64n !== 0n) throw new Error(`rtaddr: ${String(rtaddr)} is not a 64-bit RTADDR value`);
    this.ttm = latchedTtm(this, rtaddr);
    const width = this.profile.host.rtaddrMaskedToAw ? (1n << BigInt(this.profile.options.awBits)) - 1n : RTADDR.RTA_MASK;
    this.rootTable = rtaddr & RTADDR.RTA_MASK & width;
    this.core.setRootTable(this.rootTable, this.ttm);
  }

  /** TE: translation on or off (off = identity). */
  setTranslationEnabled(on: boolean): void {
    if (typeof on !== 'boolean') throw new Error(`on: ${String(on)} is not a boolean`);
    this.core.setTranslationEnabled(on);
  }

  /** QIE: starts or stops the invalidation queue. */
  setQueuedInvalidation(on: boolean): boolean {
    if (typeof on !== 'boolean') throw new Error(`on: ${String(on)} is not a boolean`);
    return (on ? this.qi.enable() : this.qi.disable()) !== false;
  }

  /** IRE: interrupt remapping on or off. */
  setInterruptRemapping(on: boolean): void {
    this.interrupts.enableChanged(on);
  }

  /** SIRTP: latches IRTA for interrupt remapping. */
  latchInterruptTable(): void {
    this.interrupts.latchTable();
  }

  /** Logs a guest programming error (bounded history plus the embedder's sink). */
  log(msg: string): void {
    this.logLines.push(msg);
    if (this.logLines.length > 256) this.logLines.shift();
    this.logSink(msg);
  }

  /**
   * Reports an internal error (an exception the model caught while serving
   * the guest): a log line marked as such, and the `onInternalError` sink.
   */
  internalError(where: string, err: unknown): void {
    this.log(`internal error in ${where}: ${err instanceof Error ? err.message : String(err)}`);
    this.internalSink?.(where, err);
  }

  // --- side effects ---------------------------------------------------------

  /** Ports of this unit: identity PASIDs, faults to the recorder, page requests to the page-request queue. */
  private unitDmaBackend(): DmaBackend {
    return {
      core: this.core,
      mem: this.mem,
      mapPasid: (pasid) => pasid,
      reportFault: (sid, flags) => {
        const pasid = (flags & REQ.PASID) !== 0;
        const f = this.reportCoreFault(sid, (flags & REQ.WRITE) === 0, pasid && (flags & REQ.EXEC) !== 0, pasid && (flags & REQ.PRIV) !== 0);
        return f.outcome === 'recorded';
      },
      // §4.2.3: a page-walk fault (or one a page request could fix) answers R=W=0 unrecorded.
      emptyCompletion: (faultFlags) => (faultFlags & (K.FF_WALK | K.FF_RECOVERABLE)) !== 0,
      pageRequests: this,
      dmaPastFault: this.profile.host.dmaPastFault,
    };
  }

  /** The registers with side effects, each with its handler (§11.4); the rest are plain storage. */
  private wireRegisters(): void {
    const r = this.regs;
    for (const reg of QUEUE_REGS) r.routeWrites(reg, (lo, hi, lanes) => this.qi.onWriteWords(reg, lo, hi, lanes));
    r.routeReads('IQA', (half) => this.qi.readIqa(half));
    r.onWrite('GCMD', (written) => handleGcmdWrite(this, written));
    r.onWrite('CCMD', (_w, lanes) => { if (lanes & LANE_HI) handleCcmdWrite(this.regInval); });
    r.onWrite('IOTLB', (_w, lanes) => { if (lanes & LANE_HI) handleIotlbWrite(this.regInval); });
    r.onWrite('FSTS', () => {
      this.faults.afterFstsWrite();
      this.qi.resume(); // clearing IQE/ITE may restart the queue (profile rule)
    });
    for (const [ctl, source] of EVENT_CONTROLS) if (r.has(ctl)) r.onWrite(ctl, () => this.events.onControlWrite(source));
    for (let n = 0; n < this.profile.frcdCount; n++) r.onWrite(frcdName(n, 'HI'), () => this.faults.afterFrcdWrite());
    for (const name of PRQ_REGS) if (r.has(name)) r.onWrite(name, () => this.prq.afterRegisterWrite(name));
    // A VCMD write covering the command byte issues the command (virtual-command.ts).
    if (this.profile.ecap & ECAP.VCS) r.onWrite('VCMD', (_w, lanes) => { if (lanes & LANE_LO) this.virtualCommands.execute(); });
  }

  private qiHost(): QiHost {
    return {
      core: this.inv,
      mem: this.mem,
      profile: this.profile,
      regs: this.regs,
      scalableMode: () => this.scalableMode(),
      setFaultStatus: (bit) => this.faults.setStatus(bit),
      invalidationEvent: () => this.invalidationEvent(),
      // Device-TLB invalidations go to the ATS device by SID (H8: PCI devices); no such device answers at once.
      deviceTlbInvalidate: (r) => this.deviceTlbTarget?.(r.sid)?.deviceTlbInvalidate?.(r) ?? 'done',
      pageGroupResponse: (r) => this.prq.deliverResponse(r),
      invalidateInterruptEntries: (scope) => this.interrupts.invalidateEntries(scope),
      log: (m) => this.log(m),
      internalError: (where, err) => this.internalError(where, err),
    };
  }

  /** §6.5.2.8: a wait descriptor with IF sets ICS.IWC; the event fires only if IWC was clear. */
  private invalidationEvent(): void {
    const ics = this.regs.get('ICS');
    if (ics & 1n) return;
    this.regs.set('ICS', ics | 1n);
    this.events.raise('invalidation');
  }
}
