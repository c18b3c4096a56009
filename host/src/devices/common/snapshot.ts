/**
 * Snapshot pieces every device shares: configuration space, MSI-X table and
 * PBA, PRI engine (next PRG index and the outstanding groups with the page
 * each asked for). A device restores its groups with its own response
 * handlers, so a page-group response after the restore continues the DMA.
 */
import type { ByteReader, ByteWriter } from '../../snapshot/format.js';
import type { DeviceFunction } from './function.js';
import type { PageFault, PageResponseHandler } from './pri-engine.js';

/** Writes config space, MSI-X and PRI state. */
export function saveFunction(w: ByteWriter, fn: DeviceFunction): void {
  w.bytes(fn.config.saveBytes());
  const msix = fn.irq.msix?.save() ?? new Uint32Array(0);
  w.bytes(new Uint8Array(msix.buffer, msix.byteOffset, msix.byteLength));
  const pri = fn.pri?.save() ?? { next: 0, outstanding: [] };
  w.u32(pri.next).u32(pri.outstanding.length);
  for (const g of pri.outstanding) {
    const f = g.fault;
    w.u32(g.prgi).u64(f.addr).u32(f.pasid ?? 0xffff_ffff).bool(f.write).bool(f.exec).bool(f.priv);
  }
}

/** Reads what saveFunction wrote; `handler(i)` gives the response handler of outstanding group i. */
export function loadFunction(r: ByteReader, fn: DeviceFunction, handler: (i: number) => PageResponseHandler): void {
  fn.config.loadBytes(r.bytes());
  const msix = r.bytes();
  if (fn.irq.msix) fn.irq.msix.load(new Uint32Array(msix.slice().buffer));
  else if (msix.length) throw new Error('snapshot: MSI-X state for a device without MSI-X');
  const next = r.u32();
  const n = r.u32();
  fn.pri?.reset();
  fn.pri?.setNextPrgi(next);
  for (let i = 0; i < n; i++) {
    const prgi = r.u32();
    const addr = r.u64();
    const p = r.u32();
    const fault: PageFault = { addr, pasid: p === 0xffff_ffff ? undefined : p, write: r.bool(), exec: r.bool(), priv: r.bool() };
    if (!fn.pri) throw new Error('snapshot: page requests for a device without PRI');
    fn.pri.restoreGroup(prgi, fault, handler(i));
  }
}
