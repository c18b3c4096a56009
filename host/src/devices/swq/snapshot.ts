/**
 * Snapshot of the shared work-queue device: PCI state, registers, PASID
 * table, portal bytes and the descriptors in flight (each waiting for the
 * page response of the PRI group saved with the same index).
 */
import { ByteWriter, type ByteReader } from '../../snapshot/format.js';
import { prepareFunction, saveFunction } from '../common/snapshot.js';
import { DESC_BYTES, decodeDescriptor, encodeDescriptor } from './descriptor.js';
import type { SwqDevice, SwqJob } from './device.js';
import { SWQ_DEPTH, SWQ_PASID_SLOTS } from './regs.js';

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

/** Reads and checks a device saved by saveSwq; returns how to apply it (changes nothing itself). */
export function loadSwq(d: SwqDevice, r: ByteReader): () => void {
  const what = `swq ${d.sid.toString(16)}`;
  const fn = prepareFunction(r, d.fn, what);
  const regs = { ...d.regs };
  for (const k of REG_NAMES) regs[k] = r.u32();
  const table = r.bytes();
  if (table.length !== SWQ_PASID_SLOTS * 4) throw new Error(`snapshot: ${what} PASID table is ${table.length} bytes, not ${SWQ_PASID_SLOTS * 4}`);
  const portal = r.bytes();
  if (portal.length !== DESC_BYTES) throw new Error(`snapshot: ${what} portal is ${portal.length} bytes, not ${DESC_BYTES}`);
  const n = r.u32();
  if (n > SWQ_DEPTH || n !== fn.groups) throw new Error(`snapshot: ${what} has ${n} descriptors in flight for ${fn.groups} outstanding page requests (queue depth ${SWQ_DEPTH})`);
  const jobs: SwqJob[] = [];
  for (let i = 0; i < n; i++) {
    const desc = r.bytes();
    if (desc.length !== DESC_BYTES) throw new Error(`snapshot: ${what} descriptor ${i} is ${desc.length} bytes, not ${DESC_BYTES}`);
    const job = { desc: decodeDescriptor(desc), offset: r.u32(), retries: r.u32(), result: r.u32() };
    if (job.result > 1) throw new Error(`snapshot: ${what} descriptor ${i} compare result ${job.result} is not 0 or 1`);
    jobs.push(job);
  }
  return () => {
    fn.apply(d.retry.adopt(jobs));
    d.regs = regs;
    d.pasidTable.set(new Uint32Array(table.slice().buffer));
    d.portal.set(portal);
  };
}
