/**
 * Smoke test of the whole bench with tiny iteration counts: the JSON has the
 * documented shape, every workload produced numbers for every target, ratios
 * are finite and positive, the report renders. No absolute-time assertions.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../host/src/core/load-node.js';
import { runBench } from './run.js';
import { formatMarkdown, formatTable } from './report/format.js';
import { renderPlots } from './report/plots.js';
import { BENCH_SCHEMA, type BenchResult } from './report/schema.js';
import { MISS_SETUPS } from './suite.js';
import { buildNative } from './native/driver.js';

const tiny = { rounds: 2, passes: 1, requests: 3000, invReps: 3, sweepFactors: [0.25, 2] };
const wasmBuilt = existsSync(join(packageRoot(), 'build', 'viommu.wasm'));

describe('viommu bench (smoke)', () => {
  let result: BenchResult;

  it('runs every workload on every available target', async () => {
    const steps: string[] = [];
    result = await runBench({ quick: true, sizes: tiny, onProgress: (_d, _t, label) => steps.push(label) });
    expect(result.schema).toBe(BENCH_SCHEMA);
    expect(result.workloads.map((w) => w.id)).toEqual(expect.arrayContaining(['iotlb-hit-cycle/batch', 'iotlb-hit-random/percall', 'miss-walk-ss4-4k/batch', 'miss-walk-nested4-2m/batch', 'dma-copy-4k/batch']));
    expect(result.workloads).toHaveLength(4 + MISS_SETUPS.length + 1);
    expect(steps.at(-1)).toBe(result.targets.at(-1)!.id); // probes run last
    if (wasmBuilt) expect(result.meta.coreMissing).toBeUndefined();
    const labels = ['js', ...(result.meta.coreMissing ? [] : ['core']), ...(result.meta.native.startsWith('skipped') ? [] : ['native', 'native-plain'])];
    for (const w of result.workloads) {
      expect(Object.keys(w.results).sort()).toEqual([...labels].sort());
      for (const s of Object.values(w.results)) {
        expect(s.okRate).toBe(1);
        expect(Number.isFinite(s.nsPerOp) && s.nsPerOp > 0).toBe(true);
      }
      for (const r of Object.values(w.ratios)) expect(Number.isFinite(r) && r > 0).toBe(true);
    }
  });

  it('runs the same algorithm everywhere: equal IOTLB hit rates and PTE reads in core, both C baselines and JS', () => {
    const others = ['core', 'native', 'native-plain'].filter((l) => result.workloads[0]!.results[l]);
    const points = [...result.sweep.map((p) => ({ ...p, id: `sweep ${p.setPages}` })), ...result.multiContext.map((p) => ({ ...p, id: `${p.kind} ${p.contexts}` }))];
    for (const w of [...result.workloads, ...points]) {
      for (const l of others) {
        expect(w.results[l]!.hitRate, `${l} ${w.id}`).toBeCloseTo(w.results['js']!.hitRate, 9);
        expect(w.results[l]!.pteReadsPerOp, `${l} ${w.id}`).toBeCloseTo(w.results['js']!.pteReadsPerOp, 9);
      }
    }
  });

  it('sweeps with the QEMU-policy model and reads more PTEs per miss there', () => {
    expect(result.sweep).toHaveLength(tiny.sweepFactors.length);
    const big = result.sweep.at(-1)!;
    expect(big.results['qemu']!.hitRate).toBeLessThan(1);
    expect(big.results['qemu']!.pteReadsPerOp).toBeGreaterThan(big.results['js']!.pteReadsPerOp);
    for (const p of result.sweep) for (const r of Object.values(p.ratios)) expect(Number.isFinite(r)).toBe(true);
  });

  it('times every invalidation scope at every fill level', () => {
    const kinds = new Set(result.invalidation.map((p) => p.kind));
    expect([...kinds].sort()).toEqual(['domain', 'global', 'page', 'pasid']);
    for (const p of result.invalidation) for (const ns of Object.values(p.nsPerCall)) expect(Number.isFinite(ns) && ns >= 0).toBe(true);
  });

  it('many domains or PASIDs on the same IOVAs: 1, 64 and 1024 of each, all hits while they fit', () => {
    expect(result.multiContext.map((p) => `${p.kind}-${p.contexts}`)).toEqual(['domains-1', 'domains-64', 'domains-1024', 'pasids-1', 'pasids-64', 'pasids-1024']);
    for (const p of result.multiContext.filter((x) => x.contexts <= 64)) for (const s of Object.values(p.results)) expect(s.hitRate).toBeGreaterThan(0.8);
    const mc = result.targets.find((t) => t.id === 'multi-context')!;
    if (wasmBuilt) expect(mc.points!['domains-64 hit %']).toBeGreaterThan(80);
  });

  it('evaluates the targets, probes included, and renders table, markdown and SVG plots', async () => {
    expect(result.targets.map((t) => t.id)).toEqual(expect.arrayContaining(['hit', 'walk', 'multi-context', 'pte-reads-vs-qemu', 'ram-u64', 'qi', 'ioas-map']));
    if (wasmBuilt) {
      const ram = result.targets.find((t) => t.id === 'ram-u64')!;
      expect(ram.measured).toBeGreaterThan(0);
      expect(ram.beside!['readU64 (BigInt) ns']).toBeGreaterThan(0);
      expect(result.targets.find((t) => t.id === 'qi')!.measured).toBeGreaterThan(0);
    }
    for (const t of result.targets) if (t.measured !== null) expect(Number.isFinite(t.measured)).toBe(true);
    expect(formatTable(result)).toContain('iotlb-hit-random/batch');
    const plots = await renderPlots(result);
    for (const svg of Object.values(plots)) expect(svg.startsWith('<svg')).toBe(true);
    expect(formatMarkdown(result, { workloads: 'x.svg' })).toContain('![ratio to native C per workload](x.svg)');
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });

  it('without a C compiler says so and reports no ratios', async () => {
    expect(buildNative('/nonexistent/cc')).toMatchObject({ ok: false });
    const r = await runBench({ quick: true, sizes: { ...tiny, sweepFactors: [0.25] }, noNative: true });
    expect(r.meta.native).toMatch(/^skipped/);
    for (const w of r.workloads) expect(w.ratios).toEqual({});
    expect(r.targets.find((t) => t.id === 'hit')!.pass).toBeNull();
    expect(formatTable(r)).toContain('n/a');
  });
});
