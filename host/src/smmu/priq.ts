/**
 * The SMMUv3 PRI queue (IHI 0070 chapter 8): PCIe Page Requests (PPRs)
 * from devices' PRI engines are written to the guest's PRI queue
 * (SMMU_PRIQ_BASE, PRIQ_PROD / PRIQ_CONS in page 1, §6.3.33, §6.3.97,
 * §6.3.98), the guest answers each Page Request Group with CMD_PRI_RESP
 * (§4.5.2), and the response goes back to the device by StreamID.
 *
 * The rules, all from the spec:
 * - §8.2: while the effective SMMU_CR0.PRIQEN is 0 (SMMUEN = 0 implies it)
 *   or GERROR.PRIQ_ABT_ERR is active, nothing is written and every PPR gets
 *   an automatic Response Failure without a PASID; Stop Markers get none.
 * - §8.1: a PPR that finds the queue full toggles PRIQ_PROD.OVFLG (unless
 *   an overflow is already active: OVFLG != PRIQ_CONS.OVACKFLG); while an
 *   overflow is active nothing is written, even when there is room. A
 *   discarded PPR with Last = 1 gets an automatic Success (a retry asks
 *   again), with the request's PASID when SMMU_IDR3.PPS = 1 or STE.PPAR = 1;
 *   when STE.PPAR cannot be checked (SMMUEN = 0, StreamID out of range, STE
 *   fetch abort, ILLEGAL STE) the answer is Response Failure without a
 *   PASID. Last = 0 PPRs and Stop Markers are discarded silently.
 * - §8.2: a record write that aborts (outside RAM) activates
 *   GERROR.PRIQ_ABT_ERR and the PPR gets an automatic Response Failure.
 * - §8.2: PPRs are not affected by SMMU_CR0.ATSCHK or STE.EATS: any stream
 *   may send them.
 * - §6.3.36 SMMU_PRIQ_IRQ_CFG2.LO: the PRI queue interrupt (IRQ_CTRL.
 *   PRIQ_IRQEN) fires when the queue goes from empty to non-empty, or with
 *   LO = 1 for each Last = 1 PPR, written or discarded by an overflow.
 * - §4.5.2: CMD_PRI_RESP with SMMUEN = 0 is IGNORED; SSV is IGNORED without
 *   substreams (the response has no PASID); Resp 0b11 is ILLEGAL (the
 *   command table's CERROR_ILL).
 *
 * Guest input never throws; the counters say what became of each PPR.
 */
import type { GuestMemory } from '../core/guest-memory.js';
import type { PageRequestOutcome, PageResponseTarget } from '../vtd/prq/page-request.js';
import { PageResponseCode, type PageRequest } from '../vtd/spec/page-request.js';
import type { SmmuCaps } from './profiles.js';
import { entryAddr, geometry, isEmpty, isFull, next } from './queue.js';
import type { SmmuRegisterFile } from './registers.js';
import { encodePriRecord, PRG_RESPONSE_OF_RESP, PRIQ_BYTES, PRIQ_IRQ_CFG2 } from './spec/priq.js';
import { CR0, GERROR, IRQ_CTRL, QUEUE_OVERFLOW } from './spec/registers.js';
import { iova as checkIova, pasid as checkPasid, streamId, type Pasid, type Sid } from '../types.js';

/** What the PRI queue uses of its unit. */
export interface PriQueueHost {
  /** The unit's registers (PRIQ_BASE/PROD/CONS, CR0, IRQ_CTRL, PRIQ_IRQ_CFG2). */
  readonly regs: SmmuRegisterFile;
  /** The memory the queue lives in. */
  readonly mem: GuestMemory;
  /** The unit's capabilities (PRIQS, SSIDSIZE, IDR3.PPS). */
  readonly caps: SmmuCaps;
  /** STE.PPAR of `sid`, or undefined when the STE cannot be checked (SMMUEN = 0, bad StreamID, fetch abort, ILLEGAL). */
  ppar(sid: Sid): boolean | undefined;
  /** Whether global error `bit` is active (GERROR != GERRORN). */
  gerrorActive(bit: number): boolean;
  /** Activates global error `bit`. */
  raiseGerror(bit: number): void;
  /** Signals the PRI queue interrupt (MSI of PRIQ_IRQ_CFG0/1 or the wired line). */
  interrupt(): void;
  /** Logs a guest programming error. */
  log(msg: string): void;
}

