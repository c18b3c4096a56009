/**
 * The ATS device: like the DMA test device it moves bytes between guest
 * memory and a 4 KiB buffer, but with ATS enabled (config space) it keeps a
 * device-TLB: a miss sends a translation request to the IOMMU and caches the
 * completion (size and R/W/X as returned); DMA is then a translated request
 * to the cached address. Device-TLB invalidation requests from the IOMMU
 * remove exactly the named ranges; CTL.NO_INV_RESPONSE makes the device stop
 * answering them (the IOMMU times out: ITE).
 *
 * A translation without the needed permission (R=W=0 for a page that is not
 * present) becomes a page request when PRI is enabled; the device waits and
 * retries on Success. With ATS disabled the device sends untranslated
 * requests. With Bus Master Enable clear nothing is sent (STATUS aborted).
 */
import type { DeviceTlbInvalidation, PciFunction } from '../../pci/bus.js';
import type { DmaAttrs, DmaPort } from '../../pci/dma-port.js';
import { iova as checkIova, rangeEnd, type Sid, type Iova } from '../../types.js';
import type { PageGroupResponse } from '../../vtd/prq/page-request.js';
import { PageResponseCode } from '../../vtd/spec/page-request.js';
import { DeviceFunction, readLe, writeLe } from '../common/function.js';
import type { PageFault } from '../common/pri-engine.js';
import { RetryEngine, pageFault } from '../common/retry-engine.js';
import { ATS_CAPS, ATS_DTLB_ENTRIES, ATS_IDENTITY } from './config.js';
import { DeviceTlb, NO_PASID, type DevTlbEntry } from './device-tlb.js';
import { ATS, ATS_BUFFER_SIZE, ATS_CMD, ATS_CTL, ATS_ID, ATS_STATE, atsStatus } from './regs.js';

/** One command. */
export interface AtsOp {
  /** READ into the buffer, WRITE from it, or TRANSLATE (fill the device-TLB only). */
  readonly kind: 'read' | 'write' | 'translate';
  /** DMA address. */
  readonly iova: Iova;
  /** Bytes to move (or to translate). */
  readonly len: number;
  /** Buffer offset the transfer starts at. */
  readonly bufOffset: number;
}

/** A command waiting for a page-group response: the command and the responses it had so far. */
export interface AtsWait {
  /** The command. */
  readonly op: AtsOp;
  /** Page-group responses it had so far. */
  retries: number;
}

/** How a transfer ended. */
type Outcome =
  | { readonly state: number; readonly reason?: number }
  | { readonly state: 'page'; readonly fault: PageFault; readonly reason: number };

const DONE = { state: ATS_STATE.DONE } as const;

/** The ATS device. */
export class AtsDevice implements PciFunction {
  /** Its row of the device registry (devices/registry.ts DEVICE_KINDS). */
  readonly kind = 'ats';
  /** The PCI function: config space (ATS, PASID, PRI, MSI capabilities), BAR0, interrupts. */
  readonly fn: DeviceFunction;
  /** The device-TLB (ATC): translations from translation completions. */
  readonly tlb = new DeviceTlb(ATS_DTLB_ENTRIES);
  private readonly bufOff: number;
  /** Register state (snapshot.ts saves it). */
  regs = newRegs();
  /** Commands parked on page requests (at most one: a new command is refused while one waits). */
  readonly retry: RetryEngine<AtsWait>;

  /** A device at requester id `sid` that does DMA through `port` (`opts.log`: guest programming errors). */
  constructor(readonly sid: Sid, private readonly port: DmaPort, opts: { log?: (m: string) => void } = {}) {
    this.fn = new DeviceFunction(sid, ATS_IDENTITY, ATS_CAPS, port, opts.log);
    this.bufOff = port.allocBuffer(ATS_BUFFER_SIZE);
    const ats = this.fn.ats!;
    this.config.onWrite(ats.at + 6, 2, () => { if (!ats.enabled()) this.tlb.clear(); });
    this.retry = new RetryEngine(this.fn.pri, (w, code) => this.onResponse(w, code));
  }

  /** The command waiting for a page-group response, if any. */
  get pending(): AtsWait | undefined {
    return this.retry.waiting[0];
  }

  /** Replaces the waiting command, leaving the page request it waits on as it is (snapshot restore, tests). */
  set pending(w: AtsWait | undefined) {
    this.retry.adopt(w ? [w] : []);
  }

  /** Configuration space. */
  get config() {
    return this.fn.config;
  }

  /** The device buffer (a live view). */
  buffer(): Uint8Array {
    return this.port.buffer(this.bufOff, ATS_BUFFER_SIZE);
  }

  /** Host shortcut: READ `len` bytes at `iova` into the buffer; returns STATUS. */
  read(iova: Iova, len: number, bufOffset = 0): number {
    return this.run({ kind: 'read', iova: checkIova(iova), len, bufOffset });
  }

