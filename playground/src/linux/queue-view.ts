/**
 * Invalidation queue panel (§6.5.2, registers §11.4.9): IQA (base, descriptor
 * width, size), IQH, IQT, ICS, and the descriptors the guest queued last
 * (the ones before IQT, newest first), read from guest RAM with their type
 * (§6.5.2 type table) and the fields that say what they invalidate.
 */
import { DESC, descType } from '../../../host/src/vtd/spec/descriptors.js';
import type { Machine, RegName } from '../../../host/src/browser.js';
import { byId, fill, h, hex } from '../dom.js';
import type { Session } from '../session.js';

/** Descriptors listed. */
const SHOWN = 24;
const TYPE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(DESC).map(([name, code]) => [code, name.toLowerCase().replace(/_/g, '-')]));
/** Granularity field qw0[5:4] by descriptor type (§6.5.2.1-§6.5.2.4). */
const GRANULARITY: ReadonlyMap<number, readonly string[]> = new Map([
  [DESC.CONTEXT_CACHE, ['G=0', 'global', 'domain-selective', 'device-selective']],
  [DESC.IOTLB, ['G=0', 'global', 'domain-selective', 'page-selective']],
  [DESC.PASID_IOTLB, ['G=0', 'G=1', 'PASID-selective', 'page-selective in PASID']],
  [DESC.PASID_CACHE, ['domain-selective', 'PASID-selective', 'G=2', 'global']],
]);

function reg(m: Machine, name: string): bigint {
  const row = m.vtd.regs.rows.get(name as RegName);
  return row ? m.vtd.mmioRead(row.offset, row.width) : 0n;
}

/** What a descriptor invalidates, from its first two qwords. */
function describe(type: number, qw0: bigint, qw1: bigint): string {
  const did = Number((qw0 >> 16n) & 0xffffn);
  const g = GRANULARITY.get(type)?.[Number((qw0 >> 4n) & 3n)] ?? '';
  switch (type) {
    case DESC.CONTEXT_CACHE: return `${g}, DID ${did}, SID ${hex(Number((qw0 >> 32n) & 0xffffn), 4)}`;
    case DESC.IOTLB: return `${g}, DID ${did}, addr ${hex(qw1 & ~0xfffn)} AM ${qw1 & 0x3fn}`;
    case DESC.PASID_IOTLB: return `${g}, DID ${did}, PASID ${(qw0 >> 32n) & 0xfffffn}, addr ${hex(qw1 & ~0xfffn)} AM ${qw1 & 0x3fn}`;
    case DESC.PASID_CACHE: return `${g}, DID ${did}, PASID ${(qw0 >> 32n) & 0xfffffn}`;
    case DESC.WAIT: return `${(qw0 >> 5n) & 1n ? `status write ${hex((qw0 >> 32n) & 0xffffffffn)} to ${hex(qw1 & ~3n)}` : 'no status write'}${(qw0 >> 4n) & 1n ? ', interrupt' : ''}${(qw0 >> 6n) & 1n ? ', fence' : ''}`;
    default: return hex(qw0, 16);
  }
}

function render(s: Session): void {
  const m = s.machine;
  const iqa = reg(m, 'IQA');
  const wide = ((iqa >> 11n) & 1n) === 1n; // DW: 256-bit descriptors
  const size = wide ? 32 : 16;
  const bytes = 4096 << Number(iqa & 7n);
  const base = iqa & ~0xfffn;
  const iqh = Number(reg(m, 'IQH') & 0x7fff0n);
  const iqt = Number(reg(m, 'IQT') & 0x7fff0n);
  const rows: HTMLElement[] = [];
  for (let i = 1; i <= SHOWN && base !== 0n; i++) {
    const off = (iqt - i * size + bytes * 2) % bytes;
    const at = base + BigInt(off);
    if (!m.ram.contains(at, 16)) break;
    const [qw0, qw1] = [m.ram.readU64(at), m.ram.readU64(at + 8n)];
    const type = descType(Number(qw0 & 0xffff_ffffn)); // the type bits are in the low dword
    if (type === 0) break;
    rows.push(h('tr', {}, h('td', { class: 'mono' }, hex(off)), h('td', {}, TYPE_NAMES.get(type) ?? `type ${type}`), h('td', { class: 'mono' }, describe(type, qw0, qw1))));
  }
  fill(byId('iq'),
    h('div', { class: 'mono' }, `IQA ${hex(iqa)} (base ${hex(base)}, ${wide ? '256' : '128'}-bit, ${bytes / size} slots)  IQH ${hex(iqh)}  IQT ${hex(iqt)}  ICS ${hex(reg(m, 'ICS'))}`),
    base === 0n ? h('div', { class: 'note' }, 'No queue yet (IQA + GCMD.QIE).')
      : h('table', {}, h('tr', {}, h('th', {}, 'slot'), h('th', {}, 'descriptor'), h('th', {}, 'what')), ...rows));
}

/** Wires the invalidation-queue panel. */
export function initQueueView(s: Session): void {
  s.onChange(() => render(s));
}
