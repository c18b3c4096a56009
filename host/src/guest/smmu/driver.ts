/**
 * A guest SMMUv3 driver (the way Linux's arm-smmu-v3 programs one, IHI 0070
 * §3.5 queues, §6.3 registers): stream table (linear or 2-level), command
 * and event queues, CR0 with the CR0ACK handshake, GBPA, IRQ_CTRL, command
 * submission with CMD_SYNC completed by an MSI write the driver polls,
 * event reading, and the PRI queue (chapter 8: reading page requests,
 * acknowledging an overflow, answering with CMD_PRI_RESP). Everything goes
 * through MMIO and guest memory.
 */
import type { GuestPlatform } from '../vtd-driver.js';
import type { GuestMemoryLike } from '../../tables/guest-ram.js';
import type { PageAllocator } from '../../tables/page-allocator.js';
import { C, decodeEvent, l1std, type EventRecord } from './structures.js';
import { decodePriRecord, PRIQ_BYTES, type PriRecord } from '../../smmu/spec/priq.js';
import type { Sid } from '../../types.js';

/** Register offsets (§6.2). */
export const SR = {
  IDR0: 0x00, IDR1: 0x04, IDR3: 0x0c, IDR5: 0x14, AIDR: 0x1c, CR0: 0x20, CR0ACK: 0x24, CR1: 0x28, CR2: 0x2c, GBPA: 0x44,
  IRQ_CTRL: 0x50, IRQ_CTRLACK: 0x54, GERROR: 0x60, GERRORN: 0x64, GERROR_IRQ_CFG0: 0x68, GERROR_IRQ_CFG1: 0x70,
  STRTAB_BASE: 0x80, STRTAB_BASE_CFG: 0x88, CMDQ_BASE: 0x90, CMDQ_PROD: 0x98, CMDQ_CONS: 0x9c, EVENTQ_BASE: 0xa0,
  EVENTQ_IRQ_CFG0: 0xb0, EVENTQ_IRQ_CFG1: 0xb8, EVENTQ_PROD: 0x100a8, EVENTQ_CONS: 0x100ac,
  PRIQ_BASE: 0xc0, PRIQ_IRQ_CFG0: 0xd0, PRIQ_IRQ_CFG1: 0xd8, PRIQ_IRQ_CFG2: 0xdc, PRIQ_PROD: 0x100c8, PRIQ_CONS: 0x100cc,
} as const;

/** CR0 bits (§6.3.9). */
export const CR0_BITS = { SMMUEN: 1, PRIQEN: 2, EVENTQEN: 4, CMDQEN: 8 } as const;

/** OVFLG / OVACKFLG of the queue index registers (bit 31). */
const OVERFLOW_FLAG = 0x8000_0000;

/** What one read of the PRI queue found. */
export interface PriQueueRead {
  /** The records between PRIQ_CONS and PRIQ_PROD, oldest first. */
  readonly records: PriRecord[];
  /** An overflow was active (PRIQ_PROD.OVFLG != PRIQ_CONS.OVACKFLG); the read acknowledged it. */
  readonly overflowed: boolean;
}

/** Options of `init`. */
export interface SmmuInitOptions {
  /** Stream table: linear with 2^sidBits STEs, or 2-level with `split` (default linear, 8 bits). */
  readonly sidBits?: number;
  readonly twoLevel?: { readonly split: number };
  /** Queue sizes (log2 entries, default 6). */
  readonly cmdqLog2?: number;
  readonly evtqLog2?: number;
  /** Leave the SMMU disabled (CR0.SMMUEN=0). */
  readonly noEnable?: boolean;
}

/** A guest driver of one SMMUv3 at `base`. */
export class SmmuDriver {
  /** Stream table base. */
  strtab = 0n;
  private cmdq = 0n;
  private cmdqLog2 = 6;
  private evtq = 0n;
  private evtqLog2 = 6;
  private cmdProd = 0;
  private evtCons = 0;
  private priq = 0n;
  private priqLog2 = 0;
  private priCons = 0;
  /** 2-level: L1 descriptors filled so far (sid >> split). */
  private readonly l2 = new Map<number, bigint>();
  private split = 0;
  /** A guest word the CMD_SYNC MSI writes into. */
  private syncWord = 0n;
  private syncSeq = 0;

  constructor(readonly platform: GuestPlatform, readonly mem: GuestMemoryLike, readonly alloc: PageAllocator, readonly base: bigint) {}

  read32(off: number): number { return Number(this.platform.mmioRead(this.base + BigInt(off), 4)); }
  write32(off: number, v: number): void { this.platform.mmioWrite(this.base + BigInt(off), 4, BigInt(v >>> 0)); }
  read64(off: number): bigint { return this.platform.mmioRead(this.base + BigInt(off), 8); }
  write64(off: number, v: bigint): void { this.platform.mmioWrite(this.base + BigInt(off), 8, v); }

