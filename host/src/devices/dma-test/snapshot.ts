/**
 * Snapshot of the DMA test device: PCI state, registers, the buffer and a
 * command waiting for a page response. A restored command is checked as the
 * device checks a new one (length, and its bytes inside the device buffer)
 * and must wait on the one outstanding page request.
 */
import { ByteWriter, type ByteReader } from '../../snapshot/format.js';
import { prepareFunction, saveFunction } from '../common/snapshot.js';
import type { DmaTestDevice, DmatOp } from './device.js';
import { DMAT_BUFFER_SIZE } from './regs.js';

const KINDS: readonly DmatOp['kind'][] = ['read', 'write', 'copy'];

/** Serialises the device. */
export function saveDmaTest(d: DmaTestDevice): Uint8Array {
  const w = new ByteWriter();
  saveFunction(w, d.fn);
  const g = d.regs;
  w.u64(g.iova).u32(g.len).u32(g.start).u32(g.status).u32(g.count).u32(g.pasid).u32(g.irq).u64(g.dst);
  w.bytes(d.buffer());
  const p = d.pending;
  w.bool(p !== undefined);
  if (p) w.u8(KINDS.indexOf(p.op.kind)).u64(p.op.iova).u64(p.op.dst).u32(p.op.len).u32(p.op.bufOffset).u32(p.retries);
  return w.finish();
}

/** Reads and checks a device saved by saveDmaTest; returns how to apply it (changes nothing itself). */
export function loadDmaTest(d: DmaTestDevice, r: ByteReader): () => void {
  const what = `dma-test ${d.sid.toString(16)}`;
  const fn = prepareFunction(r, d.fn, what);
  const regs = { iova: r.u64(), len: r.u32(), start: r.u32(), status: r.u32(), count: r.u32(), pasid: r.u32(), irq: r.u32(), dst: r.u64() };
  const buf = r.bytes();
  if (buf.length !== DMAT_BUFFER_SIZE) throw new Error(`snapshot: ${what} buffer is ${buf.length} bytes, not ${DMAT_BUFFER_SIZE}`);
  let pending: DmaTestDevice['pending'];
  if (r.bool()) {
    const kind = KINDS[r.u8()];
    if (!kind) throw new Error(`snapshot: ${what} pending command kind is unknown`);
    pending = { op: { kind, iova: r.u64(), dst: r.u64(), len: r.u32(), bufOffset: r.u32() }, retries: r.u32() };
    const { len, bufOffset } = pending.op;
    if (len < 1 || bufOffset + len > DMAT_BUFFER_SIZE) throw new Error(`snapshot: ${what} pending command moves ${len} bytes at buffer offset ${bufOffset}, outside its ${DMAT_BUFFER_SIZE}-byte buffer`);
  }
  if (fn.groups !== (pending ? 1 : 0)) throw new Error(`snapshot: ${what} has ${fn.groups} outstanding page requests for ${pending ? 'one' : 'no'} waiting command`);
  return () => {
    fn.apply(d.retry.adopt(pending ? [pending] : []));
    d.regs = regs;
    d.buffer().set(buf);
  };
}
