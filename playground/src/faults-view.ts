/**
 * Faults panel: FSTS and the fault recording registers (§7.2, §11.4.7)
 * decoded from the guest's view (the page-request queue has its own panel,
 * prq-view.ts).
 */
import { byId, fill, h, hex, faultName } from './dom.js';
import { describeFields } from './register-fields.js';
import type { Session } from './session.js';

function render(s: Session): void {
  const vtd = s.machine.vtd;
  const rows = [...vtd.regs.rows.values()].filter((r) => /^FRCD\d+_HI$/.test(r.name)).sort((a, b) => a.offset - b.offset);
  const records = rows.map((r) => {
    const hi = vtd.mmioRead(r.offset, 8);
    const lo = vtd.mmioRead(r.offset - 8, 8);
    const idx = r.name.slice(4, -3);
    const reason = Number((hi >> 32n) & 0xffn);
    return h('tr', { class: hi >> 63n ? 'fault-on' : '' },
      h('td', {}, idx), h('td', {}, hi >> 63n ? 'F' : '-'),
      h('td', { class: 'mono' }, hex(lo & ~0xfffn)), h('td', { class: 'mono' }, hex(hi & 0xffffn, 4)),
      h('td', {}, hi >> 63n ? faultName(reason) : ''), h('td', { class: 'mono fields' }, describeFields(r.name, hi)));
  });
  const fsts = vtd.mmioRead(0x34, 4);
  fill(byId('faults'),
    h('div', { class: 'mono' }, `FSTS ${hex(fsts, 8)} ${describeFields('FSTS', fsts)}`),
    h('table', {}, h('tr', {}, ...['FRCD', 'F', 'fault address', 'SID', 'reason', 'fields'].map((t) => h('th', {}, t))), ...records));
}

/** Wires the faults panel. */
export function initFaultsView(s: Session): void {
  s.onChange(() => render(s));
}
