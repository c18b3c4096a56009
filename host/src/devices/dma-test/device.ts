/**
 * The DMA test device (edu / iommu-testdev style): a 4 KiB buffer and three
 * commands, "read LEN bytes at IOVA into the buffer", "write LEN bytes of the
 * buffer to IOVA" and "copy LEN bytes from IOVA to DST", always through the
 * IOMMU with the device's own requester id, optionally tagged with a PASID
 * (privileged / execute). The guest drives it through BAR0 (regs.ts) and
 * reads the result in STATUS; the host can call `read`/`write` directly
 * (scenarios, tests).
 *
 * With Bus Master Enable clear nothing is sent (STATUS aborted). With PRI
 * enabled, a recoverable fault becomes a page request; STATUS shows "page
 * wait" until the response, then the command is retried (Success) or ends in
 * a fault.
 */
import type { PciFunction } from '../../pci/bus.js';
import type { DmaAttrs, DmaPort, DmaResult } from '../../pci/dma-port.js';
import { iova as checkIova, type Sid, type Iova } from '../../types.js';
import type { PageGroupResponse } from '../../vtd/prq/page-request.js';
import { PageResponseCode } from '../../vtd/spec/page-request.js';
import { DeviceFunction, readLe, writeLe } from '../common/function.js';
import { RetryEngine, pageFault } from '../common/retry-engine.js';
import { DMA_TEST_CAPS, DMA_TEST_IDENTITY } from './config.js';
import { DMAT, DMAT_BUFFER_SIZE, DMAT_CMD, DMAT_ID, DMAT_IRQ, DMAT_STATE, dmatStatus } from './regs.js';

/** One command: source/destination, length, buffer offset. */
export interface DmatOp {
  /** read: guest memory -> buffer; write: buffer -> guest memory; copy: guest memory -> guest memory. */
  readonly kind: 'read' | 'write' | 'copy';
  /** Source IOVA (read, copy) or destination IOVA (write). */
  readonly iova: Iova;
  /** Destination IOVA of a copy. */
  readonly dst: bigint;
  /** Bytes to move. */
  readonly len: number;
  /** Offset in the device buffer. */
  readonly bufOffset: number;
}

/** A command from the host API: a 64-bit IOVA, integer length and buffer offset, else an Error naming them. */
function hostOp(kind: 'read' | 'write', iova: Iova, len: number, bufOffset: number): DmatOp {
  checkIova(iova);
  if (!Number.isInteger(len) || len < 0) throw new Error(`len: ${String(len)} is not a length`);
  if (!Number.isInteger(bufOffset) || bufOffset < 0) throw new Error(`bufOffset: ${String(bufOffset)} is not a buffer offset`);
  return { kind, iova, dst: 0n, len, bufOffset };
}

/** A command waiting for a page-group response: the command and the responses it had so far. */
export interface DmatWait {
  /** The command. */
  readonly op: DmatOp;
  /** Page-group responses it had so far. */
  retries: number;
}

const FAILED: DmaResult = { ok: false, reason: 0, recorded: false };

/** A DMA test device on a PCI bus. */
export class DmaTestDevice implements PciFunction {
  /** Its row of the device registry (devices/registry.ts DEVICE_KINDS). */
  readonly kind = 'dma-test';
  /** The PCI function: config space, BARs, DMA port. */
  readonly fn: DeviceFunction;
  private readonly bufOff: number;
  /** Register state (snapshot.ts saves it). */
  regs = { iova: 0n, len: 0, start: 0, status: dmatStatus(DMAT_STATE.IDLE), count: 0, pasid: 0, irq: 0, dst: 0n };
  /** Commands parked on page requests (at most one: a new command is refused while one waits). */
  readonly retry: RetryEngine<DmatWait>;

  /** Address bits the device can drive; DMA addresses are clamped to them (as QEMU's edu does). */
  readonly dmaMask: bigint;

  /** `dmaMaskBits`: width of the device's DMA addresses (default 64; the reference edu device has 28). */
  constructor(readonly sid: Sid, private readonly port: DmaPort, opts: { dmaMaskBits?: number; log?: (m: string) => void } = {}) {
    const bits = opts.dmaMaskBits ?? 64;
    if (!Number.isInteger(bits) || bits < 12 || bits > 64) throw new Error(`dmaMaskBits: ${bits} is not in 12..64`);
    this.dmaMask = (1n << BigInt(bits)) - 1n;
    this.fn = new DeviceFunction(sid, DMA_TEST_IDENTITY, DMA_TEST_CAPS, port, opts.log);
    this.bufOff = port.allocBuffer(DMAT_BUFFER_SIZE);
    this.retry = new RetryEngine(this.fn.pri, (w, code) => this.onResponse(w, code));
  }