/** Throws an Error naming the first field of `req` that is not a page request's (a host caller's mistake; guests cannot send one). */
export function checkPageRequest(req: PageRequest): void {
  if (typeof req !== 'object' || req === null) throw new Error(`req: ${String(req)} is not a page request`);
  streamId(req.sid, 'req.sid');
  if (req.pasid !== undefined) checkPasid(req.pasid, 'req.pasid');
  checkIova(req.addr, 'req.addr');
  if (!Number.isInteger(req.prgi) || req.prgi < 0 || req.prgi > 0x1ff) throw new Error(`req.prgi: ${String(req.prgi)} is not a 9-bit PRG index`);
  for (const k of FLAGS) if (typeof req[k] !== 'boolean') throw new Error(`req.${k}: ${String(req[k])} is not a boolean`);
}

const FLAGS = ['read', 'write', 'exec', 'priv', 'lpig'] as const;

/** Finds the device (its PRI engine) at a StreamID; the machine wires it to its PCI bus. */
export type SmmuPageResponseRouter = (sid: Sid) => PageResponseTarget | undefined;

/** What became of the PPRs and responses since the last reset. */
export interface PriQueueStats {
  /** PPRs written to the PRI queue. */
  queued: number;
  /** PPRs the SMMU answered itself (PRIQEN = 0, PRIQ_ABT_ERR, overflow with Last = 1, record abort). */
  autoResponses: number;
  /** PPRs and Stop Markers discarded without an answer. */
  discarded: number;
  /** Times an overflow became active (PRIQ_PROD.OVFLG toggled). */
  overflows: number;
  /** CMD_PRI_RESP responses delivered to a device. */
  responses: number;
  /** CMD_PRI_RESP for a StreamID with no PRI device (nothing delivered). */
  unrouted: number;
}

const newStats = (): PriQueueStats => ({ queued: 0, autoResponses: 0, discarded: 0, overflows: 0, responses: 0, unrouted: 0 });

/** Register slots the queue reads and writes. */
const SLOTS = ['CR0', 'PRIQ_BASE', 'PRIQ_PROD', 'PRIQ_CONS', 'IRQ_CTRL', 'PRIQ_IRQ_CFG2'] as const;
type Slots = Readonly<Record<(typeof SLOTS)[number], number>>;

/** The PRI queue of one SMMUv3 unit. */
export class SmmuPriQueue {
  /** Counters (see PriQueueStats). */
  stats = newStats();
  private router: SmmuPageResponseRouter = () => undefined;
  private readonly slot: Slots;
  /** The record being written, as u32 halves (reused). */
  private readonly record = new Uint32Array(PRIQ_BYTES / 4);

  /** The PRI queue of `host`'s registers and memory. */
  constructor(private readonly host: PriQueueHost) {
    this.slot = Object.fromEntries(SLOTS.map((n) => [n, host.regs.slotOf(n)])) as Slots;
  }

  /** Where CMD_PRI_RESP responses go (by StreamID). */
  setRouter(router: SmmuPageResponseRouter): void {
    this.router = router;
  }

  /** Counters back to zero (unit reset). */
  reset(): void {
    this.stats = newStats();
  }

