/**
 * VT-d unit state in a snapshot: every register's raw value, the state the
 * register file does not hold (latched root table and mode, invalidation
 * queue pointers, fault-recorder cursor, open page-request groups). Caches
 * are not saved: after a restore the core is re-latched (SRTP, TE) and every
 * cache is empty, which is what the spec allows hardware to do at any time.
 *
 * The queue, recorder and unit expose no state API yet, so their plain fields
 * are saved generically (fields.ts); an owner-provided saveState() would
 * replace that.
 */
import type { RegName } from '../vtd/register-table.js';
import type { VtdUnit } from '../vtd/vtd-unit.js';
import { loadPlainFields, savePlainFields } from './fields.js';
import { ByteWriter, type ByteReader } from './format.js';

interface Internals {
  qi: object;
  faults: object;
  prq: { groups: { noteQueued(req: object): void; clear(): void }; openGroups(): { sid: number; pasid?: number; prgi: number; pages: number; complete: boolean }[] };
  ttm: number;
  rootTable: bigint;
}

const internals = (u: VtdUnit): Internals => u as unknown as Internals;

/** Serialises the unit. */
export function saveVtd(u: VtdUnit): Uint8Array {
  const w = new ByteWriter();
  const names = [...u.regs.rows.keys()];
  w.u32(names.length);
  for (const n of names) w.text(n).u64(u.regs.get(n));
  const x = internals(u);
  w.u32(x.ttm).u64(x.rootTable);
  savePlainFields(w, x.qi);
  savePlainFields(w, x.faults);
  const groups = x.prq.openGroups();
  w.u32(groups.length);
  for (const g of groups) w.u32(g.sid).u32(g.pasid === undefined ? 0xffff_ffff : g.pasid).u32(g.prgi).u32(g.pages).bool(g.complete);
  return w.finish();
}

/** Restores a unit of the same profile; rebuilds the core's latched state with empty caches. */
export function loadVtd(u: VtdUnit, r: ByteReader): void {
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const name = r.text() as RegName;
    const v = r.u64();
    if (!u.regs.has(name)) throw new Error(`snapshot: register ${name} does not exist in profile ${u.profile.name}`);
    u.regs.set(name, v);
  }
  const x = internals(u);
  x.ttm = r.u32();
  x.rootTable = r.u64();
  loadPlainFields(r, x.qi, 'invalidation queue');
  loadPlainFields(r, x.faults, 'fault recorder');
  x.prq.groups.clear();
  const groups = r.u32();
  for (let i = 0; i < groups; i++) {
    const sid = r.u32();
    const p = r.u32();
    const prgi = r.u32();
    const pages = r.u32();
    const complete = r.bool();
    for (let k = 0; k < pages; k++) {
      x.prq.groups.noteQueued({ sid, pasid: p === 0xffff_ffff ? undefined : p, prgi, lpig: complete && k === pages - 1 });
    }
  }
  const gsts = Number(u.regs.get('GSTS'));
  u.core.setRootTable(x.rootTable, x.ttm);
  u.core.setTranslationEnabled((gsts & 0x8000_0000) !== 0);
  u.core.invalidateAll();
}