  /** The command waiting for a page-group response, if any. */
  get pending(): DmatWait | undefined {
    return this.retry.waiting[0];
  }

  /** Replaces the waiting command, leaving the page request it waits on as it is (snapshot restore, tests). */
  set pending(w: DmatWait | undefined) {
    this.retry.adopt(w ? [w] : []);
  }

  /** Configuration space. */
  get config() {
    return this.fn.config;
  }

  /** The device buffer (a live view; do not keep it across memory growth). */
  buffer(): Uint8Array {
    return this.port.buffer(this.bufOff, DMAT_BUFFER_SIZE);
  }

  /**
   * Reads `len` bytes at `iova` into the buffer at `bufOffset`, as the READ
   * command would (a command the device refuses ends BAD_COMMAND); arguments
   * of the wrong type or range are an Error naming them.
   */
  read(iova: Iova, len: number, bufOffset = 0): DmaResult {
    return this.run(hostOp('read', iova, len, bufOffset));
  }

  /** Writes `len` bytes of the buffer at `bufOffset` to `iova` (as `read`). */
  write(iova: Iova, len: number, bufOffset = 0): DmaResult {
    return this.run(hostOp('write', iova, len, bufOffset));
  }

  /** STATUS register value of the last command. */
  lastStatus(): number {
    return this.regs.status;
  }

  /** Back to power-on state (buffer contents are left as they are). */
  reset(): void {
    this.regs = { iova: 0n, len: 0, start: 0, status: dmatStatus(DMAT_STATE.IDLE), count: 0, pasid: 0, irq: 0, dst: 0n };
    this.retry.clear();
    this.fn.reset();
  }

  /** BAR0 read (4 or 8 bytes); unknown offsets read 0. */
  barRead(offset: number, size: number): bigint {
    if (offset >= DMAT.BUFFER) return readLe(this.buffer(), offset - DMAT.BUFFER, size);
    const lo = BigInt(this.regRead(offset));
    return size === 8 ? lo | (BigInt(this.regRead(offset + 4)) << 32n) : lo;
  }

  /** BAR0 write (4 or 8 bytes); writes to read-only or unknown offsets are ignored. */
  barWrite(offset: number, size: number, value: bigint): void {
    if (offset >= DMAT.BUFFER) {
      writeLe(this.buffer(), offset - DMAT.BUFFER, size, value);
      return;
    }
    if (size === 8 && (offset === DMAT.IOVA || offset === DMAT.DST)) {
      if (offset === DMAT.IOVA) this.regs.iova = BigInt.asUintN(64, value);
      else this.regs.dst = BigInt.asUintN(64, value);
      return;
    }
    this.regWrite(offset, Number(value & 0xffff_ffffn));
    if (size === 8) this.regWrite(offset + 4, Number((value >> 32n) & 0xffff_ffffn));
  }

  /** A page-group response for this device's page request. */
  pageGroupResponse(resp: PageGroupResponse): void {
    this.fn.pri?.pageGroupResponse(resp);
  }

  private run(op: DmatOp): DmaResult {
    const { len, bufOffset: b, iova } = op;
    if (!Number.isInteger(len) || len < 1 || !Number.isInteger(b) || b < 0 || b + len > DMAT_BUFFER_SIZE
      || iova < 0n || iova >= 1n << 64n || this.pending) {
      this.regs.status = dmatStatus(DMAT_STATE.BAD_COMMAND);
      return FAILED;
    }
    if (!this.config.busMaster()) return this.finish(FAILED, DMAT_STATE.ABORTED);
    const attrs = this.fn.attrs(this.regs.pasid);
    if (typeof attrs === 'string') {
      this.regs.status = dmatStatus(DMAT_STATE.BAD_COMMAND);
      return FAILED;
    }
    return this.attempt({ op, retries: 0 }, attrs);
  }

  private attempt(w: DmatWait, attrs: DmaAttrs): DmaResult {
    const { r, write } = this.transfer(w.op, attrs);
    if (!r.ok && r.recoverable) {
      // Waiting before the request goes out: an immediate answer (queue full) completes it re-entrantly.
      this.regs.status = dmatStatus(DMAT_STATE.PAGE_WAIT, r.reason);
      if (this.retry.park(w, pageFault(r.addr ?? w.op.iova, write, attrs))) return r;
    }
    return this.finish(r);
  }

