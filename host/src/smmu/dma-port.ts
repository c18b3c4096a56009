/**
 * The DMA port an SMMUv3 machine gives each device (pci/dma-port.ts): every
 * request goes to the unit with the device's StreamID (IORT's identity
 * mapping: StreamID = requester id) and, for a PASID-tagged request, the
 * PASID as SubstreamID (IHI 0070 §3.3.2: the PCIe PASID TLP prefix carries
 * the SubstreamID). A fault's status is the SMMU event number (§7.3, 1-255);
 * a request the configuration aborts without an event (STE.Config 0b000,
 * GBPA.ABORT) is `DMA_ABORT`. ATS (§3.9.1, smmu/ats.ts) where the profile
 * offers it (SMMU_IDR0.ATS): a translation request's completion lands in
 * `completion`; a refused one (UR, CA) returns the event it met (recorded
 * or not, `last.recorded`) or `DMA_ABORT`. A translated request moves data
 * at its physical address when the unit lets it pass; a refused one is the
 * F_TRANSL_FORBIDDEN event number or `DMA_ABORT` (reads get all-ones). An
 * SMMU without ATS answers both `DMA_ABORT` (unsupported request). Page
 * requests go to the unit's PRI queue when it has PRI (SMMU_IDR0.PRI,
 * priq.ts), else they are rejected.
 */
import * as K from '../core/constants.js';
import type { PageRequestOutcome } from '../vtd/prq/page-request.js';
import type { PageRequest } from '../vtd/spec/page-request.js';
import { checkAddress, checkAttributes, DMA_ABORT, DMA_OK, DmaPort, MAX_TRANSLATE_BYTES, REQ, type DmaResult } from '../pci/dma-port.js';
import type { SmmuUnit } from './smmu-unit.js';
import { ATS_CODE } from './ats.js';
import type { Iova, Pasid, Sid } from '../types.js';

const TWO_32 = 2 ** 32;

/** The core's access bits for REQ flags (PRIV and EXEC travel only with a PASID, in its TLP prefix). */
function accessOf(flags: number): number {
  let a = flags & REQ.WRITE ? K.ACC_WRITE : K.ACC_READ;
  if (flags & REQ.PASID) a |= (flags & REQ.PRIV ? K.ACC_PRIV : 0) | (flags & REQ.EXEC ? K.ACC_EXEC : 0);
  return a;
}

/** A device's port onto an SMMUv3 unit. */
export class SmmuDmaPort extends DmaPort {
  /** The buffers this port allocated, as [start, end) pairs (a device moves data only through its own). */
  private readonly owned: number[] = [];

  /**
   * The port of StreamID `sid` on `unit`.
   * @param unit The SMMUv3 unit every request goes through.
   */
  constructor(private readonly unit: SmmuUnit, sid: Sid) {
    super(sid); // checks the requester id (16 bits)
  }

  allocBuffer(size: number): number {
    const off = this.unit.core.bufAlloc(size);
    this.owned.push(off, off + size);
    return off;
  }

  buffer(off: number, len: number): Uint8Array {
    this.checkOwned(off, len);
    return this.unit.core.buffer(off, len);
  }

  /** Throws an Error naming `bufOff` unless [bufOff, bufOff + len) lies in one buffer this port allocated (as CoreDmaPort). */
  private checkOwned(bufOff: number, len: number): void {
    const o = this.owned;
    for (let i = 0; i < o.length; i += 2) if (bufOff >= o[i]! && bufOff + len <= o[i + 1]! && len >= 0) return;
    if (!Number.isInteger(len) || len < 0 || len > 0xffff_ffff) throw new Error(`len: ${String(len)} is not an integer in 0..2^32-1`);
    throw new Error(`bufOff: [${String(bufOff)}, +${len}) is not inside a buffer of this port (StreamID ${this.sid.toString(16)})`);
  }

  dma(iova: Iova<number>, len: number, bufOff: number, flags = 0, pasid: Pasid = 0): number {
    this.checkOwned(bufOff, len);
    checkAddress(iova, 'iova');
    checkAttributes(flags, pasid);
    const r = this.unit.dmaNum(this.sid, flags & REQ.PASID ? pasid : undefined, iova, len, accessOf(flags), bufOff);
    return r === undefined ? this.last.set(DMA_OK) : this.status(r);
  }

  protected dmaWide(iovaHi: number, iovaLo: number, len: number, bufOff: number, flags: number, pasid: number): number {
    this.checkOwned(bufOff, len);
    return this.request((BigInt(iovaHi >>> 0) << 32n) | BigInt(iovaLo >>> 0), len, bufOff, flags, pasid);
  }