  /** CR0 with the CR0ACK handshake (§6.3.10); throws when CR0ACK does not follow. */
  setCr0(v: number): void {
    this.write32(SR.CR0, v);
    if (this.read32(SR.CR0ACK) !== v) throw new Error(`CR0ACK ${this.read32(SR.CR0ACK)} did not follow CR0 ${v}`);
  }

  /** Programs stream table and queues, enables the queues, then (unless noEnable) the SMMU. */
  init(o: SmmuInitOptions = {}): void {
    this.cmdqLog2 = o.cmdqLog2 ?? 6;
    this.evtqLog2 = o.evtqLog2 ?? 6;
    const sidBits = o.sidBits ?? 8;
    this.l2.clear();
    this.split = 0;
    if (o.twoLevel) {
      this.split = o.twoLevel.split;
      const l1Bytes = 8 * 2 ** (sidBits - this.split);
      this.strtab = this.alloc.allocContiguous(Math.max(1, Math.ceil(l1Bytes / 4096)));
      this.write64(SR.STRTAB_BASE, this.strtab);
      this.write32(SR.STRTAB_BASE_CFG, (1 << 16) | (this.split << 6) | sidBits);
    } else {
      this.strtab = this.alloc.allocContiguous(Math.max(1, 64 * 2 ** sidBits / 4096));
      this.write64(SR.STRTAB_BASE, this.strtab);
      this.write32(SR.STRTAB_BASE_CFG, sidBits);
    }
    this.cmdq = this.alloc.allocContiguous(Math.max(1, (16 << this.cmdqLog2) / 4096));
    this.evtq = this.alloc.allocContiguous(Math.max(1, (32 << this.evtqLog2) / 4096));
    this.syncWord = this.alloc.alloc();
    this.write64(SR.CMDQ_BASE, this.cmdq | BigInt(this.cmdqLog2));
    this.write32(SR.CMDQ_PROD, 0);
    this.write32(SR.CMDQ_CONS, 0);
    this.write64(SR.EVENTQ_BASE, this.evtq | BigInt(this.evtqLog2));
    this.write32(SR.EVENTQ_PROD, 0);
    this.write32(SR.EVENTQ_CONS, 0);
    this.cmdProd = 0;
    this.evtCons = 0;
    this.setCr0(CR0_BITS.CMDQEN | CR0_BITS.EVENTQEN);
    this.submit([C.cfgiAll(), C.tlbiNsnhAll()]);
    if (!o.noEnable) this.setCr0(CR0_BITS.CMDQEN | CR0_BITS.EVENTQEN | CR0_BITS.SMMUEN);
  }

  /** The guest address of `sid`'s STE (2-level: its L2 table is made on first use, Span = split + 1). */
  steAddr(sid: Sid): bigint {
    if (this.split === 0) return this.strtab + BigInt(sid) * 64n;
    const l1 = sid >>> this.split;
    let l2 = this.l2.get(l1);
    if (l2 === undefined) {
      l2 = this.alloc.allocContiguous(Math.max(1, 64 * 2 ** this.split / 4096));
      this.l2.set(l1, l2);
      this.mem.writeU64(this.strtab + BigInt(l1) * 8n, l1std(l2, this.split + 1));
      this.submit([C.cfgiSte(sid, false)]);
    }
    return l2 + BigInt(sid & ((1 << this.split) - 1)) * 64n;
  }

  /** Writes `sid`'s STE (doubleword 0, with V, last) and invalidates it (CFGI_STE + CMD_SYNC). */
  setSte(sid: Sid, words: readonly bigint[], invalidate = true): void {
    const at = this.steAddr(sid);
    for (let i = words.length - 1; i >= 0; i--) this.mem.writeU64(at + BigInt(i) * 8n, words[i]!);
    if (invalidate) this.submit([C.cfgiSte(sid)]);
  }

  /** Appends commands and a CMD_SYNC (MSI completion polled in guest memory); returns CMDQ_CONS.ERR (0 = all done). */
  submit(cmds: readonly bigint[][], sync = true): number {
    const seq = ++this.syncSeq;
    const all = sync ? [...cmds, C.sync(1, this.syncWord, seq)] : cmds;
    for (const c of all) {
      const at = this.cmdq + BigInt((this.cmdProd & ((1 << this.cmdqLog2) - 1)) * 16);
      this.mem.writeU64(at, c[0]!);
      this.mem.writeU64(at + 8n, c[1]!);
      this.cmdProd = (this.cmdProd + 1) & ((2 << this.cmdqLog2) - 1);
    }
    this.write32(SR.CMDQ_PROD, this.cmdProd);
    return (this.read32(SR.CMDQ_CONS) >>> 24) & 0x7f;
  }

  /** The value the last CMD_SYNC's MSI wrote (the sequence number when it completed). */
  syncValue(): number {
    return Number(this.mem.readU64(this.syncWord) & 0xffff_ffffn);
  }

