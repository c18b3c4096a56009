/**
 * Bench panel: a short translation benchmark in the tab. A separate machine
 * is programmed by the guest driver (legacy mode, 4-level second stage,
 * 4096 mapped pages); requests go through the core's batch API
 * (`Core.batch` + `translateBatch`, one call per 4096 requests), and each
 * round's ns/translation is plotted as an inline SVG line chart.
 */
import { GuestIommu } from '../../host/src/guest/guest-iommu.js';
import { guestEnvFor } from '../../host/src/guest/machine-env.js';
import { encodeSsPte } from '../../host/src/vtd/spec/ss-pte.js';
import {
  ACC_READ, BREQ_ACCESS, BREQ_BUF, BREQ_IOVA_HI, BREQ_IOVA_LO, BREQ_LEN, BREQ_PASID, BREQ_SID, BREQ_WORDS, createMachine, type Machine,
} from '../../host/src/browser.js';
import { byId, fill, h } from './dom.js';
import { newCore } from './platform.js';
import type { Session } from './session.js';

const SID = 0x18;
const PAGES = 4096;
const IOVA = 0x1_0000_0000n;
const ROUNDS = 12;
const MIN_ROUND_MS = 15;

/** One workload: which pages the batch asks for and what runs before each batch. */
interface Workload {
  readonly name: string;
  readonly color: string;
  readonly page: (i: number) => number;
  readonly before?: (m: Machine) => void;
}

const WORKLOADS: readonly Workload[] = [
  { name: 'IOTLB hit (64 hot pages)', color: '#1b7f3b', page: (i) => i % 64 },
  { name: 'walk (IOTLB flushed before each batch, 4096 pages)', color: '#b3261e', page: (i) => i, before: (m) => m.core.invIotlbGlobal() },
];

async function benchMachine(): Promise<Machine> {
  const m = await createMachine({ profile: 'default', devices: [{ bdf: '00:03.0', kind: 'dma-test' }], core: newCore() });
  const g = new GuestIommu(guestEnvFor(m), 'legacy');
  const ss = g.attachLegacy(SID, { did: 1, levels: 4 });
  const bits = encodeSsPte({ R: true, W: true });
  for (let i = 0; i < PAGES; i++) ss.map(IOVA + BigInt(i) * 0x1000n, 0x20_0000n + BigInt(i % 256) * 0x1000n, 12, bits);
  g.start();
  return m;
}

/** The request records of one batch (copied into the core's ring before each call). */
function requests(w: Workload, n: number): Uint32Array {
  const b = new Uint32Array(n * BREQ_WORDS);
  for (let i = 0; i < n; i++) {
    const r = i * BREQ_WORDS;
    const iova = IOVA + BigInt(w.page(i)) * 0x1000n + BigInt((i * 64) & 0xfff);
    b[r + BREQ_SID] = SID;
    b[r + BREQ_PASID] = 0;
    b[r + BREQ_IOVA_LO] = Number(iova & 0xffff_ffffn);
    b[r + BREQ_IOVA_HI] = Number(iova >> 32n);
    b[r + BREQ_ACCESS] = ACC_READ;
    b[r + BREQ_LEN] = 0;
    b[r + BREQ_BUF] = 0;
  }
  return b;
}

/** Runs one round: repeated batches for at least MIN_ROUND_MS; returns ns per translation. */
function round(m: Machine, w: Workload, n: number): number {
  const reqs = requests(w, n);
  let calls = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < MIN_ROUND_MS) {
    m.core.batch.set(reqs); // results overwrite the request words 0..3
    w.before?.(m);
    const ok = m.core.translateBatch(n);
    if (ok !== n) throw new Error(`bench: ${n - ok} of ${n} translations failed in workload "${w.name}"`);
    calls++;
    t = performance.now();
  }
  return ((t - t0) * 1e6) / (calls * n);
}

/** Inline SVG line chart of ns/translation per round, one line per workload. */
export function chart(series: readonly { name: string; color: string; values: number[] }[]): SVGSVGElement {
  const W = 520, H = 180, L = 48, B = 24, T = 8, R = 8;
  const max = Math.max(1, ...series.flatMap((s) => s.values)) * 1.1;
  const ns = 'http://www.w3.org/2000/svg';
  const el = <K extends keyof SVGElementTagNameMap>(tag: K, a: Record<string, string | number>, text?: string) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(a)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const x = (i: number) => L + (i * (W - L - R)) / Math.max(1, ROUNDS - 1);
  const y = (v: number) => T + (H - T - B) * (1 - v / max);
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': 'ns per translation by round' });
  svg.append(el('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#888' }), el('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#888' }));
  for (const v of [0, max / 2, max]) svg.append(el('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 10 }, v.toFixed(0)));
  svg.append(el('text', { x: (L + W) / 2, y: H - 6, 'text-anchor': 'middle', 'font-size': 10 }, 'round'));
  svg.append(el('text', { x: 10, y: T + 10, 'font-size': 10 }, 'ns'));
  for (const s of series) {
    svg.append(el('polyline', { fill: 'none', stroke: s.color, 'stroke-width': 2, points: s.values.map((v, i) => `${x(i)},${y(v)}`).join(' ') }));
  }
  return svg;
}

/** Runs the benchmark and renders results and chart. */
async function runBench(s: Session): Promise<void> {
  const out = byId('bench-result');
  fill(out, 'setting up…');
  const m = await benchMachine();
  const n = Math.min(PAGES, m.core.unsafeExports.batchCapacity());
  const series = WORKLOADS.map((w) => ({ name: w.name, color: w.color, values: [] as number[] }));
  for (let r = 0; r < ROUNDS; r++) {
    WORKLOADS.forEach((w, i) => series[i]!.values.push(round(m, w, n)));
    fill(out, `round ${r + 1}/${ROUNDS}…`);
    await new Promise((ok) => setTimeout(ok, 0));
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const summary = series.map((x) => `${x.name}: ${median(x.values).toFixed(1)} ns/translation (median of ${ROUNDS})`);
  fill(out,
    chart(series),
    h('ul', {}, ...series.map((x, i) => h('li', { style: `color:${x.color}`, 'data-ns': median(x.values).toFixed(2) }, summary[i]!))),
    h('div', { class: 'note' }, `batch of ${n} requests per call; timer resolution in a browser tab is coarse, so each round repeats batches for ≥ ${MIN_ROUND_MS} ms.`));
  s.event('obs', `bench: ${summary.join('; ')}`);
}

/** Wires the bench panel. */
export function initBenchView(s: Session): void {
  byId('bench-run').addEventListener('click', () => void s.act('run translation bench', () => runBench(s)));
}
