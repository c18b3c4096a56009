/**
 * The interface every implementation under test offers the harness: the
 * wasm core, the native C baseline (a child process), the plain-JS baseline
 * and the QEMU-policy model. Each times its own loops, so the harness's own
 * overhead (pipes, promises) never enters a number.
 */

/** What a target loads: a guest image and the cache geometry to use. */
export interface LoadSpec {
  image: Uint8Array;
  ramSize: number;
  rootTable: number;
  geometry: { iotlbSetsLg2: number; iotlbWays: number };
}

/** How requests are issued: one call per request, one batch call, or batch with a DMA copy per request. */
export type RunMode = 'percall' | 'batch' | 'copy';

/** Invalidation scopes the bench times. */
export type InvKind = 'page' | 'pasid' | 'domain' | 'global';

/** Result of one timed run: total ns over `n` requests, plus counter deltas. */
export interface RunResult {
  ns: number;
  n: number;
  okCount: number;
  iotlbHits: number;
  iotlbMisses: number;
  pteReads: number;
}

/** One implementation under test. */
export interface Target {
  /** `core`, `native`, `js` or `qemu`. */
  readonly name: string;
  /** Modes this target implements (the QEMU model has no DMA copy path). */
  readonly modes: readonly RunMode[];
  /** Loads an image, sets the root table, empties every cache. */
  load(spec: LoadSpec): Promise<void>;
  /** Stores a request list (BREQ layout) in `slot` (0..7). */
  setRequests(slot: number, requests: Uint32Array): Promise<void>;
  /** Runs the list in `slot` `passes` times, timed; counters are deltas over the run. */
  run(slot: number, mode: RunMode, passes: number): Promise<RunResult>;
  /** Median ns of one invalidation of `kind` after filling the caches with the first `fill` requests of `slot`. */
  invCost(kind: InvKind, slot: number, fill: number, reps: number, did: number, pasid: number, addr: number): Promise<number>;
  /** Empties every cache (invalidate all). */
  reset(): Promise<void>;
  /** Releases resources (child process, files). */
  close(): Promise<void>;
}

/** Nanoseconds from the monotonic clock (a double: no BigInt allocation per reading). */
export const nowNs = (): number => performance.now() * 1e6;

/**
 * Median ns of one `call()` after `prepare()`, over `reps` samples. The same
 * measurement of an empty call, interleaved sample by sample (same cache and
 * JIT state after the same `prepare`), is subtracted: clock reads and the
 * closure call are not part of the answer. `call` first runs `warmup` times
 * untimed so its call site is optimised.
 */
export function medianCallNs(reps: number, prepare: () => void, call: () => void, warmup = 5000): number {
  const noop = (): void => {};
  for (let i = 0; i < warmup; i++) { call(); noop(); }
  const samples: number[] = [], empty: number[] = [];
  for (let k = 0; k < reps; k++) {
    for (const [fn, into] of [[call, samples], [noop, empty]] as const) {
      prepare();
      const t0 = nowNs();
      fn();
      into.push(nowNs() - t0);
    }
  }
  return Math.max(0, median(samples) - median(empty));
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('values must not be empty');
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