  /** After a command error: skip the bad command (CONS + 1) and acknowledge GERROR.CMDQ_ERR. */
  recoverCommandError(): void {
    const cons = this.read32(SR.CMDQ_CONS) & 0xfffff;
    const next = (cons + 1) & ((2 << this.cmdqLog2) - 1);
    // §7.1: software may advance CONS only while the queue is disabled.
    this.setCr0(this.read32(SR.CR0) & ~CR0_BITS.CMDQEN);
    this.write32(SR.CMDQ_CONS, next);
    this.write32(SR.GERRORN, this.read32(SR.GERROR));
    this.setCr0(this.read32(SR.CR0) | CR0_BITS.CMDQEN);
  }

  /**
   * Programs the PRI queue (2^log2 records, PRIQ_PROD = PRIQ_CONS = 0 with
   * OVACKFLG = OVFLG) and sets CR0.PRIQEN (§6.3.33, §6.3.97, §6.3.98).
   */
  enablePriq(log2 = 6): void {
    this.priqLog2 = log2;
    this.priq = this.alloc.allocContiguous(Math.max(1, Math.ceil((PRIQ_BYTES << log2) / 4096)));
    this.setCr0(this.read32(SR.CR0) & ~CR0_BITS.PRIQEN);
    this.write64(SR.PRIQ_BASE, this.priq | BigInt(log2));
    this.write32(SR.PRIQ_PROD, 0);
    this.write32(SR.PRIQ_CONS, 0);
    this.priCons = 0;
    this.setCr0(this.read32(SR.CR0) | CR0_BITS.PRIQEN);
  }

  /**
   * Takes over queues programmed already (a driver resuming after the
   * machine was restored): bases, sizes and its own indexes (CMDQ_PROD,
   * EVENTQ_CONS, PRIQ_CONS) from the registers.
   */
  attach(): void {
    const queue = (reg: number): [bigint, number] => {
      const v = this.read64(reg);
      return [v & 0x000f_ffff_ffff_ffe0n, Number(v & 0x1fn)];
    };
    [this.cmdq, this.cmdqLog2] = queue(SR.CMDQ_BASE);
    [this.evtq, this.evtqLog2] = queue(SR.EVENTQ_BASE);
    [this.priq, this.priqLog2] = queue(SR.PRIQ_BASE);
    this.cmdProd = this.read32(SR.CMDQ_PROD) & ((2 << this.cmdqLog2) - 1);
    this.evtCons = this.read32(SR.EVENTQ_CONS) & ((2 << this.evtqLog2) - 1);
    this.priCons = this.read32(SR.PRIQ_CONS) & ((2 << this.priqLog2) - 1);
  }

  /**
   * Reads every new PRI record and moves PRIQ_CONS past them in one write
   * that also acknowledges an overflow (OVACKFLG := OVFLG, §8.1's recovery).
   */
  pageRequests(): PriQueueRead {
    const records: PriRecord[] = [];
    const mask = (2 << this.priqLog2) - 1;
    const prodReg = this.read32(SR.PRIQ_PROD);
    const prod = prodReg & mask;
    while (this.priCons !== prod) {
      const at = this.priq + BigInt((this.priCons & ((1 << this.priqLog2) - 1)) * PRIQ_BYTES);
      records.push(decodePriRecord([this.mem.readU64(at), this.mem.readU64(at + 8n)]));
      this.priCons = (this.priCons + 1) & mask;
    }
    const overflowed = ((prodReg ^ this.read32(SR.PRIQ_CONS)) & OVERFLOW_FLAG) !== 0;
    this.write32(SR.PRIQ_CONS, (this.priCons | (prodReg & OVERFLOW_FLAG)) >>> 0);
    return { records, overflowed };
  }

  /** Answers the page request group of `rec` with CMD_PRI_RESP `resp` (spec/priq.ts PRI_RESP) and a CMD_SYNC; returns CMDQ_CONS.ERR. */
  respond(rec: Pick<PriRecord, 'sid' | 'ssid' | 'prgi'>, resp: number): number {
    return this.submit([C.priResp(rec.sid, rec.ssid, rec.prgi, resp)]);
  }

  /** Reads every new event record (advancing EVENTQ_CONS). */
  events(): EventRecord[] {
    const out: EventRecord[] = [];
    const mask = (2 << this.evtqLog2) - 1;
    const prod = this.read32(SR.EVENTQ_PROD) & mask;
    while (this.evtCons !== prod) {
      const at = this.evtq + BigInt((this.evtCons & ((1 << this.evtqLog2) - 1)) * 32);
      out.push(decodeEvent([0, 1, 2, 3].map((i) => this.mem.readU64(at + BigInt(i) * 8n))));
      this.evtCons = (this.evtCons + 1) & mask;
    }
    this.write32(SR.EVENTQ_CONS, this.evtCons | (this.read32(SR.EVENTQ_PROD) & 0x8000_0000));
    return out;
  }
}
