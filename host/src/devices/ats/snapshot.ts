/**
 * Snapshot of the ATS device: PCI state, registers, buffer, device-TLB and a
 * command waiting for a page response. Restored translations and commands
 * are checked as the device would have made them (aligned pages of a
 * supported size, commands inside the buffer).
 */
import { ByteWriter, type ByteReader } from '../../snapshot/format.js';
import { rangeEnd } from '../../types.js';
import { PASID_MAX } from '../../vtd/spec/page-request.js';
import { prepareFunction, saveFunction } from '../common/snapshot.js';
import type { AtsDevice, AtsOp } from './device.js';
import { ATS_DTLB_ENTRIES } from './config.js';
import { NO_PASID, type DevTlbEntry } from './device-tlb.js';
import { ATS_BUFFER_SIZE } from './regs.js';

const KINDS: readonly AtsOp['kind'][] = ['read', 'write', 'translate'];
const REG_NAMES = ['len', 'start', 'status', 'count', 'pasid', 'ctl', 'invCount', 'trCount', 'hits', 'invTimeouts'] as const;
/** Largest translate command (device.ts). */
const MAX_TRANSLATE = 1 << 20;

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

/** A device-TLB entry as a translation completion could have made it, or an Error naming entry `i`. */
function checkEntry(e: DevTlbEntry, i: number, what: string): DevTlbEntry {
  const size = 1n << BigInt(e.sizeLg2);
  const ok = (e.pasid === NO_PASID || (e.pasid >= 0 && e.pasid <= PASID_MAX)) && e.sizeLg2 >= 12 && e.sizeLg2 <= 63
    && e.iova % size === 0n && e.addr % size === 0n && rangeEnd(e.iova, size) !== undefined && rangeEnd(e.addr, size) !== undefined;
  if (!ok) throw new Error(`snapshot: ${what} device-TLB entry ${i} is not an aligned translation of a supported size`);
  return e;
}

/** Reads and checks a device saved by saveAts; returns how to apply it (changes nothing itself). */
export function loadAts(d: AtsDevice, r: ByteReader): () => void {
  const what = `ats ${d.sid.toString(16)}`;
  const fn = prepareFunction(r, d.fn, what);
  const iova = r.u64();
  const regs = { ...d.regs, iova };
  for (const k of REG_NAMES) regs[k] = r.u32();
  const buf = r.bytes();
  if (buf.length !== ATS_BUFFER_SIZE) throw new Error(`snapshot: ${what} buffer is ${buf.length} bytes, not ${ATS_BUFFER_SIZE}`);
  const n = r.u32();
  if (n > ATS_DTLB_ENTRIES) throw new Error(`snapshot: ${what} has ${n} device-TLB entries, it holds ${ATS_DTLB_ENTRIES}`);
  const entries: DevTlbEntry[] = [];
  for (let i = 0; i < n; i++) {
    const e = { pasid: r.u32() | 0, iova: r.u64(), sizeLg2: r.u8(), addr: r.u64(), read: r.bool(), write: r.bool(), exec: r.bool(), priv: r.bool() };
    entries.push(checkEntry(e, i, what));
  }
  let pending: AtsDevice['pending'];
  if (r.bool()) {
    const kind = KINDS[r.u8()];
    if (!kind) throw new Error(`snapshot: ${what} pending command kind is unknown`);
    pending = { op: { kind, iova: r.u64(), len: r.u32(), bufOffset: r.u32() }, retries: r.u32() };
    const { len, bufOffset } = pending.op;
    const bad = kind === 'translate' ? len < 1 || len > MAX_TRANSLATE : len < 1 || bufOffset + len > ATS_BUFFER_SIZE;
    if (bad || rangeEnd(pending.op.iova, len) === undefined) throw new Error(`snapshot: ${what} pending ${kind} of ${len} bytes at buffer offset ${bufOffset} is not a command the device accepts`);
  }
  if (fn.groups !== (pending ? 1 : 0)) throw new Error(`snapshot: ${what} has ${fn.groups} outstanding page requests for ${pending ? 'one' : 'no'} waiting command`);
  return () => {
    fn.apply(d.retry.adopt(pending ? [pending] : []));
    d.regs = regs;
    d.buffer().set(buf);
    d.tlb.clear();
    for (const e of entries) d.tlb.insert(e);
  };
}
