/**
 * One guest-visible SMMUv3 (IHI 0070) over the shared wasm core: the
 * register file (§6.3), the CR0/CR0ACK, GBPA and IRQ_CTRL handshakes, the
 * command queue (chapter 4, commands.ts) and event queue (§7.2, §7.3),
 * global errors (GERROR/GERRORN, §6.3.18), interrupts (MSI through the
 * *_IRQ_CFG registers, or a wired line), and translation: the
 * configuration lookup of config.ts, cached per (StreamID, SubstreamID)
 * until a CFGI command, then the core's AArch64 walk (armDmaCopy) with the
 * IOTLB tagged by VMID and ASID. Guest input never throws: bad accesses are
 * logged, bad structures and commands give the spec's events and errors.
 */
import type { Core } from '../core/core.js';
import type { GuestMemory } from '../core/guest-memory.js';
import * as K from '../core/constants.js';
import type { DmaPort, DmaResult } from '../pci/dma-port.js';
import { BYPASS_SETUP, SmmuCore } from './core-abi.js';
import { SmmuDmaPort } from './dma-port.js';
import { SmmuAts } from './ats.js';
import { COMMAND_BY_OP, type CommandTarget } from './commands.js';
import { StreamCache, type CachedStream } from './stream-cache.js';
import { coreFaultEvent, readSte, walkFlags, type ConfigSource, type DecodedSte } from './config.js';
import { encodeEventDwords, type SmmuEvent } from './event.js';
import { capsOf, type SmmuCaps, type SmmuProfile } from './profiles.js';
import { entryAddr, geometry, isEmpty, isFull, next, ptr } from './queue.js';
import { checkDoorbells, MSI_ABORT_ERR, msiRoute, type MsiDoorbell, type SmmuIrqSource } from './msi.js';
import { SmmuRegisterFile } from './registers.js';
import { checkPageRequest, SmmuPriQueue, type SmmuPageResponseRouter } from './priq.js';
import type { PageRequestOutcome } from '../vtd/prq/page-request.js';
import type { PageRequest } from '../vtd/spec/page-request.js';
import { get, get32, putWord, word } from './spec/bits.js';
import { STE } from './spec/ste.js';
import { CMD, CMD_BYTES, SYNC_CS } from './spec/commands.js';
import { EVT, EVT_BYTES, EVT_CLASS } from './spec/events.js';
import { CERROR, CMDQ_CONS_ERR_SHIFT, CR0, GBPA, GERROR, IRQ_CTRL, QUEUE_OVERFLOW } from './spec/registers.js';
import { iova as checkIova, pasid as checkPasid, streamId, type Hpa, type Iova, type Pasid, type Sid } from '../types.js';

/**
 * An interrupt the unit signals: an MSI that reached an interrupt
 * controller's doorbell (msi.ts: MSIs into RAM are memory writes, MSIs
 * elsewhere abort), a wired line, or SEV.
 */
export interface SmmuInterrupt {
  /** What signalled it: the event queue, the PRI queue, a global error, CMD_SYNC (CS = IRQ) or SEV. */
  readonly source: SmmuIrqSource | 'sev';
  /** MSI address and data, when the unit sent an MSI to a doorbell (SMMU_IDR0.MSI, a non-zero address in a doorbell window). */
  readonly msi?: { readonly address: bigint; readonly data: number };
}

/**
 * What a snapshot keeps of a unit: every register's raw value by name and
 * the lost-event count. Caches are not state: a load starts them empty, as
 * the spec lets hardware drop cached structures and translations at any
 * time (they are refetched from guest memory).
 */
export interface SmmuUnitState {
  /** Every register's raw value by name (SmmuRegRow.name). */
  readonly registers: Readonly<Record<string, bigint>>;
  /** Events discarded so far (SmmuUnit.eventsLost). */
  readonly eventsLost: number;
}

/** Options of an SMMUv3 unit. */
export interface SmmuUnitOptions {
  /** The wasm core that walks its tables. */
  readonly core: Core;
  /** The memory its stream table, CDs, queues and tables live in. */
  readonly mem: GuestMemory;
  /** Its capability profile. */
  readonly profile: SmmuProfile;
  /** Hears every interrupt it signals (wired lines, SEV, MSIs to a doorbell). */
  readonly onInterrupt?: (irq: SmmuInterrupt) => void;
  /** The interrupt controller's doorbell windows: MSIs there reach `onInterrupt` (msi.ts; default none: only RAM takes MSIs). */
  readonly msiDoorbells?: readonly MsiDoorbell[];
  /** Hears each guest programming error. */
  readonly log?: (msg: string) => void;
  /**
   * An ATS Invalidate Request (CMD_ATC_INV) to the device at StreamID `sid`
   * for 2^sizeLg2 bytes at `addr`; answers whether it completed (false: the
   * next CMD_SYNC is CERROR_ATC_INV_SYNC). Without it every one completes.
   */
  readonly atcInvalidate?: (sid: Sid, ssid: Pasid | undefined, addr: Iova, sizeLg2: number, global: boolean) => boolean;
}

/** A cached (StreamID, SubstreamID) configuration and its setup record. */
/** The CR0 bits QEMU acknowledges (~SMMU_CR0_RESERVED); see SmmuSwitches.registersKeepWrittenBits. */
const QEMU_CR0_ACK_BITS = 0x3df;

/** What a DMA request carries besides its range. */
interface Transfer {
  readonly sid: number;
  readonly ssid: number | undefined;
  /** Core ACC_* bits. */
  readonly access: number;
  readonly write: boolean;
  readonly priv: boolean;
  readonly exec: boolean;
}

