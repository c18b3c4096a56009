/**
 * The DMA port a machine gives each device: requests go to the VT-d unit
 * with the device's requester id. Untranslated requests (with PASID,
 * privileged, execute attributes) use the core's dmaCopy; ATS translation
 * requests use the core's translate with ACC_TRANSLATION_REQ (VT-d §4.2.3:
 * page-walk faults become a completion with R=W=0 and are not recorded,
 * root/context/PASID faults are recorded and fail the request); translated
 * requests go straight to guest memory (the device already holds the
 * translation).
 */
import * as K from '../core/constants.js';
import type { PageRequestSink } from '../vtd/prq/page-request.js';
import type { VtdUnit } from '../vtd/vtd-unit.js';
import type { DmaAttrs, DmaPort, DmaResult, TranslationCompletion } from './dma-port.js';

/** Core access bits for request attributes. */
export function accessBits(write: boolean, a: DmaAttrs): number {
  let acc = write ? K.ACC_WRITE : K.ACC_READ;
  if (a.pasid !== undefined) {
    acc |= K.ACC_PASID;
    if (a.priv) acc |= K.ACC_PRIV;
    if (a.exec) acc |= K.ACC_EXEC;
  }
  return acc;
}

/** A port for requester `sid` on `unit`. */
export function iommuPort(unit: VtdUnit, sid: number): DmaPort {
  const sink = (unit as unknown as Partial<PageRequestSink>).submitPageRequest ? (unit as unknown as PageRequestSink) : undefined;
  return {
    allocBuffer: (size) => unit.core.bufAlloc(size),
    buffer: (off, len) => unit.core.buffer(off, len),
    dma: (iova, len, write, bufOff, attrs) => untranslated(unit, sid, iova, len, write, bufOff, attrs ?? {}),
    translationRequest: (iova, write, attrs) => translationRequest(unit, sid, iova, write, attrs ?? {}),
    translatedDma: (addr, len, write, bufOff) => translated(unit, addr, len, write, bufOff),
    pageRequests: sink,
  };
}

function untranslated(unit: VtdUnit, sid: number, iova: bigint, len: number, write: boolean, bufOff: number, a: DmaAttrs): DmaResult {
  if (a.pasid === undefined && !a.pageRequest) return unit.dma(sid, iova, len, write, bufOff);
  const status = unit.core.dmaCopy(sid, a.pasid, iova, len, accessBits(write, a), bufOff);
  if (status === 0) return { ok: true };
  const out = unit.core.out;
  const addr = (BigInt(out[K.OUT_FAULT_ADDR_HI]!) << 32n) | BigInt(out[K.OUT_FAULT_ADDR_LO]!);
  if (a.pageRequest && (out[K.OUT_FAULT_FLAGS]! & K.FF_RECOVERABLE) !== 0) {
    return { ok: false, reason: status, recorded: false, recoverable: true, addr };
  }
  const f = unit.reportCoreFault(sid, !write, a.exec ?? false, a.priv ?? false);
  return { ok: false, reason: f.reason, recorded: f.outcome === 'recorded', addr };
}

function translationRequest(unit: VtdUnit, sid: number, iova: bigint, write: boolean, a: DmaAttrs): TranslationCompletion {
  const pageIova = iova & ~0xfffn;
  const t = unit.core.translate(sid, a.pasid, pageIova, accessBits(write, a) | K.ACC_TRANSLATION_REQ);
  if (t.ok) {
    const size = 1n << BigInt(t.pageLg2);
    return {
      ok: true, iova: iova & ~(size - 1n), addr: t.addr & ~(size - 1n), sizeLg2: t.pageLg2,
      read: (t.perms & 1) !== 0, write: (t.perms & 2) !== 0, exec: (t.perms & 4) !== 0, priv: a.priv ?? false,
    };
  }
  if (t.faultFlags & (K.FF_WALK | K.FF_RECOVERABLE)) {
    // §4.2.3: a translation that is not present (or not allowed) answers R=W=0; nothing is recorded.
    return { ok: true, iova: pageIova, addr: 0n, sizeLg2: 12, read: false, write: false, exec: false, priv: a.priv ?? false };
  }
  const f = unit.reportCoreFault(sid, !write, a.exec ?? false, a.priv ?? false);
  return { ok: false, reason: f.reason, recorded: f.outcome === 'recorded' };
}

function translated(unit: VtdUnit, addr: bigint, len: number, write: boolean, bufOff: number): DmaResult {
  const buf = unit.core.buffer(bufOff, len);
  if (!unit.mem.contains(addr, len)) {
    // Outside RAM: a master abort, not an IOMMU fault (reads return all-ones, writes are dropped).
    if (!write) buf.fill(0xff);
    return { ok: false, reason: 0, recorded: false, addr };
  }
  if (write) unit.mem.write(addr, buf);
  else buf.set(unit.mem.read(addr, len));
  return { ok: true };
}
