/**
 * A guest's queued-invalidation submitter, written the way Linux's
 * drivers/iommu/intel/dmar.c does it (qi_submit_sync): a queue page in guest
 * RAM, descriptors appended at the software tail, each batch closed by a wait
 * descriptor with a status write that the guest polls. Programs the unit only
 * through MMIO and guest RAM; descriptors come from the spec layer's encoders
 * (host/src/vtd/spec/descriptors.ts, §6.5.2).
 */
import { waitDesc } from '../vtd/spec/descriptors.js';
import { FSTS, GCMD, REG } from '../vtd/spec/registers.js';
import type { GuestEnv } from './guest-iommu.js';
import { VtdDriver } from './vtd-driver.js';

const B = BigInt;

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
    this.drv.write64(REG.IQT, 0n);
    const qs = Math.log2((this.entries * this.size) / 4096);
    this.drv.write64(REG.IQA, this.base | (this.size === 32 ? 1n << 11n : 0n) | B(qs));
    return this.drv.command(GCMD.QIE, true);
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
    this.drv.write64(REG.IQT, B(this.tail * this.size));
  }

  /**
   * Submits `descs` followed by a wait descriptor, rings once and polls the
   * status word (bounded). Returns true when the wait completed.
   */
  submitSync(descs: readonly bigint[][], intr = false): boolean {
    const seq = this.seq++;
    const status = this.statusPage + B((seq % 512) * 8);
    this.env.mem.writeU64(status, 0n);
    this.place([...descs, waitDesc({ sw: true, fn: true, if: intr, data: seq, addr: status })]);
    this.ring();
    for (let polls = 0; polls < 1000; polls++) {
      if ((this.env.mem.readU64(status) & 0xffff_ffffn) === B(seq)) return true;
      if (this.drv.read32(REG.FSTS) & (FSTS.IQE | FSTS.ITE)) return false;
    }
    return false;
  }

  /** IQH in descriptors. */
  head(): number {
    return Number(this.drv.read64(REG.IQH)) / this.size;
  }
}
