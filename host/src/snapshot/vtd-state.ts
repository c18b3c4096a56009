/**
 * VT-d unit state in a snapshot: the unit's `saveState()` (vtd-unit.ts) as
 * bytes: every register's raw value by name, the latched root table and
 * mode, the invalidation queue (qi/invalidation-queue.ts `QiState`), the
 * fault recorder's cursor and the page-request service's open groups and
 * counters. Caches are not saved: `loadState` re-latches the core with every
 * cache empty, which is what the spec allows hardware to do at any time.
 */
import type { PageRequestStats } from '../vtd/prq/page-request-service.js';
import type { VtdUnit, VtdUnitState } from '../vtd/vtd-unit.js';
import { ByteWriter, type ByteReader } from './format.js';

/** PASID field of a group without PASID. */
const NO_PASID = 0xffff_ffff;

/** Serialises the unit into `w` (the VTD section's payload). */
export function writeVtd(w: ByteWriter, u: VtdUnit): void {
  writeVtdState(w, u.saveState());
}

/** Serialises a unit state (what `readVtd` reads back). */
export function encodeVtdState(s: VtdUnitState): Uint8Array {
  const w = new ByteWriter();
  writeVtdState(w, s);
  return w.finish();
}

/** Writes a unit state into `w`. */
function writeVtdState(w: ByteWriter, s: VtdUnitState): void {
  const regs = Object.entries(s.registers);
  w.u32(regs.length);
  for (const [name, v] of regs) w.text(name).u64(v);
  w.u32(s.ttm).u64(s.rootTable);
  const q = s.qi;
  w.bool(q.enabled).u64(q.base).u32(q.entries).bool(q.wide).u32(q.head).u32(q.tail).u32(q.lastType).bool(q.abortNextWait);
  w.u32(s.faults.next);
  w.u32(s.prq.groups.length);
  for (const g of s.prq.groups) w.u32(g.sid).u32(g.pasid ?? NO_PASID).u32(g.prgi).u32(g.pages).bool(g.complete);
  const stats = Object.entries(s.prq.stats);
  w.u32(stats.length);
  for (const [name, v] of stats) w.text(name).u64(BigInt(v));
}

/** Reads the unit state `writeVtd` wrote (checked when it is loaded). */
export function readVtd(r: ByteReader): VtdUnitState {
  const registers: Record<string, bigint> = {};
  for (let n = r.u32(), i = 0; i < n; i++) {
    const name = r.text();
    if (Object.hasOwn(registers, name)) throw new Error(`snapshot: VT-d register ${name} appears twice`);
    registers[name] = r.u64();
  }
  const ttm = r.u32();
  const rootTable = r.u64();
  const qi = {
    enabled: r.bool(), base: r.u64(), entries: r.u32(), wide: r.bool(), head: r.u32(), tail: r.u32(), lastType: r.u32(), abortNextWait: r.bool(),
  };
  const faults = { next: r.u32() };
  const groups = [];
  for (let n = r.u32(), i = 0; i < n; i++) {
    const sid = r.u32();
    const pasid = r.u32();
    groups.push({ sid, pasid: pasid === NO_PASID ? undefined : pasid, prgi: r.u32(), pages: r.u32(), complete: r.bool() });
  }
  const stats: Record<string, number> = {};
  for (let n = r.u32(), i = 0; i < n; i++) stats[r.text()] = Number(r.u64());
  return { registers, ttm, rootTable, qi, faults, prq: { groups, stats: stats as unknown as PageRequestStats } };
}

/** Loads `state` into a unit of the same profile (`VtdUnit.loadState` checks every field first; on an Error nothing changed). */
export function loadVtd(u: VtdUnit, state: VtdUnitState): void {
  try {
    u.loadState(state);
  } catch (e) {
    throw new Error(`snapshot: VT-d unit ${(e as Error).message}`);
  }
}
