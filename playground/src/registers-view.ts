/**
 * Register panel: every register of the unit's table with its guest-visible
 * value (read through the unit's MMIO path, as a guest would) and decoded
 * fields, plus a "poke" form for 4/8-byte reads and writes.
 */
import { VTD_BASE, VTD_WINDOW } from '../../host/src/browser.js';
import { byId, fill, h, hex, parseNum, showResult } from './dom.js';
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

/** The form's offset (inside the unit's MMIO window) and access size. */
function form(): { off: bigint; size: 4 | 8 } {
  const size = Number(byId<HTMLSelectElement>('poke-size').value) === 8 ? 8 : 4;
  const off = parseNum(byId<HTMLInputElement>('poke-offset').value, 'offset', VTD_WINDOW - BigInt(size));
  return { off, size };
}

/** Runs a poke; its outcome, or what was wrong with the form, replaces `#poke-result`. */
function poke(s: Session, what: string, fn: () => string): void {
  const result = byId('poke-result');
  showResult(result, '…');
  void s.act(what, () => showResult(result, fn()), (message) => showResult(result, message, true));
}

/** Wires the register panel. */
export function initRegistersView(s: Session): void {
  byId('poke-write').addEventListener('click', () => poke(s, 'MMIO write', () => {
    const { off, size } = form();
    const value = parseNum(byId<HTMLInputElement>('poke-value').value, 'value', (1n << BigInt(8 * size)) - 1n);
    s.machine.mmioWrite(VTD_BASE + off, size, value);
    s.event('obs', `write${size * 8} ${hex(off)} <- ${hex(value)}`);
    return `${hex(off)} <- ${hex(value)}`;
  }));
  byId('poke-read').addEventListener('click', () => poke(s, 'MMIO read', () => {
    const { off, size } = form();
    const v = s.machine.mmioRead(VTD_BASE + off, size);
    s.event('obs', `read${size * 8} ${hex(off)} = ${hex(v)}`);
    return `${hex(off)} = ${hex(v)}`;
  }));
  s.onChange(() => render(s));
}
