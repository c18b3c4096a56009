/**
 * The wasm core as a bench target. Setup goes through the host's `Core`
 * wrapper; the timed loops call the raw exports, as an embedder's hot path
 * would (docs/ABI.md): `translate` + the out-buffer per request, or the
 * batch ring + one `translateBatch` call per ring-full. The batch loop
 * includes copying requests into the ring (results overwrite them).
 *
 * The module is compiled once (runBench has V8 compile wasm with its
 * optimizing tier from the start: the steady state a long-running embedder
 * reaches after tier-up, which a busy machine would otherwise delay into the
 * timed rounds); each load instantiates it afresh.
 */
import type { Core, CoreExports } from '../../host/src/core/core.js';
import { readFileSync } from 'node:fs';
import { wasmPath } from '../../host/src/core/load-node.js';
import { loadCoreFromSync } from '../../host/src/core/load.js';
import { GuestMemory } from '../../host/src/core/guest-memory.js';
import * as K from '../../host/src/core/constants.js';
import type { InvKind, LoadSpec, RunMode, RunResult, Target } from './target.js';
import { medianCallNs, nowNs } from './target.js';

/** Largest DMA length a copy request may carry (one buffer shared by all requests). */
const COPY_BUFFER_BYTES = 1 << 16;

/** The capability set the bench enables: scalable mode, all three translation types, 3/4/5 levels, 2 MiB/1 GiB pages. */
function configure(core: Core): void {
  const on: Array<[number, number]> = [
    [K.CFG_ECAP_SMTS, 1], [K.CFG_ECAP_SSTS, 1], [K.CFG_ECAP_FSTS, 1], [K.CFG_ECAP_NEST, 1], [K.CFG_ECAP_PASID, 1],
    [K.CFG_PASID_BITS, 20], [K.CFG_SAGAW, 0b1110], [K.CFG_MGAW, 57], [K.CFG_HAW, 48], [K.CFG_SSLPS, 0b11], [K.CFG_FS5LP, 1], [K.CFG_FS1GP, 1],
  ];
  for (const [key, value] of on) core.setConfig(key, value);
}

let compiled: WebAssembly.Module | undefined;

/** A fresh core from the module compiled once. */
function freshCore(): Core {
  compiled ??= new WebAssembly.Module(readFileSync(wasmPath()));
  return loadCoreFromSync(compiled);
}

/** Default IOTLB geometry of a fresh core (what the baselines copy). */
export function coreGeometry(): { iotlbSetsLg2: number; iotlbWays: number } {
  const core = freshCore();
  return { iotlbSetsLg2: core.getConfig(K.CFG_IOTLB_SETS_LG2), iotlbWays: core.getConfig(K.CFG_IOTLB_WAYS) };
}

/** The wasm core target. */
export class CoreTarget implements Target {
  readonly name = 'core';
  readonly modes: readonly RunMode[] = ['percall', 'batch', 'copy'];
  private core: Core | undefined;
  private raw: CoreExports | undefined;
  private readonly slots: Uint32Array[] = [];
  private bufOff = 0;
  /** Keeps the per-call loop's reads of the out-buffer observable. */
  sink = 0;

  async load(spec: LoadSpec): Promise<void> {
    const core = freshCore();
    configure(core);
    core.setConfig(K.CFG_IOTLB_SETS_LG2, spec.geometry.iotlbSetsLg2);
    core.setConfig(K.CFG_IOTLB_WAYS, spec.geometry.iotlbWays);
    core.addRam(0, spec.ramSize);
    new GuestMemory(core).write(0n, spec.image);
    core.setRootTable(BigInt(spec.rootTable), 1);
    core.setTranslationEnabled(true);
    core.invalidateAll();
    this.core = core;
    this.raw = core.unsafeExports;
    this.bufOff = core.bufAlloc(COPY_BUFFER_BYTES);
    this.slots.length = 0;
  }

