/**
 * Message-signalled interrupts of a function (PCI 3.0 §6.8): a device raises
 * vector N; if MSI-X is enabled the table entry N is written (unless masked:
 * then its PBA bit is set and the message goes out on unmask), else if MSI is
 * enabled the programmed address with data | N (Multiple Message Enable) is
 * written (per-vector masked: pending bit), else nothing is sent (INTx is not
 * modelled). An MSI is a memory write, so Bus Master Enable must be on.
 *
 * Messages go to the function's sink as the guest programmed them; the
 * machine routes them through the IOMMU (vtd/ir/device-interrupts.ts).
 */
import type { MsiCap, MsixCap } from './capabilities.js';
import type { ConfigSpace } from './config-space.js';
import type { Sid, Gpa } from '../types.js';

/** An MSI a device sent. */
export interface DeviceMsi {
  /** Requester id of the sender. */
  readonly sid: Sid;
  /** MSI address as programmed. */
  readonly address: Gpa;
  /** MSI data as programmed (plus the vector for multi-message MSI). */
  readonly data: number;
}

/** Receives every device MSI. */
export type DeviceMsiSink = (msi: DeviceMsi) => void;

const ENTRY = 16;

/** MSI-X table and pending-bit array in a BAR (PCI 3.0 §6.8.2.6-9). */
export class MsixTable {
  private readonly table: Uint32Array;
  private readonly pba: Uint32Array;

  /**
   * The table and PBA `cap` describes.
   * @param cap The MSI-X capability.
   */
  constructor(readonly cap: MsixCap) {
    this.table = new Uint32Array(cap.vectors * 4);
    this.pba = new Uint32Array(Math.ceil(cap.vectors / 32) * 2);
    this.reset();
  }

  /** Power-on state: entries masked, nothing pending. */
  reset(): void {
    this.table.fill(0);
    for (let v = 0; v < this.cap.vectors; v++) this.table[v * 4 + 3] = 1;
    this.pba.fill(0);
  }

  /** True when `offset` in the BAR falls in the table or PBA. */
  claims(offset: number): boolean {
    return this.index(offset) !== undefined;
  }

  /** BAR read of table/PBA (4 or 8 bytes). */
  read(offset: number, size: number): bigint {
    let v = 0n;
    for (let i = size / 4 - 1; i >= 0; i--) v = (v << 32n) | BigInt(this.word(offset + 4 * i));
    return v;
  }

  /** BAR write of the table (the PBA is read-only); unmasking sends a pending message. */
  write(offset: number, size: number, value: bigint, send: (v: number) => void): void {
    for (let i = 0; i < size / 4; i++) {
      const at = this.index(offset + 4 * i);
      if (at?.kind !== 'table') continue;
      this.table[at.i] = Number((value >> BigInt(32 * i)) & 0xffff_ffffn);
      const v = at.i >> 2;
      if ((at.i & 3) === 3 && !this.masked(v) && this.pendingBit(v)) {
        this.setPending(v, false);
        send(v);
      }
    }
  }

  /** Entry `v`: address, data, mask. */
  entry(v: number): { address: bigint; data: number; masked: boolean } {
    const t = this.table;
    return { address: (BigInt(t[v * 4 + 1]!) << 32n) | BigInt(t[v * 4]!), data: t[v * 4 + 2]!, masked: this.masked(v) };
  }

  /** True when the vector or the whole function is masked. */
  masked(v: number): boolean {
    return (this.table[v * 4 + 3]! & 1) === 1 || this.cap.functionMasked();
  }

  /** Sets or clears a PBA bit. */
  setPending(v: number, on: boolean): void {
    const w = v >> 5;
    this.pba[w] = on ? this.pba[w]! | (1 << (v & 31)) : this.pba[w]! & ~(1 << (v & 31));
  }

  /** A PBA bit. */
  pendingBit(v: number): boolean {
    return ((this.pba[v >> 5]! >>> (v & 31)) & 1) === 1;
  }

