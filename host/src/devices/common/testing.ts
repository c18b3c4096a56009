/**
 * Test doubles for device tests: a DMA port over flat memory (iova = offset,
 * no IOMMU) with fault injection, ATS translation and a page-request sink
 * that records requests and lets the test answer them.
 */
import { DMA_OK, DmaPort, REQ, type DmaAttrs } from '../../pci/dma-port.js';
import type { PageRequestOutcome, PageRequestSink } from '../../vtd/prq/page-request.js';
import type { PageRequest } from '../../vtd/spec/page-request.js';
import type { Gpa, Iova, Pasid, Sid } from '../../types.js';

/** One request the fake port saw. */
export interface PortRequest {
  readonly iova: Iova;
  readonly len: number;
  readonly write: boolean;
  readonly bufOff: number;
  readonly attrs?: DmaAttrs;
  /** A translated request (ATS), `iova` is then the translated address. */
  readonly translated?: true;
}

/** A page-request sink that records requests; `outcome` decides the answer. */
export class FakePageRequestSink implements PageRequestSink {
  readonly requests: PageRequest[] = [];
  outcome: PageRequestOutcome = 'queued';

  submitPageRequest(req: PageRequest): PageRequestOutcome {
    this.requests.push(req);
    return this.outcome;
  }
}

const FAULT_NOT_PRESENT = 6;
const TWO_32 = 4294967296;

/** The attributes REQ `flags` and `pasid` stand for (what a device asked for). */
function attrsOf(flags: number, pasid: number): DmaAttrs | undefined {
  const pageRequest = (flags & REQ.PRI) !== 0;
  if (flags & REQ.PASID) return { pasid, priv: (flags & REQ.PRIV) !== 0, exec: (flags & REQ.EXEC) !== 0, pageRequest };
  return pageRequest ? { pageRequest } : undefined;
}

/**
 * A DMA port over a flat byte array (iova = offset), no IOMMU. Requests
 * touching [faultFrom, ∞) fail with `faultReason`; pages in `notPresent`
 * fail as recoverable faults when the request allows page requests (else as
 * recorded faults). Translation requests answer identity 4 KiB pages with
 * `perms` (R=W=0 for `notPresent` pages). Every request is recorded.
 */
export class FakeDmaPort extends DmaPort {
  readonly memory: Uint8Array;
  readonly requests: PortRequest[] = [];
  readonly translations: { iova: bigint; attrs?: DmaAttrs }[] = [];
  readonly notPresent = new Set<bigint>();
  faultFrom = Number.POSITIVE_INFINITY;
  faultReason = 6;
  perms = { read: true, write: true, exec: false };
  pageRequests?: FakePageRequestSink = new FakePageRequestSink();
  private readonly buffers = new Uint8Array(1 << 17);
  private nextBuf = 0;

  constructor(memorySize = 1 << 16, sid: Sid = 0) {
    super(sid);
    this.memory = new Uint8Array(memorySize);
  }

  allocBuffer(size: number): number {
    const off = this.nextBuf;
    this.nextBuf += size;
    if (this.nextBuf > this.buffers.length) throw new Error(`size: buffer space exhausted (${size})`);
    return off;
  }

  buffer(off: number, len: number): Uint8Array {
    return this.buffers.subarray(off, off + len);
  }

  dma(iova: Iova<number>, len: number, bufOff: number, flags = 0, pasid: Pasid = 0): number {
    return this.request(BigInt(iova), len, bufOff, flags, pasid);
  }

  protected dmaWide(iovaHi: number, iovaLo: number, len: number, bufOff: number, flags: number, pasid: number): number {
    return this.request((BigInt(iovaHi) << 32n) | BigInt(iovaLo), len, bufOff, flags, pasid);
  }

  /** Identity runs (no IOMMU), with the same fault injection as `dma`. */
  translate(iova: Iova<number>, len: number, flags = 0, pasid: Pasid = 0): number {
    this.runs.clear();
    const status = this.check(BigInt(iova), len, flags, pasid);
    if (status === DMA_OK) this.runs.add(iova as Gpa<number>, len); // identity: the IOVA is the GPA
    return status;
  }

  translationRequest64(iovaHi: number, iovaLo: number, flags = 0, pasid: Pasid = 0): number {
    const iova = (BigInt(iovaHi) << 32n) | BigInt(iovaLo);
    const attrs = attrsOf(flags, pasid);
    this.translations.push(attrs ? { iova, attrs } : { iova });
    const page = iova & ~0xfffn;
    if (Number(page) >= this.faultFrom) return this.last.set(this.faultReason, true);
    const present = !this.notPresent.has(page);
    const c = this.completion;
    c.iovaHi = c.addrHi = iovaHi >>> 0;
    c.iovaLo = c.addrLo = Number(page & 0xffff_ffffn);
    c.sizeLg2 = 12;
    c.perms = present ? (this.perms.read ? 1 : 0) | (this.perms.write ? 2 : 0) | (this.perms.exec ? 4 : 0) : 0;
    c.priv = (flags & REQ.PRIV) !== 0;
    return this.last.set(DMA_OK);
  }

  translated64(addrHi: number, addrLo: number, len: number, bufOff: number, flags = 0): number {
    const addr = (BigInt(addrHi) << 32n) | BigInt(addrLo);
    const write = (flags & REQ.WRITE) !== 0;
    this.requests.push({ iova: addr, len, write, bufOff, translated: true });
    return this.copy(addr, len, write, bufOff);
  }

  get acceptsPageRequests(): boolean {
    return this.pageRequests !== undefined;
  }

  pageRequest(req: PageRequest): PageRequestOutcome {
    return this.pageRequests?.submitPageRequest(req) ?? 'rejected';
  }

  private request(iova: bigint, len: number, bufOff: number, flags: number, pasid: number): number {
    const write = (flags & REQ.WRITE) !== 0;
    const attrs = attrsOf(flags, pasid);
    this.requests.push(attrs ? { iova, len, write, bufOff, attrs } : { iova, len, write, bufOff });
    const status = this.check(iova, len, flags, pasid);
    return status === DMA_OK ? this.copy(iova, len, write, bufOff) : status;
  }

  /** The injected faults for [iova, iova + len). */
  private check(iova: bigint, len: number, flags: number, _pasid: number): number {
    const pri = (flags & REQ.PRI) !== 0;
    for (let p = iova & ~0xfffn; p < iova + BigInt(len); p += 0x1000n) {
      if (!this.notPresent.has(p)) continue;
      this.last.set(FAULT_NOT_PRESENT, !pri, pri);
      this.last.setFaultAddr(Number(p / BigInt(TWO_32)), Number(p & 0xffff_ffffn));
      return FAULT_NOT_PRESENT;
    }
    if (Number(iova) + len > this.faultFrom) return this.last.set(this.faultReason, true);
    return this.last.set(DMA_OK);
  }

  private copy(iova: bigint, len: number, write: boolean, bufOff: number): number {
    if (iova + BigInt(len) > BigInt(this.memory.length)) return this.last.set(this.faultReason, true);
    const at = Number(iova);
    if (write) this.memory.set(this.buffers.subarray(bufOff, bufOff + len), at);
    else this.buffers.set(this.memory.subarray(at, at + len), bufOff);
    return this.last.set(DMA_OK);
  }
}