  async setRequests(slot: number, requests: Uint32Array): Promise<void> {
    const copy = requests.slice();
    for (let i = 0; i < copy.length; i += 8) {
      if (copy[i + 5]! > COPY_BUFFER_BYTES) throw new Error(`request ${i / 8}: len ${copy[i + 5]} exceeds the ${COPY_BUFFER_BYTES}-byte bench buffer`);
      copy[i + 6] = this.bufOff;
    }
    this.slots[slot] = copy;
  }

  private exportsOrThrow(): CoreExports {
    if (!this.raw) throw new Error('core target: load() first');
    return this.raw;
  }

  private stats(): Float64Array {
    const raw = this.exportsOrThrow();
    return new Float64Array(raw.memory.buffer, raw.statsPtr(), K.STAT_COUNT);
  }

  async run(slot: number, mode: RunMode, passes: number): Promise<RunResult> {
    const raw = this.exportsOrThrow(), w = this.slot(slot), n = w.length / 8;
    this.core!.statsReset();
    let ok = 0;
    const t0 = nowNs();
    for (let p = 0; p < passes; p++) ok += mode === 'percall' ? this.perCallPass(raw, w, n) : this.batchPass(raw, w, n, mode === 'copy' ? 1 : 0);
    const ns = nowNs() - t0;
    const s = this.stats();
    return { ns, n: n * passes, okCount: ok, iotlbHits: s[K.STAT_IOTLB_HITS]!, iotlbMisses: s[K.STAT_IOTLB_MISSES]!, pteReads: s[K.STAT_PTE_READS]! };
  }

  private perCallPass(raw: CoreExports, w: Uint32Array, n: number): number {
    const translate = raw.translate;
    const out = new Uint32Array(raw.memory.buffer, raw.outPtr(), K.OUT_WORDS);
    let ok = 0, sink = 0;
    for (let i = 0; i < n; i++) {
      const r = i * 8;
      if (translate(w[r]!, w[r + 1]!, w[r + 3]!, w[r + 2]!, w[r + 4]!) === 0) {
        ok++;
        sink ^= out[K.OUT_ADDR_LO]!;
      }
    }
    this.sink ^= sink;
    return ok;
  }

  private batchPass(raw: CoreExports, w: Uint32Array, n: number, copy: number): number {
    const cap = raw.batchCapacity();
    const ring = new Uint32Array(raw.memory.buffer, raw.batchPtr(), cap * 8);
    let ok = 0;
    for (let start = 0; start < n; start += cap) {
      const count = Math.min(cap, n - start);
      ring.set(w.subarray(start * 8, (start + count) * 8));
      ok += raw.translateBatch(count, copy);
    }
    return ok;
  }

  async invCost(kind: InvKind, slot: number, fill: number, reps: number, did: number, pasid: number, addr: number): Promise<number> {
    const raw = this.exportsOrThrow(), w = this.slot(slot), count = Math.min(fill, w.length / 8);
    const hi = Math.floor(addr / 4294967296), lo = addr >>> 0;
    const refill = (): void => {
      for (let i = 0; i < count; i++) raw.translate(w[i * 8]!, w[i * 8 + 1]!, w[i * 8 + 3]!, w[i * 8 + 2]!, w[i * 8 + 4]!);
    };
    const inv = { page: () => raw.invIotlbPage(did, hi, lo, 0, 0), pasid: () => raw.invPasidIotlb(did, pasid), domain: () => raw.invIotlbDomain(did), global: () => raw.invIotlbGlobal() }[kind];
    return medianCallNs(reps, refill, inv);
  }

  async reset(): Promise<void> {
    this.core?.invalidateAll();
  }

  async close(): Promise<void> {
    this.core = undefined;
    this.raw = undefined;
  }

  private slot(slot: number): Uint32Array {
    const w = this.slots[slot];
    if (!w) throw new Error(`slot ${slot} has no requests`);
    return w;
  }
}