const PAGE = 0x1000;
/** Bits 51:0 of an address in an event record. */
const EVENT_ADDR_MASK = (1n << 52n) - 1n;
/** QEMU 7.2's IOMMU region ends here (SmmuSwitches.dmaAbove48BitsUnseen). */
const QEMU_IOMMU_REGION_END = 1n << 48n;
const QEMU_IOMMU_REGION_END_NUM = 2 ** 48;
/** Event types whose InputAddr is the transaction's address (§7.3.11-§7.3.15). */
const TRANSLATION_FAULTS: ReadonlySet<number> = new Set([EVT.F_WALK_EABT, EVT.F_TRANSLATION, EVT.F_ADDR_SIZE, EVT.F_ACCESS, EVT.F_PERMISSION]);
const PAGE_MASK = 0xfffn;

/**
 * Bytes of the next access QEMU's memory core makes after a failed
 * translation (memory_access_size for an unassigned region): at most 4,
 * naturally aligned, a power of two no larger than what is left
 * (`addrLow`: the address's low bits, at least 3 of them).
 */
function accessSize(addrLow: number, left: number): number {
  let n = 4;
  const low = addrLow & 7;
  if (low !== 0) n = Math.min(n, low & -low);
  while (n > left) n >>= 1;
  return Math.max(n, 1);
}

/** A host caller's request fields: an Error naming the first bad one (StreamIDs are up to 32 bits, SubstreamIDs 20, addresses 64). */
function checkRequest(sid: Sid, ssid: Pasid | undefined, iova: Iova): void {
  checkStream(sid, ssid);
  checkIova(iova);
}

/** A host caller's StreamID and SubstreamID: an Error naming the bad one. */
function checkStream(sid: Sid, ssid: Pasid | undefined): void {
  streamId(sid);
  if (ssid !== undefined) checkPasid(ssid, 'ssid');
}

/** `v` as an integer in 0..max; an Error naming it (`what`) otherwise. */
function checkInt(v: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`${what}: ${String(v)} is not an integer in 0..0x${max.toString(16)}`);
  return v;
}

/** A u32 (or i32: the same bits) as a u32; an Error naming it (`what`) otherwise. */
function checkDword(v: number, what: string): number {
  if (v !== (v | 0) && v !== (v >>> 0)) throw new Error(`${what}: ${String(v)} is not a 32-bit integer`);
  return v >>> 0;
}

/** *_IRQ_CFG0.ADDR (bits 51:2, §6.3.20): its bits in the low and high dwords. */
const MSI_ADDR_LO = 0xffff_fffc;
const MSI_ADDR_HI = 0xf_ffff;

/** The registers the unit reads and writes itself, by name. */
const SLOT_NAMES = [
  'CR0', 'CR0ACK', 'GBPA', 'IRQ_CTRL', 'IRQ_CTRLACK', 'GERROR', 'GERRORN', 'GERROR_IRQ_CFG0', 'GERROR_IRQ_CFG1',
  'CMDQ_BASE', 'CMDQ_PROD', 'CMDQ_CONS', 'EVENTQ_BASE', 'EVENTQ_PROD', 'EVENTQ_CONS', 'EVENTQ_IRQ_CFG0', 'EVENTQ_IRQ_CFG1',
] as const;
/** Their register-file slots (SmmuRegisterFile.slotOf; -1 where the profile lacks one). */
type Slots = Readonly<Record<(typeof SLOT_NAMES)[number], number>>;

/** An SMMUv3 unit. */
export class SmmuUnit {
  /** The register file (rows by name, raw values). */
  readonly regs: SmmuRegisterFile;
  /** What its ID registers advertise. */
  readonly caps: SmmuCaps;
  /** The core's SMMUv3 exports (setup records, translate, DMA copy). */
  readonly arm: SmmuCore;
  /** Recent log lines (bounded). */
  readonly logLines: string[] = [];
  /** Events discarded because the event queue was off, full or unwritable. */
  eventsLost = 0;
  /** The PRI queue (chapter 8): page requests in, CMD_PRI_RESP out. */
  readonly priq: SmmuPriQueue;
  /** Cached STEs and stream configurations (stream-cache.ts). */
  private readonly cache: StreamCache;
  /** CR0.SMMUEN as last written (the DMA fast path reads it without the register map). */
  private smmuEn = false;
  /** PCIe ATS (ats.ts): Translation Requests, Translated transactions, ATC invalidation. */
  readonly ats: SmmuAts;
  private readonly src: ConfigSource;
  private readonly slots: Slots;
  private readonly doorbells: readonly MsiDoorbell[];
  /** What command handlers act on (built once: a doorbell allocates nothing for it). */
  private readonly target: CommandTarget;
  /** The event record being written (eight u32 dwords; reused: records are written one at a time). */
  private readonly eventDwords = new Uint32Array(EVT_BYTES / 4);
  /** Hears every command the unit executed (name, the two words): a VMM traps guest commands here. */
  onCommand?: (name: string, words: readonly bigint[]) => void;