  translate(iova: Iova<number>, len: number, flags = 0, pasid: Pasid = 0): number {
    checkAddress(iova, 'iova');
    if (!Number.isInteger(len) || len < 1 || len > MAX_TRANSLATE_BYTES) throw new Error(`len: ${String(len)} is not in 1..${MAX_TRANSLATE_BYTES}`);
    if (iova + len > 2 ** 53) throw new Error(`len: [0x${iova.toString(16)}, +0x${len.toString(16)}) passes 2^53`);
    checkAttributes(flags, pasid);
    this.runs.clear();
    const ssid = flags & REQ.PASID ? pasid : undefined;
    for (let at = iova, left = len; left > 0;) {
      const t = this.unit.translateOnly(this.sid, ssid, BigInt(at), accessOf(flags));
      if ('ok' in t) return this.status(t);
      // Output addresses at or above 2^53 lie outside any RAM: a master abort.
      if (t.pa >= 2n ** 53n) return this.abortAt(t.pa);
      const size = 2 ** t.lg2;
      const n = Math.min(left, size - (at % size));
      this.runs.add(Number(t.pa), n);
      at += n;
      left -= n;
    }
    return this.last.set(DMA_OK);
  }

  translationRequest64(iovaHi: number, iovaLo: number, flags = 0, pasid: Pasid = 0): number {
    checkAttributes(flags, pasid);
    const withPasid = (flags & REQ.PASID) !== 0;
    const code = this.unit.ats.request(this.sid, withPasid ? pasid : undefined, iovaHi >>> 0, iovaLo >>> 0, (flags & REQ.WRITE) !== 0,
      withPasid && (flags & REQ.PRIV) !== 0, withPasid && (flags & REQ.EXEC) !== 0, this.completion);
    if (code === ATS_CODE.SUCCESS) return this.last.set(DMA_OK);
    const event = code & ATS_CODE.EVENT;
    return this.last.set(event === 0 ? DMA_ABORT : event, (code & ATS_CODE.RECORDED) !== 0);
  }

  translated64(addrHi: number, addrLo: number, len: number, bufOff: number, flags = 0): number {
    this.checkOwned(bufOff, len);
    if ((flags & ~REQ.WRITE) !== 0) throw new Error(`flags: ${String(flags)} has bits other than REQ.WRITE (a translated request carries no PASID)`);
    if (len === 0) return this.last.set(DMA_OK);
    const write = (flags & REQ.WRITE) !== 0;
    const code = this.unit.ats.translatedCode(this.sid, addrHi >>> 0, addrLo >>> 0, len, write);
    const addr = (addrHi >>> 0) * TWO_32 + (addrLo >>> 0); // exact below 2^53, the only addresses RAM can have
    if (code === ATS_CODE.SUCCESS && addrHi >>> 0 <= 0x1f_ffff && this.unit.mem.offsetAt(addr, len) >= 0 && this.unit.copyPhysical(addr, len, write, bufOff) === 0) {
      return this.last.set(DMA_OK);
    }
    // Refused by the unit (an event, or none), or outside RAM (a master abort): reads get all-ones, writes are dropped.
    if (!write) this.unit.core.buffer(bufOff, len).fill(0xff);
    const event = code & ATS_CODE.EVENT;
    this.last.set(event === 0 ? DMA_ABORT : event, (code & ATS_CODE.RECORDED) !== 0);
    this.last.setFaultAddr(addrHi >>> 0, addrLo >>> 0);
    return this.last.status;
  }

  /** True when the unit has PRI (SMMU_IDR0.PRI): its page requests reach the PRI queue (chapter 8). */
  get acceptsPageRequests(): boolean {
    return this.unit.caps.pri;
  }

  /** A page request from this port's device to the unit's PRI queue, with the port's StreamID (a device cannot send another's). */
  pageRequest(req: PageRequest): PageRequestOutcome {
    if (typeof req !== 'object' || req === null) throw new Error(`req: ${String(req)} is not a page request`);
    return this.unit.pageRequest(req.sid === this.sid ? req : { ...req, sid: this.sid });
  }

  private request(iova: bigint, len: number, bufOff: number, flags: number, pasid: number): number {
    checkAttributes(flags, pasid);
    const pa = flags & REQ.PASID;
    const r = this.unit.dma(this.sid, pa ? pasid : undefined, iova, len, (flags & REQ.WRITE) !== 0, bufOff, pa !== 0 && (flags & REQ.PRIV) !== 0, pa !== 0 && (flags & REQ.EXEC) !== 0);
    return this.status(r);
  }

  /** `last` for the unit's answer: DMA_OK, the event number, or DMA_ABORT for an abort without an event. */
  private status(r: DmaResult): number {
    if (r.ok) return this.last.set(DMA_OK);
    const st = this.last.set(r.reason === 0 ? DMA_ABORT : r.reason, r.recorded);
    this.last.continued = r.continued === true;
    if (r.addr !== undefined) this.last.setFaultAddr(Number(r.addr >> 32n), Number(r.addr & 0xffff_ffffn));
    return st;
  }

  private abortAt(addr: bigint): number {
    this.last.set(DMA_ABORT);
    this.last.setFaultAddr(Number(addr >> 32n), Number(addr & 0xffff_ffffn));
    return DMA_ABORT;
  }
}
