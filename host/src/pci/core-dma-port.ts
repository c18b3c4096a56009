/**
 * The DMA port over the WASM core: the request logic every IOMMU backend
 * shares (docs/EMBEDDING.md "The DMA port"). Untranslated requests are the
 * core's dmaCopy (translation page by page, data between guest RAM and a
 * device buffer); translate-only requests walk the range with the core's
 * translate; ATS translation requests use ACC_TRANSLATION_REQ (VT-d §4.2.3);
 * translated requests go straight to guest memory (the device already holds
 * the translation).
 *
 * What differs between the machine's own VT-d unit and a VMM's physical
 * host IOMMU is the backend (`DmaBackend`): which core translates, how a
 * PASID maps, where a fault is reported and page requests go.
 */
import type { Core } from '../core/core.js';
import type { GuestMemory } from '../core/guest-memory.js';
import * as K from '../core/constants.js';
import type { PageRequestOutcome, PageRequestSink } from '../vtd/prq/page-request.js';
import type { PageRequest } from '../vtd/spec/page-request.js';
import { rangeFits64, type Pasid, type Iova, type Sid } from '../types.js';
import { checkAddress, checkAttributes, DMA_ABORT, DMA_OK, DmaPort, MAX_TRANSLATE_BYTES, REQ } from './dma-port.js';

/** What a port needs from the IOMMU behind it. */
export interface DmaBackend {
  /** Translates and holds the device buffers. */
  readonly core: Core;
  /** Guest memory of translated requests (AT=10b). */
  readonly mem: GuestMemory;
  /** The PASID the IOMMU sees for a device's `pasid`, or -1: the request is blocked before it (see `blockedPasid`). */
  mapPasid(pasid: Pasid): number;
  /**
   * A request with `pasid` that `mapPasid` blocked (`flags` REQ bits, the
   * IOVA as two dwords): the fault reason the backend recorded for it (a
   * VMM reports it to the guest as the guest's tables say), or 0 when it
   * is only aborted (DMA_ABORT, nothing recorded). Absent: always 0.
   */
  blockedPasid?(pasid: Pasid, flags: number, iovaHi: number, iovaLo: number): number;
  /**
   * Reports the non-recoverable fault the core just returned (its out-buffer
   * describes it) for a request of `sid` with `flags` and the IOMMU-side
   * `pasid`; true when it went into a fault recording register.
   */
  reportFault(sid: Sid, flags: number, pasid: Pasid): boolean;
  /** A faulted translation request (the core's FF_* flags): true answers R=W=0 without a report. */
  emptyCompletion(faultFlags: number): boolean;
  /** Where page requests go, if the IOMMU takes them. */
  readonly pageRequests?: PageRequestSink;
  /**
   * An untranslated request goes on past a non-recoverable fault at the next
   * page (QEMU: profile switch `dmaPastFault`); else it ends at the first fault.
   */
  readonly dmaPastFault?: boolean;
}

const TWO_32 = 4294967296;
const ACC_REQ_BITS = REQ.WRITE | REQ.EXEC | REQ.PRIV | REQ.PASID;

/** The core's access bits for REQ flags (PRIV and EXEC travel only with a PASID). */
function accessOf(flags: number): number {
  const rw = flags & REQ.WRITE ? 0 : K.ACC_READ;
  return rw | (flags & REQ.PASID ? flags & ACC_REQ_BITS : flags & REQ.WRITE);
}

/** A device's port onto an IOMMU backed by the WASM core. */
export class CoreDmaPort extends DmaPort {
  private readonly core: Core;
  /** The buffers this port allocated, as [start, end) pairs (a device has one or two). */
  private readonly owned: number[] = [];

  /** The port of requester `sid` on `backend`. */
  constructor(private readonly backend: DmaBackend, sid: Sid) {
    if (!Number.isInteger(sid) || sid < 0 || sid > 0xffff) throw new Error(`sid: ${String(sid)} is not a requester id (0..0xffff)`);
    super(sid);
    this.core = backend.core;
  }

  allocBuffer(size: number): number {
    const off = this.core.bufAlloc(size);
    this.owned.push(off, off + size);
    return off;
  }

  buffer(off: number, len: number): Uint8Array {
    this.checkOwned(off, len);
    return this.core.buffer(off, len);
  }

  dma(iova: Iova<number>, len: number, bufOff: number, flags = 0, pasid: Pasid = 0): number {
    this.checkOwned(bufOff, len);
    let p = 0;
    if ((flags & ~ACC_REQ_BITS) !== 0 || (flags & REQ.PASID) !== 0) checkAttributes(flags, pasid);
    if (flags & REQ.PASID) {
      p = this.backend.mapPasid(pasid);
      if (p < 0) return this.blocked(pasid, flags, (iova / TWO_32) >>> 0, iova >>> 0);
    }
    const status = this.core.dmaCopyNum(this.sid, p, iova, len, accessOf(flags), bufOff);
    if (status === 0) return this.last.set(DMA_OK);
    return this.pastFault(this.fault(status, flags, p), BigInt(iova), len, bufOff, flags, p);
  }