  /** An SMMU over `o.core`; `o.mem` is the memory its tables and queues live in. */
  constructor(private readonly o: SmmuUnitOptions) {
    this.caps = capsOf(o.profile);
    this.doorbells = checkDoorbells(o.msiDoorbells ?? [], 'msiDoorbells');
    this.arm = new SmmuCore(o.core);
    const maxEntries = o.profile.switches.iotlbFlushWhenFull;
    if (maxEntries > 0) {
      o.core.setConfig(K.CFG_IOTLB_MAX_ENTRIES, maxEntries);
      o.core.setConfig(K.CFG_QUIRKS, o.core.getConfig(K.CFG_QUIRKS) | K.QUIRK_IOTLB_FLUSH_WHEN_FULL);
    }
    this.regs = new SmmuRegisterFile(o.profile, (m) => this.log(m));
    this.slots = Object.fromEntries(SLOT_NAMES.map((n) => [n, this.regs.slotOf(n)])) as Slots;
    this.target = this.commandTarget();
    this.priq = new SmmuPriQueue({
      regs: this.regs, mem: o.mem, caps: this.caps, ppar: (sid) => this.ppar(sid),
      gerrorActive: (bit) => this.gerrorActive(bit), raiseGerror: (bit) => this.raiseGerror(bit),
      interrupt: () => this.interrupt('priq', this.regs.slotOf('PRIQ_IRQ_CFG0'), this.regs.slotOf('PRIQ_IRQ_CFG1')),
      log: (m) => this.log(m),
    });
    this.registerSideEffects();
    this.src = {
      mem: o.mem, caps: this.caps, switches: o.profile.switches,
      strtabBase: () => this.regs.get('STRTAB_BASE'), strtabCfg: () => Number(this.regs.get('STRTAB_BASE_CFG')),
      s2Fetch: (ste, ipa) => this.s2Fetch(ste, ipa),
    };
    this.cache = new StreamCache(this.arm, this.src);
    this.ats = new SmmuAts({
      caps: this.caps, arm: this.arm, out: o.core.out, atcInvalidate: o.atcInvalidate,
      enabled: () => this.smmuEn, atsCheck: () => (this.regs.at(this.slots.CR0) & CR0.ATSCHK) !== 0,
      ste: (sid) => this.cache.ste(sid), stream: (sid, ssid) => this.stream(sid, ssid), record: (ev) => this.recordEvent(ev), log: (m) => this.log(m),
    });
  }

  /** The profile. */
  get profile(): SmmuProfile { return this.o.profile; }
  /** The core. */
  get core(): Core { return this.o.core; }
  /** The memory its structures live in (and ATS Translated transactions reach). */
  get mem(): GuestMemory { return this.o.mem; }

  /** Guest MMIO read at `offset` in the 128 KiB frame (4 or 8 bytes; other offsets and sizes read 0, logged, as a guest's would). */
  mmioRead(offset: number, size: number): bigint { return this.regs.read(offset, size); }

  /** Guest MMIO write at `offset` (4 or 8 bytes; others logged and ignored); a `value` that is not a bigint is an Error naming it. */
  mmioWrite(offset: number, size: number, value: bigint): void {
    if (typeof value !== 'bigint') throw new Error(`value: ${String(value)} is not a bigint`);
    this.regs.write(offset, size, value);
  }

  /** Guest 4-byte MMIO read at frame offset `offset`: the dword as a u32 (the number form of `mmioRead`). */
  read32(offset: number): number { return this.regs.read32(offset); }

  /** Guest 8-byte MMIO read at `offset`: the low dword; the high dword is then in `readHigh`. */
  read64(offset: number): number { return this.regs.read64(offset); }

  /** High dword of the last `read64`. */
  get readHigh(): number { return this.regs.readHigh; }

  /** Guest 4-byte MMIO write of `value` (u32 or i32) at frame offset `offset`. */
  write32(offset: number, value: number): void { this.regs.write32(offset, checkDword(value, 'value')); }

  /** Guest 8-byte MMIO write of `hi:lo` (halves u32 or i32) at frame offset `offset`. */
  write64(offset: number, lo: number, hi: number): void { this.regs.write64(offset, checkDword(lo, 'lo'), checkDword(hi, 'hi')); }

  /** Back to the power-on state: registers, the lost-event count and every cache. */
  reset(): void {
    this.regs.reset();
    this.priq.reset();
    this.eventsLost = 0;
    this.smmuEn = false;
    this.ats.reset();
    this.cache.clear();
    this.o.core.invalidateAll();
  }

  /** The unit's state (see SmmuUnitState). */
  saveState(): SmmuUnitState {
    const registers: Record<string, bigint> = {};
    for (const name of this.regs.rows.keys()) registers[name] = this.regs.get(name);
    return { registers, eventsLost: this.eventsLost };
  }

  /**
   * Loads a state `saveState` made on a unit of the same profile: every
   * field is checked first (an Error names it and nothing changed), then
   * the registers are set, without side effects, and every cache is dropped.
   */
  loadState(s: SmmuUnitState): void {
    if (typeof s !== 'object' || s === null) throw new Error('state: not an object');
    if (typeof s.registers !== 'object' || s.registers === null) throw new Error('state.registers: not an object');
    this.regs.checkValues(s.registers);
    if (!Number.isSafeInteger(s.eventsLost) || s.eventsLost < 0) throw new Error(`state.eventsLost: ${String(s.eventsLost)} is not a count`);
    for (const [name, v] of Object.entries(s.registers)) this.regs.set(name, v);
    this.eventsLost = s.eventsLost;
    this.smmuEn = (this.regs.at(this.slots.CR0) & CR0.SMMUEN) !== 0;
    this.ats.reset();
    this.cache.clear();
    this.o.core.invalidateAll();
  }

  /** Logs a guest programming error (bounded history plus the embedder's sink). */
  log(msg: string): void {
    this.logLines.push(msg);
    if (this.logLines.length > 256) this.logLines.shift();
    this.o.log?.(msg);
  }

  // -- translation -------------------------------------------------------------

