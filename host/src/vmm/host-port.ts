/**
 * The DMA port of a physical device behind the host IOMMU: every request
 * carries the device's physical requester id (pRID) and goes through the
 * host core (the physical IOMMU's tables). A guest PASID the device was
 * programmed with is replaced by the host PASID the VMM mapped it to (as
 * the VMM's mediation of the device's PASID register, or the CPU's PASID
 * translation for ENQCMD, would do); a guest PASID without a host PASID is
 * blocked before the host IOMMU and reported to the guest as its own
 * tables say (`onUnmappedPasid`). Faults go to the VMM (not to the guest's unit), ATS translation
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
import type { Iova, Pasid, Sid } from '../types.js';

/** A DMA the host IOMMU refused (not recoverable): what the VMM may show the guest. */
export interface HostDmaFault {
  /** Physical requester id. */
  readonly prid: Sid;
  /** Host PASID of the request, if any. */
  readonly pasid: Pasid | undefined;
  readonly iova: Iova;
  readonly write: boolean;
  /** VT-d fault reason the physical IOMMU gave. */
  readonly reason: number;
}

/** What a host port needs from the VMM. */
export interface HostPortHooks {
  /** Host PASID for the guest PASID the device used, or undefined when the VMM mapped none. */
  hostPasid(gpasid: Pasid): number | undefined;
  /**
   * A subdevice's default PASID (hostiommu/subdevice.ts), given for a
   * subdevice's port: the device's requests without PASID leave it tagged
   * with this host PASID (undefined: blocked), as a
   * Scalable-IOV parent tags an assignable interface's DMA. Its faults are
   * reported as requests without PASID (what the device sent).
   */
  readonly untaggedPasid?: () => number | undefined;
  /** A non-recoverable fault of the device's DMA on the host IOMMU. */
  onFault?(f: HostDmaFault): void;
  /**
   * A DMA with guest PASID `gpasid` that has no host PASID (blocked before
   * the host IOMMU): the fault reason the VMM recorded for the guest, or
   * undefined when it recorded none (the request is only aborted).
   */
  onUnmappedPasid?(gpasid: Pasid, iova: Iova, write: boolean): number | undefined;
}

/** The port of the physical device `prid` of `host`. */
export function hostPort(host: PhysicalHost, prid: Sid, hooks: HostPortHooks): DmaPort {
  const core = host.core;
  /** True while an untagged request runs with the subdevice's PASID (TaggingPort). */
  let tagged = false;
  const mapped: HostPortHooks = { ...hooks, hostPasid: (g) => (tagged ? hooks.untaggedPasid?.() : hooks.hostPasid(g)) };
  const backend: DmaBackend = {
    core,
    mem: host.mem,
    mapPasid: (gpasid) => mapped.hostPasid(gpasid) ?? -1,
    // An untagged subdevice request names no guest PASID: blocked, it is only aborted.
    blockedPasid: (gpasid, flags, hi, lo) => (tagged ? 0 : hooks.onUnmappedPasid?.(gpasid, (BigInt(hi) << 32n) | BigInt(lo), (flags & REQ.WRITE) !== 0) ?? 0),
    reportFault: (_sid, flags, pasid) => {
      const out = core.out;
      const iova = (BigInt(out[K.OUT_FAULT_ADDR_HI]!) << 32n) | BigInt(out[K.OUT_FAULT_ADDR_LO]!);
      const hpasid = flags & REQ.PASID && !tagged ? pasid : undefined;
      hooks.onFault?.({ prid, pasid: hpasid, iova, write: (flags & REQ.WRITE) !== 0, reason: out[K.OUT_STATUS]! });
      return false; // the guest's fault recording registers never see it
    },
    emptyCompletion: () => true,
    pageRequests: { submitPageRequest: (req) => physicalPageRequest(host, prid, req, mapped) },
  };
  if (hooks.untaggedPasid === undefined) return new CoreDmaPort(backend, prid);
  return new TaggingPort(backend, prid, <T>(run: () => T): T => {
    tagged = true;
    try {
      return run();
    } finally {
      tagged = false;
    }
  });
}

/** Runs an untagged request as a tagged one (the port's `tagged` flag set around it). */
type Tagger = <T>(run: () => T) => T;

/**
 * A subdevice's port: a request without PASID goes out with REQ.PASID, its
 * PASID mapped (while `tag` runs it) to the subdevice's default PASID.
 * Requests the device tags itself pass unchanged.
 */
class TaggingPort extends CoreDmaPort {
  constructor(backend: DmaBackend, sid: number, private readonly tag: Tagger) {
    super(backend, sid);
  }

  override dma(iova: number, len: number, bufOff: number, flags = 0, pasid = 0): number {
    if (flags & REQ.PASID) return super.dma(iova, len, bufOff, flags, pasid);
    return this.tag(() => super.dma(iova, len, bufOff, flags | REQ.PASID, 0));
  }

  protected override dmaWide(iovaHi: number, iovaLo: number, len: number, bufOff: number, flags: number, pasid: number): number {
    if (flags & REQ.PASID) return super.dmaWide(iovaHi, iovaLo, len, bufOff, flags, pasid);
    return this.tag(() => super.dmaWide(iovaHi, iovaLo, len, bufOff, flags | REQ.PASID, 0));
  }

  override translate(iova: number, len: number, flags = 0, pasid = 0): number {
    if (flags & REQ.PASID) return super.translate(iova, len, flags, pasid);
    return this.tag(() => super.translate(iova, len, flags | REQ.PASID, 0));
  }

  override translationRequest64(iovaHi: number, iovaLo: number, flags = 0, pasid = 0): number {
    if (flags & REQ.PASID) return super.translationRequest64(iovaHi, iovaLo, flags, pasid);
    return this.tag(() => super.translationRequest64(iovaHi, iovaLo, flags | REQ.PASID, 0));
  }
}

/**
 * A device's page request as the physical IOMMU delivers it to the host
 * platform (its fault queues): a guest PASID becomes its host PASID, and a
 * subdevice's request without PASID leaves tagged with the subdevice's
 * default PASID, as its DMA does, so the host routes it to that slice.
 */
function physicalPageRequest(host: PhysicalHost, prid: number, req: PageRequest, hooks: HostPortHooks): PageRequestOutcome {
  const pasid = req.pasid === undefined ? hooks.untaggedPasid?.() : hooks.hostPasid(req.pasid);
  if ((req.pasid !== undefined || hooks.untaggedPasid !== undefined) && pasid === undefined) return { autoResponse: PageResponseCode.InvalidRequest };
  const perms = (req.read ? FAULT_PERM.READ : 0) | (req.write ? FAULT_PERM.WRITE : 0) | (req.exec ? FAULT_PERM.EXEC : 0) | (req.priv ? FAULT_PERM.PRIV : 0);
  // Not queued: the platform already answered INVALID through onPageResponse (for the last page).
  return host.platform.pageRequest(prid, { pasid, groupId: req.prgi, perms, addr: req.addr & ~0xfffn, last: req.lpig }) ? 'queued' : 'dropped';
}
