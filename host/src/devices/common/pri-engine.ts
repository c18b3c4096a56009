/**
 * The device side of PCIe Page Request Interface (PCIe §10.4, VT-d §7.4-7.5)
 * shared by the model's devices: a DMA that met a recoverable fault becomes
 * a page-request group (one page, LPIG set) sent to the IOMMU's sink; the
 * device waits for the page-group response and then retries (Success) or
 * fails (Invalid Request, Response Failure).
 *
 * The Outstanding Page Request Allocation in the PRI capability bounds the
 * requests in flight: a group that does not fit waits until responses free
 * room; one that can never fit (allocation 0) fails at once. A response
 * whose PRG index is not outstanding sets Unexpected PRG Index; Response
 * Failure sets the status bit of that name and stops the interface until
 * software disables it (§10.5.2.3).
 */
import type { PageGroupResponse } from '../../vtd/prq/page-request.js';
import { PageResponseCode } from '../../vtd/spec/page-request.js';
import type { DmaPort } from '../../pci/dma-port.js';
import { PRI, type PriCap } from '../../pci/capabilities.js';
import type { Sid, Pasid, Iova } from '../../types.js';

/** The page a request names and how the device wanted to access it. */
export interface PageFault {
  /** Page address. */
  readonly addr: Iova;
  /** PASID, when the access had one. */
  readonly pasid?: Pasid;
  /** Write access (else read). */
  readonly write: boolean;
  /** Execute access. */
  readonly exec: boolean;
  /** Privileged access. */
  readonly priv: boolean;
}

/** Called once with the group's response code (or InvalidRequest when the request could not be sent). */
export type PageResponseHandler = (code: PageResponseCode) => void;

interface Group {
  readonly prgi: number;
  readonly fault: PageFault;
  readonly done: PageResponseHandler;
}

const PRGI_COUNT = 512;

/** Outstanding page-request groups of one function. */
export class PriEngine {
  private readonly outstanding = new Map<number, Group>();
  private readonly waiting: Omit<Group, 'prgi'>[] = [];
  private nextPrgi = 0;
  /** Groups sent since reset (diagnostics, tests). */
  sent = 0;

  /** Page requests of the function `sid` under its PRI capability `cap`, submitted to `sink()`. */
  constructor(
    private readonly sid: Sid,
    private readonly cap: PriCap,
    /** The function's DMA port: page requests go out through it. */
    private readonly port: DmaPort,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** True when a recoverable fault may become a page request (PRI enabled, not stopped by RF, the IOMMU takes them). */
  usable(): boolean {
    return this.cap.enabled() && (this.cap.status() & PRI.STS_RF) === 0 && this.port.acceptsPageRequests;
  }

  /** Page requests in flight. */
  inFlight(): number {
    return this.outstanding.size;
  }

  /**
   * Sends (or queues, when the allocation is used up) a one-page group for
   * `fault`; `done` gets the response. Returns 'failed' when no request can be
   * sent (then `done` is not called).
   */
  request(fault: PageFault, done: PageResponseHandler): 'pending' | 'failed' {
    if (!this.usable() || this.cap.allocation() < 1) return 'failed';
    this.cap.setStatus(PRI.STS_STOPPED, false);
    this.waiting.push({ fault, done });
    this.pump();
    return 'pending';
  }

  /** A page-group response from the IOMMU (by requester id). */
  pageGroupResponse(resp: PageGroupResponse): void {
    const g = this.outstanding.get(resp.prgi);
    if (!g || (resp.pasid !== undefined && g.fault.pasid !== undefined && resp.pasid !== g.fault.pasid)) {
      this.log(`pri ${this.sid.toString(16)}: response for PRG index ${resp.prgi} that is not outstanding (UPRGI)`);
      this.cap.setStatus(PRI.STS_UPRGI, true);
      return;
    }
    this.outstanding.delete(resp.prgi);
    if (resp.code === PageResponseCode.ResponseFailure) this.cap.setStatus(PRI.STS_RF, true);
    g.done(resp.code);
    this.pump();
    this.updateStopped();
  }

  /** PRI Reset or disable: outstanding and waiting groups are abandoned (their DMAs fail). */
  abandon(): void {
    const groups = [...this.outstanding.values(), ...this.waiting];
    this.outstanding.clear();
    this.waiting.length = 0;
    for (const g of groups) g.done(PageResponseCode.InvalidRequest);
    this.updateStopped();
  }

  /** PRI Control written: Reset (while disabled) abandons everything and clears RF/UPRGI. */
  onControl(reset: boolean): void {
    if (reset) {
      this.abandon();
      this.cap.setStatus(PRI.STS_RF | PRI.STS_UPRGI, false);
    }
    this.updateStopped();
  }

  /** Back to power-on state (nothing outstanding). */
  reset(): void {
    this.outstanding.clear();
    this.waiting.length = 0;
    this.nextPrgi = 0;
    this.sent = 0;
  }

  /** PRG indexes outstanding and the next one (snapshots; handlers are re-created by the device). */
  save(): { next: number; outstanding: { prgi: number; fault: PageFault }[] } {
    return { next: this.nextPrgi, outstanding: [...this.outstanding.values()].map((g) => ({ prgi: g.prgi, fault: g.fault })) };
  }

  /** Re-registers an outstanding group after a restore. */
  restoreGroup(prgi: number, fault: PageFault, done: PageResponseHandler): void {
    this.outstanding.set(prgi, { prgi, fault, done });
  }

  /** Sets the next PRG index (restore). */
  setNextPrgi(n: number): void {
    this.nextPrgi = n % PRGI_COUNT;
  }

  private pump(): void {
    while (this.waiting.length && this.outstanding.size < this.cap.allocation() && this.outstanding.size < PRGI_COUNT) {
      const w = this.waiting.shift()!;
      const prgi = this.freePrgi();
      this.outstanding.set(prgi, { prgi, ...w });
      this.send(prgi, w);
    }
  }

  private send(prgi: number, w: Omit<Group, 'prgi'>): void {
    const f = w.fault;
    const outcome = this.port.acceptsPageRequests ? this.port.pageRequest({
      sid: this.sid, pasid: f.pasid, addr: f.addr & ~0xfffn, read: true, write: f.write,
      exec: f.exec, priv: f.priv, prgi, lpig: true,
    }) : 'rejected';
    this.sent++;
    if (outcome === 'queued') return;
    this.outstanding.delete(prgi);
    const code = typeof outcome === 'object' ? outcome.autoResponse : PageResponseCode.InvalidRequest;
    if (code === PageResponseCode.ResponseFailure) this.cap.setStatus(PRI.STS_RF, true);
    w.done(code);
  }

  private freePrgi(): number {
    for (let i = 0; i < PRGI_COUNT; i++) {
      const p = (this.nextPrgi + i) % PRGI_COUNT;
      if (!this.outstanding.has(p)) {
        this.nextPrgi = (p + 1) % PRGI_COUNT;
        return p;
      }
    }
    return this.nextPrgi; // unreachable: pump() keeps fewer than PRGI_COUNT outstanding
  }

  private updateStopped(): void {
    if (!this.cap.enabled() && this.outstanding.size === 0) this.cap.setStatus(PRI.STS_STOPPED, true);
  }
}
