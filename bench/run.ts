/**
 * Runs the whole bench: builds the native baseline, loads the wasm core,
 * runs every workload interleaved across the targets, evaluates the issue's
 * targets. `runBench` is what `viommu bench` and the smoke test call.
 */
import { arch, cpus, loadavg, platform } from 'node:os';
import { JsTarget } from './js-baseline/target.js';
import { buildNative, NativeTarget } from './native/driver.js';
import { QemuTarget } from './qemu-policy/target.js';
import type { Target } from './harness/target.js';
import { evaluateTargets } from './report/checks.js';
import { BENCH_SCHEMA, type BenchResult, type QiResult } from './report/schema.js';
import { copyWorkload, hitWorkloads, invalidationCost, missWorkloads, stepCount, sweep, type Sizes, type SuiteContext, type SuiteTargets } from './suite.js';
import { measureQueuedInvalidation } from './embedding-qi.js';
import { embeddingTargets, measureEmbedding } from './embedding.js';

/** Options of a run. */
export interface BenchOptions {
  /** Smaller sizes (a few seconds). */
  quick?: boolean;
  /** Overrides of the iteration sizes (the smoke test uses tiny ones). */
  sizes?: Partial<Sizes>;
  seed?: number;
  /** Skip the native baseline even when a compiler exists. */
  noNative?: boolean;
  /** Progress: steps done, total steps, label of the finished step. */
  onProgress?: (done: number, total: number, label: string) => void;
}

/** Iteration sizes of a full run and of --quick. */
export const FULL_SIZES: Sizes = { rounds: 15, passes: 12, requests: 32768, invReps: 201, qiDescriptors: 500_000, sweepFactors: [0.25, 0.5, 1, 2, 4, 10, 30, 100] };
/** --quick: a few seconds. */
export const QUICK_SIZES: Sizes = { rounds: 5, passes: 4, requests: 4096, invReps: 31, qiDescriptors: 50_000, sweepFactors: [0.25, 1, 4, 30, 100] };

/** Geometry used when the core is missing (the baselines still run). */
const FALLBACK_GEOMETRY = { iotlbSetsLg2: 8, iotlbWays: 8 };

async function loadCoreTarget(): Promise<{ target?: Target; geometry: typeof FALLBACK_GEOMETRY; missing?: string }> {
  try {
    const mod = await import('./harness/core-target.js');
    return { target: new mod.CoreTarget(), geometry: mod.coreGeometry() };
  } catch (err) {
    return { geometry: FALLBACK_GEOMETRY, missing: err instanceof Error ? err.message : String(err) };
  }
}

/** Runs every workload and returns the result (nothing is written). */
export async function runBench(opts: BenchOptions = {}): Promise<BenchResult> {
  const sizes: Sizes = { ...(opts.quick ? QUICK_SIZES : FULL_SIZES), ...opts.sizes };
  const loadAtStart = loadavg()[0]!;
  const core = await loadCoreTarget();
  const build = opts.noNative ? ({ ok: false, reason: 'disabled (--no-native)' } as const) : buildNative();
  const targets: SuiteTargets = { core: core.target, native: build.ok ? new NativeTarget(build) : undefined, js: new JsTarget(), qemu: new QemuTarget() };
  const geometry = core.geometry;
  const total = stepCount(sizes) + 1;
  let done = 0;
  const ctx: SuiteContext = { targets, sizes, geometry, seed: opts.seed ?? 0x5eed, step: (label) => opts.onProgress?.(++done, total, label) };
  try {
    const workloads = [...(await hitWorkloads(ctx)), ...(await missWorkloads(ctx)), await copyWorkload(ctx)];
    const sweepPoints = await sweep(ctx);
    const invalidation = await invalidationCost(ctx);
    const qi: QiResult = await measureQueuedInvalidation(sizes.qiDescriptors).catch((err: unknown) => ({ missing: err instanceof Error ? err.message : String(err) }));
    ctx.step('queued invalidation');
    // Hook for the embedding suite (bench/embedding.ts) until the suite has a registration point.
    const embedding = await measureEmbedding({ rounds: sizes.rounds, calls: sizes.requests * 4 }).catch((err: unknown) => ({ missing: err instanceof Error ? err.message : String(err) }));
    const numbers = { workloads, sweep: sweepPoints, invalidation };
    return {
      schema: BENCH_SCHEMA,
      meta: {
        date: new Date().toISOString(), node: process.versions.node, platform: `${platform()}-${arch()}`, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAverage: [loadAtStart, loadavg()[0]!], quick: !!opts.quick,
        sizes: { rounds: sizes.rounds, passes: sizes.passes, requests: sizes.requests, invReps: sizes.invReps }, geometry,
        native: build.ok ? build.compiler : `skipped: ${build.reason}`, ...(core.missing ? { coreMissing: core.missing } : {}),
      },
      ...numbers,
      qi,
      embedding,
      targets: [...evaluateTargets(numbers), ...embeddingTargets(embedding, qi)],
    };
  } finally {
    for (const t of [targets.core, targets.native, targets.js, targets.qemu]) await t?.close();
  }
}
