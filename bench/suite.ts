/**
 * The bench's workloads (issues 9 and 17): IOTLB hits (fixed cycle and
 * uniform random, per-call and batch), miss + walk for every translation
 * type and page size, DMA copy through the batch API, the working-set sweep
 * with the QEMU-policy model, invalidation cost as the cache fills, and
 * many domains or PASIDs on the same IOVAs (1, 64, 1024). Each is measured
 * interleaved across the available targets; ratios are to the lean native
 * C baseline (`native`). Single-number probes (guest RAM, MMIO, DMA, queued
 * invalidation, ...) register themselves in bench/probes/.
 */
import type { Target, LoadSpec, RunMode } from './harness/target.js';
import { measureInterleaved, type Contender, type Interleaved } from './harness/interleave.js';
import { cycleOrder, uniformOrder } from './workloads/orders.js';
import { buildMultiSetup, buildSetup, requestsFor, type ContextKind, type Setup, type SetupSpec } from './workloads/setups.js';
import type { InvPoint, MultiContextPoint, SweepPoint, TargetStats, WorkloadResult } from './report/schema.js';

/** Iteration sizes of a run. */
export interface Sizes {
  rounds: number;
  passes: number;
  /** Requests per list. */
  requests: number;
  /** Repetitions per invalidation-cost point. */
  invReps: number;
  /** Working-set sizes as multiples of the IOTLB capacity. */
  sweepFactors: number[];
}

/** The targets of a run; `core`/`native`/`nativePlain` may be absent (reported as missing). */
export interface SuiteTargets {
  core?: Target;
  /** The lean C baseline (bench/native/lean.c): every ratio divides by it. */
  native?: Target;
  /** The plain C baseline (bench/native/translate.c), reported beside it. */
  nativePlain?: Target;
  js: Target;
  qemu: Target;
}

/** Everything a workload needs from the run. */
export interface SuiteContext {
  targets: SuiteTargets;
  sizes: Sizes;
  geometry: LoadSpec['geometry'];
  seed: number;
  /** Called once per finished step. */
  step: (label: string) => void;
}

const SLOT = 0;

/** IOTLB capacity in entries. */
export function capacity(g: LoadSpec['geometry']): number {
  return g.iotlbWays << g.iotlbSetsLg2;
}

async function loadAll(targets: Target[], setup: Pick<Setup, 'image' | 'ramSize' | 'rootTable'>, geometry: LoadSpec['geometry'], requests: Uint32Array): Promise<void> {
  const spec: LoadSpec = { image: setup.image.data(), ramSize: setup.ramSize, rootTable: setup.rootTable, geometry };
  for (const t of targets) {
    await t.load(spec);
    await t.setRequests(SLOT, requests);
  }
}

function statsOf(m: Interleaved): Record<string, TargetStats> {
  const out: Record<string, TargetStats> = {};
  for (const s of m.summaries) {
    const n = s.last.n;
    out[s.label] = { nsPerOp: s.nsPerOp, hitRate: s.last.iotlbHits / Math.max(1, s.last.iotlbHits + s.last.iotlbMisses), pteReadsPerOp: s.last.pteReads / n, okRate: s.last.okCount / n };
  }
  return out;
}

/** Contenders for a mode: core and the native baselines in that mode, JS always per call (it has no boundary). */
function contenders(t: SuiteTargets, mode: RunMode): Contender[] {
  const list: Contender[] = [];
  if (t.core) list.push({ target: t.core, mode });
  if (t.native) list.push({ target: t.native, mode });
  if (t.nativePlain) list.push({ target: t.nativePlain, mode });
  list.push({ target: t.js, mode: mode === 'copy' ? 'copy' : 'percall' });
  return list;
}

async function measureWorkload(ctx: SuiteContext, id: string, group: WorkloadResult['group'], setup: Setup, mode: RunMode, description: string, passes = ctx.sizes.passes): Promise<WorkloadResult> {
  const m = await measureInterleaved(contenders(ctx.targets, mode), SLOT, ctx.sizes.rounds, passes, ctx.targets.native ? 'native' : undefined);
  ctx.step(id);
  return { id, group, setup: setup.id, mode, description, results: statsOf(m), ratios: m.ratios };
}

