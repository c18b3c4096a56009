/**
 * Snapshot of the DMA test device: PCI state, registers, the buffer and a
 * command waiting for a page response.
 */
import { ByteWriter, type ByteReader } from '../../snapshot/format.js';
import { loadFunction, saveFunction } from '../common/snapshot.js';
import type { DmaTestDevice, DmatOp } from './device.js';

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

/** Restores a device saved by saveDmaTest. */
export function loadDmaTest(d: DmaTestDevice, r: ByteReader): void {
  loadFunction(r, d.fn, () => d.responseHandler());
  d.regs = { iova: r.u64(), len: r.u32(), start: r.u32(), status: r.u32(), count: r.u32(), pasid: r.u32(), irq: r.u32(), dst: r.u64() };
  const buf = r.bytes();
  if (buf.length !== d.buffer().length) throw new Error('snapshot: dma-test buffer size does not match');
  d.buffer().set(buf);
  d.pending = undefined;
  if (r.bool()) {
    const kind = KINDS[r.u8()];
    if (!kind) throw new Error('snapshot: dma-test pending command kind is unknown');
    d.pending = { op: { kind, iova: r.u64(), dst: r.u64(), len: r.u32(), bufOffset: r.u32() }, retries: r.u32() };
  }
}
