/**
 * Plots of a bench result as SVG: vega-lite specs compiled to vega and
 * rendered headless (`View.toSVG()`, renderer 'none': no canvas needed).
 * vega and vega-lite are optional (peer) dependencies, loaded on first use:
 * only `viommu bench --svg / --report` needs them.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { BenchResult } from './schema.js';

type Row = Record<string, string | number>;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** What to install when plotting is asked for and vega is not there. */
export const PLOTTING_PACKAGES = 'vega@6.4 vega-lite@~6.4';

type Plotting = { vega: typeof import('vega'); vegaLite: typeof import('vega-lite') };
let plotting: Promise<Plotting> | undefined;

/** Loads vega and vega-lite; rejects with an Error saying what to install when they are missing. */
export function loadPlotting(): Promise<Plotting> {
  plotting ??= Promise.all([import('vega'), import('vega-lite')]).then(
    ([vega, vegaLite]) => ({ vega, vegaLite }),
    (err: unknown) => {
      plotting = undefined;
      throw new Error(`plots need the optional packages vega and vega-lite (npm install ${PLOTTING_PACKAGES}): ${err instanceof Error ? err.message : String(err)}`);
    },
  );
  return plotting;
}

/** Labels and legends are never cut short (vega's default limit truncates long workload names with "…"). */
const CONFIG = { axis: { labelLimit: 0 }, legend: { labelLimit: 0 }, title: { limit: 0 } } as const;

/** Renders one vega-lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, vegaLite } = await loadPlotting();
  const view = new vega.View(vega.parse(vegaLite.compile({ ...spec, config: { ...CONFIG, ...spec.config } } as TopLevelSpec).spec), { renderer: 'none' });
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
