/**
 * Caches panel: the core's statistics counters (IOTLB, context cache, PASID
 * cache, paging-structure caches, walks, PTE reads, invalidations) with the
 * change since the previous render, so a DMA shows as hits or misses.
 */
import { byId, fill, h } from './dom.js';
import type { Session } from './session.js';

/** Counter groups shown as hit/miss pairs (names from Core.stats()). */
const CACHES: readonly [label: string, hits: string, misses: string][] = [
  ['IOTLB', 'iotlb_hits', 'iotlb_misses'],
  ['context cache', 'ctx_hits', 'ctx_misses'],
  ['PASID cache', 'pasid_hits', 'pasid_misses'],
  ['paging-structure caches', 'psc_hits', 'psc_misses'],
];
const TOTALS: readonly string[] = ['translations', 'walks', 'pte_reads', 'struct_reads', 'faults', 'invalidations'];

let previous: Record<string, number> = {};
let previousMachine: unknown;

function delta(now: Record<string, number>, k: string): string {
  const d = (now[k] ?? 0) - (previous[k] ?? 0);
  return d ? ` (+${d})` : '';
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
}

/** Wires the caches panel. */
export function initCachesView(s: Session): void {
  byId('cache-reset').addEventListener('click', () => void s.act('reset cache counters', () => s.machine.core.statsReset()));
  s.onChange(() => render(s));
}
