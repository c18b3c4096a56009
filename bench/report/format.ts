/**
 * Text renderings of a bench result: the terminal table printed at the end
 * of a run and the markdown report (docs/BENCH.md). Both show the same
 * numbers: ns per translation per target and ratios to native C (`native`
 * = the lean C baseline; `native-plain` = the plain one, reported beside).
 */
import type { BenchResult, TargetCheck, TargetStats } from './schema.js';

const LABELS = ['core', 'native', 'native-plain', 'js', 'qemu'] as const;

/** Fixed-precision number, '-' when absent. */
export function fmt(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return v >= 1000 ? v.toFixed(0) : v.toFixed(digits);
}

function pad(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
}

/** core / native-plain, from the medians (ratios are to `native`). */
function overPlain(results: Record<string, TargetStats>): number | undefined {
  const c = results['core'], p = results['native-plain'];
  return c && p ? c.nsPerOp / p.nsPerOp : undefined;
}

function workloadRows(r: BenchResult): string[][] {
  const rows = [['workload', 'core ns', 'native ns', 'plain C ns', 'js ns', 'core/C', 'core/plain C', 'js/C', 'hit %', 'PTE rd/op']];
  for (const w of r.workloads) {
    const ref: TargetStats | undefined = w.results['core'] ?? w.results['native'] ?? w.results['js'];
    rows.push([w.id, fmt(w.results['core']?.nsPerOp), fmt(w.results['native']?.nsPerOp), fmt(w.results['native-plain']?.nsPerOp), fmt(w.results['js']?.nsPerOp),
      fmt(w.ratios['core']), fmt(overPlain(w.results)), fmt(w.ratios['js']), fmt((ref?.hitRate ?? NaN) * 100, 1), fmt(ref?.pteReadsPerOp, 3)]);
  }
  return rows;
}

function multiContextRows(r: BenchResult): string[][] {
  const rows = [['contexts', 'pages each', 'core ns', 'native ns', 'plain C ns', 'js ns', 'core/C', 'core hit %', 'core / 1 context', 'C / 1 context']];
  for (const p of r.multiContext) {
    rows.push([`${p.contexts} ${p.kind}`, String(p.pagesPerContext), fmt(p.results['core']?.nsPerOp), fmt(p.results['native']?.nsPerOp), fmt(p.results['native-plain']?.nsPerOp),
      fmt(p.results['js']?.nsPerOp), fmt(p.ratios['core']), fmt((p.results['core']?.hitRate ?? NaN) * 100, 1), fmt(p.growth?.['core']), fmt(p.growth?.['native'])]);
  }
  return rows;
}

function sweepRows(r: BenchResult): string[][] {
  const rows = [['set pages', 'x IOTLB', ...LABELS.map((l) => `${l} ns`), ...LABELS.map((l) => `${l} hit%`), 'core PTE/op', 'qemu PTE/op']];
  for (const p of r.sweep) {
    rows.push([String(p.setPages), fmt(p.capacityFactor), ...LABELS.map((l) => fmt(p.results[l]?.nsPerOp)), ...LABELS.map((l) => fmt((p.results[l]?.hitRate ?? NaN) * 100, 1)), fmt(p.results['core']?.pteReadsPerOp, 3), fmt(p.results['qemu']?.pteReadsPerOp, 3)]);
  }
  return rows;
}

function invRows(r: BenchResult): string[][] {
  const rows = [['invalidation', 'cached', 'core ns', 'native ns', 'plain C ns', 'js ns']];
  for (const p of r.invalidation) rows.push([p.kind, String(p.cachedEntries), fmt(p.nsPerCall['core'], 0), fmt(p.nsPerCall['native'], 0), fmt(p.nsPerCall['native-plain'], 0), fmt(p.nsPerCall['js'], 0)]);
  return rows;
}

function checkRows(checks: TargetCheck[]): string[][] {
  const rows = [['id', 'target', 'measured', 'limit', 'result']];
  for (const c of checks) {
    const unit = c.unit ? ` ${c.unit}` : '';
    rows.push([c.id, c.description, `${fmt(c.measured)}${c.measured === null ? '' : unit}`, `${c.sense === 'max' ? '<=' : '>='} ${c.limit}${unit}`, c.pass === null ? 'n/a' : c.pass ? 'PASS' : 'MISS']);
  }
  return rows;
}

/** The numbers reported beside each target, one line per target that has some. */
function besideLines(checks: TargetCheck[]): string[] {
  const named = (o: Record<string, number> | undefined): string[] => Object.entries(o ?? {}).map(([k, v]) => `${k} ${fmt(v)}`);
  return checks.filter((c) => c.beside || c.points || c.note).map((c) => `${c.id}: ${[...named(c.beside), ...named(c.points), ...(c.note ? [c.note] : [])].join('; ')}`);
}

