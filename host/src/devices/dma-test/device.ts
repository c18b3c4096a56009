/**
 * The DMA test device: a 4 KiB buffer and two commands, "read LEN bytes at
 * IOVA into the buffer" and "write LEN bytes of the buffer to IOVA", always
 * through the IOMMU with the device's own requester id. The guest drives it
 * through BAR0 (regs.ts) and reads the result in STATUS; the host can call
 * `read`/`write` directly (scenarios, tests).
 */
import { ConfigSpace } from '../../pci/config-space.js';
import type { PciFunction } from '../../pci/bus.js';
import type { DmaPort, DmaResult } from '../../pci/dma-port.js';
import type { Sid } from '../../types.js';
import { DMA_TEST_IDENTITY } from './config.js';
import { DMAT, DMAT_BUFFER_SIZE, DMAT_CMD, DMAT_ID, DMAT_STATE, dmatStatus } from './regs.js';

/** A DMA test device on a PCI bus. */
export class DmaTestDevice implements PciFunction {
  readonly config = new ConfigSpace(DMA_TEST_IDENTITY);
  private readonly bufOff: number;
  private iova = 0n;
  private len = 0;
  private start = 0;
  private status = dmatStatus(DMAT_STATE.IDLE);
  private count = 0;

  /** Address bits the device can drive; DMA addresses are clamped to them (as QEMU's edu does). */
  readonly dmaMask: bigint;

  /** `dmaMaskBits`: width of the device's DMA addresses (default 64; the reference edu device has 28). */
  constructor(readonly sid: Sid, private readonly port: DmaPort, opts: { dmaMaskBits?: number } = {}) {
    const bits = opts.dmaMaskBits ?? 64;
    if (!Number.isInteger(bits) || bits < 12 || bits > 64) throw new Error(`dmaMaskBits: ${bits} is not in 12..64`);
    this.dmaMask = (1n << BigInt(bits)) - 1n;
    this.bufOff = port.allocBuffer(DMAT_BUFFER_SIZE);
  }

  /** The device buffer (a live view; do not keep it across memory growth). */
  buffer(): Uint8Array {
    return this.port.buffer(this.bufOff, DMAT_BUFFER_SIZE);
  }

  /** Reads `len` bytes at `iova` into the buffer at `bufOffset`. */
  read(iova: bigint, len: number, bufOffset = 0): DmaResult {
    return this.run(iova, len, bufOffset, false);
  }

  /** Writes `len` bytes of the buffer at `bufOffset` to `iova`. */
  write(iova: bigint, len: number, bufOffset = 0): DmaResult {
    return this.run(iova, len, bufOffset, true);
  }

  /** STATUS register value of the last command. */
  lastStatus(): number {
    return this.status;
  }

  /** Back to power-on state (buffer contents are left as they are). */
  reset(): void {
    this.iova = 0n;
    this.len = 0;
    this.start = 0;
    this.status = dmatStatus(DMAT_STATE.IDLE);
    this.count = 0;
  }

  /** BAR0 read (4 or 8 bytes); unknown offsets read 0. */
  barRead(offset: number, size: number): bigint {
    if (offset >= DMAT.BUFFER) return this.bufferRead(offset - DMAT.BUFFER, size);
    const lo = BigInt(this.regRead(offset));
    return size === 8 ? lo | (BigInt(this.regRead(offset + 4)) << 32n) : lo;
  }

  /** BAR0 write (4 or 8 bytes); writes to read-only or unknown offsets are ignored. */
  barWrite(offset: number, size: number, value: bigint): void {
    if (offset >= DMAT.BUFFER) {
      this.bufferWrite(offset - DMAT.BUFFER, size, value);
      return;
    }
    if (size === 8 && offset === DMAT.IOVA) {
      this.iova = BigInt.asUintN(64, value);
      return;
    }
    this.regWrite(offset, Number(value & 0xffff_ffffn));
    if (size === 8) this.regWrite(offset + 4, Number((value >> 32n) & 0xffff_ffffn));
  }

  private run(iova: bigint, len: number, bufOffset: number, write: boolean): DmaResult {
    if (!Number.isInteger(len) || len < 1 || !Number.isInteger(bufOffset) || bufOffset < 0
      || bufOffset + len > DMAT_BUFFER_SIZE || iova < 0n || iova >= 1n << 64n) {
      this.status = dmatStatus(DMAT_STATE.BAD_COMMAND);
      return { ok: false, reason: 0, recorded: false };
    }
    const r = this.port.dma(iova & this.dmaMask, len, write, this.bufOff + bufOffset);
    this.status = r.ok ? dmatStatus(DMAT_STATE.DONE) : dmatStatus(DMAT_STATE.FAULT, r.reason);
    this.count++;
    return r;
  }

  private regRead(offset: number): number {
    switch (offset) {
      case DMAT.ID: return DMAT_ID;
      case DMAT.IOVA: return Number(this.iova & 0xffff_ffffn);
      case DMAT.IOVA + 4: return Number(this.iova >> 32n);
      case DMAT.LEN: return this.len;
      case DMAT.STATUS: return this.status;
      case DMAT.BUF_OFF: return this.start;
      case DMAT.COUNT: return this.count;
      default: return 0;
    }
  }

  private regWrite(offset: number, v: number): void {
    switch (offset) {
      case DMAT.IOVA: this.iova = (this.iova & ~0xffff_ffffn) | BigInt(v >>> 0); return;
      case DMAT.IOVA + 4: this.iova = (this.iova & 0xffff_ffffn) | (BigInt(v >>> 0) << 32n); return;
      case DMAT.LEN: this.len = v >>> 0; return;
      case DMAT.BUF_OFF: this.start = v >>> 0; return;
      case DMAT.CMD: this.command(v); return;
      default:
    }
  }

  private command(v: number): void {
    if (v === DMAT_CMD.READ || v === DMAT_CMD.WRITE) {
      this.run(this.iova, this.len, this.start, v === DMAT_CMD.WRITE);
    } else {
      this.status = dmatStatus(DMAT_STATE.BAD_COMMAND);
    }
  }

  private bufferRead(off: number, size: number): bigint {
    const b = this.buffer();
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[off + i] ?? 0);
    return v;
  }

  private bufferWrite(off: number, size: number, value: bigint): void {
    const b = this.buffer();
    for (let i = 0; i < size && off + i < b.length; i++) b[off + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }
}
