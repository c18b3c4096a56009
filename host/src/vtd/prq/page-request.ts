/**
 * The contract between PRI-capable devices and the IOMMU's page-request queue
 * (VT-d §7.4-7.5; PCIe PRI). A device whose DMA hits a recoverable fault sends
 * a page request (one page of a page-request group, PRGI, the last one with
 * LPIG) and waits; the IOMMU queues it for the guest (or answers it itself on
 * overflow); the guest's page-group response (queued-invalidation descriptor
 * type 9) comes back to the device by requester id, and the device retries or
 * fails the DMA.
 */

/** PCIe PRG response codes (VT-d page group response descriptor, RC field). */
export const PageResponseCode = {
  Success: 0x0,
  InvalidRequest: 0x1,
  ResponseFailure: 0xf,
} as const;
export type PageResponseCode = (typeof PageResponseCode)[keyof typeof PageResponseCode];

/** One page request as a device sends it (§7.4.1.1 page request descriptor fields). */
export interface PageRequest {
  /** Requester id (bus << 8 | devfn). */
  readonly sid: number;
  /** PASID, when the request carries one (PASID present). */
  readonly pasid?: number;
  /** Page address (bits 11:0 ignored). */
  readonly addr: bigint;
  /** Read access requested. */
  readonly read: boolean;
  /** Write access requested. */
  readonly write: boolean;
  /** Execute requested (needs the PASID capability's execute permission). */
  readonly exec: boolean;
  /** Privileged-mode requested. */
  readonly priv: boolean;
  /** Page request group index, 9 bits. */
  readonly prgi: number;
  /** Last page in group: the guest answers the group after this one. */
  readonly lpig: boolean;
}

/** What became of a page request at the IOMMU. */
export type PageRequestOutcome =
  /** Written to the page-request queue; a response will follow. */
  | 'queued'
  /** Not queued (queue full, PRO set): the IOMMU answered with `code` itself (§7.5). */
  | { readonly autoResponse: PageResponseCode }
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
  readonly pasid?: number;
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