  /**
   * A DMA of `len` bytes at `iova` from StreamID `sid` (SubstreamID `ssid`
   * when the request carries one) between guest memory and the core buffer
   * at `bufOff`. A fault becomes an event (if the configuration records it)
   * and the result carries the event number as `reason`. A bad argument is
   * an Error naming it, before anything is done.
   */
  dma(sid: Sid, ssid: Pasid | undefined, iova: Iova, len: number, write: boolean, bufOff: number, priv = false, exec = false): DmaResult {
    checkRequest(sid, ssid, iova);
    if (!Number.isInteger(len) || len < 1 || len > 0xffff_ffff) throw new Error(`len: ${String(len)} is not a byte count (1..2^32-1)`);
    let access = write ? K.ACC_WRITE : K.ACC_READ;
    if (priv) access |= K.ACC_PRIV;
    if (exec) access |= K.ACC_EXEC;
    const req: Transfer = { sid, ssid, access, write, priv, exec };
    return this.finish(req, iova, len, bufOff, this.transfer(req, iova, len, bufOff));
  }

  /**
   * The DMA port's number path (its arguments already checked: `iova` an
   * integer below 2^53, `access` core ACC_* bits with ACC_PRIV / ACC_EXEC
   * only for a request with a SubstreamID): a DMA through the cached
   * configuration of (sid, ssid) goes straight to the core, without BigInt
   * or allocation; anything else (no cached configuration yet, the SMMU
   * off, an abort, a fault) takes `dma`'s path with the same outcome.
   * Returns undefined when the DMA completed, else `dma`'s result.
   */
  dmaNum(sid: Sid, ssid: Pasid | undefined, iova: Iova<number>, len: number, access: number, bufOff: number): DmaResult | undefined {
    const s = this.smmuEn ? this.cache.cached(sid, ssid) : undefined;
    const write = (access & K.ACC_WRITE) !== 0;
    const priv = (access & K.ACC_PRIV) !== 0;
    const exec = (access & K.ACC_EXEC) !== 0;
    if (s === undefined || s.cfg.kind === 'abort' || (len >>> 0) !== len || len === 0 || (bufOff >>> 0) !== bufOff || (this.o.profile.switches.dmaAbove48BitsUnseen && iova >= QEMU_IOMMU_REGION_END_NUM)) {
      const r = this.dma(sid, ssid, BigInt(iova), len, write, bufOff, priv, exec);
      return r.ok ? undefined : r;
    }
    const acc = this.o.profile.switches.s1ChecksWriteOnly ? (access | K.ACC_PRIV) & ~K.ACC_EXEC : access;
    const st = this.arm.dmaCopyNum(s.setupOff, iova, len, acc, bufOff);
    if (st === 0) return undefined;
    const req: Transfer = { sid, ssid, access, write, priv, exec };
    const big = BigInt(iova);
    return this.finish(req, big, len, bufOff, this.copied(st, s, req, big, len, acc, bufOff));
  }

  /** After a DMA's first attempt: QEMU profiles go on past a fault in small accesses (faultedDmaContinuesInAccesses). */
  private finish(req: Transfer, iova: bigint, len: number, bufOff: number, first: { r: DmaResult; done: number }): DmaResult {
    if (first.r.ok || !this.o.profile.switches.faultedDmaContinuesInAccesses) return first.r;
    // QEMU: the rest of the transfer goes on in small accesses, each translated (and faulting) on its own;
    // a failing access moves nothing (a read gets 0 for it), later ones move their bytes.
    const write = req.write;
    const low = Number(iova & PAGE_MASK); // the page offset of iova + pos is (low + pos) mod 4 KiB: no BigInt for it per access
    let pos = this.skipFailed(low, len, bufOff, write, first.done);
    while (pos < len) {
      const n = Math.min(len - pos, PAGE - ((low + pos) & 0xfff));
      const t = this.transfer(req, iova + BigInt(pos), n, bufOff + pos);
      pos = t.r.ok ? pos + n : this.skipFailed(low, len, bufOff, write, pos + t.done);
    }
    return { ...first.r, continued: true };
  }

  /** Past the failing access at offset `at` of a continued DMA (`low`: the DMA address's page offset; a read's bytes of it zeroed); the next offset. */
  private skipFailed(low: number, len: number, bufOff: number, write: boolean, at: number): number {
    const n = accessSize(low + at, len - at);
    if (!write) this.o.core.buffer(bufOff + at, n).fill(0);
    return at + n;
  }

  /**
   * One attempt at [iova, iova + len): the configuration, then the core's
   * walk and copy. On a fault, `done` is how many bytes went through before
   * the faulting page (found again page by page: faults are the slow path)
   * and the event names that page's address.
   */
  private transfer(q: Transfer, iova: bigint, len: number, bufOff: number): { r: DmaResult; done: number } {
    const sw = this.o.profile.switches;
    // The paths that never reach the core's copy (which checks the buffer first) check it here, before any event.
    if (sw.dmaAbove48BitsUnseen && iova >= QEMU_IOMMU_REGION_END) return { r: this.checkBuffer(bufOff, len, { ok: false, reason: 0, recorded: false }), done: 0 };
    const s = this.stream(q.sid, q.ssid);
    if ('event' in s) {
      this.checkBuffer(bufOff, len, undefined);
      return { r: this.failed(TRANSLATION_FAULTS.has(s.event.type) ? { ...s.event, addr: iova } : s.event, true), done: 0 };
    }
    if (s.cfg.kind === 'abort') return { r: this.checkBuffer(bufOff, len, { ok: false, reason: 0, recorded: false }), done: 0 };
    // QEMU (s1ChecksWriteOnly): walk as a privileged data access, so AP[1], APTable[0] and XN do not apply.
    const access = sw.s1ChecksWriteOnly ? (q.access | K.ACC_PRIV) & ~K.ACC_EXEC : q.access;
    return this.copied(this.arm.dmaCopy(s.setupOff, iova, len, access, bufOff), s, q, iova, len, access, bufOff);
  }

