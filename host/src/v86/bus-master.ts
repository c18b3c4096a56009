/**
 * A bus-master device's view of memory behind the IOMMU. v86's IDE drive
 * reads its PRD table and moves sector data through the memory calls of its
 * `cpu` member (src/ide.js); giving the drive a `BusMaster` instead puts every
 * one of those accesses through the remapping unit with the controller's
 * requester id, the way PCIe puts a device's memory requests through the root
 * complex (VT-d §3.1: DMA requests are translated by requester id).
 *
 * Data moves between the disk buffer and v86's RAM at the translated
 * guest-physical addresses; RAM itself is never copied. A request whose
 * translation faults (or lands outside RAM) is aborted there: the bytes
 * before it have moved, the rest do not (reads return all-ones), and
 * `onAbort` tells the device model, which reports it as a bus-master error.
 */
import { REQ, type DmaPort } from '../pci/dma-port.js';
import type { RamRegion } from './model.js';
import type { V86BusMasterMemory, V86Cpu, V86Devices } from './v86-types.js';
import type { Iova } from '../types.js';

/** Requests one bus master made, and how many were aborted. */
export interface BusMasterCounters {
  /** Translated requests (PRD fetches, data reads, data writes). */
  requests: number;
  /** Bytes moved to or from RAM. */
  bytes: number;
  /** Requests aborted by a translation fault or a target outside RAM. */
  aborted: number;
}

/** The memory of a bus-master device, through its DMA port (the port carries its requester id). */
export class BusMaster implements V86BusMasterMemory {
  /** Counters of this device's DMA. */
  readonly counters: BusMasterCounters = { requests: 0, bytes: 0, aborted: 0 };
  /** `mem8.subarray(start, end)` of the device's (I/O virtual) address space. */
  readonly mem8: { subarray(start: number, end: number): Uint8Array };
  private gather = new Uint8Array(0);
  /** Runs of the last `translate` that may be used (the good prefix when it failed). */
  private valid = 0;

  constructor(
    private readonly cpu: V86Cpu,
    private readonly port: DmaPort,
    private readonly ram: readonly RamRegion[],
    private readonly onAbort: () => void,
  ) {
    this.mem8 = { subarray: (start, end) => this.readBlock(start >>> 0, Math.max(0, end - start)) };
  }

  /** Requester id (bus << 8 | device << 3 | function). */
  get rid(): number {
    return this.port.sid;
  }

  /** The drive's constructor reads `cpu.devices` (CMOS); not a DMA. */
  get devices(): V86Devices {
    return this.cpu.devices;
  }

  /** A 1-byte DMA read at `iova`. */
  read8(iova: Iova<number>): number {
    return this.readSmall(iova >>> 0, 1);
  }

  /** A 2-byte DMA read at `iova`. */
  read16(iova: Iova<number>): number {
    return this.readSmall(iova >>> 0, 2);
  }

  /** A 4-byte DMA read at `iova` (signed, as v86's read32s). */
  read32s(iova: Iova<number>): number {
    return this.readSmall(iova >>> 0, 4) | 0;
  }

  /** A DMA write of `blob` at `iova`. */
  write_blob(blob: Uint8Array, iova: Iova<number>): void {
    const ok = this.translate(iova >>> 0, blob.length, true);
    const { gpa, len } = this.port.runs;
    let at = 0;
    for (let i = 0; i < this.valid; i++) {
      this.cpu.write_blob(blob.subarray(at, at + len[i]!), gpa[i]!);
      at += len[i]!;
    }
    this.counters.bytes += at;
    if (!ok) this.abort();
  }

  /** Reads `len` bytes at `iova`: a view of RAM when one run covers it, else gathered. */
  private readBlock(iova: number, len: number): Uint8Array {
    const ok = this.translate(iova, len, false);
    if (ok && this.valid === 1) {
      this.counters.bytes += len;
      const gpa = this.port.runs.gpa[0]!;
      return this.cpu.mem8.subarray(gpa, gpa + len);
    }
    return this.gatherRuns(len, ok);
  }

  /** A little-endian read of 1, 2 or 4 bytes; all-ones where it aborted. */
  private readSmall(iova: number, size: 1 | 2 | 4): number {
    const ok = this.translate(iova, size, false);
    if (ok && this.valid === 1) {
      this.counters.bytes += size;
      const gpa = this.port.runs.gpa[0]!;
      return size === 1 ? this.cpu.read8(gpa) : size === 2 ? this.cpu.read16(gpa) : this.cpu.read32s(gpa) >>> 0;
    }
    const bytes = this.gatherRuns(size, ok); // split across pages, or aborted
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + bytes[i]!;
    return v;
  }

  /** The bytes of the last translation's usable runs, all-ones after them; aborts when `ok` is false. */
  private gatherRuns(len: number, ok: boolean): Uint8Array {
    if (this.gather.length < len) this.gather = new Uint8Array(len);
    const out = this.gather.subarray(0, len);
    const { gpa, len: lens } = this.port.runs;
    let at = 0;
    for (let i = 0; i < this.valid; i++) {
      out.set(this.cpu.mem8.subarray(gpa[i]!, gpa[i]! + lens[i]!), at);
      at += lens[i]!;
    }
    this.counters.bytes += at;
    out.fill(0xff, at);
    if (!ok) this.abort();
    return out;
  }

  /** Translates; false when the request faulted or a run leaves RAM (runs keep the good prefix). */
  private translate(iova: number, len: number, write: boolean): boolean {
    this.counters.requests++;
    this.valid = 0;
    if (len === 0) return true;
    const status = this.port.translate(iova, len, write ? REQ.WRITE : 0);
    const { count, gpa, len: lens } = this.port.runs;
    for (; this.valid < count; this.valid++) {
      if (!this.inRam(gpa[this.valid]!, lens[this.valid]!)) return false;
    }
    return status === 0;
  }

  private inRam(gpa: number, len: number): boolean {
    for (const r of this.ram) if (gpa >= r.gpa && gpa + len <= r.gpa + r.size) return true;
    return false;
  }

  private abort(): void {
    this.counters.aborted++;
    this.onAbort();
  }
}