/** Per-call vs batch API of the core (and native C) on the random-order hit workload. */
function apiLine(r: BenchResult): string {
  const per = r.workloads.find((w) => w.id === 'iotlb-hit-random/percall'), batch = r.workloads.find((w) => w.id === 'iotlb-hit-random/batch');
  const part = (l: string): string => {
    const a = per?.results[l]?.nsPerOp, b = batch?.results[l]?.nsPerOp;
    return a && b ? `${l} ${fmt(a)} ns per call vs ${fmt(b)} ns batched (${fmt(a / b)}x)` : `${l} -`;
  };
  return `per-call vs batch API (IOTLB hit, random): ${part('core')}; ${part('native')}`;
}

/** DMA copy throughput (4 KiB per request) in GB/s per target. */
function copyLine(r: BenchResult): string {
  const w = r.workloads.find((x) => x.group === 'copy');
  if (!w) return 'DMA copy: not measured';
  return `DMA copy through the batch API: ${Object.entries(w.results).map(([l, s]) => `${l} ${fmt(4096 / s.nsPerOp)} GB/s`).join(', ')}`;
}

/** The terminal table printed at the end of a run. */
export function formatTable(r: BenchResult): string {
  const parts = [
    ...pad(workloadRows(r)), '',
    ...pad(sweepRows(r)), '',
    ...pad(invRows(r)), '',
    ...pad(multiContextRows(r)), '',
    apiLine(r), copyLine(r), ...r.probes.lines, '',
    ...pad(checkRows(r.targets)), '',
    ...besideLines(r.targets),
  ];
  if (r.meta.coreMissing) parts.push('', `wasm core missing: ${r.meta.coreMissing}`);
  return parts.join('\n');
}

function mdTable(rows: string[][]): string {
  const [head, ...body] = rows;
  return [`| ${head!.join(' | ')} |`, `|${head!.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The markdown report; `plots` maps a plot name to its SVG path relative to the report. */
export function formatMarkdown(r: BenchResult, plots: Record<string, string>): string {
  const m = r.meta;
  const plot = (name: string, alt: string): string => (plots[name] ? `\n![${alt}](${plots[name]})\n` : '');
  return `# wasm-viommu translation benchmark

Generated by \`viommu bench${m.quick ? ' --quick' : ''}\` on ${m.date} (${m.cpu}, ${m.cores} cores, ${m.platform}, Node ${m.node};
load average ${fmt(m.loadAverage[0], 1)} at the start, ${fmt(m.loadAverage[1], 1)} at the end: absolute times are noisy under load, ratios less so).
Native baselines: ${m.native}.
IOTLB geometry: ${1 << m.geometry.iotlbSetsLg2} sets x ${m.geometry.iotlbWays} ways (the core's default); paging-structure cache: 4096 entries shared by all levels, as in the core.
${m.coreMissing ? `\n**The wasm core could not be loaded: ${m.coreMissing}**\n` : ''}
How to read it: every workload runs the same request list over the same guest image on every
implementation, interleaved in rounds (${m.sizes.rounds} rounds x ${m.sizes.passes} passes of ${m.sizes.requests} requests);
ratios are medians of per-round ratios to the lean native C baseline \`native\`
(\`bench/native/lean.c\`, compiled with \`cc -O2\`: translation inlined into the batch loop, IOTLB
geometry in registers, one decoded-setup cache, epoch-stamped entries). \`native-plain\`
(\`bench/native/translate.c\`, the earlier baseline: a call per cache, generations rechecked on every
probe and fill) is reported beside it (\`core/plain C\`). \`js\` is the same algorithm in plain JavaScript
(\`bench/js-baseline/\`); \`qemu\` models QEMU's IOTLB policy (\`bench/qemu-policy/\`, a JS model: its hit
rates and PTE reads are the point, its ns only show the shape). The C and JS
baselines copy the core's cache structures (set hash mixing the (DID, PASID) key, LRU, shared
paging-structure cache, generation counters), so all of them report the same IOTLB hit and PTE-read
counts on every workload (the smoke test checks it). The core's batch numbers include copying each
request into the batch ring (results overwrite requests); its per-call numbers include reading the
out-buffer. Invalidation costs are medians of single calls after filling the cache, minus an empty
call timed the same way. Probes (\`bench/probes/\`) measure the embedding layer through its public API.

## Targets

${mdTable(checkRows(r.targets))}

${besideLines(r.targets).map((l) => `- ${l}`).join('\n')}

## Workloads

${mdTable(workloadRows(r))}
${plot('workloads', 'ratio to native C per workload')}
## Many domains or PASIDs on the same IOVAs (uniform random, batch)

One context and 64 run on one image, back to back in every round, each from an empty cache:
"/ 1 context" is the median of the per-round ratios (what the multi-context target checks).

${mdTable(multiContextRows(r))}

## Working-set sweep (uniform random, 4-level second stage, 4 KiB pages)

${mdTable(sweepRows(r))}
${plot('sweep-ns', 'ns per translation vs working set')}${plot('sweep-hit', 'hit rate vs working set')}${plot('sweep-pte', 'page-table reads per translation vs working set')}
## Invalidation cost as the IOTLB fills

${mdTable(invRows(r))}
${plot('invalidation', 'invalidation cost vs cached entries')}
## API, DMA copy and the embedding layer

${apiLine(r)}

${copyLine(r)}

${r.probes.lines.join('\n')}
`;
}
