/**
 * Runs the whole bench: builds the native baselines, loads the wasm core,
 * runs every workload interleaved across the targets, then every registered
 * probe (bench/probes/), and evaluates the issues' targets. `runBench` is
 * what `viommu bench` and the smoke test call.
 */
import { arch, cpus, loadavg, platform } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { JsTarget } from './js-baseline/target.js';
import { buildNative, NativeTarget } from './native/driver.js';
import { QemuTarget } from './qemu-policy/target.js';
import type { Target } from './harness/target.js';
import { evaluateTargets } from './report/checks.js';
import { BENCH_SCHEMA, type BenchResult, type TargetCheck } from './report/schema.js';
import { copyWorkload, hitWorkloads, invalidationCost, missWorkloads, multiContext, stepCount, sweep, type Sizes, type SuiteContext, type SuiteTargets } from './suite.js';
import { registeredProbes, type BenchProbe, type ProbeContext } from './probes/probe.js';
import './probes/index.js';

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
export const FULL_SIZES: Sizes = { rounds: 15, passes: 12, requests: 32768, invReps: 201, sweepFactors: [0.25, 0.5, 1, 2, 4, 10, 30, 100] };
/** --quick: a few seconds. */
export const QUICK_SIZES: Sizes = { rounds: 5, passes: 4, requests: 4096, invReps: 31, sweepFactors: [0.25, 1, 4, 30, 100] };

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

/** A row for a probe that threw (it could not be measured). */
function notMeasured(err: unknown): { measured: null; note: string } {
  return { measured: null, note: `not measured: ${err instanceof Error ? err.message : String(err)}` };
}

/** Runs one probe into a target row; a probe that throws is reported as not measured. */
async function runProbe(probe: BenchProbe, ctx: ProbeContext): Promise<TargetCheck> {
  const m = await probe.measure(ctx).catch(notMeasured);
  const pass = m.measured === null ? null : probe.sense === 'max' ? m.measured <= probe.limit : m.measured >= probe.limit;
  return {
    id: probe.id, description: probe.description, measured: m.measured, limit: probe.limit, sense: probe.sense, pass, unit: probe.unit,
    ...('note' in m && m.note ? { note: m.note } : {}), ...('beside' in m && m.beside ? { beside: m.beside } : {}), ...('points' in m && m.points ? { points: m.points } : {}),
  };
}

/** Runs every registered probe and suite: target rows, raw numbers, report lines. */
async function runProbes(ctx: ProbeContext, step: (label: string) => void): Promise<{ rows: TargetCheck[]; probes: BenchResult['probes'] }> {
  const rows: TargetCheck[] = [];
  const probes: BenchResult['probes'] = { raw: {}, lines: [] };
  for (const r of registeredProbes()) {
    if (r.kind === 'probe') {
      rows.push(await runProbe(r.probe, ctx));
      step(r.probe.id);
      continue;
    }
    const m = await r.rows.measure(ctx).catch((err: unknown) => ({ rows: [], lines: [`${r.rows.id}: ${notMeasured(err).note}`], raw: undefined }));
    rows.push(...m.rows);
    probes.lines.push(...(m.lines ?? []));
    if (m.raw !== undefined) probes.raw[r.rows.id] = m.raw;
    step(r.rows.id);
  }
  return { rows, probes };
}

/**
 * Runs every workload and probe and returns the result (nothing is written).
 * Wasm compiled from here on uses V8's optimizing tier from the start
 * (`--no-liftoff`): the bench measures hot code as it runs after tier-up,
 * which a busy machine would otherwise delay into the timed rounds.
 */
export async function runBench(opts: BenchOptions = {}): Promise<BenchResult> {
  setFlagsFromString('--no-liftoff');
  const sizes: Sizes = { ...(opts.quick ? QUICK_SIZES : FULL_SIZES), ...opts.sizes };
  const loadAtStart = loadavg()[0]!;
  const core = await loadCoreTarget();
  const build = opts.noNative ? ({ ok: false, reason: 'disabled (--no-native)' } as const) : buildNative();
  const targets: SuiteTargets = {
    core: core.target, native: build.ok ? new NativeTarget(build, 'lean') : undefined, nativePlain: build.ok ? new NativeTarget(build, 'plain') : undefined,
    js: new JsTarget(), qemu: new QemuTarget(),
  };
  const geometry = core.geometry;
  const total = stepCount(sizes) + registeredProbes().length;
  let done = 0;
  const ctx: SuiteContext = { targets, sizes, geometry, seed: opts.seed ?? 0x5eed, step: (label) => opts.onProgress?.(++done, total, label) };
  try {
    const workloads = [...(await hitWorkloads(ctx)), ...(await missWorkloads(ctx)), await copyWorkload(ctx)];
    const sweepPoints = await sweep(ctx);
    const invalidation = await invalidationCost(ctx);
    const contexts = await multiContext(ctx);
    const numbers = { workloads, sweep: sweepPoints, invalidation, multiContext: contexts };
    const measured = await runProbes({ quick: !!opts.quick, rounds: sizes.rounds, requests: sizes.requests }, ctx.step);
    return {
      schema: BENCH_SCHEMA,
      meta: {
        date: new Date().toISOString(), node: process.versions.node, platform: `${platform()}-${arch()}`, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAverage: [loadAtStart, loadavg()[0]!], quick: !!opts.quick,
        sizes: { rounds: sizes.rounds, passes: sizes.passes, requests: sizes.requests, invReps: sizes.invReps }, geometry,
        native: build.ok ? build.compiler : `skipped: ${build.reason}`, ...(core.missing ? { coreMissing: core.missing } : {}),
      },
      ...numbers,
      probes: measured.probes,
      targets: [...evaluateTargets(numbers), ...measured.rows],
    };
  } finally {
    for (const t of [targets.core, targets.native, targets.nativePlain, targets.js, targets.qemu]) await t?.close();
  }
}