  protected dmaWide(iovaHi: number, iovaLo: number, len: number, bufOff: number, flags: number, pasid: number): number {
    checkAttributes(flags, pasid);
    this.checkOwned(bufOff, len);
    // A request whose last byte wraps past 2^64 is malformed (it would reach address 0): refused whole, nothing moves.
    if (!rangeFits64(iovaHi, iovaLo, len)) return this.abortAt(iovaHi, iovaLo);
    const p = flags & REQ.PASID ? this.backend.mapPasid(pasid) : 0;
    if (p < 0) return this.blocked(pasid, flags, iovaHi, iovaLo);
    const iova = (BigInt(iovaHi) << 32n) | BigInt(iovaLo);
    const status = this.core.dmaCopy(this.sid, flags & REQ.PASID ? p : undefined, iova, len, accessOf(flags), bufOff);
    if (status === 0) return this.last.set(DMA_OK);
    return this.pastFault(this.fault(status, flags, p), iova, len, bufOff, flags, p);
  }

  translate(iova: Iova<number>, len: number, flags = 0, pasid: Pasid = 0): number {
    checkAddress(iova, 'iova');
    if (!Number.isInteger(len) || len < 1 || len > MAX_TRANSLATE_BYTES) throw new Error(`len: ${String(len)} is not in 1..${MAX_TRANSLATE_BYTES}`);
    if (iova + len > 2 ** 53) throw new Error(`len: [0x${iova.toString(16)}, +0x${len.toString(16)}) passes 2^53`);
    checkAttributes(flags, pasid);
    const runs = this.runs;
    runs.clear();
    const p = flags & REQ.PASID ? this.backend.mapPasid(pasid) : 0;
    if (p < 0) return this.blocked(pasid, flags, (iova / TWO_32) >>> 0, iova >>> 0);
    const acc = accessOf(flags);
    const out = this.core.out; // translating grows no memory: the view stays valid through the loop
    for (let at = iova, left = len; left > 0;) {
      const status = this.core.translateRaw(this.sid, p, (at / TWO_32) >>> 0, at >>> 0, acc);
      if (status !== 0) return this.fault(status, flags, p);
      // Output addresses at or above 2^53 lie outside any RAM: a master abort.
      if (out[K.OUT_ADDR_HI]! > 0x1f_ffff) return this.abortAt(out[K.OUT_ADDR_HI]!, out[K.OUT_ADDR_LO]!);
      const size = 2 ** out[K.OUT_PAGE_LG2]!;
      const n = Math.min(left, size - (at % size));
      runs.add(out[K.OUT_ADDR_HI]! * TWO_32 + out[K.OUT_ADDR_LO]!, n);
      at += n;
      left -= n;
    }
    return this.last.set(DMA_OK);
  }

  translationRequest64(iovaHi: number, iovaLo: number, flags = 0, pasid: Pasid = 0): number {
    checkAttributes(flags, pasid);
    const p = flags & REQ.PASID ? this.backend.mapPasid(pasid) : 0;
    if (p < 0) return this.last.set(DMA_ABORT);
    const c = this.completion;
    const priv = (flags & REQ.PRIV) !== 0;
    const pageLo = (iovaLo & ~0xfff) >>> 0;
    const status = this.core.translateRaw(this.sid, p, iovaHi >>> 0, pageLo, accessOf(flags) | K.ACC_TRANSLATION_REQ);
    const out = this.core.out;
    if (status === 0) {
      c.set(iovaHi, pageLo, out[K.OUT_ADDR_HI]!, out[K.OUT_ADDR_LO]!, out[K.OUT_PAGE_LG2]!, out[K.OUT_PERMS]! & 7, priv);
      return this.last.set(DMA_OK);
    }
    if (this.backend.emptyCompletion(out[K.OUT_FAULT_FLAGS]!)) {
      // §4.2.3: a translation that is not present (or not allowed) answers R=W=0; nothing is recorded.
      c.set(iovaHi, pageLo, 0, 0, 12, 0, priv);
      return this.last.set(DMA_OK);
    }
    this.last.set(status, this.backend.reportFault(this.sid, flags, p));
    return status;
  }

