/**
 * The contract between PRI-capable devices and the IOMMU's page-request queue
 * (VT-d §7.4-7.5; PCIe PRI). A device whose DMA hits a recoverable fault sends
 * a page request (one page of a page-request group, PRGI, the last one with
 * LPIG) and waits; the IOMMU queues it for the guest (or answers it itself on
 * overflow); the guest's page-group response (queued-invalidation descriptor
 * type 9) comes back to the device by requester id, and the device retries or
 * fails the DMA.
 *
 * The request's fields and the response codes are spec records:
 * ../spec/page-request.ts.
 */
import type { PageRequest, PageResponseCode } from '../spec/page-request.js';
import type { Pasid } from '../../types.js';

/** What became of a page request at the IOMMU. */
export type PageRequestOutcome =
  /** Written to the page-request queue; a response will follow. */
  | 'queued'
  /**
   * Not queued (queue full, PRO set): the IOMMU answered with `code` itself
   * (§7.5); `pasid`: the PASID the answer carries, when it has one (SMMUv3
   * §8.1 decides it by SMMU_IDR3.PPS and STE.PPAR).
   */
  | { readonly autoResponse: PageResponseCode; readonly pasid?: Pasid }
  /** Not accepted: page requests not enabled for this requester/PASID (a fault was recorded instead). */
  | 'rejected'
  /**
   * Not queued and not answered (queue full, PRO set) because the request is
   * not the last page of its group, or is a stop marker: the group's answer
   * comes with its last page (§7.5: hardware auto-responds only to LPIG).
   */
  | 'dropped';

/** The IOMMU side: devices submit page requests here. */
export interface PageRequestSink {
  /** Takes one page request; says what became of it. */
  submitPageRequest(req: PageRequest): PageRequestOutcome;
}

/** A page-group response as it reaches a device. */
export interface PageGroupResponse {
  /** PASID of the group, when it had one. */
  readonly pasid?: Pasid;
  /** Page request group index. */
  readonly prgi: number;
  /** Success, Invalid Request or Response Failure. */
  readonly code: PageResponseCode;
}

/** The device side: the IOMMU routes page-group responses here by requester id. */
export interface PageResponseTarget {
  /** Receives the response to one of its page-request groups. */
  pageGroupResponse(resp: PageGroupResponse): void;
}