/** IOTLB hits over a set of a quarter of the capacity, cycle and random order, batch and per call. */
export async function hitWorkloads(ctx: SuiteContext): Promise<WorkloadResult[]> {
  const set = Math.max(16, capacity(ctx.geometry) >> 2);
  const setup = buildSetup({ kind: 'ss', levels: 4, pageLg2: 12, pages: set });
  const results: WorkloadResult[] = [];
  const orders: Array<[string, Uint32Array]> = [['cycle', cycleOrder(set, ctx.sizes.requests)], ['random', uniformOrder(set, ctx.sizes.requests, ctx.seed)]];
  const all = allTargets(ctx.targets);
  for (const [name, order] of orders) {
    await loadAll(all, setup, ctx.geometry, requestsFor(setup, order));
    for (const mode of ['batch', 'percall'] as const) {
      results.push(await measureWorkload(ctx, `iotlb-hit-${name}/${mode}`, 'hit', setup, mode, `IOTLB hit, ${set} pages (fits), ${name} order, ${mode === 'batch' ? 'batch API' : 'one call per translation'}`));
    }
  }
  return results;
}

/** Setups of the miss + walk workloads. */
export const MISS_SETUPS: ReadonlyArray<Omit<SetupSpec, 'pages'>> = [
  { kind: 'ss', levels: 3, pageLg2: 12 }, { kind: 'ss', levels: 4, pageLg2: 12 }, { kind: 'ss', levels: 5, pageLg2: 12 },
  { kind: 'fs', levels: 4, pageLg2: 12 }, { kind: 'fs', levels: 5, pageLg2: 12 }, { kind: 'nested', levels: 4, pageLg2: 12 },
  { kind: 'ss', levels: 3, pageLg2: 21 }, { kind: 'ss', levels: 4, pageLg2: 21 }, { kind: 'ss', levels: 5, pageLg2: 21 },
  { kind: 'fs', levels: 4, pageLg2: 21 }, { kind: 'fs', levels: 5, pageLg2: 21 }, { kind: 'nested', levels: 4, pageLg2: 21 },
];

/**
 * IOTLB miss + walk: a streaming cycle over 4x the IOTLB capacity, so every
 * request misses the IOTLB while consecutive pages share their upper-level
 * entries (the paging-structure caches serve those, in every implementation).
 */
export async function missWorkloads(ctx: SuiteContext, setups = MISS_SETUPS): Promise<WorkloadResult[]> {
  const pages = capacity(ctx.geometry) * 4;
  const results: WorkloadResult[] = [];
  const all = allTargets(ctx.targets);
  for (const s of setups) {
    const setup = buildSetup({ ...s, pages });
    await loadAll(all, setup, ctx.geometry, requestsFor(setup, cycleOrder(pages, Math.max(ctx.sizes.requests, pages))));
    results.push(await measureWorkload(ctx, `miss-walk-${setup.id}/batch`, 'miss', setup, 'batch', `IOTLB miss + walk, ${s.kind} ${s.levels}-level, ${s.pageLg2 === 12 ? '4 KiB' : '2 MiB'} pages, streaming over ${pages} pages`, Math.max(1, ctx.sizes.passes >> 2)));
  }
  return results;
}

/** DMA copy through the batch API: 4 KiB reads of IOTLB-resident pages. */
export async function copyWorkload(ctx: SuiteContext): Promise<WorkloadResult> {
  const set = Math.max(16, capacity(ctx.geometry) >> 2);
  const setup = buildSetup({ kind: 'ss', levels: 4, pageLg2: 12, pages: set });
  await loadAll(allTargets(ctx.targets), setup, ctx.geometry, requestsFor(setup, uniformOrder(set, Math.max(256, ctx.sizes.requests >> 3), ctx.seed), 4096));
  return measureWorkload(ctx, 'dma-copy-4k/batch', 'copy', setup, 'copy', `DMA copy (guest RAM -> device buffer) of 4 KiB per request through the batch API, ${set} resident pages`);
}

