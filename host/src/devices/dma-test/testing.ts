/**
 * Test helpers for the DMA test device: a DMA port without an IOMMU (flat
 * memory, with fault injection) and a driver that runs commands through
 * BAR0 as guest software would.
 */
import type { DmaPort, DmaResult } from '../../pci/dma-port.js';
import type { DmaTestDevice } from './device.js';
import { DMAT, DMAT_CMD } from './regs.js';

/** One request the fake port saw. */
export interface PortRequest {
  readonly iova: bigint;
  readonly len: number;
  readonly write: boolean;
  readonly bufOff: number;
}

/**
 * A DMA port over a flat byte array (iova = offset), no IOMMU. Requests at
 * or above `faultFrom` fail with `faultReason`; every request is recorded.
 */
export class FakeDmaPort implements DmaPort {
  readonly memory: Uint8Array;
  readonly requests: PortRequest[] = [];
  faultFrom = Number.POSITIVE_INFINITY;
  faultReason = 6;
  private readonly buffers = new Uint8Array(1 << 16);
  private nextBuf = 0;

  constructor(memorySize = 1 << 16) {
    this.memory = new Uint8Array(memorySize);
  }

  allocBuffer(size: number): number {
    const off = this.nextBuf;
    this.nextBuf += size;
    if (this.nextBuf > this.buffers.length) throw new Error(`size: buffer space exhausted (${size})`);
    return off;
  }

  buffer(off: number, len: number): Uint8Array {
    return this.buffers.subarray(off, off + len);
  }

  dma(iova: bigint, len: number, write: boolean, bufOff: number): DmaResult {
    this.requests.push({ iova, len, write, bufOff });
    if (Number(iova) + len > this.faultFrom || iova + BigInt(len) > BigInt(this.memory.length)) {
      return { ok: false, reason: this.faultReason, recorded: true };
    }
    const at = Number(iova);
    if (write) this.memory.set(this.buffers.subarray(bufOff, bufOff + len), at);
    else this.buffers.set(this.memory.subarray(at, at + len), bufOff);
    return { ok: true };
  }
}

/** Runs one command through BAR0 (IOVA, LEN, BUF_OFF, CMD) and returns STATUS. */
export function barCommand(dev: DmaTestDevice, cmd: 'read' | 'write', iova: bigint, len: number, bufOff = 0): number {
  dev.barWrite(DMAT.IOVA, 8, iova);
  dev.barWrite(DMAT.LEN, 4, BigInt(len));
  dev.barWrite(DMAT.BUF_OFF, 4, BigInt(bufOff));
  dev.barWrite(DMAT.CMD, 4, BigInt(cmd === 'read' ? DMAT_CMD.READ : DMAT_CMD.WRITE));
  return Number(dev.barRead(DMAT.STATUS, 4));
}
