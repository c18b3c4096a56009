/**
 * Test doubles for device tests: a DMA port over flat memory (iova = offset,
 * no IOMMU) with fault injection, ATS translation and a page-request sink
 * that records requests and lets the test answer them.
 */
import type { DmaAttrs, DmaPort, DmaResult, TranslationCompletion } from '../../pci/dma-port.js';
import type { PageRequest, PageRequestOutcome, PageRequestSink } from '../../vtd/prq/page-request.js';

/** One request the fake port saw. */
export interface PortRequest {
  readonly iova: bigint;
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

/**
 * A DMA port over a flat byte array (iova = offset), no IOMMU. Requests
 * touching [faultFrom, ∞) fail with `faultReason`; pages in `notPresent`
 * fail as recoverable faults when the request allows page requests (else as
 * recorded faults). Translation requests answer identity 4 KiB pages with
 * `perms` (R=W=0 for `notPresent` pages). Every request is recorded.
 */
export class FakeDmaPort implements DmaPort {
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

  constructor(memorySize = 1 << 16) {
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

  dma(iova: bigint, len: number, write: boolean, bufOff: number, attrs?: DmaAttrs): DmaResult {
    this.requests.push(attrs ? { iova, len, write, bufOff, attrs } : { iova, len, write, bufOff });
    for (let p = iova & ~0xfffn; p < iova + BigInt(len); p += 0x1000n) {
      if (this.notPresent.has(p)) return { ok: false, reason: 6, recorded: !attrs?.pageRequest, recoverable: attrs?.pageRequest, addr: p };
    }
    if (Number(iova) + len > this.faultFrom) return { ok: false, reason: this.faultReason, recorded: true };
    return this.copy(iova, len, write, bufOff);
  }

  translationRequest(iova: bigint, _write: boolean, attrs?: DmaAttrs): TranslationCompletion {
    this.translations.push(attrs ? { iova, attrs } : { iova });
    const page = iova & ~0xfffn;
    if (Number(page) >= this.faultFrom) return { ok: false, reason: this.faultReason, recorded: true };
    const present = !this.notPresent.has(page);
    return {
      ok: true, iova: page, addr: page, sizeLg2: 12, read: present && this.perms.read,
      write: present && this.perms.write, exec: present && this.perms.exec, priv: attrs?.priv ?? false,
    };
  }

  translatedDma(addr: bigint, len: number, write: boolean, bufOff: number): DmaResult {
    this.requests.push({ iova: addr, len, write, bufOff, translated: true });
    return this.copy(addr, len, write, bufOff);
  }

  private copy(iova: bigint, len: number, write: boolean, bufOff: number): DmaResult {
    if (iova + BigInt(len) > BigInt(this.memory.length)) return { ok: false, reason: this.faultReason, recorded: true };
    const at = Number(iova);
    if (write) this.memory.set(this.buffers.subarray(bufOff, bufOff + len), at);
    else this.buffers.set(this.memory.subarray(at, at + len), bufOff);
    return { ok: true };
  }
}