  /** The core's answer `st` to a DMA's copy through stream `s`: done, or the fault's event and how far the copy got. */
  private copied(st: number, s: CachedStream, q: Transfer, iova: bigint, len: number, access: number, bufOff: number): { r: DmaResult; done: number } {
    const sw = this.o.profile.switches;
    if (st === 0) return { r: { ok: true }, done: 0 };
    if (st === 0xffff_ffff) throw new Error(`bufOff: ${bufOff} (+${len}) is not a device buffer`);
    let done = 0;
    for (let n = PAGE - Number(iova & PAGE_MASK); done + n < len && this.arm.translate(s.setupOff, iova + BigInt(done), access) === 0; n = PAGE) done += n;
    const at = iova + BigInt(done);
    let ev = coreFaultEvent(this.o.core.out, this.arm.translate(s.setupOff, at, access), q.sid, q.ssid, at, q.write, q.priv, q.exec);
    if (sw.nestedTableFaultReportsStage1 && ev.s2 && ev.cls === EVT_CLASS.TT && s.cfg.kind === 'translate' && s.cfg.setup.s1) {
      // QEMU reports the table's IPA (tables are granule-aligned), not the descriptor's, as a stage-1 fault.
      const gran = BigInt((at >> 55n) & 1n ? s.cfg.setup.tg1Lg2 : s.cfg.setup.tg0Lg2);
      ev = { ...ev, s2: false, ipa: ev.ipa! & ~((1n << gran) - 1n) };
    }
    const record = s.cfg.kind === 'translate' && (ev.s2 ? s.cfg.recordS2 : s.cfg.recordS1);
    return { r: this.failed(ev, record), done };
  }

  /** `r`, once [bufOff, bufOff + len) is known to be one device buffer (else an Error naming bufOff). */
  private checkBuffer<T>(bufOff: number, len: number, r: T): T {
    try {
      this.o.core.buffer(bufOff, len);
    } catch {
      throw new Error(`bufOff: ${String(bufOff)} (+${len}) is not a device buffer`);
    }
    return r;
  }

  /**
   * Translate-only (the DMA port's `translate`): where `iova` goes for
   * StreamID `sid` (SubstreamID `ssid`) with `access` (ACC_* bits), as the
   * output address and the log2 size of the translation; or the failed
   * request, its event recorded as for a DMA.
   */
  translateOnly(sid: Sid, ssid: Pasid | undefined, iova: Iova, access: number): { pa: bigint; lg2: number } | DmaResult {
    checkRequest(sid, ssid, iova);
    if ((access >>> 0) !== access) throw new Error(`access: ${String(access)} is not a set of ACC_* bits`);
    const s = this.stream(sid, ssid);
    if ('event' in s) return this.failed(s.event, true);
    if (s.cfg.kind === 'abort') return { ok: false, reason: 0, recorded: false };
    const st = this.arm.translate(s.setupOff, iova, access);
    const out = this.o.core.out;
    if (st === 0) return { pa: (BigInt(out[K.OUT_ADDR_HI]!) << 32n) | BigInt(out[K.OUT_ADDR_LO]!), lg2: out[K.OUT_PAGE_LG2]! };
    const write = (access & K.ACC_WRITE) !== 0;
    const ev = coreFaultEvent(out, st, sid, ssid, iova, write, (access & K.ACC_PRIV) !== 0, (access & K.ACC_EXEC) !== 0);
    return this.failed(ev, s.cfg.kind === 'translate' && (ev.s2 ? s.cfg.recordS2 : s.cfg.recordS1));
  }

  /**
   * The DMA port of StreamID `sid` (a device's requester id under IORT's
   * identity mapping): untranslated, translate-only, ATS translation and
   * translated requests through this unit, a PASID as SubstreamID, faults
   * as events (smmu/dma-port.ts).
   */
  portFor(sid: Sid): DmaPort {
    return new SmmuDmaPort(this, sid);
  }

  // -- page requests (chapter 8, priq.ts) ----------------------------------------------

  /**
   * A PCIe page request (or Stop Marker) from the device at StreamID
   * `req.sid`: written to the PRI queue, answered by the unit itself, or
   * discarded (priq.ts); 'rejected' when the unit has no PRI
   * (SMMU_IDR0.PRI = 0). A malformed request is an Error naming the field.
   */
  pageRequest(req: PageRequest): PageRequestOutcome {
    checkPageRequest(req);
    return this.caps.pri ? this.priq.submit(req) : 'rejected';
  }

  /** Where CMD_PRI_RESP responses go: the device (PRI engine) at a StreamID; the machine wires its PCI bus. */
  setPageResponseRouter(router: SmmuPageResponseRouter): void {
    this.priq.setRouter(router);
  }

  /** STE.PPAR of `sid` (§5.2), or undefined when the STE cannot be fetched or is ILLEGAL, or the SMMU is off (§8.1). */
  private ppar(sid: number): boolean | undefined {
    const ste = this.smmuEn ? this.cache.ste(sid) : undefined;
    return ste === undefined || 'type' in ste ? undefined : get(ste.words, STE.PPAR) === 1;
  }

  /** The cached configuration of (sid, ssid) with its setup record, or the configuration event. */
  private stream(sid: number, ssid: number | undefined): CachedStream | { event: SmmuEvent } {
    if (!this.smmuEn) {
      const abort = (this.regs.at(this.slots.GBPA) & GBPA.ABORT) !== 0;
      return { cfg: abort ? { kind: 'abort' } : { kind: 'bypass' }, setupOff: this.cache.bypass(), sid };
    }
    return this.cache.resolve(sid, ssid);
  }