  /** Table and PBA words (snapshots). */
  save(): Uint32Array {
    const out = new Uint32Array(this.table.length + this.pba.length);
    out.set(this.table);
    out.set(this.pba, this.table.length);
    return out;
  }

  /** Restores `save()` output. */
  load(words: Uint32Array): void {
    if (words.length !== this.table.length + this.pba.length) throw new Error('words: MSI-X table size does not match');
    this.table.set(words.subarray(0, this.table.length));
    this.pba.set(words.subarray(this.table.length));
  }

  private word(offset: number): number {
    const at = this.index(offset);
    if (!at) return 0;
    return at.kind === 'table' ? this.table[at.i]! : this.pba[at.i]!;
  }

  private index(offset: number): { kind: 'table' | 'pba'; i: number } | undefined {
    const t = offset - this.cap.tableOffset;
    if (t >= 0 && t < this.cap.vectors * ENTRY) return { kind: 'table', i: t >> 2 };
    const p = offset - this.cap.pbaOffset;
    if (p >= 0 && p < this.pba.length * 4) return { kind: 'pba', i: p >> 2 };
    return undefined;
  }
}

/** The interrupt side of one function: MSI and/or MSI-X. */
export class FunctionInterrupts {
  /** Messages not sent because no interrupt mechanism was enabled (for diagnostics). */
  dropped = 0;

  /**
   * The interrupt side of the function `sid`.
   * @param msi Its MSI capability, when it has one.
   * @param msix Its MSI-X table, when it has one.
   */
  constructor(
    private readonly sid: Sid,
    private readonly cfg: ConfigSpace,
    private readonly sink: () => DeviceMsiSink | undefined,
    readonly msi?: MsiCap,
    readonly msix?: MsixTable,
  ) {
    if (msi) cfg.onWrite(msi.at, 0x18, () => this.flushPending());
    if (msix) cfg.onWrite(msix.cap.at + 2, 2, () => this.flushPending());
  }

  /** Raises `vector`; returns true when a message was written now. */
  raise(vector: number): boolean {
    if (this.msix?.cap.enabled()) {
      if (vector >= this.msix.cap.vectors) return this.drop();
      if (this.msix.masked(vector)) {
        this.msix.setPending(vector, true);
        return false;
      }
      return this.send(vector);
    }
    if (this.msi?.enabled()) {
      const v = vector % this.msi.vectors();
      if (this.msi.masked(v)) {
        this.msi.setPending(v, true);
        return false;
      }
      return this.send(v);
    }
    return this.drop();
  }

  /** Sends held messages whose mask was cleared (runs after config writes). */
  flushPending(): void {
    const msix = this.msix;
    if (msix?.cap.enabled()) {
      for (let v = 0; v < msix.cap.vectors; v++) {
        if (msix.pendingBit(v) && !msix.masked(v)) {
          msix.setPending(v, false);
          this.send(v);
        }
      }
      return;
    }
    const msi = this.msi;
    if (!msi?.enabled()) return;
    for (let v = 0; v < 32; v++) {
      if (((msi.pending() >>> v) & 1) && !msi.masked(v)) {
        msi.setPending(v, false);
        this.send(v);
      }
    }
  }

  /** BAR write hook for the MSI-X table. */
  msixWrite(offset: number, size: number, value: bigint): void {
    this.msix?.write(offset, size, value, (v) => this.send(v));
  }

  private send(vector: number): boolean {
    if (!this.cfg.busMaster()) return this.drop();
    let address: bigint;
    let data: number;
    if (this.msix?.cap.enabled()) {
      ({ address, data } = this.msix.entry(vector));
    } else if (this.msi) {
      address = this.msi.address();
      data = (this.msi.data() & ~(this.msi.vectors() - 1)) | vector;
    } else return this.drop();
    this.sink()?.({ sid: this.sid, address, data });
    return true;
  }

  private drop(): boolean {
    this.dropped++;
    return false;
  }
}