/** Working-set sweep: uniform random over sets from 1/4 to 100x the IOTLB capacity, with the QEMU-policy model. */
export async function sweep(ctx: SuiteContext): Promise<SweepPoint[]> {
  const cap = capacity(ctx.geometry);
  const points: SweepPoint[] = [];
  for (const f of ctx.sizes.sweepFactors) {
    const pages = Math.max(16, Math.round(cap * f));
    const setup = buildSetup({ kind: 'ss', levels: 4, pageLg2: 12, pages });
    const all = [...allTargets(ctx.targets), ctx.targets.qemu];
    await loadAll(all, setup, ctx.geometry, requestsFor(setup, uniformOrder(pages, ctx.sizes.requests, ctx.seed + pages)));
    const list = contenders(ctx.targets, 'batch');
    list.push({ target: ctx.targets.qemu, mode: 'percall' });
    const m = await measureInterleaved(list, SLOT, ctx.sizes.rounds, Math.max(1, ctx.sizes.passes >> 2), ctx.targets.native ? 'native' : undefined);
    points.push({ setPages: pages, capacityFactor: pages / cap, results: statsOf(m), ratios: m.ratios });
    ctx.step(`sweep ${pages} pages`);
  }
  return points;
}

/** Invalidation cost (median ns of one call) as the IOTLB fills, per scope. */
export async function invalidationCost(ctx: SuiteContext): Promise<InvPoint[]> {
  const cap = capacity(ctx.geometry);
  const setup = buildSetup({ kind: 'ss', levels: 4, pageLg2: 12, pages: cap });
  const targets = allTargets(ctx.targets);
  await loadAll(targets, setup, ctx.geometry, requestsFor(setup, cycleOrder(cap, cap)));
  const points: InvPoint[] = [];
  const fills = [cap >> 6, cap >> 4, cap >> 2, cap].filter((f, i, a) => f > 0 && a.indexOf(f) === i);
  for (const kind of ['page', 'pasid', 'domain', 'global'] as const) {
    for (const fill of fills) {
      const results: Record<string, number> = {};
      for (const t of targets) {
        await t.reset();
        results[t.name] = await t.invCost(kind, SLOT, fill, ctx.sizes.invReps, setup.did, setup.pasid, setup.iovaBase);
      }
      points.push({ kind, cachedEntries: fill, nsPerCall: results });
    }
    ctx.step(`invalidation ${kind}`);
  }
  return points;
}

/** Context counts of the multi-context workload (issue 17: 1, 64, 1024 domains / PASIDs). */
export const CONTEXT_COUNTS: readonly number[] = [1, 64, 1024];
const CONTEXT_KINDS: readonly ContextKind[] = ['domains', 'pasids'];

/**
 * Many contexts on the same IOVAs: for each kind (domains, PASIDs) and each
 * count, a working set of a quarter of the IOTLB split over the contexts
 * (at least one page each: 1024 contexts fill the whole IOTLB), requests in
 * uniform random order, batch API.
 */
export async function multiContext(ctx: SuiteContext): Promise<MultiContextPoint[]> {
  const quarter = Math.max(16, capacity(ctx.geometry) >> 2);
  const points: MultiContextPoint[] = [];
  for (const kind of CONTEXT_KINDS) {
    for (const contexts of CONTEXT_COUNTS) {
      const perContext = Math.max(1, Math.floor(quarter / contexts));
      const setup = buildMultiSetup(kind, contexts, perContext);
      const order = uniformOrder(contexts * perContext, ctx.sizes.requests, ctx.seed + contexts);
      await loadAll(allTargets(ctx.targets), setup, ctx.geometry, setup.requests(order));
      const m = await measureInterleaved(contenders(ctx.targets, 'batch'), SLOT, ctx.sizes.rounds, Math.max(1, ctx.sizes.passes >> 1), ctx.targets.native ? 'native' : undefined);
      points.push({ kind, contexts, pagesPerContext: perContext, results: statsOf(m), ratios: m.ratios });
      ctx.step(`multi-context ${setup.id}`);
    }
  }
  return points;
}

/** Targets that run every workload (the QEMU model joins only the sweep). */
export function allTargets(t: SuiteTargets): Target[] {
  return [t.core, t.native, t.nativePlain, t.js].filter((x): x is Target => x !== undefined);
}

/** Number of `step` calls the workloads of a full suite make (for the progress bar; probes add one each). */
export function stepCount(sizes: Sizes): number {
  return 4 + MISS_SETUPS.length + 1 + sizes.sweepFactors.length + 4 + CONTEXT_KINDS.length * CONTEXT_COUNTS.length;
}
