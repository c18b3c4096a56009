/**
 * The shared work-queue device (SIOV / ENQCMD style): a portal accepts
 * 64-byte work descriptors (descriptor.ts), each tagged with a PASID; the
 * device checks the PASID against its PASID table (programmed by the host
 * driver for the address spaces it allows) and performs MEMMOVE, FILL or
 * COMPARE with DMA in that PASID's address space, then writes a completion
 * record there and optionally raises MSI-X vector 0.
 *
 * A descriptor the device cannot run in its address space (PASID not
 * enabled, privileged without permission, bus mastering off) is rejected
 * into SWERR with MSI-X vector 1. With PRI enabled, a recoverable fault
 * parks the descriptor (it stays in flight, other descriptors go on) until
 * the page-group response: Success resumes the chunk that faulted, failure
 * completes with PAGE_REQUEST_FAILED. Up to SWQ_DEPTH descriptors may be in
 * flight; a portal write beyond that is refused (ENQCMD "retry").
 */
import type { PciFunction } from '../../pci/bus.js';
import type { DmaAttrs, DmaPort, DmaResult } from '../../pci/dma-port.js';
import type { Sid } from '../../types.js';
import type { PageGroupResponse } from '../../vtd/prq/page-request.js';
import { PageResponseCode } from '../../vtd/spec/page-request.js';
import { DeviceFunction, writeLe } from '../common/function.js';
import { RetryEngine, pageFault } from '../common/retry-engine.js';
import { SWQ_CAPS, SWQ_IDENTITY } from './config.js';
import {
  COMPLETION_BYTES, DESC_BYTES, SWQ_CS, SWQ_FLAG, SWQ_MAX_SIZE, SWQ_OP, completionRecord, decodeDescriptor, type WorkDescriptor,
} from './descriptor.js';
import { SWQ, SWQ_DEPTH, SWQ_ERR, SWQ_ID, SWQ_PASID_SLOTS, SWQ_PT, SWQ_VECTOR } from './regs.js';

const CHUNK = 0x1000;

/** A descriptor in flight. */
export interface SwqJob {
  /** The decoded descriptor. */
  readonly desc: WorkDescriptor;
  /** Bytes done so far. */
  offset: number;
  /** Page responses received for it so far (the retry engine bounds them). */
  retries: number;
  /** COMPARE: 1 once a difference was found. */
  result: number;
}

type Step = 'ok' | 'pending' | { status: number; reason: number; addr: bigint };

/** The shared work-queue device. */
export class SwqDevice implements PciFunction {
  /** Its row of the device registry (devices/registry.ts DEVICE_KINDS). */
  readonly kind = 'swq';
  /** The PCI function: config space (PASID, PRI, MSI-X capabilities), BAR0, interrupts. */
  readonly fn: DeviceFunction;
  /** Register state (snapshot.ts saves it). */
  regs = newRegs();
  /** The device's PASID table (BAR0 PASID_TABLE): which PASIDs may submit, and with privilege. */
  readonly pasidTable = new Uint32Array(SWQ_PASID_SLOTS);
  /** The submission portal: the 64-byte descriptor being written. */
  readonly portal = new Uint8Array(DESC_BYTES);
  /** Descriptors parked on page requests (up to SWQ_DEPTH). */
  readonly retry: RetryEngine<SwqJob>;
  private readonly bufA: number;
  private readonly bufB: number;

  /** A device at requester id `sid` that does DMA through `port` (`opts.log`: guest programming errors). */
  constructor(readonly sid: Sid, private readonly port: DmaPort, opts: { log?: (m: string) => void } = {}) {
    this.fn = new DeviceFunction(sid, SWQ_IDENTITY, SWQ_CAPS, port, opts.log);
    this.bufA = port.allocBuffer(CHUNK);
    this.bufB = port.allocBuffer(CHUNK);
    this.retry = new RetryEngine(this.fn.pri, (job, code) => this.onResponse(job, code));
  }

  /** Descriptors waiting for page responses, oldest first. */
  get jobs(): readonly SwqJob[] {
    return this.retry.waiting;
  }

  /** Configuration space. */
  get config() {
    return this.fn.config;
  }

  /** ENQCMD: submits 64 descriptor bytes atomically; 'retry' when the queue is disabled or full. */
  enqueue(desc: Uint8Array): 'accepted' | 'retry' {
    if (!(desc instanceof Uint8Array) || desc.length !== DESC_BYTES) throw new Error(`desc: a work descriptor is ${DESC_BYTES} bytes`);
    const ok = (this.regs.cfg & 1) !== 0 && this.jobs.length < SWQ_DEPTH;
    this.regs.portalStatus = ok ? 0 : 1;
    if (ok) this.start(decodeDescriptor(desc));
    return ok ? 'accepted' : 'retry';
  }