  /** Host shortcut: WRITE `len` buffer bytes to `iova`; returns STATUS. */
  write(iova: Iova, len: number, bufOffset = 0): number {
    return this.run({ kind: 'write', iova: checkIova(iova), len, bufOffset });
  }

  /** VT-d device-TLB invalidation request (routed by SID); 'timeout' while CTL.NO_INV_RESPONSE is set. */
  deviceTlbInvalidate(req: DeviceTlbInvalidation): 'done' | 'timeout' {
    if (this.regs.ctl & ATS_CTL.NO_INV_RESPONSE) {
      this.regs.invTimeouts++;
      return 'timeout';
    }
    this.tlb.invalidate(req);
    this.regs.invCount++;
    return 'done';
  }

  /** A page-group response for this device's page request. */
  pageGroupResponse(resp: PageGroupResponse): void {
    this.fn.pri?.pageGroupResponse(resp);
  }

  /** Back to power-on state (buffer kept). */
  reset(): void {
    this.regs = newRegs();
    this.retry.clear();
    this.tlb.clear();
    this.fn.reset();
  }

  /** BAR0 read (4 or 8 bytes); unknown offsets read 0. */
  barRead(offset: number, size: number): bigint {
    if (offset >= ATS.BUFFER) return readLe(this.buffer(), offset - ATS.BUFFER, size);
    const lo = BigInt(this.regRead(offset));
    return size === 8 ? lo | (BigInt(this.regRead(offset + 4)) << 32n) : lo;
  }

  /** BAR0 write (4 or 8 bytes); writes to read-only or unknown offsets are ignored. */
  barWrite(offset: number, size: number, value: bigint): void {
    if (offset >= ATS.BUFFER) {
      writeLe(this.buffer(), offset - ATS.BUFFER, size, value);
      return;
    }
    this.regWrite(offset, Number(value & 0xffff_ffffn));
    if (size === 8) this.regWrite(offset + 4, Number((value >> 32n) & 0xffff_ffffn));
  }

  private run(op: AtsOp): number {
    const { len, bufOffset: b } = op;
    const badLen = op.kind === 'translate' ? len < 1 || len > 1 << 20 : len < 1 || b < 0 || b + len > ATS_BUFFER_SIZE;
    if (!Number.isInteger(len) || !Number.isInteger(b) || badLen || op.iova < 0n || rangeEnd(op.iova, len) === undefined || this.pending) {
      this.regs.status = atsStatus(ATS_STATE.BAD_COMMAND);
      return this.regs.status;
    }
    const attrs = this.fn.attrs(this.regs.pasid);
    if (typeof attrs === 'string') this.regs.status = atsStatus(ATS_STATE.BAD_COMMAND);
    else if (!this.config.busMaster()) this.finish({ state: ATS_STATE.ABORTED });
    else this.attempt({ op, retries: 0 }, attrs);
    return this.regs.status;
  }

  private attempt(w: AtsWait, attrs: DmaAttrs): void {
    const out = this.fn.ats?.enabled() ? this.translatedTransfer(w.op, attrs) : this.untranslatedTransfer(w.op, attrs);
    if (out.state !== 'page') return this.finish(out);
    // Waiting before the request goes out: an immediate answer (queue full) completes it re-entrantly.
    this.regs.status = atsStatus(ATS_STATE.PAGE_WAIT, out.reason);
    if (this.retry.park(w, out.fault)) return;
    this.finish({ state: out.reason ? ATS_STATE.FAULT : ATS_STATE.NO_PERMISSION, reason: out.reason });
  }

  private onResponse(w: AtsWait, code: PageResponseCode): void {
    const attrs = this.fn.attrs(this.regs.pasid);
    const reason = (this.regs.status >> 8) & 0xff;
    if (code !== PageResponseCode.Success || typeof attrs === 'string') {
      this.finish({ state: reason ? ATS_STATE.FAULT : ATS_STATE.NO_PERMISSION, reason });
    } else if (!this.config.busMaster()) {
      this.finish({ state: ATS_STATE.ABORTED });
    } else {
      this.attempt(w, attrs);
    }
  }

  private untranslatedTransfer(op: AtsOp, attrs: DmaAttrs): Outcome {
    if (op.kind === 'translate') return { state: ATS_STATE.BAD_COMMAND };
    const write = op.kind === 'write';
    const r = this.port.dmaBig(op.iova, op.len, write, this.bufOff + op.bufOffset, attrs);
    if (r.ok) return DONE;
    if (r.recoverable) return { state: 'page', reason: r.reason, fault: pageFault((r.addr ?? op.iova) & ~0xfffn, write, attrs) };
    return { state: ATS_STATE.FAULT, reason: r.reason };
  }

