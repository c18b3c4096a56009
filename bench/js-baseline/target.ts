/**
 * The plain-JS baseline as a bench target: the JsTranslator driven by loops
 * timed with process.hrtime. JS has no call boundary to amortise, so the
 * per-call and batch modes run the same loop.
 */
import type { InvKind, LoadSpec, RunMode, RunResult, Target } from '../harness/target.js';
import { medianCallNs, nowNs } from '../harness/target.js';
import { JS_STAT, JsTranslator } from './translator.js';

const COPY_BUFFER_BYTES = 1 << 16;


/** The JS baseline target. */
export class JsTarget implements Target {
  readonly name = 'js';
  readonly modes: readonly RunMode[] = ['percall', 'batch', 'copy'];
  private tr: JsTranslator | undefined;
  private readonly slots: Uint32Array[] = [];
  private readonly copyBuf = new Uint8Array(COPY_BUFFER_BYTES);

  private get translator(): JsTranslator {
    if (!this.tr) throw new Error('js baseline: load() first');
    return this.tr;
  }

  async load(spec: LoadSpec): Promise<void> {
    this.tr = new JsTranslator(spec.image, spec.ramSize, spec.geometry);
    this.tr.setRoot(spec.rootTable);
  }

  async setRequests(slot: number, requests: Uint32Array): Promise<void> {
    this.slots[slot] = requests;
  }

  async run(slot: number, mode: RunMode, passes: number): Promise<RunResult> {
    const tr = this.translator, w = this.slot(slot), n = w.length / 8;
    tr.stats.fill(0);
    let ok = 0;
    const t0 = nowNs();
    for (let p = 0; p < passes; p++) {
      for (let i = 0; i < n; i++) {
        const r = i * 8;
        ok += (mode === 'copy' ? this.copyOne(w, r) : tr.translate(w[r]!, w[r + 1]!, w[r + 3]!, w[r + 2]!, w[r + 4]!)) === 0 ? 1 : 0;
      }
    }
    const ns = nowNs() - t0;
    const s = tr.stats;
    return { ns, n: n * passes, okCount: ok, iotlbHits: s[JS_STAT.IOTLB_HITS]!, iotlbMisses: s[JS_STAT.IOTLB_MISSES]!, pteReads: s[JS_STAT.PTE_READS]! };
  }

  /** Translate-and-copy of one request, page by page, guest RAM -> buffer. */
  private copyOne(w: Uint32Array, r: number): number {
    const tr = this.translator, o = tr.out, len = w[r + 5]!;
    const iova = w[r + 3]! * 4294967296 + w[r + 2]!;
    let done = 0;
    while (done < len) {
      const at = iova + done;
      const fr = tr.translate(w[r]!, w[r + 1]!, Math.floor(at / 4294967296), at >>> 0, w[r + 4]!);
      if (fr) return fr;
      const addr = o.addrHi * 4294967296 + o.addrLo, size = 2 ** o.pageLg2;
      const chunk = Math.min(len - done, size - (addr % size));
      if (done + chunk > COPY_BUFFER_BYTES) return 0x04;
      this.copyBuf.set(tr.ram.subarray(addr, addr + chunk), done);
      done += chunk;
    }
    return 0;
  }

  async invCost(kind: InvKind, slot: number, fill: number, reps: number, did: number, pasid: number, addr: number): Promise<number> {
    const tr = this.translator, w = this.slot(slot), count = Math.min(fill, w.length / 8);
    const refill = (): void => {
      for (let i = 0; i < count; i++) tr.translate(w[i * 8]!, w[i * 8 + 1]!, w[i * 8 + 3]!, w[i * 8 + 2]!, w[i * 8 + 4]!);
    };
    const hi = Math.floor(addr / 4294967296), lo = addr >>> 0;
    const inv = { page: () => tr.invPage(did, hi, lo), pasid: () => tr.invPasid(did, pasid), domain: () => tr.invDomain(did), global: () => tr.invGlobal() }[kind];
    return medianCallNs(reps, refill, inv);
  }

  async reset(): Promise<void> {
    this.translator.invalidateAll();
  }

  async close(): Promise<void> {
    this.tr = undefined;
  }

  private slot(slot: number): Uint32Array {
    const w = this.slots[slot];
    if (!w) throw new Error(`slot ${slot} has no requests`);
    return w;
  }
}