  /** A page-group response for one of this device's page requests. */
  pageGroupResponse(resp: PageGroupResponse): void {
    this.fn.pri?.pageGroupResponse(resp);
  }

  /** Back to power-on state. */
  reset(): void {
    this.regs = newRegs();
    this.pasidTable.fill(0);
    this.portal.fill(0);
    this.retry.clear();
    this.fn.reset();
  }

  /** BAR0 read (4 or 8 bytes). */
  barRead(offset: number, size: number): bigint {
    const msix = this.fn.irq.msix;
    if (msix?.claims(offset)) return msix.read(offset, size);
    if (offset >= SWQ.PORTAL) return 0n; // the portal is write-only
    const lo = BigInt(this.regRead(offset));
    return size === 8 ? lo | (BigInt(this.regRead(offset + 4)) << 32n) : lo;
  }

  /** BAR0 write (4 or 8 bytes). */
  barWrite(offset: number, size: number, value: bigint): void {
    if (this.fn.irq.msix?.claims(offset)) {
      this.fn.irq.msixWrite(offset, size, value);
      return;
    }
    if (offset >= SWQ.PORTAL && offset < SWQ.PORTAL + DESC_BYTES) {
      const at = offset - SWQ.PORTAL;
      writeLe(this.portal, at, size, value);
      if (at + size === DESC_BYTES) this.enqueue(this.portal.slice());
      return;
    }
    this.regWrite(offset, Number(value & 0xffff_ffffn));
    if (size === 8) this.regWrite(offset + 4, Number((value >> 32n) & 0xffff_ffffn));
  }

  private start(d: WorkDescriptor): void {
    const err = this.admission(d);
    if (err) return this.reject(d, err);
    const job: SwqJob = { desc: d, offset: 0, retries: 0, result: 0 };
    if (d.reservedSet) return this.complete(job, { status: SWQ_CS.RESERVED_SET, reason: 0, addr: 0n });
    if (d.op > SWQ_OP.COMPARE) return this.complete(job, { status: SWQ_CS.BAD_OPCODE, reason: 0, addr: 0n });
    if (d.op !== SWQ_OP.NOP && (d.size < 1 || d.size > SWQ_MAX_SIZE)) return this.complete(job, { status: SWQ_CS.BAD_SIZE, reason: 0, addr: 0n });
    this.advance(job);
  }

  /** SWERR code when the descriptor's address space may not be used, else 0. */
  private admission(d: WorkDescriptor): number {
    if (!this.config.busMaster()) return SWQ_ERR.BUS_MASTER_OFF;
    const cap = this.fn.pasid;
    const slot = [...this.pasidTable].find((e) => (e & SWQ_PT.ENABLED) !== 0 && (e & SWQ_PT.PASID_MASK) === d.pasid);
    if (!cap?.enabled() || slot === undefined || !cap.fits(d.pasid)) return SWQ_ERR.INVALID_PASID;
    if (d.priv && (!cap.privEnabled() || (slot & SWQ_PT.PRIV) === 0)) return SWQ_ERR.PRIV_NOT_ALLOWED;
    if (d.flags & SWQ_FLAG.RCR && d.completion % 32n !== 0n) return SWQ_ERR.COMPLETION_FAULT;
    return 0;
  }

  private attrs(d: WorkDescriptor): DmaAttrs {
    return { pasid: d.pasid, priv: d.priv, pageRequest: this.fn.pri?.usable() ?? false };
  }

  /** Runs chunks until done, a failure, or a page request. */
  private advance(job: SwqJob): void {
    const d = job.desc;
    while (job.offset < (d.op === SWQ_OP.NOP ? 0 : d.size) && job.result === 0) {
      const n = Math.min(CHUNK, d.size - job.offset);
      const step = this.chunk(job, n);
      if (step === 'pending') return;
      if (step !== 'ok') return this.complete(job, step);
      if (job.result === 0) job.offset += n;
    }
    this.complete(job, { status: SWQ_CS.SUCCESS, reason: 0, addr: 0n });
  }

