/**
 * Coverage feedback for the fuzzer, as "features" (small integers) an
 * execution reaches:
 *
 * - WASM core: the probe map of build/viommu.coverage.wasm (fuzz/coverage-
 *   transform.js). Feature = probe id * 8 + hit-count bucket (AFL buckets
 *   1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+).
 * - TypeScript host (register file, queues, fault recording, devices): V8
 *   block coverage through `node:inspector` (Profiler.takePreciseCoverage,
 *   which also resets the counters). Feature = hash of (script, block) with
 *   count > 0. Measured cost: about 1 ms per take plus a 2x slowdown of the
 *   host code while precise coverage is on (see fuzz/README.md).
 */
import { Session } from 'node:inspector';

/** Feature ids below this are the core's; ids from it up are the host's. */
export const HOST_FEATURE_BASE = 1 << 17;
/**
 * Ids from here up are VMM-backed executions' (fuzz/vmm-run.ts): the core's
 * features again, one copy per VMM mode, so an input reaching known core
 * code *on a VM* is new; counted as neither core nor host features.
 */
export const VMM_FEATURE_BASE = 1 << 18;
/** Size of the feature space (core, host, and one core-sized part per VMM mode). */
export const FEATURE_SPACE = VMM_FEATURE_BASE + 2 * HOST_FEATURE_BASE;

const BUCKET = new Uint8Array(256);
for (let n = 1; n < 256; n++) BUCKET[n] = n === 1 ? 0 : n === 2 ? 1 : n === 3 ? 2 : n < 8 ? 3 : n < 16 ? 4 : n < 32 ? 5 : n < 128 ? 6 : 7;

/** Appends the core's features of a probe map to `out`; returns the number of probes hit. */
export function coreFeatures(map: Uint8Array, out: number[]): number {
  let hit = 0;
  for (let id = 0; id < map.length; id++) {
    const n = map[id]!;
    if (n === 0) continue;
    hit++;
    out.push(((id * 8) + BUCKET[n]!) % HOST_FEATURE_BASE);
  }
  return hit;
}

/** Where `uncounted` keeps the probe map during a call (one buffer: a copy per call was an allocation each time). */
let probeScratch = new Uint8Array(0);

/**
 * `fn()` with the probe map `probes` put back as it was afterwards: the
 * oracles' own calls into the coverage core (cache dumps, the state
 * region's size) hit probes that are not the input's coverage.
 */
export function uncounted<T>(probes: Uint8Array | undefined, fn: () => T): T {
  if (!probes) return fn();
  if (probeScratch.length < probes.length) probeScratch = new Uint8Array(probes.length);
  const saved = probeScratch.subarray(0, probes.length);
  saved.set(probes);
  const r = fn();
  probes.set(saved);
  return r;
}

/**
 * The step at which an execution first reached each core feature (probe x
 * hit bucket). After every step the probe map is copied into a row of its
 * own (a ~1.4 KB memcpy, ~0.1 us); the rows are compared only when
 * `stepOf` asks, which the engine does for the new features of the few
 * executions that found any (engine.ts `trim` cuts a new corpus entry to the
 * steps its new features needed). Comparing the map with its copy after
 * every step instead cost ~3 us a step, 7% of the executor's time.
 */
export class StepCoverage {
  private map: Uint8Array = new Uint8Array(0);
  /** Bytes per row: the map's length rounded up to whole doublewords. */
  private stride = 0;
  /**
   * The map and the rows as doublewords, when the map starts on one: on a
   * shared memory (the coverage core, host/src/core/load.ts) V8 copies a
   * Uint8Array byte by byte (~370 ns for 1.4 KB) and a Float64Array by
   * doubleword (~65 ns), bits unchanged.
   */
  private map64: Float64Array | undefined;
  private rows64 = new Float64Array(0);
  /** Row 0: the map as the first step found it; row k: after the k-th `after` call. */
  private rows = new Uint8Array(0);
  /** The step index each `after` call reported (row k is after `steps[k - 1]`). */
  private steps = new Int32Array(0);
  private count = 0;

  /** Starts an execution on `map` (the probe map as the first step finds it); without one, nothing is recorded. */
  start(map: Uint8Array | undefined): void {
    this.map = map ?? new Uint8Array(0);
    this.stride = (this.map.length + 7) & ~7;
    const words = this.map.byteOffset % 8 === 0 && this.map.byteOffset + this.stride <= this.map.buffer.byteLength;
    this.map64 = words && this.stride > 0 ? new Float64Array(this.map.buffer, this.map.byteOffset, this.stride / 8) : undefined;
    this.count = 0;
    this.reserve(1);
    this.copyRow(0);
  }

