/**
 * The DMA port of a physical device behind the host IOMMU: every request
 * carries the device's physical requester id (pRID) and goes through the
 * host core (the physical IOMMU's tables). A guest PASID the device was
 * programmed with is replaced by the host PASID the VMM mapped it to (as
 * the VMM's mediation of the device's PASID register, or the CPU's PASID
 * translation for ENQCMD, would do); a guest PASID without a host PASID is
 * blocked. Page requests go to the host platform (its fault queues), not
 * to the guest's unit.
 */
import * as K from '../core/constants.js';
import type { DmaAttrs, DmaPort, DmaResult, TranslationCompletion } from '../pci/dma-port.js';
import { accessBits } from '../pci/iommu-port.js';
import { PageResponseCode, type PageRequest, type PageRequestOutcome, type PageRequestSink } from '../vtd/prq/page-request.js';
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
  /** VT-d fault reason the physical IOMMU gave (0: blocked before the IOMMU, no host PASID). */
  readonly reason: number;
}

/** What a host port needs from the VMM. */
export interface HostPortHooks {
  /** Host PASID for the guest PASID the device used, or undefined when the VMM mapped none. */
  hostPasid(gpasid: number): number | undefined;
  /** A non-recoverable fault of the device's DMA on the host IOMMU. */
  onFault?(f: HostDmaFault): void;
}

const BLOCKED: DmaResult = { ok: false, reason: 0, recorded: false };

/** The port of the physical device `prid` of `host`. */
export function hostPort(host: PhysicalHost, prid: number, hooks: HostPortHooks): DmaPort {
  const core = host.core;
  const translate = (a: DmaAttrs): DmaAttrs | undefined => {
    if (a.pasid === undefined) return a;
    const h = hooks.hostPasid(a.pasid);
    return h === undefined ? undefined : { ...a, pasid: h };
  };
  const sink: PageRequestSink = { submitPageRequest: (req) => physicalPageRequest(host, prid, req, hooks) };
  return {
    allocBuffer: (size) => core.bufAlloc(size),
    buffer: (off, len) => core.buffer(off, len),
    dma: (iova, len, write, bufOff, attrs = {}) => {
      const a = translate(attrs);
      if (a === undefined) return BLOCKED;
      const status = core.dmaCopy(prid, a.pasid, iova, len, accessBits(write, a), bufOff);
      if (status === 0) return { ok: true };
      const out = core.out;
      const addr = (BigInt(out[K.OUT_FAULT_ADDR_HI]!) << 32n) | BigInt(out[K.OUT_FAULT_ADDR_LO]!);
      if (a.pageRequest && (out[K.OUT_FAULT_FLAGS]! & K.FF_RECOVERABLE) !== 0) return { ok: false, reason: status, recorded: false, recoverable: true, addr };
      hooks.onFault?.({ prid, pasid: a.pasid, iova: addr, write, reason: status });
      return { ok: false, reason: status, recorded: false, addr };
    },
    translationRequest: (iova, write, attrs = {}) => translationRequest(host, prid, iova, write, translate(attrs)),
    translatedDma: (addr, len, write, bufOff) => {
      const buf = core.buffer(bufOff, len);
      if (!host.mem.contains(addr, len)) return BLOCKED;
      if (write) host.mem.write(addr, buf);
      else buf.set(host.mem.read(addr, len));
      return { ok: true };
    },
    pageRequests: sink,
  };
}

/** PCIe ATS translation request through the host IOMMU (R=W=0 for a page that is not there). */
function translationRequest(host: PhysicalHost, prid: number, iova: bigint, write: boolean, a: DmaAttrs | undefined): TranslationCompletion {
  if (a === undefined) return { ok: false, reason: 0, recorded: false };
  const page = iova & ~0xfffn;
  const t = host.core.translate(prid, a.pasid, page, accessBits(write, a) | K.ACC_TRANSLATION_REQ);
  if (!t.ok) return { ok: true, iova: page, addr: 0n, sizeLg2: 12, read: false, write: false, exec: false, priv: a.priv ?? false };
  const size = 1n << BigInt(t.pageLg2);
  return {
    ok: true, iova: iova & ~(size - 1n), addr: t.addr & ~(size - 1n), sizeLg2: t.pageLg2,
    read: (t.perms & 1) !== 0, write: (t.perms & 2) !== 0, exec: (t.perms & 4) !== 0, priv: a.priv ?? false,
  };
}

/** A device's page request as the physical IOMMU delivers it to the host platform (its fault queues). */
function physicalPageRequest(host: PhysicalHost, prid: number, req: PageRequest, hooks: HostPortHooks): PageRequestOutcome {
  const pasid = req.pasid === undefined ? undefined : hooks.hostPasid(req.pasid);
  if (req.pasid !== undefined && pasid === undefined) return { autoResponse: PageResponseCode.InvalidRequest };
  const perms = (req.read ? FAULT_PERM.READ : 0) | (req.write ? FAULT_PERM.WRITE : 0) | (req.exec ? FAULT_PERM.EXEC : 0) | (req.priv ? FAULT_PERM.PRIV : 0);
  // Not queued: the platform already answered INVALID through onPageResponse (for the last page).
  return host.platform.pageRequest(prid, { pasid, groupId: req.prgi, perms, addr: req.addr & ~0xfffn, last: req.lpig }) ? 'queued' : 'dropped';
}
