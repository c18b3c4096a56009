/**
 * Retrying work after a page request (PCIe §10.4.1: a function that got a
 * Success page-group response retries the access), one engine for every
 * PRI-capable device: work whose DMA met a recoverable fault (a command, a
 * work descriptor) is parked while the function's PriEngine sends the page
 * request, and handed back to the device's `resume` with the response code,
 * which retries it on Success or fails it. Each piece of work sends at most
 * MAX_PAGE_REQUESTS requests, so a guest answering Success without mapping
 * the page cannot keep a device looping.
 *
 * Parked work is what a snapshot saves beside the PRI engine's outstanding
 * groups (common/snapshot.ts); `adopt` puts restored work back with the
 * response handlers the restored groups need.
 */
import type { DmaAttrs } from '../../pci/dma-port.js';
import type { PageResponseCode } from '../../vtd/spec/page-request.js';
import type { PageFault, PageResponseHandler, PriEngine } from './pri-engine.js';
import type { Iova } from '../../types.js';

/** Page requests one piece of work may send before it fails with its fault. */
export const MAX_PAGE_REQUESTS = 16;

/** Work a device can park: it counts the page responses it has had. */
export interface PageWork {
  /** Page-group responses received for this work so far (the engine counts them). */
  retries: number;
}

/** The page request for a fault at `addr` of a request with `attrs` (read unless `write`). */
export function pageFault(addr: Iova, write: boolean, attrs: DmaAttrs): PageFault {
  return { addr, pasid: attrs.pasid, write, exec: attrs.exec ?? false, priv: attrs.priv ?? false };
}

/** Work of one device waiting for page responses. */
export class RetryEngine<W extends PageWork> {
  private parked: W[] = [];

  /**
   * Parks work on `pri` (the function's PRI engine; none: nothing parks);
   * `resume(w, code)` gets each parked work back with its response.
   */
  constructor(private readonly pri: PriEngine | undefined, private readonly resume: (w: W, code: PageResponseCode) => void) {}

  /** The parked work, oldest first. */
  get waiting(): readonly W[] {
    return this.parked;
  }

  /**
   * Parks `w` and sends the page request for `fault`. False, with `w` not
   * parked, when the function has no usable PRI or no allocation, or `w` has
   * sent MAX_PAGE_REQUESTS already: the device then fails `w` with its fault.
   * An immediate answer (the IOMMU's queue is full) resumes `w` before this
   * returns; it still returns true.
   */
  park(w: W, fault: PageFault): boolean {
    if (!this.pri || w.retries >= MAX_PAGE_REQUESTS) return false;
    this.parked.push(w); // parked before the request goes out: an immediate answer resumes it re-entrantly
    if (this.pri.request(fault, this.handler(w)) === 'pending') return true;
    this.unpark(w);
    return false;
  }

  /** Restored work (snapshot) replaces what is parked; returns the response handler of `work[i]` for its restored group. */
  adopt(work: readonly W[]): (i: number) => PageResponseHandler {
    this.parked = [...work];
    return (i) => this.handler(work[i]!);
  }

  /** Forgets all parked work (device reset; the PRI engine forgets the groups). */
  clear(): void {
    this.parked = [];
  }

  private handler(w: W): PageResponseHandler {
    return (code) => {
      if (!this.unpark(w)) return;
      w.retries++;
      this.resume(w, code);
    };
  }

  private unpark(w: W): boolean {
    const i = this.parked.indexOf(w);
    if (i >= 0) this.parked.splice(i, 1);
    return i >= 0;
  }
}
