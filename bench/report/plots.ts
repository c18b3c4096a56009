/**
 * Plots of a bench result as SVG: vega-lite specs compiled to vega and
 * rendered headless (`View.toSVG()`, renderer 'none': no canvas needed).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchResult } from './schema.js';

type Row = Record<string, string | number>;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Renders one vega-lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function lineChart(title: string, values: Row[], x: string, y: string, xTitle: string, yTitle: string, logX: boolean, logY = false): TopLevelSpec {
  return {
    $schema: SCHEMA, title, width: 520, height: 300, data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: x, type: 'quantitative', title: xTitle, scale: logX ? { type: 'log' } : {} },
      y: { field: y, type: 'quantitative', title: yTitle, scale: logY ? { type: 'log' } : {} },
      color: { field: 'series', type: 'nominal', title: null },
    },
  } as TopLevelSpec;
}

function sweepRows(r: BenchResult, metric: 'nsPerOp' | 'hitRate' | 'pteReadsPerOp'): Row[] {
  const rows: Row[] = [];
  for (const p of r.sweep) {
    for (const [series, s] of Object.entries(p.results)) {
      const v = metric === 'hitRate' ? s.hitRate * 100 : s[metric];
      if (Number.isFinite(v)) rows.push({ setPages: p.setPages, series, value: metric === 'pteReadsPerOp' ? Math.max(v, 1e-4) : v });
    }
  }
  return rows;
}

function workloadRatioSpec(r: BenchResult): TopLevelSpec {
  const values: Row[] = [];
  for (const w of r.workloads) for (const [series, ratio] of Object.entries(w.ratios)) if (Number.isFinite(ratio)) values.push({ workload: w.id, series, ratio });
  return {
    $schema: SCHEMA, title: 'Time per translation relative to native C (1 = as fast)', width: 520, data: { values },
    layer: [
      {
        mark: 'bar',
        encoding: {
          y: { field: 'workload', type: 'nominal', title: null, sort: null },
          yOffset: { field: 'series' },
          x: { field: 'ratio', type: 'quantitative', title: 'ratio to native C' },
          color: { field: 'series', type: 'nominal', title: null },
        },
      },
      { mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { x: { datum: 1 } } },
    ],
  } as TopLevelSpec;
}

function invalidationSpec(r: BenchResult): TopLevelSpec {
  const values: Row[] = [];
  for (const p of r.invalidation) for (const [series, ns] of Object.entries(p.nsPerCall)) values.push({ cached: p.cachedEntries, kind: p.kind, series, ns: Math.max(ns, 1) });
  return {
    $schema: SCHEMA, title: 'Invalidation cost as the IOTLB fills (ns per call, floored at 1)', data: { values },
    facet: { column: { field: 'kind', type: 'nominal', title: null, sort: ['page', 'pasid', 'domain', 'global'] } },
    spec: {
      width: 170, height: 220, mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'cached', type: 'quantitative', title: 'cached IOTLB entries', scale: { type: 'log' } },
        y: { field: 'ns', type: 'quantitative', title: 'ns per call', scale: { type: 'log' } },
        color: { field: 'series', type: 'nominal', title: null },
      },
    },
  } as TopLevelSpec;
}

/** Every plot of a result: name -> SVG text. */
export async function renderPlots(r: BenchResult): Promise<Record<string, string>> {
  const specs: Record<string, TopLevelSpec> = {
    workloads: workloadRatioSpec(r),
    'sweep-ns': lineChart('ns per translation vs working set (uniform random)', sweepRows(r, 'nsPerOp'), 'setPages', 'value', 'working set (pages)', 'ns per translation', true, true),
    'sweep-hit': lineChart('IOTLB hit rate vs working set (core, native and js coincide: same cache)', sweepRows(r, 'hitRate'), 'setPages', 'value', 'working set (pages)', 'hit rate %', true),
    'sweep-pte': lineChart('Page-table reads per translation (core, native and js coincide)', sweepRows(r, 'pteReadsPerOp'), 'setPages', 'value', 'working set (pages)', 'PTE reads per translation', true, true),
    invalidation: invalidationSpec(r),
  };
  const out: Record<string, string> = {};
  for (const [name, spec] of Object.entries(specs)) out[name] = await renderSvg(spec);
  return out;
}