  /** Records the map after step `step`. */
  after(step: number): void {
    if (this.map.length === 0) return;
    this.reserve(this.count + 2);
    this.copyRow(this.count + 1);
    this.steps[this.count++] = step;
  }

  private copyRow(row: number): void {
    if (this.map64) this.rows64.set(this.map64, row * (this.stride / 8));
    else this.rows.set(this.map, row * this.stride);
  }

  /** Room for `rows` rows of the current map's size (grown by doubling, kept across executions). */
  private reserve(rows: number): void {
    const stride = this.stride;
    if (rows <= this.steps.length && rows * stride <= this.rows.length) return;
    const cap = Math.max(rows, 2 * this.steps.length, 64);
    const grown = new Uint8Array(cap * stride);
    grown.set(this.rows.subarray(0, Math.min(this.rows.length, grown.length)));
    this.rows = grown;
    this.rows64 = new Float64Array(grown.buffer);
    const steps = new Int32Array(cap);
    steps.set(this.steps);
    this.steps = steps;
  }

  /**
   * The step that first changed core feature `f`'s probe to a count in `f`'s
   * bucket, or undefined (not reached by a step: the end-of-input check,
   * host or VMM features).
   */
  stepOf(f: number): number | undefined {
    const id = f >> 3;
    if (id >= this.map.length) return undefined;
    const bucket = f & 7;
    const rows = this.rows;
    const stride = this.stride;
    for (let k = 1, at = stride + id; k <= this.count; k++, at += stride) {
      const n = rows[at]!;
      if (n !== rows[at - stride] && BUCKET[n] === bucket) return this.steps[k - 1];
    }
    return undefined;
  }
}

function hash(s: string, a: number, b: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ a, 0x01000193);
  h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

interface CoverageRange { startOffset: number; endOffset: number; count: number }
interface ScriptCoverage { url: string; functions: { ranges: CoverageRange[] }[] }

/**
 * V8 block coverage of the scripts whose URL matches `filter` (by default
 * the host's VT-d unit, PCI and devices), one take per execution.
 */
export class HostCoverage {
  private readonly session = new Session();
  private readonly filter: RegExp;

  constructor(filter = /\/host\/src\/(vtd|pci|devices)\//) {
    this.filter = filter;
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  private post(method: string, params?: object): unknown {
    let result: unknown;
    let error: Error | null = null;
    this.session.post(method, params, (err, res) => {
      error = err;
      result = res;
    });
    if (error) throw error;
    return result;
  }

  /** Appends the features executed since the last call; returns the number of blocks hit. */
  take(out: number[]): number {
    const { result } = this.post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] };
    let hit = 0;
    for (const script of result) {
      if (!this.filter.test(script.url)) continue;
      for (const fn of script.functions) {
        for (const r of fn.ranges) {
          if (r.count === 0) continue;
          hit++;
          out.push(HOST_FEATURE_BASE + (hash(script.url, r.startOffset, r.endOffset) % HOST_FEATURE_BASE));
        }
      }
    }
    return hit;
  }

  /** Stops collecting. */
  close(): void {
    this.post('Profiler.stopPreciseCoverage');
    this.session.disconnect();
  }
}

/** The features seen so far (a bitmap over FEATURE_SPACE). */
export class FeatureSet {
  readonly seen = new Uint8Array(FEATURE_SPACE);
  private coreCount = 0;
  private hostCount = 0;

  /** Adds features; returns how many were new. */
  add(features: readonly number[]): number {
    let fresh = 0;
    for (const f of features) {
      if (this.seen[f]) continue;
      this.seen[f] = 1;
      fresh++;
      if (f < HOST_FEATURE_BASE) this.coreCount++;
      else if (f < VMM_FEATURE_BASE) this.hostCount++;
    }
    return fresh;
  }

  /** True when some feature of `features` is new (adds nothing). */
  hasNew(features: readonly number[]): boolean {
    return features.some((f) => !this.seen[f]);
  }

  /** Number of core / host features seen. */
  counts(): { core: number; host: number } {
    return { core: this.coreCount, host: this.hostCount };
  }
}

/** Distinct core probes (not buckets) a feature bitmap holds. */
export function coreProbesHit(seen: Uint8Array): number {
  let n = 0;
  for (let id = 0; id * 8 < HOST_FEATURE_BASE; id++) {
    for (let b = 0; b < 8; b++) {
      if (seen[id * 8 + b]) {
        n++;
        break;
      }
    }
  }
  return n;
}
