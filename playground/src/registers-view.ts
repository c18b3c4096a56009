/**
 * Register panel: every register of the unit's table with its guest-visible
 * value (read through the unit's MMIO path, as a guest would) and decoded
 * fields, plus a "poke" form for 4/8-byte reads and writes.
 */
import { VTD_BASE } from '../../host/src/browser.js';
import { byId, fill, h, hex, parseNum } from './dom.js';
import { describeFields } from './register-fields.js';
import type { Session } from './session.js';

function render(s: Session): void {
  const vtd = s.machine.vtd;
  const rows = [...vtd.regs.rows.values()].sort((x, y) => x.offset - y.offset).map((r) => {
    const v = vtd.mmioRead(r.offset, r.width);
    return h('tr', {},
      h('td', { class: 'mono' }, hex(r.offset, 3)), h('td', {}, r.name),
      h('td', { class: 'mono' }, hex(v, r.width * 2)), h('td', { class: 'mono fields' }, describeFields(r.name, v)));
  });
  fill(byId('regs-table'), ...rows);
}

/** Wires the register panel. */
export function initRegistersView(s: Session): void {
  const form = (): { off: bigint; size: 4 | 8 } => {
    const off = parseNum(byId<HTMLInputElement>('poke-offset').value, 'offset');
    const size = Number(byId<HTMLSelectElement>('poke-size').value) === 8 ? 8 : 4;
    return { off, size };
  };
  byId('poke-write').addEventListener('click', () => {
    const { off, size } = form();
    const value = parseNum(byId<HTMLInputElement>('poke-value').value, 'value');
    void s.act(`MMIO write${size * 8} ${hex(off)} <- ${hex(value)}`, () => {
      s.machine.mmioWrite(VTD_BASE + off, size, value);
    });
  });
  byId('poke-read').addEventListener('click', () => {
    const { off, size } = form();
    void s.act(`MMIO read${size * 8} ${hex(off)}`, () => {
      const v = s.machine.mmioRead(VTD_BASE + off, size);
      byId('poke-result').textContent = `${hex(off)} = ${hex(v)}`;
      s.event('obs', `read ${hex(off)} = ${hex(v)}`);
    });
  });
  s.onChange(() => render(s));
}
