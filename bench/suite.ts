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
import type { Target, LoadSpec, RunMode, RunResult } from './harness/target.js';
import { median } from './harness/target.js';
import { MULTI_CONTEXT_AT } from './report/checks.js';
import { measureInterleaved, schedulerPause, type Contender, type Interleaved } from './harness/interleave.js';
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
 * uniform random order, batch API. One context and MULTI_CONTEXT_AT are
 * measured on one image, back to back in every round (pairedContexts): the
 * growth from one to many is then a per-round ratio, as robust to a busy
 * machine as the ratios to the C baseline.
 */
export async function multiContext(ctx: SuiteContext): Promise<MultiContextPoint[]> {
  const quarter = Math.max(16, capacity(ctx.geometry) >> 2);
  const points: MultiContextPoint[] = [];
  for (const kind of CONTEXT_KINDS) {
    points.push(...(await pairedContexts(ctx, kind, quarter)));
    for (const contexts of CONTEXT_COUNTS.filter((c) => c !== 1 && c !== MULTI_CONTEXT_AT)) {
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

/**
 * The points of one context (`quarter` pages) and of MULTI_CONTEXT_AT
 * contexts (quarter / MULTI_CONTEXT_AT pages each) on one image: in every
 * round each target (in rotated order) runs both lists back to back, each
 * from an empty cache (so every target's hit and PTE-read counts stay equal;
 * the refill is a few hundred misses in a run). The second point carries
 * `growth`: per target, the median over rounds of its ns per request there
 * / with one context.
 */
async function pairedContexts(ctx: SuiteContext, kind: ContextKind, quarter: number): Promise<MultiContextPoint[]> {
  const perMany = Math.max(1, Math.floor(quarter / MULTI_CONTEXT_AT));
  const setup = buildMultiSetup(kind, MULTI_CONTEXT_AT, perMany, quarter);
  const lists = [
    setup.requests(uniformOrder(quarter, ctx.sizes.requests, ctx.seed + 1), quarter),
    setup.requests(uniformOrder(MULTI_CONTEXT_AT * perMany, ctx.sizes.requests, ctx.seed + MULTI_CONTEXT_AT)),
  ];
  const spec: LoadSpec = { image: setup.image.data(), ramSize: setup.ramSize, rootTable: setup.rootTable, geometry: ctx.geometry };
  for (const t of allTargets(ctx.targets)) {
    await t.load(spec);
    for (const [slot, list] of lists.entries()) await t.setRequests(slot, list);
  }
  const list = contenders(ctx.targets, 'batch');
  const passes = Math.max(1, ctx.sizes.passes >> 1);
  const perRound: number[][][] = list.map(() => lists.map(() => []));
  const last: RunResult[][] = list.map(() => []);
  // Which list runs first alternates by round (the first one after another
  // target's run finds the CPU caches cold).
  const runBoth = async (i: number, round: number): Promise<void> => {
    const c = list[i]!;
    for (const slot of round % 2 === 0 ? [0, 1] : [1, 0]) {
      await c.target.reset();
      await schedulerPause();
      const res = await c.target.run(slot, c.mode, passes);
      perRound[i]![slot]!.push(res.ns / res.n);
      last[i]![slot] = res;
    }
  };
  for (let i = 0; i < list.length; i++) await runBoth(i, 0); // warm-up
  perRound.forEach((slots) => slots.forEach((rounds) => rounds.splice(0)));
  for (let r = 0; r < ctx.sizes.rounds; r++) for (let k = 0; k < list.length; k++) await runBoth((k + r) % list.length, r);
  const labels = list.map((c) => c.label ?? c.target.name);
  const points = lists.map((_, slot): MultiContextPoint => {
    const summaries = list.map((c, i) => ({ label: labels[i]!, mode: c.mode, nsPerOp: median(perRound[i]![slot]!), roundsNsPerOp: perRound[i]![slot]!, last: last[i]![slot]! }));
    const ref = labels.indexOf('native');
    const ratios: Record<string, number> = {};
    if (ref >= 0) labels.forEach((l, i) => { if (i !== ref) ratios[l] = median(perRound[i]![slot]!.map((v, r) => v / perRound[ref]![slot]![r]!)); });
    return slot === 0
      ? { kind, contexts: 1, pagesPerContext: quarter, results: statsOf({ summaries, ratios }), ratios }
      : { kind, contexts: MULTI_CONTEXT_AT, pagesPerContext: perMany, results: statsOf({ summaries, ratios }), ratios, growth: Object.fromEntries(labels.map((l, i) => [l, median(perRound[i]![1]!.map((v, r) => v / perRound[i]![0]![r]!))])) };
  });
  ctx.step(`multi-context ${kind}-1`);
  ctx.step(`multi-context ${kind}-${MULTI_CONTEXT_AT}`);
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
