/**
 * Page-request queue panel (§7.4.1, §11.4.11): PQH, PQT, PQA (base and
 * size), PRS (PPR pending, PRO overflow) and PECTL decoded, the descriptors
 * the unit wrote and the guest has not consumed yet (PQH up to PQT, read
 * from guest RAM and decoded as §7.4.1.1 page request descriptors), the
 * page groups the unit holds open, and the page-request counters.
 */
import { decodePageRequest, PQ, PRQ_DESC_SIZE, PRQ_TYPE_PAGE_REQUEST, queueBytes } from '../../host/src/vtd/spec/page-request.js';
import { PRS } from '../../host/src/vtd/spec/registers.js';
import { formatBdf, type Machine, type RegName } from '../../host/src/browser.js';
import { byId, fill, h, hex } from './dom.js';
import type { Session } from './session.js';

/** Most descriptors listed (a 2^7-page queue holds 16384). */
const MAX_SHOWN = 64;

function reg(m: Machine, name: string): bigint | undefined {
  const row = m.vtd.regs.rows.get(name as RegName);
  return row ? m.vtd.mmioRead(row.offset, row.width) : undefined;
}

/** One queued descriptor as a table row, or a note when its type is not a page request. */
function descriptorRow(m: Machine, base: bigint, off: number): HTMLElement {
  let qw: bigint[];
  try {
    const b = m.ram.read(base + BigInt(off), 16);
    const dv = new DataView(b.buffer, b.byteOffset, 16);
    qw = [dv.getBigUint64(0, true), dv.getBigUint64(8, true)];
  } catch {
    return h('tr', {}, h('td', { class: 'mono' }, hex(off)), h('td', { colspan: 6, class: 'bad' }, 'outside guest RAM'));
  }
  const [qw0, qw1] = qw as [bigint, bigint];
  if (Number(qw0 & 0xffn) !== PRQ_TYPE_PAGE_REQUEST) {
    return h('tr', {}, h('td', { class: 'mono' }, hex(off)), h('td', { colspan: 6 }, `type ${qw0 & 0xffn} (${hex(qw0, 16)})`));
  }
  const r = decodePageRequest(qw0, qw1);
  const access = `${r.read ? 'R' : ''}${r.write ? 'W' : ''}${r.exec ? 'X' : ''}${r.priv ? ' priv' : ''}`;
  return h('tr', { class: 'prq-desc' },
    h('td', { class: 'mono' }, hex(off)), h('td', { class: 'mono' }, `${formatBdf(r.sid)} (${hex(r.sid, 4)})`),
    h('td', {}, r.pasid ?? '-'), h('td', { class: 'mono' }, hex(r.addr)), h('td', {}, access || (r.lpig ? 'stop marker' : '-')),
    h('td', {}, r.prgi), h('td', {}, r.lpig ? 'last' : ''));
}

function render(s: Session): void {
  const m = s.machine;
  const [pqh, pqt, pqa, prs, pectl] = ['PQH', 'PQT', 'PQA', 'PRS', 'PECTL'].map((n) => reg(m, n));
  if (pqh === undefined || pqt === undefined || pqa === undefined || prs === undefined) {
    fill(byId('prq'), h('div', { class: 'note' }, 'This profile has no page-request queue (ECAP.PRS = 0).'));
    return;
  }
  const size = queueBytes(pqa);
  const base = pqa & PQ.BASE_MASK;
  const head = Number(pqh & PQ.OFFSET_MASK);
  const tail = Number(pqt & PQ.OFFSET_MASK);
  const rows: HTMLElement[] = [];
  for (let off = head; off !== tail && rows.length < MAX_SHOWN; off = (off + PRQ_DESC_SIZE) % size) rows.push(descriptorRow(m, base, off));
  const pending = ((tail - head + size) % size) / PRQ_DESC_SIZE;
  const st = m.vtd.prq.stats;
  const groups = m.vtd.prq.openGroups();
  fill(byId('prq'),
    h('div', { class: 'mono' }, `PQA ${hex(pqa)} (base ${hex(base)}, ${size / 4096} page(s), ${size / PRQ_DESC_SIZE} slots)  PQH ${hex(pqh)}  PQT ${hex(pqt)}`),
    h('div', { class: 'mono', id: 'prq-prs', 'data-pending': pending },
      `PRS ${hex(prs)} PPR=${prs & BigInt(PRS.PPR) ? 1 : 0} PRO=${prs & BigInt(PRS.PRO) ? 1 : 0}`,
      pectl === undefined ? '' : `  PECTL ${hex(pectl, 8)} IM=${(pectl >> 31n) & 1n} IP=${(pectl >> 30n) & 1n}`,
      `  — ${pending} request(s) queued`),
    h('table', {}, h('tr', {}, ...['offset', 'requester', 'PASID', 'page', 'access', 'PRGI', 'group'].map((t) => h('th', {}, t))), ...rows),
    pending > rows.length ? h('div', { class: 'note' }, `… ${pending - rows.length} more`) : '',
    h('div', { class: 'note' }, `open page groups: ${groups.length ? groups.map((g) => `${hex(g.sid, 4)}/${g.pasid ?? '-'}/prgi ${g.prgi}`).join(', ') : 'none'}`),
    h('div', { class: 'note' }, `queued ${st.queued}, rejected ${st.rejected}, dropped ${st.dropped}, overflows ${st.overflows}, `
      + `auto-responses ${st.autoResponses}, responses ${st.responses}`));
}

/** Wires the page-request queue panel. */
export function initPrqView(s: Session): void {
  s.onChange(() => render(s));
}