  /**
   * Copies `len` bytes between guest-physical `addr` (a number below 2^53,
   * the range inside RAM) and the core buffer at `bufOff`, untranslated: an
   * ATS Translated transaction the unit let pass. 0 when done.
   */
  copyPhysical(addr: Hpa<number>, len: number, write: boolean, bufOff: number): number {
    const input: number = addr; // through the bypass setup: the input address is the output address
    return this.arm.dmaCopyNum(this.cache.bypass(), input, len, write ? K.ACC_WRITE : K.ACC_READ, bufOff);
  }

  /** A nested STE's stage 2 for a CD fetch at `ipa` (a temporary setup record). */
  private s2Fetch(ste: DecodedSte, ipa: bigint): { pa: bigint } | { evt: number; ipa: bigint } {
    const off = this.cache.newSetup({ ...BYPASS_SETUP, s2: true, vmid: ste.vmid, flags: walkFlags(this.o.profile.switches), ...ste.s2 });
    try {
      const st = this.arm.translateS2(off, ipa, K.ACC_READ);
      const out = this.o.core.out;
      if (st !== 0) return { evt: st, ipa: (BigInt(out[K.OUT_FAULT_ADDR_HI]!) << 32n) | BigInt(out[K.OUT_FAULT_ADDR_LO]!) };
      return { pa: (BigInt(out[K.OUT_ADDR_HI]!) << 32n) | BigInt(out[K.OUT_ADDR_LO]!) };
    } finally {
      this.cache.freeSetup(off);
    }
  }

  private failed(ev: SmmuEvent, record: boolean): DmaResult {
    const recorded = record && this.recordEvent(ev);
    return { ok: false, reason: ev.type, recorded, addr: ev.addr };
  }

  // -- configuration invalidation (CFGI_*) ------------------------------------------

  /** Drops cached STEs of stream ids first..last and every configuration derived from them (CFGI_STE, CFGI_STE_RANGE, CFGI_ALL). */
  invalidateSte(first: number, last: number): void {
    this.cache.invalidateSte(checkInt(first, 0xffff_ffff, 'first'), checkInt(last, 0xffff_ffff, 'last'));
  }

  /** Drops the cached configuration of (sid, ssid), or of every substream of sid (CFGI_CD, CFGI_CD_ALL). */
  invalidateCd(sid: Sid, ssid: Pasid | undefined): void {
    checkStream(sid, ssid);
    this.cache.invalidateCd(sid, ssid);
  }

  // -- event queue (§7.2) -------------------------------------------------------------

  /** Writes `ev` to the event queue; false when it was lost (queue off, full, or unwritable). */
  recordEvent(ev: SmmuEvent): boolean {
    const at = this.eventSlot();
    if (at < 0) return false;
    const sw = this.o.profile.switches;
    const w = encodeEventDwords(ev, this.eventDwords, sw.eventClassOnWalkAbortOnly && ev.type !== EVT.F_WALK_EABT);
    if (sw.eventIpaKeepsOffset && ev.ipa !== undefined) putWord(w, 3, ev.ipa & EVENT_ADDR_MASK);
    return this.pushRecord(at, w, `event 0x${ev.type.toString(16)} sid 0x${ev.sid.toString(16)}${ev.ssid !== undefined ? ` ssid ${ev.ssid}` : ''}`);
  }

  /**
   * Writes an event record made elsewhere (four doublewords, §7.3) to the
   * event queue as if this unit had logged it: a VMM forwarding a host
   * event to the guest's SMMU with the guest's StreamID in it.
   * False when it was lost. Throws an Error naming `record` when it is not four 64-bit words.
   */
  injectEvent(record: readonly bigint[]): boolean {
    if (!Array.isArray(record) || record.length !== 4 || !record.every((v) => typeof v === 'bigint' && v >= 0n && v < 1n << 64n)) {
      throw new Error(`record: ${String(record)} is not four 64-bit doublewords`);
    }
    const at = this.eventSlot();
    if (at < 0) return false;
    const w = this.eventDwords;
    record.forEach((v, i) => putWord(w, i, v));
    return this.pushRecord(at, w, `injected event 0x${(record[0]! & 0xffn).toString(16)} sid 0x${(record[0]! >> 32n).toString(16)}`);
  }

  /**
   * The queue mechanics of §7.2 before a record is written: the address of
   * the slot at EVENTQ_PROD, or -1 when the record is lost (EVENTQEN = 0,
   * the queue full: overflow, or the slot unwritable: EVENTQ_ABT_ERR).
   */
  private eventSlot(): number {
    const r = this.regs;
    const S = this.slots;
    if ((r.at(S.CR0) & CR0.EVENTQEN) === 0) { this.eventsLost++; return -1; }
    const q = geometry(r.at(S.EVENTQ_BASE), r.at(S.EVENTQ_BASE + 1), this.caps.evtqLog2, EVT_BYTES);
    const prod = r.at(S.EVENTQ_PROD);
    const cons = r.at(S.EVENTQ_CONS);
    if (isFull(q, prod, cons)) {
      // §7.2: overflow toggles EVENTQ_PROD.OVFLG (unless one is pending: OVFLG != OVACKFLG).
      if (this.o.profile.switches.eventQueueFullAborts) this.raiseGerror(GERROR.EVENTQ_ABT_ERR);
      else if (((prod ^ cons) & QUEUE_OVERFLOW) === 0) r.put(S.EVENTQ_PROD, (prod ^ QUEUE_OVERFLOW) >>> 0);
      this.eventsLost++;
      return -1;
    }
    const at = entryAddr(q, prod);
    if (this.o.mem.offsetAt(at, EVT_BYTES) < 0) {
      this.raiseGerror(GERROR.EVENTQ_ABT_ERR);
      this.eventsLost++;
      return -1;
    }
    return at;
  }

