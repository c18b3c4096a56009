/**
 * Snapshot pieces every device shares: configuration space, MSI-X table and
 * PBA, PRI engine (next PRG index and the outstanding groups with the page
 * each asked for). A device restores its groups with its own response
 * handlers, so a page-group response after the restore continues the DMA.
 *
 * Restore is in two steps (snapshot/machine-snapshot.ts): `prepareFunction`
 * reads and checks everything and returns an `apply` that cannot fail.
 */
import type { ByteReader, ByteWriter } from '../../snapshot/format.js';
import { PASID_MAX, PRGI_MAX } from '../../vtd/spec/page-request.js';
import type { DeviceFunction } from './function.js';
import type { PageFault, PageResponseHandler } from './pri-engine.js';

/** PASID field of a fault without PASID. */
const NO_PASID = 0xffff_ffff;

/** Writes config space, MSI-X and PRI state. */
export function saveFunction(w: ByteWriter, fn: DeviceFunction): void {
  w.bytes(fn.config.saveBytes());
  const msix = fn.irq.msix?.save() ?? new Uint32Array(0);
  w.bytes(new Uint8Array(msix.buffer, msix.byteOffset, msix.byteLength));
  const pri = fn.pri?.save() ?? { next: 0, outstanding: [] };
  w.u32(pri.next).u32(pri.outstanding.length);
  for (const g of pri.outstanding) {
    const f = g.fault;
    w.u32(g.prgi).u64(f.addr).u32(f.pasid ?? NO_PASID).bool(f.write).bool(f.exec).bool(f.priv);
  }
}

/** What `prepareFunction` read: the outstanding page-request groups, and how to apply it all. */
export interface PreparedFunction {
  /** Outstanding PRI groups restored (each needs its device's response handler). */
  readonly groups: number;
  /** Applies the function's state; `handler(i)` gives the response handler of outstanding group i. */
  apply(handler: (i: number) => PageResponseHandler): void;
}

/** Reads and checks what saveFunction wrote, changing nothing. */
export function prepareFunction(r: ByteReader, fn: DeviceFunction, what: string): PreparedFunction {
  const config = r.bytes();
  if (config.length !== fn.config.saveBytes().length) throw new Error(`snapshot: ${what} config space is ${config.length} bytes, not ${fn.config.saveBytes().length}`);
  const msixBytes = r.bytes();
  const msixLen = fn.irq.msix ? fn.irq.msix.save().byteLength : 0;
  if (msixBytes.length !== msixLen) throw new Error(`snapshot: ${what} MSI-X state is ${msixBytes.length} bytes, not ${msixLen}`);
  const msix = new Uint32Array(msixBytes.slice().buffer);
  const next = r.u32();
  if (next > PRGI_MAX) throw new Error(`snapshot: ${what} next PRG index ${next} is not 0..${PRGI_MAX}`);
  const n = r.u32();
  if (n > 0 && !fn.pri) throw new Error(`snapshot: ${what} has page requests but no PRI`);
  if (n > PRGI_MAX + 1) throw new Error(`snapshot: ${what} has ${n} outstanding page requests, at most ${PRGI_MAX + 1} can be`);
  const groups: { prgi: number; fault: PageFault }[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const prgi = r.u32();
    const addr = r.u64();
    const p = r.u32();
    const fault: PageFault = { addr, pasid: p === NO_PASID ? undefined : p, write: r.bool(), exec: r.bool(), priv: r.bool() };
    if (prgi > PRGI_MAX || seen.has(prgi)) throw new Error(`snapshot: ${what} page request ${i}: PRG index ${prgi} is out of range or repeated`);
    if (fault.pasid !== undefined && fault.pasid > PASID_MAX) throw new Error(`snapshot: ${what} page request ${i}: PASID ${p} is not 20 bits`);
    seen.add(prgi);
    groups.push({ prgi, fault });
  }
  return {
    groups: n,
    apply: (handler) => {
      fn.config.loadBytes(config);
      fn.irq.msix?.load(msix);
      fn.pri?.reset();
      fn.pri?.setNextPrgi(next);
      groups.forEach((g, i) => fn.pri!.restoreGroup(g.prgi, g.fault, handler(i)));
    },
  };
}
