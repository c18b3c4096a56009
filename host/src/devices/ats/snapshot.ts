/**
 * Snapshot of the ATS device: PCI state, registers, buffer, device-TLB and a
 * command waiting for a page response.
 */
import { ByteWriter, type ByteReader } from '../../snapshot/format.js';
import { loadFunction, saveFunction } from '../common/snapshot.js';
import type { AtsDevice, AtsOp } from './device.js';

const KINDS: readonly AtsOp['kind'][] = ['read', 'write', 'translate'];
const REG_NAMES = ['len', 'start', 'status', 'count', 'pasid', 'ctl', 'invCount', 'trCount', 'hits', 'invTimeouts'] as const;

/** Serialises the device. */
export function saveAts(d: AtsDevice): Uint8Array {
  const w = new ByteWriter();
  saveFunction(w, d.fn);
  w.u64(d.regs.iova);
  for (const k of REG_NAMES) w.u32(d.regs[k]);
  w.bytes(d.buffer());
  const entries = d.tlb.entries();
  w.u32(entries.length);
  for (const e of entries) {
    w.u32(e.pasid >>> 0).u64(e.iova).u8(e.sizeLg2).u64(e.addr).bool(e.read).bool(e.write).bool(e.exec).bool(e.priv);
  }
  const p = d.pending;
  w.bool(p !== undefined);
  if (p) w.u8(KINDS.indexOf(p.op.kind)).u64(p.op.iova).u32(p.op.len).u32(p.op.bufOffset).u32(p.retries);
  return w.finish();
}

/** Restores a device saved by saveAts. */
export function loadAts(d: AtsDevice, r: ByteReader): void {
  loadFunction(r, d.fn, () => d.responseHandler());
  d.regs.iova = r.u64();
  for (const k of REG_NAMES) d.regs[k] = r.u32();
  d.buffer().set(r.bytes().subarray(0, d.buffer().length));
  d.tlb.clear();
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    d.tlb.insert({ pasid: r.u32() | 0, iova: r.u64(), sizeLg2: r.u8(), addr: r.u64(), read: r.bool(), write: r.bool(), exec: r.bool(), priv: r.bool() });
  }
  d.pending = undefined;
  if (r.bool()) {
    const kind = KINDS[r.u8()];
    if (!kind) throw new Error('snapshot: ats pending command kind is unknown');
    d.pending = { op: { kind, iova: r.u64(), len: r.u32(), bufOffset: r.u32() }, retries: r.u32() };
  }
}