  /** Page by page: device-TLB lookup, translation request on a miss, translated request. */
  private translatedTransfer(op: AtsOp, attrs: DmaAttrs): Outcome {
    const write = op.kind === 'write';
    const tag = attrs.pasid ?? NO_PASID;
    let done = 0;
    while (done < op.len) {
      const iova = op.iova + BigInt(done);
      const hit = this.tlb.lookup(tag, iova);
      if (hit) this.regs.hits++;
      const e = hit ?? this.translate(iova, write, attrs, tag);
      if (typeof e === 'number') return { state: ATS_STATE.FAULT, reason: e };
      if (!(write ? e.write : attrs.exec ? e.exec : e.read)) {
        this.tlb.drop(tag, iova);
        return { state: 'page', reason: 0, fault: pageFault(iova & ~0xfffn, write, attrs) };
      }
      const n = Math.min(op.len - done, Number(e.iova + (1n << BigInt(e.sizeLg2)) - iova));
      if (op.kind !== 'translate') {
        const r = this.port.translatedBig(e.addr + (iova - e.iova), n, write, this.bufOff + op.bufOffset + done);
        // The unit refused the translated request: a fault (recorded by it), or blocked (translation off).
        if (!r.ok) return r.reason ? { state: ATS_STATE.FAULT, reason: r.reason } : { state: ATS_STATE.ABORTED };
      }
      done += n;
    }
    return DONE;
  }

  /** A translation request; the entry (cached when it grants anything) or the fault reason. */
  private translate(iova: bigint, write: boolean, attrs: DmaAttrs, tag: number): DevTlbEntry | number {
    this.regs.trCount++;
    const tc = this.port.translationRequestBig(iova, write, attrs);
    if (!tc.ok) return tc.reason;
    const e: DevTlbEntry = { pasid: tag, iova: tc.iova, sizeLg2: tc.sizeLg2, addr: tc.addr, read: tc.read, write: tc.write, exec: tc.exec, priv: tc.priv };
    if (e.read || e.write || e.exec) this.tlb.insert(e);
    return e;
  }

  private finish(out: { state: number; reason?: number }): void {
    this.regs.status = atsStatus(out.state, out.reason ?? 0);
    this.regs.count++;
    if (this.regs.ctl & ATS_CTL.IRQ) this.fn.irq.raise(0);
  }

  private regRead(offset: number): number {
    const g = this.regs;
    switch (offset) {
      case ATS.ID: return ATS_ID;
      case ATS.IOVA: return Number(g.iova & 0xffff_ffffn);
      case ATS.IOVA + 4: return Number(g.iova >> 32n);
      case ATS.LEN: return g.len;
      case ATS.STATUS: return g.status;
      case ATS.BUF_OFF: return g.start;
      case ATS.COUNT: return g.count;
      case ATS.PASID: return g.pasid;
      case ATS.CTL: return g.ctl;
      case ATS.DTLB_SIZE: return this.tlb.size;
      case ATS.INV_COUNT: return g.invCount;
      case ATS.TR_COUNT: return g.trCount;
      case ATS.HITS: return g.hits;
      case ATS.INV_TIMEOUT: return g.invTimeouts;
      default: return 0;
    }
  }

  private regWrite(offset: number, v: number): void {
    const g = this.regs;
    const u = BigInt(v >>> 0);
    switch (offset) {
      case ATS.IOVA: g.iova = (g.iova & ~0xffff_ffffn) | u; return;
      case ATS.IOVA + 4: g.iova = (g.iova & 0xffff_ffffn) | (u << 32n); return;
      case ATS.LEN: g.len = v >>> 0; return;
      case ATS.BUF_OFF: g.start = v >>> 0; return;
      case ATS.PASID: g.pasid = (v & 0xe00f_ffff) >>> 0; return;
      case ATS.CTL: g.ctl = v & (ATS_CTL.IRQ | ATS_CTL.NO_INV_RESPONSE); return;
      case ATS.CMD: this.command(v); return;
      default:
    }
  }

  private command(v: number): void {
    const g = this.regs;
    if (v === ATS_CMD.FLUSH) {
      this.tlb.clear();
      this.finish(DONE);
      return;
    }
    const kind = v === ATS_CMD.READ ? 'read' : v === ATS_CMD.WRITE ? 'write' : v === ATS_CMD.TRANSLATE ? 'translate' : undefined;
    if (kind) this.run({ kind, iova: g.iova, len: g.len, bufOffset: g.start });
    else g.status = atsStatus(ATS_STATE.BAD_COMMAND);
  }
}

function newRegs() {
  return { iova: 0n, len: 0, start: 0, status: atsStatus(ATS_STATE.IDLE), count: 0, pasid: 0, ctl: 0, invCount: 0, trCount: 0, hits: 0, invTimeouts: 0 };
}
