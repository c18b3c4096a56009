/**
 * Snapshot of the shared work-queue device: PCI state, registers, PASID
 * table, portal bytes and the descriptors in flight (each waiting for the
 * page response of the PRI group saved with the same index).
 */
import { ByteWriter, type ByteReader } from '../../snapshot/format.js';
import { loadFunction, saveFunction } from '../common/snapshot.js';
import { decodeDescriptor, encodeDescriptor } from './descriptor.js';
import type { SwqDevice, SwqJob } from './device.js';

const REG_NAMES = ['cfg', 'swerrLo', 'swerrHi', 'completed', 'errors', 'portalStatus'] as const;

/** Serialises the device; throws when page requests wait for PRI allocation (not representable). */
export function saveSwq(d: SwqDevice): Uint8Array {
  if ((d.fn.pri?.inFlight() ?? 0) !== d.jobs.length) throw new Error('snapshot: swq descriptors wait for PRI allocation; retry after responses');
  const w = new ByteWriter();
  saveFunction(w, d.fn);
  for (const k of REG_NAMES) w.u32(d.regs[k]);
  w.bytes(new Uint8Array(d.pasidTable.buffer.slice(0)));
  w.bytes(d.portal);
  w.u32(d.jobs.length);
  for (const j of d.jobs) {
    w.bytes(encodeDescriptor(j.desc)).u32(j.offset).u32(j.retries).u32(j.result);
  }
  return w.finish();
}

/** Restores a device saved by saveSwq. */
export function loadSwq(d: SwqDevice, r: ByteReader): void {
  const jobs: SwqJob[] = [];
  loadFunction(r, d.fn, (i) => (code) => {
    const job = jobs[i];
    if (job) d.responseHandler(job)(code);
  });
  for (const k of REG_NAMES) d.regs[k] = r.u32();
  d.pasidTable.set(new Uint32Array(r.bytes().slice().buffer));
  d.portal.set(r.bytes());
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    jobs.push({ desc: decodeDescriptor(r.bytes()), offset: r.u32(), retries: r.u32(), result: r.u32() });
  }
  d.jobs = jobs;
}
