/**
 * Bench probes: measurements of the embedding layer (guest RAM reads, MMIO,
 * DMA, queued invalidation, IOAS map, ...) that `viommu bench` runs after
 * the translation workloads and reports as targets in `--json`
 * (`targets[]`, each with `id`, `measured`, `limit`, `pass`).
 *
 * Adding one: write `bench/probes/<name>.ts` that calls `registerProbe`
 * (one target row) or `registerRows` (a suite with several rows) at module
 * level, and add one line `import './<name>.js';` to bench/probes/index.ts.
 */
import { nowNs } from '../harness/target.js';
import type { TargetCheck } from '../report/schema.js';

/** What a probe may use from the run. */
export interface ProbeContext {
  /** --quick: a few seconds in all; probes scale their iteration counts down. */
  readonly quick: boolean;
  /** Rounds and requests per list of the run (the workloads' sizes). */
  readonly rounds: number;
  readonly requests: number;
}

/** A probe's numbers. */
export interface ProbeMeasurement {
  /** The number the limit applies to (null when it could not be measured: say why in `note`). */
  measured: number | null;
  note?: string;
  /** Related numbers reported beside it (e.g. the BigInt API's cost), by name. */
  beside?: Record<string, number>;
  /** Scaling points (e.g. cost at 1, 64, 1024 devices), by label. */
  points?: Record<string, number>;
}

/** One probe: a target id and how to measure it. */
export interface BenchProbe {
  /** Target id in the JSON; says what it measures (`ram-u64`, `mmio-read`, ...). */
  readonly id: string;
  /** One line for the report, with the limit (e.g. `guest RAM u64 read through GuestMemory.getUint64 <= 20 ns`). */
  readonly description: string;
  readonly limit: number;
  /** 'max': measured must be <= limit; 'min': >= limit. */
  readonly sense: 'max' | 'min';
  /** Unit of `measured` and `limit` (`ns`, `M/s`, ...). */
  readonly unit: string;
  measure(ctx: ProbeContext): Promise<ProbeMeasurement>;
}

/** What a suite of several rows returns. */
export interface RowsMeasurement {
  /** Its target rows (ids naming what each measures). */
  rows: TargetCheck[];
  /** Lines for the report (below the targets). */
  lines?: string[];
  /** Its raw numbers, kept in the JSON under `probes[id]`. */
  raw?: unknown;
}

/** A suite of several target rows measured together. */
export interface BenchRows {
  /** Name of the suite (the key of its raw numbers). */
  readonly id: string;
  measure(ctx: ProbeContext): Promise<RowsMeasurement>;
}

/** A registered measurement: one row, or a suite of rows. */
export type Registered = { readonly kind: 'probe'; readonly probe: BenchProbe } | { readonly kind: 'rows'; readonly rows: BenchRows };

const registry: Registered[] = [];

function claim(id: string): void {
  const taken = registry.some((r) => (r.kind === 'probe' ? r.probe.id : r.rows.id) === id);
  if (taken) throw new Error(`probe id ${id} is registered twice`);
}

/** Adds a one-row probe (in import order); a second registration with the same id is an Error. */
export function registerProbe(probe: BenchProbe): void {
  claim(probe.id);
  registry.push({ kind: 'probe', probe });
}

/** Adds a suite of rows (in import order); a second registration with the same id is an Error. */
export function registerRows(rows: BenchRows): void {
  claim(rows.id);
  registry.push({ kind: 'rows', rows });
}

/** Everything registered, in registration order. */
export function registeredProbes(): readonly Registered[] {
  return registry;
}

/**
 * Median over `rounds` of ns per call of `fn(i)` run `iterations` times
 * (after one untimed round, so the call site is optimised). `fn` returns a
 * number that is folded into a sink, so the calls cannot be dropped.
 */
export function medianLoopNs(fn: (i: number) => number, iterations: number, rounds = 7): number {
  let sink = 0;
  const per: number[] = [];
  for (let r = -1; r < rounds; r++) {
    const t0 = nowNs();
    for (let i = 0; i < iterations; i++) sink ^= fn(i);
    if (r >= 0) per.push((nowNs() - t0) / iterations);
  }
  if (sink === 0.5) per.push(0); // never: keeps `sink` observable
  per.sort((a, b) => a - b);
  return per[per.length >> 1]!;
}