  /** Writes record `w` (eight u32 dwords) at `at`, the slot `eventSlot` gave; moves EVENTQ_PROD and signals the event queue's interrupt. */
  private pushRecord(at: number, w: Uint32Array, what: string): boolean {
    const r = this.regs;
    const S = this.slots;
    for (let i = 0; i < w.length; i++) this.o.mem.setUint32(at + 4 * i, w[i]!);
    const prod = r.at(S.EVENTQ_PROD);
    const q = geometry(r.at(S.EVENTQ_BASE), r.at(S.EVENTQ_BASE + 1), this.caps.evtqLog2, EVT_BYTES);
    r.put(S.EVENTQ_PROD, ((prod & QUEUE_OVERFLOW) | next(q, prod)) >>> 0);
    this.log(`smmu: ${what}`);
    if (r.at(S.IRQ_CTRL) & IRQ_CTRL.EVENTQ_IRQEN) this.interrupt('eventq', S.EVENTQ_IRQ_CFG0, S.EVENTQ_IRQ_CFG1);
    return true;
  }

  /**
   * The guest's STE of StreamID `sid` as this unit would fetch it now (its
   * doublewords and address), or the configuration event: what a VMM reads
   * after trapping the guest's CFGI_STE.
   */
  guestSte(sid: Sid): { words: bigint[]; addr: bigint } | SmmuEvent {
    return readSte(this.src, streamId(sid));
  }

  // -- command queue (chapter 4) --------------------------------------------------------

  /** Runs the commands between CMDQ_CONS and CMDQ_PROD (on numbers: register dwords, u32 command halves). */
  private consumeCommands(): void {
    const r = this.regs;
    const S = this.slots;
    if ((r.at(S.CR0) & CR0.CMDQEN) === 0) return;
    if (this.gerrorActive(GERROR.CMDQ_ERR)) return;
    const q = geometry(r.at(S.CMDQ_BASE), r.at(S.CMDQ_BASE + 1), this.caps.cmdqLog2, CMD_BYTES);
    const mem = this.o.mem;
    // A fresh array per doorbell, so a doorbell rung from inside a command (an interrupt handler) does not overwrite this one's.
    const w = new Uint32Array(CMD_BYTES / 4);
    for (let budget = 2 << q.log2size; budget > 0; budget--) {
      const cons = r.at(S.CMDQ_CONS);
      if (isEmpty(q, r.at(S.CMDQ_PROD), cons)) return;
      const at = entryAddr(q, cons);
      let err: number = CERROR.ABT;
      if (mem.offsetAt(at, CMD_BYTES) >= 0) {
        for (let i = 0; i < w.length; i++) w[i] = mem.getUint32(at + 4 * i);
        err = this.runCommand(this.target, w);
      }
      if (err !== CERROR.NONE) {
        // §7.1: CONS stays at the command, ERR names the error, GERROR.CMDQ_ERR toggles.
        r.put(S.CMDQ_CONS, ((err << CMDQ_CONS_ERR_SHIFT) | ptr(q, cons)) >>> 0);
        this.raiseGerror(GERROR.CMDQ_ERR);
        return;
      }
      r.put(S.CMDQ_CONS, next(q, cons));
    }
  }

  private runCommand(t: CommandTarget, w: Uint32Array): number {
    const row = COMMAND_BY_OP[get32(w, CMD.opcode)];
    if (!row) { this.log(`smmu: command opcode 0x${get32(w, CMD.opcode).toString(16)} is illegal`); return CERROR.ILL; }
    if (get32(w, CMD.SSec) !== 0) { this.log(`smmu: ${row.name} with SSec=1 from the Non-secure queue`); return CERROR.ILL; }
    if (!row.supported(this.caps)) {
      if (this.o.profile.switches.ignoreUnsupportedCommands) return CERROR.NONE;
      this.log(`smmu: ${row.name} is not supported by this SMMU`);
      return CERROR.ILL;
    }
    const err = row.run(t, w, this.caps);
    if (err === CERROR.NONE && this.onCommand) this.onCommand(row.name, [word(w, 0), word(w, 1)]);
    return err;
  }

  private commandTarget(): CommandTarget {
    const core = this.o.core;
    return {
      invalidateSte: (a, b) => this.invalidateSte(a, b),
      invalidateCd: (sid, ssid) => this.invalidateCd(sid, ssid),
      inv: {
        invIotlbGlobal: () => core.invIotlbGlobal(),
        invIotlbDomain: (d) => core.invIotlbDomain(d),
        invIotlbPage: (d, hi, lo, am, ih) => core.invIotlbPageRaw(d, hi, lo, am, ih),
        invPasidIotlb: (d, p) => core.invPasidIotlb(d, p),
        invPasidIotlbPage: (d, p, hi, lo, am, ih) => core.invPasidIotlbPageRaw(d, p, hi, lo, am, ih),
        invAnyAsidPage: (d, hi, lo, am, leaf) => this.arm.invVaa(d, hi, lo, am, leaf),
      },
      sync: (cs, addr, data) => this.sync(cs, addr, data),
      atcSyncFailed: () => this.ats.syncFails(),
      atcInvalidate: (sid, ssid, addr, lg2, g) => this.ats.invalidate(sid, ssid, addr, lg2, g),
      priResponse: (sid, ssid, prgi, resp) => this.priq.respond(sid, ssid, prgi, resp),
    };
  }

