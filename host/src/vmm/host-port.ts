/**
 * The DMA port of a physical device behind the host IOMMU: every request
 * carries the device's physical requester id (pRID) and goes through the
 * host core (the physical IOMMU's tables). A guest PASID the device was
 * programmed with is replaced by the host PASID the VMM mapped it to (as
 * the VMM's mediation of the device's PASID register, or the CPU's PASID
 * translation for ENQCMD, would do); a guest PASID without a host PASID is
 * blocked. Faults go to the VMM (not to the guest's unit), ATS translation
 * requests that fault answer R=W=0, and page requests go to the host
 * platform (its fault queues).
 *
 * The request logic is the shared port's (pci/core-dma-port.ts); this file
 * is only the backend.
 */
import { CoreDmaPort, type DmaBackend } from '../pci/core-dma-port.js';
import { REQ, type DmaPort } from '../pci/dma-port.js';
import * as K from '../core/constants.js';
import type { PageRequestOutcome } from '../vtd/prq/page-request.js';
import { type PageRequest, PageResponseCode } from '../vtd/spec/page-request.js';
import { FAULT_PERM } from '../hostiommu/fault-queue.js';
import type { PhysicalHost } from './physical-host.js';

/** A DMA the host IOMMU refused (not recoverable): what the VMM may show the guest. */
export interface HostDmaFault {
  /** Physical requester id. */
  readonly prid: number;
  /** Host PASID of the request, if any. */
  readonly pasid: number | undefined;
  readonly iova: bigint;
  readonly write: boolean;
  /** VT-d fault reason the physical IOMMU gave. */
  readonly reason: number;
}

/** What a host port needs from the VMM. */
export interface HostPortHooks {
  /** Host PASID for the guest PASID the device used, or undefined when the VMM mapped none. */
  hostPasid(gpasid: number): number | undefined;
  /** A non-recoverable fault of the device's DMA on the host IOMMU. */
  onFault?(f: HostDmaFault): void;
}

/** The port of the physical device `prid` of `host`. */
export function hostPort(host: PhysicalHost, prid: number, hooks: HostPortHooks): DmaPort {
  const core = host.core;
  const backend: DmaBackend = {
    core,
    mem: host.mem,
    mapPasid: (gpasid) => hooks.hostPasid(gpasid) ?? -1,
    reportFault: (_sid, flags, pasid) => {
      const out = core.out;
      const iova = (BigInt(out[K.OUT_FAULT_ADDR_HI]!) << 32n) | BigInt(out[K.OUT_FAULT_ADDR_LO]!);
      const hpasid = flags & REQ.PASID ? pasid : undefined;
      hooks.onFault?.({ prid, pasid: hpasid, iova, write: (flags & REQ.WRITE) !== 0, reason: out[K.OUT_STATUS]! });
      return false; // the guest's fault recording registers never see it
    },
    emptyCompletion: () => true,
    pageRequests: { submitPageRequest: (req) => physicalPageRequest(host, prid, req, hooks) },
  };
  return new CoreDmaPort(backend, prid);
}

/** A device's page request as the physical IOMMU delivers it to the host platform (its fault queues). */
function physicalPageRequest(host: PhysicalHost, prid: number, req: PageRequest, hooks: HostPortHooks): PageRequestOutcome {
  const pasid = req.pasid === undefined ? undefined : hooks.hostPasid(req.pasid);
  if (req.pasid !== undefined && pasid === undefined) return { autoResponse: PageResponseCode.InvalidRequest };
  const perms = (req.read ? FAULT_PERM.READ : 0) | (req.write ? FAULT_PERM.WRITE : 0) | (req.exec ? FAULT_PERM.EXEC : 0) | (req.priv ? FAULT_PERM.PRIV : 0);
  // Not queued: the platform already answered INVALID through onPageResponse (for the last page).
  return host.platform.pageRequest(prid, { pasid, groupId: req.prgi, perms, addr: req.addr & ~0xfffn, last: req.lpig }) ? 'queued' : 'dropped';
}