  translated64(addrHi: number, addrLo: number, len: number, bufOff: number, flags = 0): number {
    this.checkOwned(bufOff, len);
    if ((flags & ~REQ.WRITE) !== 0) throw new Error(`flags: ${String(flags)} has bits other than REQ.WRITE (a translated request carries no PASID)`);
    const buf = this.core.buffer(bufOff, len);
    if (len === 0) return this.last.set(DMA_OK);
    // The unit checks the requester's context (and RID_PASID entry) for every translated request (VT-d §4.2.5).
    const status = this.core.checkTranslated(this.sid, addrHi >>> 0, addrLo >>> 0, len, flags & REQ.WRITE);
    if (status === K.TRANSLATED_UR) return this.abortAt(addrHi, addrLo);
    if (status !== 0) return this.fault(status, flags, 0);
    const addr = (BigInt(addrHi >>> 0) << 32n) | BigInt(addrLo >>> 0);
    const mem = this.backend.mem;
    if (!mem.contains(addr, len)) {
      // Outside RAM: a master abort, not an IOMMU fault (reads return all-ones, writes are dropped).
      if (!(flags & REQ.WRITE)) buf.fill(0xff);
      return this.abortAt(addrHi, addrLo);
    }
    if (flags & REQ.WRITE) mem.write(addr, buf);
    else buf.set(mem.read(addr, len));
    return this.last.set(DMA_OK);
  }

  get acceptsPageRequests(): boolean {
    return this.backend.pageRequests !== undefined;
  }

  pageRequest(req: PageRequest): PageRequestOutcome {
    return this.backend.pageRequests?.submitPageRequest(req) ?? 'rejected';
  }

  /**
   * Throws an Error naming `bufOff` unless [bufOff, bufOff + len) lies in
   * one buffer this port allocated (also for a bad `len`): a device moves
   * data only through its own buffers, never another device's.
   */
  private checkOwned(bufOff: number, len: number): void {
    const o = this.owned;
    for (let i = 0; i < o.length; i += 2) if (bufOff >= o[i]! && bufOff + len <= o[i + 1]! && len >= 0) return;
    if (!Number.isInteger(len) || len < 0 || len > 0xffff_ffff) throw new Error(`len: ${String(len)} is not an integer in 0..2^32-1`);
    throw new Error(`bufOff: [${String(bufOff)}, +${len}) is not inside a buffer of this port (requester ${this.sid.toString(16)})`);
  }

  /** The fault the core just returned: recoverable for a page request (REQ.PRI), else reported. */
  private fault(status: number, flags: number, pasid: number): number {
    const out = this.core.out;
    const last = this.last;
    last.set(status);
    last.setFaultAddr(out[K.OUT_FAULT_ADDR_HI]!, out[K.OUT_FAULT_ADDR_LO]!);
    if ((flags & REQ.PRI) && (out[K.OUT_FAULT_FLAGS]! & K.FF_RECOVERABLE) !== 0) last.recoverable = true;
    else last.recorded = this.backend.reportFault(this.sid, flags, pasid);
    return status;
  }

  /**
   * Backend `dmaPastFault`: after the (reported) fault `status` the transfer
   * goes on at the next page; each later failing page is reported and
   * skipped in turn, a read gets 0 for the skipped bytes. `last` keeps the
   * first fault, with `continued`. Offsets from `iova` wrap at 2^64 like the
   * addresses (a failing first page lies "before" iova).
   */
  private pastFault(status: number, iova: bigint, len: number, bufOff: number, flags: number, p: number): number {
    const last = this.last;
    if (!this.backend.dmaPastFault || last.recoverable || !last.hasFaultAddr) return status;
    const { recorded, faultHi, faultLo } = last;
    const pasid = flags & REQ.PASID ? p : undefined;
    const out = this.core.out;
    let page = last.faultAddr!;
    for (let done = 0; ;) {
      const rel = BigInt.asUintN(64, page - iova);
      const from = rel < BigInt(len) ? Math.max(done, Number(rel)) : done;
      const next = Math.min(len, Number(BigInt.asUintN(64, page + 0x1000n - iova)));
      if (next <= done) break;
      if (!(flags & REQ.WRITE)) this.core.buffer(bufOff + from, next - from).fill(0);
      done = next;
      if (done >= len) break;
      if (this.core.dmaCopy(this.sid, pasid, BigInt.asUintN(64, iova + BigInt(done)), len - done, accessOf(flags), bufOff + done) === 0) break;
      page = (BigInt(out[K.OUT_FAULT_ADDR_HI]!) << 32n) | BigInt(out[K.OUT_FAULT_ADDR_LO]!);
      this.backend.reportFault(this.sid, flags, p);
    }
    last.set(status, recorded);
    last.setFaultAddr(faultHi, faultLo);
    last.continued = true;
    return status;
  }

  /** A request whose PASID the backend blocked: the fault it recorded for it, else DMA_ABORT. */
  private blocked(pasid: number, flags: number, hi: number, lo: number): number {
    const reason = this.backend.blockedPasid?.(pasid, flags, hi, lo) ?? 0;
    if (reason === 0) return this.last.set(DMA_ABORT);
    this.last.set(reason, true);
    this.last.setFaultAddr(hi, (lo & ~0xfff) >>> 0);
    return reason;
  }

  private abortAt(hi: number, lo: number): number {
    this.last.set(DMA_ABORT);
    this.last.setFaultAddr(hi, lo);
    return DMA_ABORT;
  }
}
