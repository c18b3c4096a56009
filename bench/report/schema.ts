/**
 * The JSON result of a bench run (`viommu bench --json`), for CI and for
 * comparing runs. Times are ns; ratios are (target ns) / (native C ns)
 * measured interleaved in the same run.
 */

/** Schema id written into every result. */
export const BENCH_SCHEMA = 'wasm-viommu/bench/2';

/** One target's numbers on one workload (counters from its last round). */
export interface TargetStats {
  nsPerOp: number;
  hitRate: number;
  pteReadsPerOp: number;
  /** Fraction of requests that translated without a fault (1 on every bench workload). */
  okRate: number;
}

/** One workload. */
export interface WorkloadResult {
  id: string;
  group: 'hit' | 'miss' | 'copy';
  setup: string;
  mode: string;
  description: string;
  /** Target label (core, native, js) -> numbers. */
  results: Record<string, TargetStats>;
  /** Target label -> median per-round ratio to native. */
  ratios: Record<string, number>;
}

/** One working-set size of the sweep. */
export interface SweepPoint {
  setPages: number;
  capacityFactor: number;
  results: Record<string, TargetStats>;
  ratios: Record<string, number>;
}

/** One invalidation-cost point. */
export interface InvPoint {
  kind: 'page' | 'pasid' | 'domain' | 'global';
  cachedEntries: number;
  /** Target -> median ns of one invalidation call. */
  nsPerCall: Record<string, number>;
}

/** Queued-invalidation throughput through MMIO, or why it is missing (bench/embedding-qi.ts). */
export type QiResult = { descriptorsPerSecond: number; descriptors: number; note: string } | { missing: string };

/** One point of the multi-context scaling: `contexts` domains or PASIDs touching the same pages. */
export interface MultiContextPoint {
  kind: 'domains' | 'pasids';
  contexts: number;
  pagesPerContext: number;
  results: Record<string, TargetStats>;
  ratios: Record<string, number>;
  /** Per target: median over rounds of its ns per request here / with one context, both run back to back in every round (the points measured that way). */
  growth?: Record<string, number>;
}

/** One of the issues' targets, checked by the bench itself. `id` names what it measures. */
export interface TargetCheck {
  id: string;
  description: string;
  measured: number | null;
  limit: number;
  /** 'max': measured must be <= limit; 'min': >= limit. */
  sense: 'max' | 'min';
  pass: boolean | null;
  /** Unit of measured and limit (absent: a ratio or count). */
  unit?: string;
  note?: string;
  /** Related numbers reported beside the measured one. */
  beside?: Record<string, number>;
  /** Scaling points, by label. */
  points?: Record<string, number>;
}

/** The whole result. */
export interface BenchResult {
  schema: typeof BENCH_SCHEMA;
  meta: {
    date: string;
    node: string;
    platform: string;
    cpu: string;
    cores: number;
    /** 1-minute load average at the start and at the end of the run (other processes skew absolute times). */
    loadAverage: [number, number];
    quick: boolean;
    sizes: { rounds: number; passes: number; requests: number; invReps: number };
    geometry: { iotlbSetsLg2: number; iotlbWays: number };
    /** First line of `cc --version`, or why there are no native baselines (`native` = bench/native/lean.c, the reference of every ratio; `native-plain` = bench/native/translate.c). */
    native: string;
    /** Set when the wasm core could not be loaded. */
    coreMissing?: string;
  };
  workloads: WorkloadResult[];
  sweep: SweepPoint[];
  invalidation: InvPoint[];
  multiContext: MultiContextPoint[];
  /** What the probes (bench/probes/) measured beyond their target rows: raw numbers by suite, report lines. */
  probes: { raw: Record<string, unknown>; lines: string[] };
  targets: TargetCheck[];
}