  /** CMD_SYNC completion (§4.7.3): CS=IRQ sends MSIData to MSIAddress (an MSI) or signals the wired line; CS=SEV sends an event. */
  private sync(cs: number, addr: number, data: number): void {
    if (cs === SYNC_CS.SEV) { this.o.onInterrupt?.({ source: 'sev' }); return; }
    if (cs === SYNC_CS.IRQ) this.signal('cmd-sync', addr, data);
  }

  // -- global errors and interrupts (§6.3.18, §3.18) ----------------------------------

  private gerrorActive(bit: number): boolean {
    return ((this.regs.at(this.slots.GERROR) ^ this.regs.at(this.slots.GERRORN)) & bit) !== 0;
  }

  /** Activates global error `bit` (GERROR[bit] toggles unless already active) and signals it. */
  private raiseGerror(bit: number): void {
    if (this.gerrorActive(bit)) return;
    const S = this.slots;
    this.regs.put(S.GERROR, (this.regs.at(S.GERROR) ^ bit) >>> 0);
    this.log(`smmu: global error 0x${bit.toString(16)}`);
    // An aborted GERROR MSI is not signalled through that same MSI again (it would abort again: no loop).
    if (bit !== GERROR.MSI_GERROR_ABT_ERR && this.regs.at(S.IRQ_CTRL) & IRQ_CTRL.GERROR_IRQEN) this.interrupt('gerror', S.GERROR_IRQ_CFG0, S.GERROR_IRQ_CFG1);
  }

  /**
   * Signals `source` as its *_IRQ_CFG registers say: the MSI of *_IRQ_CFG0
   * (address: ADDR bits 51:2, slot `cfg0`) and *_IRQ_CFG1 (data, slot
   * `cfg1`), or the wired line (§3.18, §6.3.20).
   */
  private interrupt(source: SmmuIrqSource, cfg0: number, cfg1: number): void {
    const addr = (this.regs.at(cfg0 + 1) & MSI_ADDR_HI) * 2 ** 32 + ((this.regs.at(cfg0) & MSI_ADDR_LO) >>> 0);
    this.signal(source, addr, this.regs.at(cfg1));
  }

  /**
   * The one MSI rule for every source (msi.ts, §3.18.2): without
   * SMMU_IDR0.MSI or with address 0, the wired line; else the 32-bit write
   * of `data` to `addr`: into RAM, to the embedder at a doorbell, or aborted
   * with the source's GERROR.MSI_*_ABT_ERR.
   */
  private signal(source: SmmuIrqSource, addr: number, data: number): void {
    if (!this.caps.msi || addr === 0) { this.o.onInterrupt?.({ source }); return; }
    const route = msiRoute(addr, this.o.mem, this.doorbells);
    if (route === 'memory') this.o.mem.setUint32(addr, data);
    else if (route === 'doorbell') this.o.onInterrupt?.({ source, msi: { address: BigInt(addr), data } });
    else {
      this.log(`smmu: ${source} MSI to 0x${addr.toString(16)} aborted: no RAM or doorbell there`);
      this.raiseGerror(MSI_ABORT_ERR[source]);
    }
  }

  // -- register side effects -------------------------------------------------------------

  private registerSideEffects(): void {
    const r = this.regs;
    const S = this.slots;
    r.onWrite('CR0', (old, now) => this.onCr0(old, now));
    // §6.3.14.1 (SMMUv3.2): a write without UPDATE is ignored; with it, the update completes at once.
    r.onWrite('GBPA', (old, now) => r.put(S.GBPA, (now & GBPA.UPDATE) !== 0 ? (now & ~GBPA.UPDATE) >>> 0 : old));
    r.onWrite('IRQ_CTRL', (_old, now) => r.put(S.IRQ_CTRLACK, now));
    r.onWrite('CMDQ_PROD', () => this.consumeCommands());
    r.onWrite('GERRORN', () => this.consumeCommands()); // an acknowledged CMDQ_ERR lets the queue go on
    r.onWrite('CMDQ_CONS', (old) => { if (r.at(S.CR0) & CR0.CMDQEN) this.restore(S.CMDQ_CONS, old, 'CMDQ_CONS while CMDQEN=1'); });
    r.onWrite('EVENTQ_PROD', (old) => { if (r.at(S.CR0) & CR0.EVENTQEN) this.restore(S.EVENTQ_PROD, old, 'EVENTQ_PROD while EVENTQEN=1'); });
    // §6.3.97: PRIQ_PROD is read-only while PRIQEN = 1.
    r.onWrite('PRIQ_PROD', (old) => { if (r.at(S.CR0) & CR0.PRIQEN) this.restore(r.slotOf('PRIQ_PROD'), old, 'PRIQ_PROD while PRIQEN=1'); });
  }

  private restore(slot: number, old: number, why: string): void {
    this.regs.put(slot, old);
    this.log(`smmu: ignored write to ${why}`);
  }

  /** CR0 (§6.3.9): the update takes effect at once and CR0ACK follows; enabling the SMMU starts from empty caches. */
  private onCr0(old: number, now: number): void {
    this.smmuEn = (now & CR0.SMMUEN) !== 0;
    this.regs.put(this.slots.CR0ACK, this.o.profile.switches.registersKeepWrittenBits ? now & QEMU_CR0_ACK_BITS : now);
    if (((old ^ now) & CR0.SMMUEN) !== 0) {
      this.cache.clear();
      this.o.core.invIotlbGlobal();
    }
    if ((now & CR0.CMDQEN) !== 0) this.consumeCommands();
  }
}
