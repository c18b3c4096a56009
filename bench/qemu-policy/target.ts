/**
 * The QEMU-policy model as a bench target (per-call and batch modes run the
 * same loop; no DMA copy, no selective invalidation). The second-stage table
 * is found the way QEMU finds it once per device: SM root entry -> context
 * entry -> PASID directory -> RID_PASID's PASID entry (§9.2, §9.4-§9.6).
 */
import type { InvKind, LoadSpec, RunMode, RunResult, Target } from '../harness/target.js';
import { medianCallNs, nowNs } from '../harness/target.js';
import { QemuPolicyModel } from './model.js';


function read64(view: DataView, gpa: number): number {
  return view.getUint32(gpa, true) + view.getUint32(gpa + 4, true) * 4294967296;
}

/** Second-stage root and levels that `sid` uses for requests without PASID; throws if the structures are absent. */
export function resolveSecondStage(image: Uint8Array, rootTable: number, sid: number): { root: number; levels: number } {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const devfn = sid & 0xff;
  const rootEntry = read64(view, rootTable + (sid >>> 8) * 16 + (devfn < 0x80 ? 0 : 8));
  if (!(rootEntry % 2)) throw new Error(`sid ${sid}: root entry not present`);
  const ctx = (rootEntry % 2 ** 52) - (rootEntry % 4096) + (devfn & 0x7f) * 32;
  const dir = read64(view, ctx) - (read64(view, ctx) % 4096);
  const ridPasid = read64(view, ctx + 8) % 2 ** 20;
  const dirEntry = read64(view, dir + Math.floor(ridPasid / 64) * 8);
  const q0 = read64(view, dirEntry - (dirEntry % 4096) + (ridPasid % 64) * 64);
  if (Math.floor(q0 / 64) % 8 !== 2) throw new Error(`sid ${sid}: the QEMU-policy model covers second-stage (PGTT=010) only`);
  return { root: (q0 % 2 ** 52) - (q0 % 4096), levels: (Math.floor(q0 / 4) % 8) + 2 };
}

/** The QEMU-policy target. */
export class QemuTarget implements Target {
  readonly name = 'qemu';
  readonly modes: readonly RunMode[] = ['percall', 'batch'];
  private model: QemuPolicyModel | undefined;
  private readonly slots: Uint32Array[] = [];

  async load(spec: LoadSpec): Promise<void> {
    const ram = new Uint8Array(spec.ramSize);
    ram.set(spec.image);
    this.slots.length = 0;
    this.pending = { ram, spec };
    this.model = undefined;
  }

  private pending: { ram: Uint8Array; spec: LoadSpec } | undefined;

  private modelFor(sid: number): QemuPolicyModel {
    if (!this.model) {
      if (!this.pending) throw new Error('qemu model: load() first');
      const ss = resolveSecondStage(this.pending.ram, this.pending.spec.rootTable, sid);
      this.model = new QemuPolicyModel(this.pending.ram, ss.root, ss.levels);
    }
    return this.model;
  }

  async setRequests(slot: number, requests: Uint32Array): Promise<void> {
    this.slots[slot] = requests;
  }

  async run(slot: number, mode: RunMode, passes: number): Promise<RunResult> {
    if (!this.modes.includes(mode)) throw new Error(`mode ${mode} is not modelled for QEMU`);
    const w = this.slot(slot), n = w.length / 8, m = this.modelFor(w[0]!);
    const before = { ...m.stats };
    let ok = 0;
    const t0 = nowNs();
    for (let p = 0; p < passes; p++) {
      for (let i = 0; i < n; i++) ok += m.translate(w[i * 8 + 3]! * 4294967296 + w[i * 8 + 2]!, w[i * 8 + 4]!) === 0 ? 1 : 0;
    }
    const ns = nowNs() - t0;
    return { ns, n: n * passes, okCount: ok, iotlbHits: m.stats.hits - before.hits, iotlbMisses: m.stats.misses - before.misses, pteReads: m.stats.pteReads - before.pteReads };
  }

  async invCost(kind: InvKind, slot: number, fill: number, reps: number): Promise<number> {
    if (kind !== 'global') throw new Error(`invalidation ${kind} is not modelled for QEMU`);
    const w = this.slot(slot), m = this.modelFor(w[0]!), count = Math.min(fill, w.length / 8);
    const refill = (): void => {
      for (let i = 0; i < count; i++) m.translate(w[i * 8 + 3]! * 4294967296 + w[i * 8 + 2]!, w[i * 8 + 4]!);
    };
    return medianCallNs(reps, refill, () => m.flush());
  }

  async reset(): Promise<void> {
    this.model?.flush();
  }

  async close(): Promise<void> {
    this.model = undefined;
    this.pending = undefined;
  }

  private slot(slot: number): Uint32Array {
    const w = this.slots[slot];
    if (!w) throw new Error(`slot ${slot} has no requests`);
    return w;
  }
}