  private chunk(job: SwqJob, n: number): Step {
    const d = job.desc;
    const at = BigInt(job.offset);
    if (d.op === SWQ_OP.FILL) {
      const b = this.port.buffer(this.bufA, n);
      for (let i = 0; i < n; i++) b[i] = Number((d.src >> BigInt(8 * ((job.offset + i) % 8))) & 0xffn);
      return this.dma(job, d.dst + at, n, true, this.bufA);
    }
    const first = this.dma(job, d.src + at, n, false, this.bufA);
    if (first !== 'ok') return first;
    if (d.op === SWQ_OP.MEMMOVE) return this.dma(job, d.dst + at, n, true, this.bufA);
    const second = this.dma(job, d.dst + at, n, false, this.bufB);
    if (second !== 'ok') return second;
    const a = this.port.buffer(this.bufA, n);
    const b = this.port.buffer(this.bufB, n);
    const diff = a.findIndex((v, i) => v !== b[i]);
    if (diff >= 0) {
      job.result = 1;
      job.offset += diff;
    }
    return 'ok';
  }

  /** One DMA of a job; a recoverable fault becomes a page request (the job waits). */
  private dma(job: SwqJob, iova: bigint, n: number, write: boolean, buf: number): Step {
    const a = this.attrs(job.desc);
    const r: DmaResult = this.port.dmaBig(BigInt.asUintN(64, iova), n, write, buf, a);
    if (r.ok) return 'ok';
    const addr = r.addr ?? iova;
    if (r.recoverable && this.retry.park(job, pageFault(addr, write, a))) return 'pending';
    return { status: SWQ_CS.PAGE_FAULT, reason: r.reason, addr };
  }

  private onResponse(job: SwqJob, code: PageResponseCode): void {
    if (code !== PageResponseCode.Success) return this.complete(job, { status: SWQ_CS.PAGE_REQUEST_FAILED, reason: 0, addr: 0n });
    const err = this.admission(job.desc);
    if (err) return this.reject(job.desc, err);
    this.advance(job);
  }

  private complete(job: SwqJob, s: { status: number; reason: number; addr: bigint }): void {
    const d = job.desc;
    this.regs.completed++;
    if (d.flags & SWQ_FLAG.RCR) {
      const rec = completionRecord(s.status, job.result, s.reason, job.offset, s.addr);
      this.port.buffer(this.bufB, COMPLETION_BYTES).set(rec);
      const a = { ...this.attrs(d), pageRequest: false };
      if (!this.port.dmaBig(d.completion, COMPLETION_BYTES, true, this.bufB, a).ok) return this.reject(d, SWQ_ERR.COMPLETION_FAULT);
    }
    if (d.flags & SWQ_FLAG.RCI) this.fn.irq.raise(SWQ_VECTOR.COMPLETION);
  }

  /** Records a rejected descriptor in SWERR (overflow if one is already there) and raises the error vector. */
  private reject(d: WorkDescriptor, code: number): void {
    const g = this.regs;
    g.errors++;
    if (g.swerrLo & 1) {
      g.swerrLo |= 2;
    } else {
      g.swerrLo = (1 | (code << 8) | ((d.op & 0xff) << 16)) >>> 0;
      g.swerrHi = ((d.pasid & 0xf_ffff) | (d.priv ? 0x8000_0000 : 0)) >>> 0;
    }
    this.fn.irq.raise(SWQ_VECTOR.ERROR);
  }

  private regRead(offset: number): number {
    const g = this.regs;
    if (offset >= SWQ.PASID_TABLE && offset < SWQ.PASID_TABLE + 4 * SWQ_PASID_SLOTS) return this.pasidTable[(offset - SWQ.PASID_TABLE) >> 2]!;
    switch (offset) {
      case SWQ.ID: return SWQ_ID;
      case SWQ.WQ_CAP: return SWQ_DEPTH | (SWQ_PASID_SLOTS << 8);
      case SWQ.WQ_CFG: return g.cfg;
      case SWQ.WQ_OCC: return this.jobs.length;
      case SWQ.SWERR: return g.swerrLo;
      case SWQ.SWERR + 4: return g.swerrHi;
      case SWQ.COMPLETED: return g.completed;
      case SWQ.ERRORS: return g.errors;
      case SWQ.PORTAL_STATUS: return g.portalStatus;
      default: return 0;
    }
  }

  private regWrite(offset: number, v: number): void {
    if (offset >= SWQ.PASID_TABLE && offset < SWQ.PASID_TABLE + 4 * SWQ_PASID_SLOTS) {
      this.pasidTable[(offset - SWQ.PASID_TABLE) >> 2] = (v & (SWQ_PT.ENABLED | SWQ_PT.PRIV | SWQ_PT.PASID_MASK)) >>> 0;
    } else if (offset === SWQ.WQ_CFG) {
      this.regs.cfg = v & 1;
    } else if (offset === SWQ.SWERR && v & 1) {
      this.regs.swerrLo = 0;
      this.regs.swerrHi = 0;
    }
  }
}

function newRegs() {
  return { cfg: 0, swerrLo: 0, swerrHi: 0, completed: 0, errors: 0, portalStatus: 0 };
}
