/**
 * The JSON result of a bench run (`viommu bench --json`), for CI and for
 * comparing runs. Times are ns; ratios are (target ns) / (native C ns)
 * measured interleaved in the same run.
 */

import type { EmbeddingResult } from '../embedding.js';

/** Schema id written into every result. */
export const BENCH_SCHEMA = 'wasm-viommu/bench/1';

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

/** Queued-invalidation throughput through MMIO, or why it is missing. */
export type QiResult = { descriptorsPerSecond: number; descriptors: number; note: string } | { missing: string };

/** One of the targets, checked by the bench itself. */
export interface TargetCheck {
  id: string;
  description: string;
  measured: number | null;
  limit: number;
  /** 'max': measured must be <= limit; 'min': >= limit. */
  sense: 'max' | 'min';
  pass: boolean | null;
  note?: string;
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
    /** First line of `cc --version`, or why there is no native baseline. */
    native: string;
    /** Set when the wasm core could not be loaded. */
    coreMissing?: string;
  };
  workloads: WorkloadResult[];
  sweep: SweepPoint[];
  invalidation: InvPoint[];
  qi: QiResult;
  /** The embedding API's costs (bench/embedding.ts). */
  embedding?: EmbeddingResult | { missing: string };
  targets: TargetCheck[];
}
