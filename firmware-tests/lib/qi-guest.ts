/**
 * A guest's queued-invalidation submitter, written the way Linux's
 * drivers/iommu/intel/dmar.c does it (qi_submit_sync): a queue page in guest
 * RAM, descriptors appended at the software tail, each batch closed by a wait
 * descriptor with a status write that the guest polls. Programs the unit only
 * through MMIO and guest RAM. Descriptor encodings are written out here from
 * the spec (§6.5.2) on purpose, not imported from the model.
 */
import type { GuestEnv } from './guest.js';
import { G, R, VtdDriver } from './driver.js';

/** IQERCD (§11.4.9.9) offset. */
export const IQERCD = 0xb0;
/** FSTS error bits (§11.4.7.1). */
export const FSTS_IQE = 1 << 4;
export const FSTS_ICE = 1 << 5;
export const FSTS_ITE = 1 << 6;

const B = BigInt;

/** §6.5.2 descriptor builders (128-bit types give 2 qwords, 256-bit ones 4). */
export const D = {
  /** §6.5.2.1 context-cache: g 1 global, 2 domain, 3 device. */
  cc: (g: number, did = 0, sid = 0, fm = 0): bigint[] => [0x1n | B(g) << 4n | B(did) << 16n | B(sid) << 32n | B(fm) << 48n, 0n],
  /** §6.5.2.3 IOTLB: g 1 global, 2 domain, 3 page (addr, am, ih); drains reads and writes. */
  iotlb: (g: number, did = 0, addr = 0n, am = 0, ih = 0): bigint[] =>
    [0x2n | B(g) << 4n | 3n << 6n | B(did) << 16n, addr | B(ih) << 6n | B(am)],
  /** §6.5.2.8 wait with status write (SW) and fence (FN); `intr` adds IF. */
  wait: (statusAddr: bigint, data: number, intr = false): bigint[] =>
    [0x5n | (intr ? 1n << 4n : 0n) | 1n << 5n | 1n << 6n | B(data >>> 0) << 32n, statusAddr],
  /** §6.5.2.4 PASID-based IOTLB: g 2 all of (did, pasid), 3 page-selective (addr, am, ih). */
  piotlb: (g: number, did: number, pasid: number, addr = 0n, am = 0, ih = false): bigint[] =>
    [0x6n | B(g) << 4n | B(did) << 16n | B(pasid) << 32n, addr | (ih ? 1n << 6n : 0n) | B(am), 0n, 0n],
  /** §6.5.2.2 PASID cache: g 0 domain, 1 PASID in domain, 3 global. */
  pc: (g: number, did = 0, pasid = 0): bigint[] => [0x7n | B(g) << 4n | B(did) << 16n | B(pasid) << 32n, 0n, 0n, 0n],
};

/** One invalidation queue, owned by the guest. */
export class GuestQueue {
  readonly drv: VtdDriver;
  /** Queue base (4 KiB aligned) and the page used for wait status words. */
  readonly base: bigint;
  readonly statusPage: bigint;
  readonly entries: number;
  readonly size: 16 | 32;
  /** Software tail, in descriptors. */
  tail = 0;
  private seq = 1;

  /** Allocates 2^qs pages of queue; `wide` = 256-bit descriptors (IQA.DW). */
  constructor(readonly env: GuestEnv, opts: { wide?: boolean; qs?: number } = {}) {
    this.drv = new VtdDriver(env.platform);
    const qs = opts.qs ?? 0;
    this.size = opts.wide ? 32 : 16;
    this.entries = (4096 << qs) / this.size;
    this.base = env.alloc.allocContiguous(1 << qs);
    this.statusPage = env.alloc.alloc();
    env.mem.fill(this.base, 4096 << qs, 0);
    env.mem.fill(this.statusPage, 4096, 0);
  }

  /** Linux __dmar_enable_qi: IQT = 0, IQA = base | DW | QS, then GCMD.QIE; returns GSTS. */
  enable(): number {
    this.tail = 0;
    this.drv.write64(R.IQT, 0n);
    const qs = Math.log2((this.entries * this.size) / 4096);
    this.drv.write64(R.IQA, this.base | (this.size === 32 ? 1n << 11n : 0n) | B(qs));
    return this.drv.command(G.QIE, true);
  }

  /** Writes `descs` at the software tail (wrapping) without moving IQT. */
  place(descs: readonly bigint[][]): void {
    for (const d of descs) {
      const at = this.base + B(this.tail * this.size);
      for (let w = 0; w < this.size / 8; w++) this.env.mem.writeU64(at + B(8 * w), d[w] ?? 0n);
      this.tail = (this.tail + 1) % this.entries;
    }
  }

  /** Moves IQT to the software tail: the hardware processes everything before it. */
  ring(): void {
    this.drv.write64(R.IQT, B(this.tail * this.size));
  }

  /**
   * Submits `descs` followed by a wait descriptor, rings once and polls the
   * status word (bounded). Returns true when the wait completed.
   */
  submitSync(descs: readonly bigint[][], intr = false): boolean {
    const seq = this.seq++;
    const status = this.statusPage + B((seq % 512) * 8);
    this.env.mem.writeU64(status, 0n);
    this.place([...descs, D.wait(status, seq, intr)]);
    this.ring();
    for (let polls = 0; polls < 1000; polls++) {
      if ((this.env.mem.readU64(status) & 0xffff_ffffn) === B(seq)) return true;
      if (this.drv.read32(R.FSTS) & (FSTS_IQE | FSTS_ITE)) return false;
    }
    return false;
  }

  /** IQH in descriptors. */
  head(): number {
    return Number(this.drv.read64(R.IQH)) / this.size;
  }
}