  private onResponse(w: DmatWait, code: PageResponseCode): void {
    const reason = (this.regs.status >> 8) & 0xff;
    const attrs = this.fn.attrs(this.regs.pasid);
    if (code !== PageResponseCode.Success || typeof attrs === 'string') {
      this.finish({ ok: false, reason, recorded: false });
    } else if (!this.config.busMaster()) {
      this.finish(FAILED, DMAT_STATE.ABORTED);
    } else {
      this.attempt(w, attrs);
    }
  }

  private transfer(op: DmatOp, attrs: DmaAttrs): { r: DmaResult; write: boolean } {
    const buf = this.bufOff + op.bufOffset;
    const a = attrs.pasid === undefined && !attrs.pageRequest ? undefined : attrs;
    if (op.kind !== 'write') {
      const iova = op.iova & this.dmaMask;
      const r = this.port.dmaBig(iova, op.len, false, buf, a);
      if (!r.ok && !r.continued) this.zeroUnread(op, iova, r.addr);
      if (!r.ok || op.kind === 'read') return { r, write: false };
    }
    const to = op.kind === 'copy' ? op.dst : op.iova;
    return { r: this.port.dmaBig(to & this.dmaMask, op.len, true, buf, a), write: true };
  }

  /**
   * A read that faults completes without data from the faulting page on (an
   * Unsupported Request completion): those buffer bytes read as 0, as on
   * QEMU's edu device (recorded scenario gen-fs-modes-11).
   */
  private zeroUnread(op: DmatOp, iova: bigint, faultPage: bigint | undefined): void {
    const done = faultPage === undefined || faultPage <= iova ? 0 : Math.min(op.len, Number(faultPage - iova));
    this.buffer().fill(0, op.bufOffset + done, op.bufOffset + op.len);
  }

  private finish(r: DmaResult, state?: number): DmaResult {
    this.regs.status = r.ok ? dmatStatus(DMAT_STATE.DONE) : dmatStatus(state ?? DMAT_STATE.FAULT, r.reason);
    this.regs.count++;
    if (this.regs.irq & DMAT_IRQ.ON_COMPLETION) this.fn.irq.raise(0);
    return r;
  }

  private regRead(offset: number): number {
    const g = this.regs;
    switch (offset) {
      case DMAT.ID: return DMAT_ID;
      case DMAT.IOVA: return Number(g.iova & 0xffff_ffffn);
      case DMAT.IOVA + 4: return Number(g.iova >> 32n);
      case DMAT.LEN: return g.len;
      case DMAT.STATUS: return g.status;
      case DMAT.BUF_OFF: return g.start;
      case DMAT.COUNT: return g.count;
      case DMAT.PASID: return g.pasid;
      case DMAT.IRQ: return g.irq;
      case DMAT.DST: return Number(g.dst & 0xffff_ffffn);
      case DMAT.DST + 4: return Number(g.dst >> 32n);
      default: return 0;
    }
  }

  private regWrite(offset: number, v: number): void {
    const g = this.regs;
    const u = BigInt(v >>> 0);
    switch (offset) {
      case DMAT.IOVA: g.iova = (g.iova & ~0xffff_ffffn) | u; return;
      case DMAT.IOVA + 4: g.iova = (g.iova & 0xffff_ffffn) | (u << 32n); return;
      case DMAT.DST: g.dst = (g.dst & ~0xffff_ffffn) | u; return;
      case DMAT.DST + 4: g.dst = (g.dst & 0xffff_ffffn) | (u << 32n); return;
      case DMAT.LEN: g.len = v >>> 0; return;
      case DMAT.BUF_OFF: g.start = v >>> 0; return;
      case DMAT.PASID: g.pasid = (v & 0xe00f_ffff) >>> 0; return;
      case DMAT.IRQ: g.irq = v & DMAT_IRQ.ON_COMPLETION; return;
      case DMAT.CMD: this.command(v); return;
      case DMAT.RAISE: this.fn.irq.raise(v >>> 0); return;
      default:
    }
  }

  private command(v: number): void {
    const g = this.regs;
    const kind = v === DMAT_CMD.READ ? 'read' : v === DMAT_CMD.WRITE ? 'write' : v === DMAT_CMD.COPY ? 'copy' : undefined;
    if (kind) this.run({ kind, iova: g.iova, dst: g.dst, len: g.len, bufOffset: g.start });
    else g.status = dmatStatus(DMAT_STATE.BAD_COMMAND);
  }
}
