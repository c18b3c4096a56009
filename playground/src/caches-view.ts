/**
 * Caches panel: the core's statistics counters (IOTLB, context cache, PASID
 * cache, paging-structure caches, walks, PTE reads, invalidations) with the
 * change since the previous render, so a DMA shows as hits or misses; and
 * the caches' live contents (`Core.cacheContents()`, the core's read-only
 * dump exports): IOTLB, context-cache, PASID-cache and paging-structure
 * cache entries. Buttons send the guest's register-based global
 * invalidations (§6.5.1), so entries can be seen to go.
 */
import { VtdDriver } from '../../host/src/guest/vtd-driver.js';
import { formatBdf as bdf, type CacheContents } from '../../host/src/browser.js';
import { byId, fill, h, hex } from './dom.js';
import type { Session } from './session.js';

/** Counter groups shown as hit/miss pairs (names from Core.stats()). */
const CACHES: readonly [label: string, hits: string, misses: string][] = [
  ['IOTLB', 'iotlb_hits', 'iotlb_misses'],
  ['context cache', 'ctx_hits', 'ctx_misses'],
  ['PASID cache', 'pasid_hits', 'pasid_misses'],
  ['paging-structure caches', 'psc_hits', 'psc_misses'],
];
const TOTALS: readonly string[] = ['translations', 'walks', 'pte_reads', 'struct_reads', 'faults', 'invalidations'];
/** Rows listed per cache. */
const MAX_ROWS = 32;

let previous: Record<string, number> = {};
let previousMachine: unknown;

function delta(now: Record<string, number>, k: string): string {
  const d = (now[k] ?? 0) - (previous[k] ?? 0);
  return d ? ` (+${d})` : '';
}

const perms = (p: number): string => `${p & 1 ? 'R' : '-'}${p & 2 ? 'W' : '-'}${p & 4 ? 'X' : '-'}`;
const size = (lg2: number): string => (lg2 >= 30 ? `${2 ** (lg2 - 30)}G` : lg2 >= 20 ? `${2 ** (lg2 - 20)}M` : `${2 ** (lg2 - 10)}K`);

/** One cache's entries as a titled table (`data-cache` names it for tests). */
function entryTable(name: string, title: string, head: string[], rows: (string | number)[][]): HTMLElement {
  return h('div', { 'data-cache': name, 'data-count': rows.length },
    h('h3', {}, `${title}: ${rows.length} entr${rows.length === 1 ? 'y' : 'ies'}`),
    rows.length === 0 ? h('div', { class: 'note' }, 'empty') : h('table', {},
      h('tr', {}, ...head.map((t) => h('th', {}, t))),
      ...rows.slice(0, MAX_ROWS).map((r) => h('tr', { class: 'entry' }, ...r.map((c) => h('td', { class: 'mono' }, c))))),
    rows.length > MAX_ROWS ? h('div', { class: 'note' }, `… ${rows.length - MAX_ROWS} more`) : '');
}

function renderContents(c: CacheContents): HTMLElement[] {
  return [
    entryTable('iotlb', 'IOTLB', ['DID', 'PASID', 'requester', 'iova', '→ address', 'size', 'perms', 'stage'],
      c.iotlb.map((e) => [e.did, e.pasid ?? '-', bdf(e.sid), hex(e.iova), hex(e.addr), size(e.pageLg2), perms(e.perms),
        `${e.firstStage ? 'first/nested' : 'second'}${e.supervisor ? ' supervisor' : ''}`])),
    entryTable('context', 'Context cache', ['requester', 'DID', 'entry (hi lo)', 'notes'],
      c.context.map((e) => [bdf(e.sid), e.did, `${hex(e.hi, 16)} ${hex(e.lo, 16)}`, e.stickyPassThrough ? 'sticky pass-through' : ''])),
    entryTable('pasid', 'PASID cache', ['requester', 'PASID', 'DID', 'qw2 qw1 qw0', 'dir FPD'],
      c.pasid.map((e) => [bdf(e.sid), e.pasid, e.did, e.entry.map((q) => hex(q, 16)).reverse().join(' '), e.dirFpd ? 'yes' : ''])),
    entryTable('psc', 'Paging-structure caches', ['stage', 'DID', 'PASID', 'level', 'iova', '→ table', 'perms'],
      c.psc.map((e) => [e.stage, e.did, e.stage === 'first' ? e.pasid : '-', e.level, hex(e.iova), hex(e.table), perms(e.perms)])),
  ];
}

function render(s: Session): void {
  const now = s.machine.core.stats();
  if (previousMachine !== s.machine) previous = now;
  previousMachine = s.machine;
  const rows = CACHES.map(([label, hk, mk]) => h('tr', {},
    h('td', {}, label),
    h('td', { class: 'num', 'data-stat': hk }, now[hk] ?? 0, delta(now, hk)),
    h('td', { class: 'num', 'data-stat': mk }, now[mk] ?? 0, delta(now, mk))));
  const totals = TOTALS.map((k) => h('tr', {}, h('td', {}, k.replace('_', ' ')),
    h('td', { class: 'num', colspan: 2, 'data-stat': k }, now[k] ?? 0, delta(now, k))));
  fill(byId('cache-table'), h('tr', {}, h('th', {}, 'cache'), h('th', {}, 'hits'), h('th', {}, 'misses')), ...rows, ...totals);
  previous = now;
  fill(byId('cache-contents'), ...renderContents(s.machine.core.cacheContents()));
}

/** Wires the caches panel. */
export function initCachesView(s: Session): void {
  byId('cache-reset').addEventListener('click', () => void s.act('reset cache counters', () => s.machine.core.statsReset()));
  const guest = (): VtdDriver => new VtdDriver({ mmioRead: (a, n) => s.machine.mmioRead(a, n), mmioWrite: (a, n, v) => s.machine.mmioWrite(a, n, v) });
  byId('cache-inv-iotlb').addEventListener('click', () => void s.act('guest: IOTLB global invalidation (IOTLB_REG)', () => {
    s.event('obs', `IOTLB_REG after the invalidation: ${hex(guest().iotlbInvalidateGlobal())}`);
  }));
  byId('cache-inv-context').addEventListener('click', () => void s.act('guest: context-cache global invalidation (CCMD)', () => {
    s.event('obs', `CCMD after the invalidation: ${hex(guest().contextInvalidateGlobal())}`);
  }));
  s.onChange(() => render(s));
}