  /**
   * One incoming PRI message (a PPR or, with a PASID, Last = 1 and R = W =
   * 0, a Stop Marker): written to the queue ('queued'), answered at once
   * (`autoResponse`, with the PASID the response carries), or discarded
   * ('dropped').
   */
  submit(req: PageRequest): PageRequestOutcome {
    // Without substreams the SMMU sees no PASID (chapter 8: SSV = 0, X = Priv = 0).
    const pasid = this.host.caps.ssidBits > 0 ? req.pasid : undefined;
    const stop = pasid !== undefined && req.lpig && !req.read && !req.write;
    const h = this.host;
    const r = h.regs;
    const S = this.slot;
    if ((r.at(S.CR0) & (CR0.SMMUEN | CR0.PRIQEN)) !== (CR0.SMMUEN | CR0.PRIQEN) || h.gerrorActive(GERROR.PRIQ_ABT_ERR)) {
      return stop ? this.discard() : this.auto(PageResponseCode.ResponseFailure, undefined);
    }
    const q = geometry(r.at(S.PRIQ_BASE), r.at(S.PRIQ_BASE + 1), h.caps.priqLog2, PRIQ_BYTES);
    const prod = r.at(S.PRIQ_PROD);
    const cons = r.at(S.PRIQ_CONS);
    const active = ((prod ^ cons) & QUEUE_OVERFLOW) !== 0;
    if (active || isFull(q, prod, cons)) return this.overflow(req, pasid, stop, active, prod);
    const at = entryAddr(q, prod);
    if (h.mem.offsetAt(at, PRIQ_BYTES) < 0) {
      h.raiseGerror(GERROR.PRIQ_ABT_ERR);
      h.log(`smmu: PRI queue entry at 0x${at.toString(16)} is outside RAM`);
      return stop ? this.discard() : this.auto(PageResponseCode.ResponseFailure, undefined);
    }
    const w = this.record;
    encodePriRecord({ sid: req.sid, ssid: pasid, addr: req.addr, prgi: req.prgi, last: req.lpig, read: req.read, write: req.write, exec: req.exec, priv: req.priv }, w);
    for (let i = 0; i < w.length; i++) h.mem.setUint32(at + 4 * i, w[i]!);
    const wasEmpty = isEmpty(q, prod, cons);
    r.put(S.PRIQ_PROD, ((prod & QUEUE_OVERFLOW) | next(q, prod)) >>> 0);
    this.stats.queued++;
    if (this.lastOnly() ? req.lpig : wasEmpty) this.signal();
    return 'queued';
  }

  /**
   * CMD_PRI_RESP (§4.5.2): the PRG Response for (sid, ssid, prgi) to the
   * device. Returns false for Resp 0b11 (ILLEGAL); IGNORED while SMMUEN = 0.
   */
  respond(sid: Sid, ssid: Pasid | undefined, prgi: number, resp: number): boolean {
    const code = PRG_RESPONSE_OF_RESP[resp];
    if (code === undefined) {
      this.host.log(`smmu: PRI_RESP with the reserved Resp 0b11`);
      return false;
    }
    if ((this.host.regs.at(this.slot.CR0) & CR0.SMMUEN) === 0) return true;
    const target = this.router(sid);
    if (!target) {
      this.stats.unrouted++;
      this.host.log(`smmu: PRI_RESP for StreamID 0x${sid.toString(16)}: no PRI device there`);
      return true;
    }
    this.stats.responses++;
    const pasid = this.host.caps.ssidBits > 0 ? ssid : undefined;
    target.pageGroupResponse(pasid === undefined ? { prgi, code } : { pasid, prgi, code });
    return true;
  }

  /** §8.1: the queue is full or an overflow is active: OVFLG toggles once, a Last = 1 PPR is answered Success. */
  private overflow(req: PageRequest, pasid: Pasid | undefined, stop: boolean, active: boolean, prod: number): PageRequestOutcome {
    const h = this.host;
    if (!active) {
      h.regs.put(this.slot.PRIQ_PROD, (prod ^ QUEUE_OVERFLOW) >>> 0);
      this.stats.overflows++;
      h.log('smmu: PRI queue overflow (PRIQ_PROD.OVFLG toggled)');
    }
    if (req.lpig && this.lastOnly()) this.signal();
    if (stop || !req.lpig) return this.discard();
    if (pasid === undefined || h.caps.pps) return this.auto(PageResponseCode.Success, pasid);
    const ppar = h.ppar(req.sid);
    if (ppar === undefined) return this.auto(PageResponseCode.ResponseFailure, undefined);
    return this.auto(PageResponseCode.Success, ppar ? pasid : undefined);
  }

  private auto(code: PageResponseCode, pasid: Pasid | undefined): PageRequestOutcome {
    this.stats.autoResponses++;
    return pasid === undefined ? { autoResponse: code } : { autoResponse: code, pasid };
  }

  private discard(): PageRequestOutcome {
    this.stats.discarded++;
    return 'dropped';
  }

  private lastOnly(): boolean {
    return (this.host.regs.at(this.slot.PRIQ_IRQ_CFG2) & PRIQ_IRQ_CFG2.LO) !== 0;
  }

  private signal(): void {
    if (this.host.regs.at(this.slot.IRQ_CTRL) & IRQ_CTRL.PRIQ_IRQEN) this.host.interrupt();
  }
}
