/**
 * The interface between the host object model and the "physical" IOMMU it
 * programs. The object model (IOAS, HWPT, devices) calls only this; the
 * implementation in table-iommu.ts writes real VT-d scalable-mode structures
 * (§9.2 root, §9.4 context, §9.5/9.6 PASID directory/table) in host memory
 * and invalidates a wasm core's caches, so the core translates a device's
 * DMA through the host second stage exactly as hardware would.
 */
import type { HostPages } from './host-pages.js';
import type { SsFormat } from './ss-table.js';
import type { Did, Iova, Pasid, Sid } from '../types.js';

/** RID_PASID: the PASID slot used for requests without PASID (§9.4; Linux IOMMU_NO_PASID). */
export const RID_PASID = 0;

/** A host second-stage domain as programmed into a PASID entry (PGTT = second stage). */
export interface PagingProgram {
  /** Discriminant. */
  readonly kind: 'paging';
  /** Domain id. */
  readonly did: Did;
  /** Second-stage root table (SSPTPTR). */
  readonly ssptptr: bigint;
  /** Second-stage levels (3, 4, 5). */
  readonly levels: 3 | 4 | 5;
}

/** A nested domain: a guest first-stage table over a host second stage (PGTT = nested). */
export interface NestedProgram {
  /** Discriminant. */
  readonly kind: 'nested';
  /** Domain id of the nested domain. */
  readonly did: Did;
  /** Parent second-stage root table (SSPTPTR). */
  readonly ssptptr: bigint;
  /** Parent second-stage levels. */
  readonly levels: 3 | 4 | 5;
  /** Guest first-stage root table (FSPTPTR, a guest-physical address). */
  readonly fsptptr: bigint;
  /** First-stage levels (4 or 5). */
  readonly fsLevels: 4 | 5;
  /** Supervisor requests allowed (SRE). */
  readonly sre: boolean;
  /** Write-protect enable (WPE). */
  readonly wpe: boolean;
}

/**
 * An SMMUv3 nested domain (smmu-backend.ts): the guest's STE (its stage-1
 * part: Config, S1ContextPtr as an IPA, S1Fmt, S1CDMax, S1DSS, ...) over a
 * host stage 2, with the vIOMMU's VMID; `report` hears the events of the
 * streams it is installed at (to the vIOMMU's vEVENTQ).
 */
export interface SmmuNestedProgram {
  /** Discriminant. */
  readonly kind: 'smmu-nested';
  /** Domain id of the nested HWPT. */
  readonly did: Did;
  /** The VMID the STE carries (the vIOMMU's). */
  readonly vmid: number;
  /** Parent stage-2 root (S2TTB). */
  readonly ssptptr: bigint;
  /** Parent stage-2 levels. */
  readonly levels: 3 | 4 | 5;
  /** The guest STE's doublewords 0 and 1, validated. */
  readonly ste: readonly [bigint, bigint];
  /** Receives each event record (four doublewords) of a stream installed here. */
  readonly report: (sid: Sid, record: readonly bigint[]) => void;
}

/** What a (device, PASID) is attached to. */
export type DomainProgram = PagingProgram | NestedProgram | SmmuNestedProgram;

/** The physical IOMMU as the object model sees it. */
export interface PhysicalIommu {
  /** Host memory for second-stage tables (and the IOMMU's own structures). */
  readonly pages: HostPages;
  /** Second-stage levels domains are built with (from CAP.SAGAW). */
  readonly ssLevels: 3 | 4 | 5;
  /** Largest second-stage leaf the unit supports (from CAP.SSLPS). */
  readonly maxLeafLg2: 12 | 21 | 30;
  /** Entry format of its second-stage tables (default VT-d §9.8). */
  readonly tableFormat?: SsFormat;
  /** Points (sid, pasid) at a domain, replacing any earlier one atomically; may throw ENOMEM. */
  install(sid: Sid, pasid: Pasid, program: DomainProgram): void;
  /** Clears (sid, pasid): its DMA is blocked again. */
  remove(sid: Sid, pasid: Pasid): void;
  /** Second-stage mappings of domain `did` changed in `[iova, iova + len)`. */
  flushSecondStage(did: Did, iova: Iova, len: bigint): void;
  /** Stage-1 invalidation passed through: `npages` pages from `addr` of (did, pasid); npages 0 = all. */
  flushFirstStage(did: Did, pasid: Pasid, addr: Iova, npages: bigint, leafOnly: boolean): void;
  /** Waits until no page request of `sid` is in flight (a page-drain wait descriptor, §6.5.2.x). */
  drainPageRequests(sid: Sid): void;
}
